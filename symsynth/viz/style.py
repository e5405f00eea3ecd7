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

# Page CSS (a page draws it with st.html, first thing): Streamlit shows a pulsing placeholder
# (opacity 0.5 <-> 1, every 0.75 s, forever) for each element whose code is still loading, and
# the widgets and charts of a page wait for plotly.js's ~1 s evaluation before they appear. In
# a browser without a GPU, a dozen pulsing placeholders keep the compositor busy on most of one
# core for those seconds (traced: 60-80 % of a core on Live Training against 10-15 % on a
# one-chart page), the core the page needs to draw its charts; held still, they show the same
# grey blocks. Matched by Streamlit's test id, not its hashed class names.
STILL_PLACEHOLDERS_CSS = '[data-testid="stSkeleton"] { animation: none !important; }'

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
    if isinstance(layout.get("title"), str):  # plotly.js 3 reads only {"text": ...}
        layout["title"] = {"text": layout["title"]}
    return layout


def unit_manifold(dim: int, wireframe: bool = False, **extra) -> dict:
    """The unit circle (``dim`` 2) or unit sphere (``dim`` 3) that L2-normalised embeddings live
    on, as a plotly trace dict; ``extra`` entries (name, dash, scene, axes) override the defaults.
    The sphere is a translucent surface, or with ``wireframe`` five parallels and six meridians
    in one line trace: the browser redraws that several times faster, which matters for views
    redrawn while training and for 3-D animations."""
    t = np.linspace(0, 2 * np.pi, 181 if dim == 2 else 73)
    common = {"hoverinfo": "skip", "showlegend": False}
    if dim == 2:
        line = {"color": GUIDE, "width": 1, "dash": extra.pop("dash", "solid")}
        trace = {"type": "scatter", "x": np.cos(t), "y": np.sin(t), "mode": "lines"}
        return {**trace, "line": line, "name": "unit circle", **common, **extra}
    if not wireframe:
        u, v = np.mgrid[0 : 2 * np.pi : 37j, 0 : np.pi : 19j]
        trace = {"type": "surface", "x": np.cos(u) * np.sin(v), "y": np.sin(u) * np.sin(v)}
        style = {"opacity": 0.12, "showscale": False, "colorscale": [[0, GUIDE], [1, GUIDE]]}
        return {**trace, "z": np.cos(v), **style, "name": "unit sphere", **common, **extra}
    c, s = np.cos(t)[:, None], np.sin(t)[:, None]
    rings = [np.hstack([np.cos(lat) * c, np.cos(lat) * s, np.full_like(c, np.sin(lat))])
             for lat in np.radians([-60, -30, 0, 30, 60])]  # fmt: skip
    rings += [
        np.hstack([c * np.cos(lon), c * np.sin(lon), s]) for lon in np.radians(range(0, 180, 30))
    ]
    gap = np.full((1, 3), np.nan)
    xyz = np.concatenate([np.vstack([ring, gap]) for ring in rings])
    trace = {"type": "scatter3d", "x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "mode": "lines"}
    line = {"color": GUIDE, "width": 1}
    return {**trace, "line": line, "name": "unit sphere", **common, **extra}
