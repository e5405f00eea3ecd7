"""Plotly figure builders: pure functions from data (NumPy arrays, core results, training
snapshots) to ``plotly.graph_objects.Figure``. Nothing here imports streamlit."""

from symsynth.viz.projection import FixedProjection
from symsynth.viz.reflection import (
    ReflectionScene,
    circle_point,
    reflection_figure,
    reflection_scene,
    similarity_heatmap,
    sphere_point,
)
from symsynth.viz.style import STILL_PLACEHOLDERS_CSS
from symsynth.viz.training import (
    EmbeddingFrame,
    embedding_figure,
    embedding_figure_dict,
    figure_json,
    frame_from_snapshot,
    history_figure,
    image_grid_figure,
    input_space_figure,
    live_embedding_dict,
    replay_figure,
    standalone_html,
)

__all__ = [
    "STILL_PLACEHOLDERS_CSS",
    "EmbeddingFrame",
    "FixedProjection",
    "ReflectionScene",
    "circle_point",
    "embedding_figure",
    "embedding_figure_dict",
    "figure_json",
    "frame_from_snapshot",
    "history_figure",
    "image_grid_figure",
    "input_space_figure",
    "live_embedding_dict",
    "reflection_figure",
    "reflection_scene",
    "replay_figure",
    "similarity_heatmap",
    "sphere_point",
    "standalone_html",
]
