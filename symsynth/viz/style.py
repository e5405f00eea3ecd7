"""Colours and marker styles shared by every figure, so the app speaks one visual language.

Classes get qualitative colours with no red in them: red is reserved for what Symm adds,
the synthetic points (drawn like the paper's figure: a red, dashed outline) and the mined
negative pairs that use one.
"""

from __future__ import annotations

import numpy as np

SYNTHETIC = "#d62728"  # synthetic points and mined pairs that use one
ORIGINAL_PAIR = "#555555"  # mined pairs between two original points
EE = "#2ca02c"  # Embedding Expansion's interpolated points
GUIDE = "#b0b0b0"  # circle, sphere, axes of symmetry, chords
FONT = "Source Sans Pro, Helvetica, Arial, sans-serif"
# An equal-sided 3-D box drawn larger than plotly's default, so a sphere fills its chart.
ZOOMED_CUBE = {"aspectmode": "manual", "aspectratio": {"x": 1.5, "y": 1.5, "z": 1.5}}

CLASS_COLORS = (
    "#1f77b4",  # blue
    "#ff7f0e",  # orange
    "#9467bd",  # purple
    "#17becf",  # teal
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#bcbd22",  # olive
    "#7f7f7f",  # grey
    "#393b79",  # indigo
    "#637939",  # moss
    "#8c6d31",  # ochre
    "#843c39",  # maroon
)


def class_color(label: int) -> str:
    """The colour of class ``label`` (colours repeat after len(CLASS_COLORS) classes)."""
    return CLASS_COLORS[int(label) % len(CLASS_COLORS)]


def class_colors(labels) -> list[str]:
    """One colour per entry of ``labels``."""
    return [class_color(int(label)) for label in np.asarray(labels).ravel()]


def base_layout(**overrides) -> dict:
    """Layout defaults: tight margins, readable font, legend below. No template: a named one
    costs ~50 ms per figure to copy, and Streamlit applies its own theme."""
    layout = {
        "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
        "font": {"family": FONT, "size": 13},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": -0.12, "x": 0},
    }
    layout.update(overrides)
    return layout
