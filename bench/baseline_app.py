"""The floor for bench/app_latency.py: the least a Streamlit page with one plotly chart costs in
this browser (Streamlit's frontend, plotly.js and one 2-D chart; no torch, no symsynth)."""

import plotly.graph_objects as go
import streamlit as st

st.title("baseline")
st.plotly_chart(go.Figure(go.Scatter(x=[0, 1, 2], y=[0, 1, 0])), key="baseline")
