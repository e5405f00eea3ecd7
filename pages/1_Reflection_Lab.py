"""Reflection Lab: the paper's Figure 1 and its α/β figure, interactive, on a circle or a sphere.

Every number comes from symsynth (through symsynth.viz.reflection_scene): this page only places
the points, asks for the scene and draws it. The setup lives in the URL, so a link shares it.
"""

from __future__ import annotations

import streamlit as st

from symsynth.viz import (
    STILL_PLACEHOLDERS_CSS,
    circle_point,
    reflection_figure,
    reflection_scene,
    similarity_heatmap,
    sphere_point,
)

st.set_page_config(page_title="Reflection Lab · symsynth", layout="wide")
st.html(f"<style>{STILL_PLACEHOLDERS_CSS}</style>")  # placeholders held still

POINTS = (("a", "a"), ("p", "p"), ("n1", "n₁"), ("n2", "n₂"))
# URL parameter -> (default, min, max); angles in degrees
NUMBERS = {
    "az_a": (20.0, 0.0, 360.0),
    "az_p": (70.0, 0.0, 360.0),
    "az_n1": (150.0, 0.0, 360.0),
    "az_n2": (200.0, 0.0, 360.0),
    "el_a": (10.0, -90.0, 90.0),
    "el_p": (35.0, -90.0, 90.0),
    "el_n1": (-15.0, -90.0, 90.0),
    "el_n2": (40.0, -90.0, 90.0),
    "alpha": (2.0, 0.0, 3.0),
    "beta": (1.0, 0.25, 1.5),
}
DIMS = {"2": "circle (2-D)", "3": "sphere (3-D)"}


def _number(raw, default: float, lo: float, hi: float) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    return min(max(value, lo), hi) if value == value else default  # NaN -> default


def load_url_state() -> None:
    """Give every widget without a value one from the URL (first load, a shared link, or a widget
    Streamlit forgot while it was hidden); anything unreadable gets its default."""
    q, state = st.query_params, st.session_state
    for key, (default, lo, hi) in NUMBERS.items():
        state.setdefault(f"lab_{key}", _number(q.get(key), default, lo, hi))
    state.setdefault("lab_dim", q.get("dim") if q.get("dim") in DIMS else "2")
    state.setdefault("lab_ee", q.get("ee") == "1")


def readouts_table(rows: list[dict]) -> str:
    """The reflection's readouts as a Markdown table, one column per synthetic point. Six numbers
    a side need no data grid: st.dataframe would make the browser fetch and run its grid and
    Arrow code (about 1.3 MB) while it is fetching plotly.js for the figure beside it."""
    points = [row["point"] for row in rows]
    lines = ["| | " + " | ".join(points) + " |", "|---|" + "---:|" * len(points)]
    for name in (k for k in (rows[0] if rows else {}) if k != "point"):
        lines.append(f"| {name} | " + " | ".join(f"{row[name]:.3f}" for row in rows) + " |")
    return "\n".join(lines)


def paper_setting() -> None:
    st.session_state.lab_alpha, st.session_state.lab_beta = 2.0, 1.0


load_url_state()
st.title("Reflection Lab")
st.markdown(
    "Class A's positive pair **a, p** and class B's pair **n₁, n₂**. Symm reflects each point "
    "of a pair about the line through the other (red, dashed outline); hard negative pair "
    "mining then compares the two groups of four and keeps the closest pair."
)

with st.sidebar:
    st.header("Setup")
    dim = st.radio("Space", list(DIMS), format_func=DIMS.get, key="lab_dim", horizontal=True)
    st.slider(
        "α — level of hardness", 0.0, 3.0, step=0.05, key="lab_alpha",
        help="0: the point itself · 1: the foot of the perpendicular · 2: the mirror image "
        "(the paper's setting) · beyond 2: past the mirror image.",
    )  # fmt: skip
    st.slider(
        "β — impact of norm", 0.25, 1.5, step=0.05, key="lab_beta",
        help="Scales the synthetic point radially; 1 keeps it on the circle or sphere.",
    )  # fmt: skip
    st.button("Paper setting (α = 2, β = 1)", on_click=paper_setting, width="stretch")
    show_ee = st.toggle(
        "Compare with Embedding Expansion", key="lab_ee",
        help="EE (Ko & Gu, CVPR 2020) interpolates between the pair instead of reflecting.",
    )  # fmt: skip

figure_col, numbers_col = st.columns([3, 2], gap="large")

with figure_col:
    angle_cols = st.columns(4)
    for col, (key, label) in zip(angle_cols, POINTS, strict=True):
        with col:
            st.slider(f"{label} · azimuth", 0.0, 360.0, step=1.0, format="%d°", key=f"lab_az_{key}")
            if dim == "3":
                st.slider(
                    f"{label} · elevation", -90.0, 90.0, step=1.0, format="%d°", key=f"lab_el_{key}"
                )

state = st.session_state
if dim == "3":
    originals = [sphere_point(state[f"lab_az_{k}"], state[f"lab_el_{k}"]) for k, _ in POINTS]
else:
    originals = [circle_point(state[f"lab_az_{k}"]) for k, _ in POINTS]
alpha, beta = state.lab_alpha, state.lab_beta
scene = reflection_scene(originals, "symm", alpha, beta)
ee_scene = reflection_scene(originals, "ee", alpha, beta) if show_ee else None

with figure_col:
    st.plotly_chart(
        reflection_figure(scene, contrast=ee_scene, height=600),
        key=f"lab_figure_{dim}",
        width="stretch",
    )

with numbers_col:
    st.subheader("What the reflection keeps")
    st.markdown(readouts_table(scene.readouts()))
    if abs(alpha - 2.0) < 1e-9 and abs(beta - 1.0) < 1e-9:
        st.caption("At α = 2, β = 1: ‖x′‖ = ‖x‖, x′·axis = x·axis, and the two chords are equal.")
    else:
        st.caption("Away from α = 2, β = 1 the norm, the similarity or the chords change.")

    st.subheader("Hard negative pair mining")
    i, j = scene.mined_rows
    kind = "uses a synthetic point" if any(scene.mined_synthetic) else "is an original pair"
    st.markdown(
        f"The hardest negative pair is **{scene.names[i]} – {scene.names[j]}** "
        f"(similarity {scene.mined_score:.3f}); it {kind}."
    )
    st.plotly_chart(
        similarity_heatmap(scene, title="Symm: class A (rows) × class B (columns)"), key="lab_heat"
    )
    if ee_scene is not None:
        i, j = ee_scene.mined_rows
        st.markdown(
            f"With EE the hardest pair is **{ee_scene.names[i]} – {ee_scene.names[j]}** "
            f"(similarity {ee_scene.mined_score:.3f}): interpolants lie *between* the pair, "
            "reflections on the far side of the axis, nearer other classes."
        )
        st.plotly_chart(
            similarity_heatmap(ee_scene, title="EE: class A (rows) × class B (columns)"),
            key="lab_heat_ee",
        )

st.query_params.from_dict(
    {
        "dim": dim,
        **{key: f"{state[f'lab_{key}']:g}" for key in NUMBERS},
        **({"ee": "1"} if show_ee else {}),
    }
)
