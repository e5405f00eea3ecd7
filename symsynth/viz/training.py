"""Live Training's pictures: the embedding view, the live charts, the replay and the input space.

Training yields snapshots (``symsynth.train.Snapshot``); :func:`frame_from_snapshot` turns one
into an :class:`EmbeddingFrame` of 2-D or 3-D coordinates through a :class:`FixedProjection`,
and the figure builders draw frames. The embedding figure always has the same traces in the
same order, so the browser updates it in place and a replay animates it frame by frame.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from symsynth.viz.projection import FixedProjection
from symsynth.viz.style import (
    ORIGINAL_PAIR,
    SYNTHETIC,
    ZOOMED_CUBE,
    base_layout,
    class_color,
    class_colors,
    unit_manifold,
)

# Trace order of the embedding figure; the replay animates all but the first.
TRACES = (
    "manifold",
    "held-out points",
    "positive pairs",
    "batch",
    "synthetic points",
    "mined negatives (original)",
    "mined negatives (synthetic)",
)
LIMIT = 1.15  # embeddings are L2-normalised: everything fits in [-LIMIT, LIMIT]


@dataclass(frozen=True)
class EmbeddingFrame:
    """One picture of the embedding, in view coordinates (2 or 3 columns).

    ``mined_first``/``mined_second`` index ``concat(batch, synthetic)``; ``mined_synthetic``
    says whether either end of each mined pair is a synthetic point.
    """

    step: int
    probe: np.ndarray
    probe_labels: np.ndarray
    batch: np.ndarray
    batch_labels: np.ndarray
    synthetic: np.ndarray
    synthetic_labels: np.ndarray
    mined_first: np.ndarray
    mined_second: np.ndarray
    mined_synthetic: np.ndarray
    manifold: str | None = None  # "circle", "sphere", or None for a projection

    @property
    def dim(self) -> int:
        return self.probe.shape[1]


def frame_from_snapshot(snapshot, projection: FixedProjection) -> EmbeddingFrame:
    """Project a training snapshot's probe set, batch and synthetic points with ``projection``
    (fitted on the first call, so every later frame shares its basis)."""
    if not projection.fitted:
        projection.fit(snapshot.probe_embeddings)
    d = projection.basis.shape[0]
    synthetic = np.asarray(snapshot.synthetic_points).reshape(-1, projection.basis.shape[1])
    return EmbeddingFrame(
        step=int(snapshot.step),
        probe=projection.transform(snapshot.probe_embeddings),
        probe_labels=np.asarray(snapshot.probe_labels),
        batch=projection.transform(snapshot.batch_embeddings),
        batch_labels=np.asarray(snapshot.batch_labels),
        synthetic=projection.transform(synthetic) if len(synthetic) else np.empty((0, d)),
        synthetic_labels=np.asarray(snapshot.synthetic_labels),
        mined_first=np.asarray(snapshot.mined_first, dtype=int),
        mined_second=np.asarray(snapshot.mined_second, dtype=int),
        mined_synthetic=np.asarray(snapshot.mined_first_synthetic, dtype=bool)
        | np.asarray(snapshot.mined_second_synthetic, dtype=bool),
        manifold=projection.manifold,
    )


def _xyz(points: np.ndarray, dim: int) -> dict:
    pts = np.asarray(points, dtype=float).reshape(-1, dim)
    coords = {"x": pts[:, 0], "y": pts[:, 1]}
    if dim == 3:
        coords["z"] = pts[:, 2]
    return coords


def _segments(starts: np.ndarray, ends: np.ndarray, dim: int) -> dict:
    """Many segments as one line trace: start, end, gap, start, end, gap, ..."""
    n = len(starts)
    rows = np.full((3 * n, dim), np.nan)
    rows[0::3], rows[1::3] = starts, ends
    return _xyz(rows, dim)


def _trace(dim: int, **kwargs) -> dict:
    """A plain trace dict: building go.Scatter3d objects validates every property, which costs
    more than the whole redraw of a live view (see :func:`figure_json`)."""
    return {"type": "scatter3d" if dim == 3 else "scatter", **kwargs}


def _manifold_trace(frame: EmbeddingFrame) -> dict:
    """The sphere or circle the embeddings live on, or a dotted unit circle as a scale guide for
    a PCA view (which shows no manifold)."""
    if frame.manifold == "sphere":
        return unit_manifold(3, wireframe=True, name=TRACES[0])
    circle = unit_manifold(2, name=TRACES[0], dash="solid" if frame.manifold else "dot")
    if frame.dim == 3:
        circle.update(type="scatter3d", z=np.zeros_like(circle["x"]))
    return circle


def frame_traces(frame: EmbeddingFrame) -> list:
    """The moving traces of a frame (all of :data:`TRACES` but the manifold), in order, as
    trace dicts."""
    dim = frame.dim
    small = dim == 3
    combined = np.concatenate([frame.batch, frame.synthetic.reshape(-1, dim)])
    first = combined[frame.mined_first] if len(frame.mined_first) else np.empty((0, dim))
    second = combined[frame.mined_second] if len(frame.mined_second) else np.empty((0, dim))
    syn = frame.mined_synthetic
    synthetic_marker = {"size": 6 if small else 11, "color": SYNTHETIC, "symbol": "circle-open"}
    if dim == 2:
        synthetic_marker["line"] = {"color": SYNTHETIC, "width": 2, "dash": "dash"}
    return [
        _trace(
            dim, **_xyz(frame.probe, dim), mode="markers", name=TRACES[1],
            marker={"size": 3 if small else 6, "color": class_colors(frame.probe_labels),
                    "opacity": 0.55},
            customdata=np.asarray(frame.probe_labels),
            hovertemplate="class %{customdata}<extra></extra>",
        ),
        _trace(
            dim, **_segments(frame.batch[0::2], frame.batch[1::2], dim), mode="lines",
            name=TRACES[2], line={"color": "#222", "width": 1}, hoverinfo="skip", opacity=0.5,
        ),
        _trace(
            dim, **_xyz(frame.batch, dim), mode="markers", name=TRACES[3],
            marker={"size": 5 if small else 9, "color": class_colors(frame.batch_labels),
                    "line": {"color": "#222", "width": 1}},
            customdata=np.asarray(frame.batch_labels),
            hovertemplate="batch, class %{customdata}<extra></extra>",
        ),
        _trace(
            dim, **_xyz(frame.synthetic, dim), mode="markers", name=TRACES[4],
            marker=synthetic_marker, customdata=np.asarray(frame.synthetic_labels),
            hovertemplate="synthetic, class %{customdata}<extra></extra>",
        ),
        _trace(
            dim, **_segments(first[~syn], second[~syn], dim), mode="lines", name=TRACES[5],
            line={"color": ORIGINAL_PAIR, "width": 1.5, "dash": "dash"}, hoverinfo="skip",
        ),
        _trace(
            dim, **_segments(first[syn], second[syn], dim), mode="lines", name=TRACES[6],
            line={"color": SYNTHETIC, "width": 2}, hoverinfo="skip",
        ),
    ]  # fmt: skip


def _embedding_layout(dim: int, height: int, title: str | None, uirevision: str) -> dict:
    lim = [-LIMIT, LIMIT]
    layout = base_layout(title=title, height=height, uirevision=uirevision)
    if dim == 2:
        layout.update(
            xaxis={"range": lim, "visible": False, "constrain": "domain"},
            yaxis={"range": lim, "visible": False, "scaleanchor": "x"},
        )
    else:
        axis = {"range": lim, "visible": False}
        layout["scene"] = {"xaxis": axis, "yaxis": axis, "zaxis": axis, **ZOOMED_CUBE}
    return layout


def embedding_figure_dict(
    frame: EmbeddingFrame,
    title: str | None = None,
    height: int = 560,
    uirevision: str = "embedding",
) -> dict:
    """:func:`embedding_figure` as a plain figure dict, not validated by plotly: several times
    faster to build, for views redrawn while training (serialise it with :func:`figure_json`)."""
    return {
        "data": [_manifold_trace(frame), *frame_traces(frame)],
        "layout": _embedding_layout(frame.dim, height, title, uirevision),
    }


def embedding_figure(
    frame: EmbeddingFrame,
    title: str | None = None,
    height: int = 560,
    uirevision: str = "embedding",
) -> go.Figure:
    """The embedding at one moment: held-out points by class, the batch with its positive pairs,
    the batch's synthetic points (red, dashed outline) and its mined negative pairs (red when a
    synthetic point was chosen, grey dashed otherwise). A constant ``uirevision`` keeps the
    user's zoom and 3-D camera when the figure is redrawn with new data."""
    return go.Figure(embedding_figure_dict(frame, title, height, uirevision))


