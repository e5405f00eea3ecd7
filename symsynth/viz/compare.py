"""Comparison pictures: grouped bars with error bars, small multiples of held-out embeddings on
shared axes, overlaid training curves, and a side-by-side replay of two runs.

Pure functions from core results (``symsynth.compare`` rows and curves, training snapshots'
frames) to ``plotly.graph_objects.Figure``; nothing here trains, measures or imports streamlit.
Colours follow the house style: each synthesis variant has one colour everywhere (baseline
grey, Symm red like its synthetic points, EE green), and losses are told apart by position
(bars) or by dash (curves).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from symsynth.compare import (
    LABELS,
    ComparisonResult,
    Curve,
    Row,
    aggregate,
    mean_curves,
    runs_to_csv,
    to_csv,
    to_markdown,
)
from symsynth.viz.style import (
    EE,
    ORIGINAL_PAIR,
    SYNTHETIC,
    base_layout,
    class_colors,
    unit_manifold,
)
from symsynth.viz.training import LIMIT, EmbeddingFrame, frame_traces

SYNTHESIS_COLORS = {"none": ORIGINAL_PAIR, "symm": SYNTHETIC, "ee": EE}
LOSS_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def synthesis_color(synthesis: str) -> str:
    """The colour of a synthesis variant (none: grey, symm: red, ee: green)."""
    return SYNTHESIS_COLORS.get(synthesis, "#1f77b4")


def metric_bars(
    rows: Sequence[Row],
    metrics: Sequence[str] = ("recall@1", "map@r", "nmi", "f1"),
    height: int = 380,
) -> go.Figure:
    """One panel per metric; in each, the losses side by side with one bar per synthesis
    variant (mean over seeds, in %) and an error bar of ± one standard deviation.

    >>> from symsynth.compare import Row
    >>> rows = [Row("triplet", s, (0, 1), {"recall@1": m}, {"recall@1": 0.01}, {"recall@1": b})
    ...         for s, m, b in (("none", 0.5, False), ("symm", 0.6, True))]
    >>> fig = metric_bars(rows, metrics=["recall@1"])
    >>> [t.name for t in fig.data], fig.data[1].y
    (['none', 'symm'], (60.0,))
    """
    if not rows:
        raise ValueError("metric_bars needs at least one row (run a comparison first)")
    missing = [m for m in metrics if m not in rows[0].mean]
    if missing:
        raise ValueError(f"the rows have no metric {missing[0]!r}; they have {list(rows[0].mean)}")
    losses = list(dict.fromkeys(r.loss for r in rows))
    variants = list(dict.fromkeys(r.synthesis for r in rows))
    fig = make_subplots(
        rows=1,
        cols=len(metrics),
        subplot_titles=[LABELS.get(m, m) + " (%)" for m in metrics],
        horizontal_spacing=0.06,
    )
    for col, metric in enumerate(metrics, start=1):
        for synthesis in variants:
            mine = {r.loss: r for r in rows if r.synthesis == synthesis}
            present = [loss for loss in losses if loss in mine]
            std = [mine[loss].std[metric] for loss in present]
            fig.add_trace(
                go.Bar(
                    x=present,
                    y=[100 * mine[loss].mean[metric] for loss in present],
                    error_y={
                        "type": "data",
                        "array": [0.0 if np.isnan(s) else 100 * s for s in std],
                        "visible": True,
                    },
                    name=synthesis,
                    legendgroup=synthesis,
                    showlegend=col == 1,
                    marker_color=synthesis_color(synthesis),
                    customdata=[len(mine[loss].seeds) for loss in present],
                    hovertemplate=f"%{{x}}+{synthesis}: %{{y:.1f}} ± %{{error_y.array:.1f}}"
                    " (%{customdata} seeds)<extra></extra>",
                ),
                row=1,
                col=col,
            )
    fig.update_layout(
        **base_layout(
            height=height,
            barmode="group",
            uirevision="metric-bars",
            showlegend=True,
            legend={"orientation": "h", "y": -0.15, "x": 0, "title": {"text": "synthesis"}},
        )
    )
    fig.update_annotations(font_size=13)
    return fig


def _panel_coordinates(embeddings: np.ndarray) -> tuple[np.ndarray, int]:
    """Coordinates to draw: the embedding itself for D = 2 or 3; for higher D its centred
    principal plane, scaled so that the farthest point lies on the unit circle."""
    x = np.asarray(embeddings, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"embeddings must be [N, D] with D >= 2, got shape {x.shape}")
    if x.shape[1] <= 3:
        return x, x.shape[1]
    centred = x - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    basis = vt[:2] * np.sign(vt[:2][np.arange(2), np.abs(vt[:2]).argmax(1)])[:, None]
    xy = centred @ basis.T
    radius = np.linalg.norm(xy, axis=1).max()
    return (xy / radius if radius > 0 else xy), 2


def embedding_grid(
    panels: Sequence[tuple[str, np.ndarray, np.ndarray]],
    cols: int = 3,
    panel_height: int = 300,
    max_classes: int | None = None,
) -> go.Figure:
    """Small multiples: one panel per ``(title, embeddings [N, D], labels [N])``, coloured by
    class, all on the same axes ([-1.15, 1.15], equal aspect). Embeddings of dimension 2 are
    drawn on the unit circle and of dimension 3 in the unit sphere's box as they are; higher
    ones are projected to 2-D, each panel on its own centred principal plane scaled to the unit
    disc: two networks' coordinates are not comparable, the shapes of their classes are.
    ``max_classes`` keeps only the points of the first (smallest) that many class ids of each
    panel, so that a few clusters stay legible when there are many classes.

    >>> import numpy as np
    >>> e = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> fig = embedding_grid([("a", e, np.array([0, 1])), ("b", -e, np.array([0, 1]))], cols=2)
    >>> [t.name for t in fig.data if t.name != "unit circle"], fig.layout.xaxis2.range
    (['a', 'b'], (-1.15, 1.15))
    """
    if not panels:
        raise ValueError("embedding_grid needs at least one panel")
    if max_classes is not None:
        if max_classes < 1:
            raise ValueError(f"max_classes must be None or >= 1, got {max_classes}")
        kept = []
        for title, e, labels in panels:
            labels = np.asarray(labels)
            keep = np.isin(labels, np.unique(labels)[:max_classes])
            kept.append((title, np.asarray(e)[keep], labels[keep]))
        panels = kept
    raw_dim = np.asarray(panels[0][1]).shape[-1]
    coords = [_panel_coordinates(e) for _, e, _ in panels]
    dims = {d for _, d in coords}
    if len(dims) != 1:
        raise ValueError(f"all panels must have the same embedding dimension, got {sorted(dims)}")
    dim = dims.pop()
    cols = max(1, min(cols, len(panels)))
    n_rows = -(-len(panels) // cols)
    spec = {"type": "scene"} if dim == 3 else {}
    fig = make_subplots(
        rows=n_rows,
        cols=cols,
        subplot_titles=[title for title, _, _ in panels],
        specs=[[dict(spec) for _ in range(cols)] for _ in range(n_rows)],
        horizontal_spacing=0.02,
        vertical_spacing=0.08 / max(1, n_rows - 1) if n_rows > 1 else 0.0,
    )
    for i, ((title, _, labels), (xy, _)) in enumerate(zip(panels, coords, strict=True)):
        row, col = divmod(i, cols)
        labels = np.asarray(labels)
        if raw_dim == 2:  # the embedding's own circle (a projection has none)
            fig.add_trace(unit_manifold(2), row=row + 1, col=col + 1)
        point = {"x": xy[:, 0], "y": xy[:, 1]}
        if dim == 3:
            point["z"] = xy[:, 2]
        trace_type = go.Scatter3d if dim == 3 else go.Scatter
        fig.add_trace(
            trace_type(
                **point, mode="markers", name=title, showlegend=False,
                marker={"size": 2 if dim == 3 else 4, "color": class_colors(labels),
                        "opacity": 0.7},
                customdata=labels, hovertemplate="class %{customdata}<extra>" + title + "</extra>",
            ),
            row=row + 1, col=col + 1,
        )  # fmt: skip
    lim = [-LIMIT, LIMIT]
    if dim == 2:
        fig.update_xaxes(range=lim, showticklabels=False, showgrid=False, zeroline=False)
        fig.update_yaxes(range=lim, showticklabels=False, showgrid=False, zeroline=False)
        for i in range(len(panels)):
            suffix = "" if i == 0 else str(i + 1)
            fig.layout[f"yaxis{suffix}"].update(scaleanchor=f"x{suffix}", scaleratio=1)
    else:
        axis = {"range": lim, "showbackground": False, "showticklabels": False, "title": ""}
        fig.update_scenes(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="cube")
    fig.update_layout(
        **base_layout(height=panel_height * n_rows + 40, uirevision="embedding-grid"),
        showlegend=False,
    )
    fig.update_annotations(font_size=12)
    return fig


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last ``window`` values (fewer at the start)."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) == 0:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    n = np.arange(1, len(values) + 1)
    start = np.maximum(0, n - window)
    return (c[n] - c[start]) / (n - start)


def curves_figure(curves: Sequence[Curve], smooth: int = 20, height: int = 360) -> go.Figure:
    """Loss (trailing mean over ``smooth`` steps, on a log axis since losses differ in scale)
    and held-out Recall@1 (on the trainer's fixed evaluation subset) over training steps, every
    loss × synthesis cell overlaid: colour = synthesis, dash = loss.

    >>> import numpy as np
    >>> from symsynth.compare import Curve
    >>> c = Curve("triplet", "symm", np.arange(1, 4), np.ones(3), np.array([3]), np.array([0.5]))
    >>> fig = curves_figure([c])
    >>> [t.name for t in fig.data], fig.data[1].y.tolist()
    (['triplet+symm', 'triplet+symm'], [50.0])
    """
    if not curves:
        raise ValueError("curves_figure needs at least one curve")
    losses = list(dict.fromkeys(c.loss for c in curves))
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.08,
        subplot_titles=(
            f"training loss (mean of {smooth} steps, log scale)",
            "held-out Recall@1 (%, evaluation subset)",
        ),
    )  # fmt: skip
    for c in curves:
        line = {
            "color": synthesis_color(c.synthesis),
            "dash": LOSS_DASHES[losses.index(c.loss) % len(LOSS_DASHES)],
            "width": 2,
        }
        fig.add_trace(
            go.Scatter(
                x=c.steps, y=_moving_average(c.loss_values, smooth), mode="lines", name=c.name,
                legendgroup=c.name, line=line,
            ),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=c.eval_steps, y=100 * np.asarray(c.recall_at_1, dtype=float),
                mode="lines+markers", name=c.name, legendgroup=c.name, showlegend=False,
                line=line,
            ),
            row=1, col=2,
        )  # fmt: skip
    fig.update_xaxes(title={"text": "step"})
    fig.update_yaxes(type="log", row=1, col=1)  # losses differ in scale by orders of magnitude
    fig.update_layout(**base_layout(height=height, uirevision="curves", showlegend=True))
    return fig


def _manifold(dim: int, scene: str | None, axes: tuple[str, str]) -> dict:
    if dim == 3:
        return unit_manifold(3, wireframe=True, scene=scene)  # animated: the light sphere
    return unit_manifold(2, xaxis=axes[0], yaxis=axes[1])


def _placed(traces: list, dim: int, side: int) -> list:
    """Put a frame's traces on the left (side 0) or right (side 1) panel; legend once."""
    for trace in traces:
        if dim == 3:
            trace.update(scene="scene" if side == 0 else "scene2")
        else:
            trace.update(xaxis="x" if side == 0 else "x2", yaxis="y" if side == 0 else "y2")
        trace.update(legendgroup=trace["name"], showlegend=side == 0)
    return traces


def side_by_side_replay(
    left: Sequence[EmbeddingFrame],
    right: Sequence[EmbeddingFrame],
    titles: tuple[str, str] = ("baseline", "Symm"),
    height: int = 560,
    frame_ms: int = 150,
) -> go.Figure:
    """Two training runs animated in step, side by side (play/pause and one slider): each
    panel shows the held-out points, the batch, its synthetic points and the mined negative
    pairs of the run's frame (see ``symsynth.viz.training``). Frames are paired by position;
    both runs should record snapshots at the same steps (same configuration but the loss or
    synthesis). The figure plays in the browser without a server.

    >>> from symsynth.train import TrainConfig, Trainer
    >>> from symsynth.viz import FixedProjection, frame_from_snapshot
    >>> config = TrainConfig(dataset="toy-circle", embedding_dim=2, max_steps=4, snapshot_every=2)
    >>> snaps = Trainer(config).run(4)
    >>> frames = [frame_from_snapshot(s, FixedProjection()) for s in snaps]
    >>> [f.name for f in side_by_side_replay(frames, frames).frames]
    ['1', '2', '4']
    """
    n = min(len(left), len(right))
    if n == 0:
        raise ValueError("side_by_side_replay needs at least one frame on each side")
    dim = left[0].dim
    if right[0].dim != dim:
        raise ValueError(f"both runs must have the same dimension, got {dim} and {right[0].dim}")
    spec = {"type": "scene"} if dim == 3 else {}
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=titles, specs=[[dict(spec), dict(spec)]],
        horizontal_spacing=0.03,
    )  # fmt: skip
    for side, frames in enumerate((left, right)):
        fig.add_trace(_manifold(dim, "scene" if side == 0 else "scene2", _axes(side)))
        for trace in _placed(frame_traces(frames[0]), dim, side):
            fig.add_trace(trace)
    per_side = len(frame_traces(left[0]))
    moving = [1 + k for k in range(per_side)] + [per_side + 2 + k for k in range(per_side)]
    fig.frames = [
        go.Frame(
            data=_placed(frame_traces(a), dim, 0) + _placed(frame_traces(b), dim, 1),
            traces=moving,
            name=str(a.step),
            layout={"title": {"text": f"step {a.step}"}},
        )
        for a, b in zip(left[:n], right[:n], strict=True)
    ]
    redraw = dim == 3
    play = {
        "frame": {"duration": frame_ms, "redraw": redraw},
        "transition": {"duration": 0},
        "fromcurrent": True,
        "mode": "immediate",
    }
    pause = {"frame": {"duration": 0, "redraw": redraw}, "mode": "immediate"}
    lim = [-LIMIT, LIMIT]
    layout = base_layout(title={"text": f"step {left[0].step}"}, height=height, uirevision="pair")
    if dim == 2:
        for suffix in ("", "2"):
            layout[f"xaxis{suffix}"] = {"range": lim, "showgrid": False, "zeroline": False}
            layout[f"yaxis{suffix}"] = {
                "range": lim, "showgrid": False, "zeroline": False, "scaleanchor": f"x{suffix}"
            }  # fmt: skip
    else:
        axis = {"range": lim, "showbackground": False, "showgrid": False, "title": {"text": ""}}
        for name in ("scene", "scene2"):
            layout[name] = {"xaxis": axis, "yaxis": axis, "zaxis": axis, "aspectmode": "cube"}
    fig.update_layout(
        **layout,
        updatemenus=[
            {
                "type": "buttons", "direction": "left", "x": 0, "y": 0, "xanchor": "left",
                "yanchor": "top", "pad": {"t": 40, "r": 10}, "showactive": False,
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": [None, play]},
                    {"label": "❚❚ Pause", "method": "animate", "args": [[None], pause]},
                ],
            }
        ],
        sliders=[
            {
                "x": 0.2, "y": 0, "len": 0.8, "pad": {"t": 30},
                "currentvalue": {"prefix": "step "},
                "steps": [
                    {"label": str(a.step), "method": "animate",
                     "args": [[str(a.step)], {**pause, "transition": {"duration": 0}}]}
                    for a in left[:n]
                ],
            }
        ],
    )  # fmt: skip
    return fig