def live_embedding_dict(frames: Sequence[EmbeddingFrame], title: str | None = None) -> dict:
    """The newest of ``frames`` as :func:`embedding_figure_dict`, with the earlier ones as
    plotly animation frames (the moving traces only, like :func:`replay_figure`), so the live
    view can play every snapshot of a training chunk instead of jumping to the last."""
    if not frames:
        raise ValueError("a live view needs at least one frame")
    figure = embedding_figure_dict(frames[-1], title)
    figure["frames"] = [{"name": str(f.step), "data": frame_traces(f)} for f in frames[:-1]]
    return figure


def figure_json(figure: go.Figure | dict) -> str:
    """A figure (or a figure dict with numpy arrays in it) as plotly JSON for the browser.
    1-D float arrays of a dict travel as base64 float32 typed arrays (plotly.js decodes them):
    about a quarter of the text of decimal numbers, and exact enough to draw."""
    if isinstance(figure, go.Figure):
        return figure.to_json()
    return json.dumps(_wire(figure), separators=(",", ":"), allow_nan=False)


def _wire(value):
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f" and value.ndim == 1:
            data = np.ascontiguousarray(value, dtype="<f4").tobytes()
            return {"dtype": "f4", "bdata": base64.b64encode(data).decode("ascii")}
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def animation_controls(steps: Sequence[int], frame_ms: int = 150, redraw: bool = False) -> dict:
    """Layout entries for a plotly animation whose frames are named by ``steps``: play / pause
    buttons and a step slider. ``redraw`` must be True for 3-D (scatter3d) frames."""
    play = {
        "frame": {"duration": frame_ms, "redraw": redraw},
        "transition": {"duration": 0},
        "fromcurrent": True,
        "mode": "immediate",
    }
    pause = {"frame": {"duration": 0, "redraw": redraw}, "mode": "immediate"}
    return {
        "updatemenus": [
            {
                "type": "buttons", "direction": "left", "x": 0, "y": 0, "xanchor": "left",
                "yanchor": "top", "pad": {"t": 40, "r": 10}, "showactive": False,
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": [None, play]},
                    {"label": "❚❚ Pause", "method": "animate", "args": [[None], pause]},
                ],
            }
        ],
        "sliders": [
            {
                "x": 0.2, "y": 0, "len": 0.8, "pad": {"t": 30},
                "currentvalue": {"prefix": "step "},
                "steps": [
                    {"label": str(step), "method": "animate",
                     "args": [[str(step)], {**pause, "transition": {"duration": 0}}]}
                    for step in steps
                ],
            }
        ],
    }  # fmt: skip


def replay_figure(
    frames: Sequence[EmbeddingFrame],
    height: int = 600,
    frame_ms: int = 150,
) -> go.Figure:
    """A client-side animation over ``frames`` (play/pause buttons and a step slider) that
    plays in the browser without the server; axis ranges are fixed so nothing jumps."""
    if not frames:
        raise ValueError("a replay needs at least one frame")
    first = frames[0]
    redraw = first.dim == 3  # scatter3d only animates with a full redraw
    moving = list(range(1, len(TRACES)))
    fig = go.Figure(
        [_manifold_trace(first), *frame_traces(first)],
        frames=[
            go.Frame(
                data=frame_traces(f), traces=moving, name=str(f.step),
                layout={"title": {"text": f"step {f.step}"}},
            )
            for f in frames
        ],
    )  # fmt: skip
    fig.update_layout(
        **_embedding_layout(first.dim, height, f"step {first.step}", "replay"),
        **animation_controls([f.step for f in frames], frame_ms, redraw),
    )
    # above the chart: the play buttons and the slider take the space below it
    fig.update_layout(
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1, "yanchor": "bottom"}
    )
    return fig


HISTORY_TITLES = ("loss", "held-out Recall@1 · MAP@R", "synthetic share of mined negatives")
_HISTORY_SPACING = 0.07  # between the three subplots, as a fraction of the width