def _axes(side: int) -> tuple[str, str]:
    return ("x", "y") if side == 0 else ("x2", "y2")


def write_html(fig: go.Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` as a standalone HTML file with plotly.js inside (opens offline).

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_html(go.Figure(go.Bar(y=[1])), pathlib.Path(tmp) / "bar.html")
    ...     (pathlib.Path(tmp) / "bar.html").stat().st_size > 1_000_000
    True
    """
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)


def html_page(figures: Sequence[tuple[str, go.Figure]], title: str, intro: str = "") -> str:
    """Several figures with headings in one standalone HTML page (plotly.js included once, so
    it opens offline). ``intro`` and the headings are plain text (escaped here).

    >>> import plotly.graph_objects as go
    >>> page = html_page([("A bar", go.Figure(go.Bar(y=[1])))], title="demo")
    >>> page.startswith("<!DOCTYPE html>"), page.count("<h2>")
    (True, 1)
    """
    from html import escape

    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title>",
        "<style>body{font-family:Helvetica,Arial,sans-serif;max-width:1300px;margin:auto;"
        "padding:1em}p{max-width:60em;line-height:1.4}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
    ]
    if intro:
        parts += [f"<p>{escape(p)}</p>" for p in intro.split("\n\n")]
    for i, (heading, fig) in enumerate(figures):
        parts.append(f"<h2>{escape(heading)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=i == 0))
    parts.append("</body></html>")
    return "\n".join(parts)


EXPORTS = (
    "table.md",
    "table.csv",
    "runs.csv",
    "comparison.json",
    "bars.html",
    "embeddings.html",
    "curves.html",
)


def export(
    result: ComparisonResult, out: str | os.PathLike, figure_seed: int | None = None
) -> list[Path]:
    """Write a finished comparison into the folder ``out`` (created): table.md and table.csv
    (:func:`symsynth.compare.to_markdown` / ``to_csv``), runs.csv (every run), comparison.json
    (the settings), and the standalone figures bars.html, embeddings.html (the runs of
    ``figure_seed``, default the first seed; 10 classes) and curves.html. Returns the paths
    written.

    >>> import tempfile
    >>> from symsynth.compare import Comparison, run_comparison
    >>> from symsynth.train import TrainConfig
    >>> base = TrainConfig(dataset="toy-circle", embedding_dim=2, max_steps=3)
    >>> result = run_comparison(Comparison(base, losses=("triplet",), seeds=(0,)))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [p.name for p in export(result, tmp)][:3]
    ['table.md', 'table.csv', 'runs.csv']
    """
    seeds = result.comparison.seeds
    seed = seeds[0] if figure_seed is None else figure_seed
    if seed not in seeds:
        raise ValueError(f"figure seed {seed} is not among the seeds {list(seeds)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = aggregate(result.runs)
    (out / "table.md").write_text(to_markdown(rows))
    (out / "table.csv").write_text(to_csv(rows))
    (out / "runs.csv").write_text(runs_to_csv(result.runs))
    spec = json.dumps(result.comparison.to_dict(), indent=2, sort_keys=True)
    (out / "comparison.json").write_text(spec + "\n")
    panels = [
        (f"{r.name} (seed {r.seed})", r.probe_embeddings, r.probe_labels)
        for r in result.runs_for_seed(seed)
    ]
    write_html(metric_bars(rows), out / "bars.html")
    grid = embedding_grid(panels, cols=len(result.comparison.synthesis), max_classes=10)
    write_html(grid, out / "embeddings.html")
    write_html(curves_figure(mean_curves(result.runs)), out / "curves.html")
    return [out / name for name in EXPORTS]


__all__ = [
    "EXPORTS",
    "SYNTHESIS_COLORS",
    "curves_figure",
    "embedding_grid",
    "export",
    "html_page",
    "metric_bars",
    "side_by_side_replay",
    "synthesis_color",
    "write_html",
]