def history_figure(
    steps: Sequence[int],
    losses: Sequence[float],
    eval_steps: Sequence[int] = (),
    recall_at_1: Sequence[float] = (),
    map_at_r: Sequence[float] = (),
    share_steps: Sequence[int] = (),
    synthetic_share: Sequence[float] = (),
    height: int = 260,
) -> go.Figure:
    """Three live charts over training steps: the loss; Recall@1 and MAP@R on the held-out
    classes; the share of mined negatives that are synthetic (the paper's "ratio of feature
    points"), recorded at ``share_steps``. The layout ``make_subplots`` would build, written
    out: it is rebuilt while training, and make_subplots took 80–136 ms of every rebuild."""
    width = (1 - 2 * _HISTORY_SPACING) / 3
    domains = [
        [c * (width + _HISTORY_SPACING), c * (width + _HISTORY_SPACING) + width] for c in range(3)
    ]
    domains[-1][1] = 1.0
    layout = base_layout(
        height=height, uirevision="history", showlegend=True,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )  # fmt: skip
    for c, domain in enumerate(domains, start=1):
        suffix = "" if c == 1 else str(c)
        layout[f"xaxis{suffix}"] = {
            "anchor": f"y{suffix}",
            "domain": domain,
            "title": {"text": "step"},
        }
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [0.0, 1.0]}
        if c > 1:
            layout[f"yaxis{suffix}"]["range"] = [0, 1.02]
    layout["annotations"] = [
        {"text": text, "x": (lo + hi) / 2, "y": 1.0, "xref": "paper", "yref": "paper",
         "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 16}}
        for text, (lo, hi) in zip(HISTORY_TITLES, domains, strict=True)
    ]  # fmt: skip

    def line(x, y, name, color, axes, mode="lines"):
        return {"type": "scatter", "x": list(x), "y": list(y), "mode": mode, "name": name,
                "line": {"color": color}, "xaxis": f"x{axes}", "yaxis": f"y{axes}"}  # fmt: skip

    data = [
        line(steps, losses, "loss", "#333", ""),
        line(eval_steps, recall_at_1, "Recall@1", class_color(0), "2", "lines+markers"),
        line(eval_steps, map_at_r, "MAP@R", class_color(1), "2", "lines+markers"),
        line(share_steps, synthetic_share, "synthetic share", SYNTHETIC, "3"),
    ]
    return go.Figure({"data": data, "layout": layout})


def input_space_figure(x, labels, title: str | None = "input space", height: int = 560):
    """The raw inputs of a 2-D or 3-D toy data set, coloured by class (like TF Playground's
    data panel), so one sees what the model maps onto the circle or sphere."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] not in (2, 3):
        raise ValueError(f"input space figures need [N, 2] or [N, 3] inputs, got {x.shape}")
    dim = x.shape[1]
    labels = np.asarray(labels)
    fig = go.Figure(
        _trace(
            dim, **_xyz(x, dim), mode="markers", name="inputs",
            marker={"size": 3 if dim == 3 else 6, "color": class_colors(labels), "opacity": 0.7},
            customdata=labels, hovertemplate="class %{customdata}<extra></extra>",
        )
    )  # fmt: skip
    layout = base_layout(title=title, height=height, uirevision="inputs", showlegend=False)
    if dim == 2:
        layout["yaxis"] = {"scaleanchor": "x"}
    else:
        layout["scene"] = {"aspectmode": "data"}
    fig.update_layout(**layout)
    return fig


def image_grid_figure(
    images,
    labels,
    per_class: int = 4,
    max_classes: int = 8,
    title: str | None = "examples",
    height: int = 560,
) -> go.Figure:
    """A mosaic of example images ([N, C, H, W] or [N, H, W], first channel shown), one row per
    class (up to ``max_classes`` classes, ``per_class`` images each), labelled by class id."""
    x = np.asarray(images, dtype=float)
    if x.ndim == 4:
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"image grids need [N, C, H, W] or [N, H, W] images, got {x.shape}")
    labels = np.asarray(labels)
    classes = np.unique(labels)[:max_classes]
    h, w = x.shape[1:]
    mosaic = np.full((len(classes) * (h + 1), per_class * (w + 1)), np.nan)
    for row, c in enumerate(classes):
        for col, i in enumerate(np.flatnonzero(labels == c)[:per_class]):
            mosaic[row * (h + 1) : row * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = x[i]
    fig = go.Figure(
        go.Heatmap(z=mosaic, colorscale="Greys", showscale=False, hoverinfo="skip")
    )  # fmt: skip
    fig.update_layout(
        **base_layout(title=title, height=height, uirevision="images", showlegend=False),
        xaxis={"visible": False},
        yaxis={
            "autorange": "reversed", "scaleanchor": "x", "showgrid": False, "zeroline": False,
            "tickvals": [r * (h + 1) + h / 2 for r in range(len(classes))],
            "ticktext": [f"class {c}" for c in classes],
        },
    )  # fmt: skip
    return fig


def standalone_html(figure: go.Figure) -> str:
    """``figure`` as one self-contained HTML file (plotly.js inside, no network needed), in
    plotly's white theme: Streamlit's theme keeps placeholder colours that only Streamlit fills."""
    return go.Figure(figure).update_layout(template="plotly_white").to_html(include_plotlyjs=True)
