"""Embedding Explorer pictures: held-out embeddings in 2-D or 3-D coloured by class with a query
and its nearest neighbours marked, the query's neighbours as image thumbnails, and Recall@1 per
class for one or more models side by side.

Pure functions from arrays (coordinates already projected, labels, neighbour indices and their
correctness as the core computed them) to ``plotly.graph_objects.Figure``; nothing here trains,
measures or imports streamlit. Every point carries its item index as ``customdata`` so that a
selection event names the item that was picked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from symsynth.viz.projection import FixedProjection
from symsynth.viz.style import base_layout, class_colors

QUERY = "#000000"  # the picked query: a black star
CORRECT = "#2ca02c"  # a neighbour of the query's class: green ring
WRONG = "#ff7f0e"  # a neighbour of another class: orange cross (red is Symm's colour)
RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def pca_coordinates(embeddings, dim: int = 2) -> np.ndarray:
    """Embeddings of dimension 2 or 3 as they are (their circle or sphere); higher ones on their
    top ``dim`` principal directions after centring (the spread around the mean, which the
    uncentred live-view basis spends its first direction on), with deterministic signs.

    >>> import numpy as np
    >>> x = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]])
    >>> pca_coordinates(x).shape, pca_coordinates(x[:, :3]).shape
    ((4, 2), (4, 3))
    """
    x = np.asarray(embeddings, dtype=float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"embeddings must be [N, D] with D >= 2, got shape {x.shape}")
    if x.shape[1] <= 3:
        return x
    centred = x - x.mean(axis=0)
    return FixedProjection(dim).fit(centred).transform(centred)


def _coords(coords) -> np.ndarray:
    xy = np.asarray(coords, dtype=float)
    if xy.ndim != 2 or xy.shape[1] not in (2, 3):
        raise ValueError(f"coordinates must be [N, 2] or [N, 3], got shape {xy.shape}")
    return xy


def _points(xy: np.ndarray, index) -> dict:
    out = {"x": xy[index, 0], "y": xy[index, 1]}
    if xy.shape[1] == 3:
        out["z"] = xy[index, 2]
    return out


def explorer_figure(
    coords,
    labels,
    query: int | None = None,
    neighbours: Sequence[int] = (),
    correct: Sequence[bool] = (),
    title: str | None = None,
    height: int = 520,
    uirevision: str = "explorer",
) -> go.Figure:
    """Every item as a point coloured by its class (``customdata`` = item index, so a plotly
    selection names the item: with Streamlit's point selection a click picks it); with
    ``query``, the query drawn as a black star and its ``neighbours`` ringed green when
    ``correct`` (same class) and crossed orange otherwise.

    >>> import numpy as np
    >>> xy = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> fig = explorer_figure(xy, [0, 0, 1], query=0, neighbours=[1, 2], correct=[True, False])
    >>> [t.name for t in fig.data]
    ['held-out items', 'query', 'correct neighbour', 'wrong neighbour']
    >>> fig.data[0].customdata.tolist(), fig.data[3].customdata.tolist()
    ([0, 1, 2], [2])
    """
    xy = _coords(coords)
    labels = np.asarray(labels)
    if len(labels) != len(xy):
        raise ValueError(f"got {len(xy)} points but {len(labels)} labels; they must match")
    neighbours = np.asarray(neighbours, dtype=int).reshape(-1)
    correct = np.asarray(correct, dtype=bool).reshape(-1)
    if len(neighbours) != len(correct):
        raise ValueError(f"got {len(neighbours)} neighbours but {len(correct)} correct flags")
    if query is not None and not 0 <= query < len(xy):
        raise ValueError(f"query {query} is not an item index (0..{len(xy) - 1})")
    dim = xy.shape[1]
    scatter = go.Scatter3d if dim == 3 else go.Scatter
    index = np.arange(len(xy))
    fig = go.Figure(
        scatter(
            **_points(xy, index), mode="markers", name="held-out items",
            marker={"size": 3 if dim == 3 else 6, "color": class_colors(labels), "opacity": 0.75},
            customdata=index, text=[f"class {c}" for c in labels],
            hovertemplate="item %{customdata} · %{text}<extra></extra>",
        )
    )  # fmt: skip
    if query is not None:
        big = 8 if dim == 3 else 16
        fig.add_trace(
            scatter(
                **_points(xy, [query]), mode="markers", name="query",
                marker={"size": big, "color": QUERY, "symbol": "diamond" if dim == 3 else "star"},
                customdata=[query], hovertemplate="query: item %{customdata}<extra></extra>",
            )
        )  # fmt: skip
        for flag, name, color, symbol in (
            (True, "correct neighbour", CORRECT, "circle-open"),
            # WebGL draws 3-D markers as glyphs; "x" came out as an empty box in chromium
            (False, "wrong neighbour", WRONG, "cross" if dim == 3 else "x-thin-open"),
        ):
            pick = neighbours[correct == flag]
            fig.add_trace(
                scatter(
                    **_points(xy, pick), mode="markers", name=name,
                    marker={"size": big - 2, "color": color, "symbol": symbol,
                            "line": {"width": 3, "color": color}},
                    customdata=pick, hovertemplate=name + ": item %{customdata}<extra></extra>",
                )
            )  # fmt: skip
    layout = base_layout(title=title, height=height, uirevision=uirevision, showlegend=True)
    if dim == 3:
        axis = {"showbackground": False, "title": {"text": ""}}
        layout["scene"] = {"xaxis": axis, "yaxis": axis, "zaxis": axis, "aspectmode": "data"}
    else:
        layout["xaxis"] = {"showgrid": False, "zeroline": False}
        layout["yaxis"] = {"showgrid": False, "zeroline": False, "scaleanchor": "x"}
    fig.update_layout(**layout)
    return fig


def thumbnails_figure(
    images,
    titles: Sequence[str],
    correct: Sequence[bool | None],
    height: int = 190,
) -> go.Figure:
    """A row of images ([N, C, H, W] or [N, H, W], first channel shown) with a title each,
    the title green when ``correct`` is True, orange when False and black when None (the query).

    >>> import numpy as np
    >>> fig = thumbnails_figure(np.zeros((2, 1, 8, 8)), ["query", "#1"], [None, False])
    >>> len(fig.data), [a.font.color for a in fig.layout.annotations]
    (2, ['#000000', '#ff7f0e'])
    """
    x = np.asarray(images, dtype=float)
    if x.ndim == 4:
        x = x[:, 0]
    if x.ndim != 3 or len(x) == 0:
        raise ValueError(f"thumbnails need [N, C, H, W] or [N, H, W] images, got {x.shape}")
    if not len(x) == len(titles) == len(correct):
        raise ValueError(
            f"got {len(x)} images, {len(titles)} titles and {len(correct)} flags; they must match"
        )
    fig = make_subplots(rows=1, cols=len(x), subplot_titles=list(titles), horizontal_spacing=0.01)
    for i, image in enumerate(x, start=1):
        fig.add_trace(
            go.Heatmap(z=image, colorscale="Greys", showscale=False, hoverinfo="skip"),
            row=1, col=i,
        )  # fmt: skip
    for annotation, flag in zip(fig.layout.annotations, correct, strict=True):
        annotation.font = {"color": QUERY if flag is None else CORRECT if flag else WRONG}
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    for i in range(2, len(x) + 1):
        fig.layout[f"yaxis{i}"].update(scaleanchor=f"x{i}")
    fig.update_layout(**base_layout(height=height, showlegend=False, uirevision="thumbnails"))
    return fig


def class_recall_figure(
    recalls: Mapping[str, Mapping[int, float]],
    class_names: Sequence[str] | None = None,
    height: int = 320,
) -> go.Figure:
    """Recall@1 per held-out class (in %), one bar per model in each class's group, with each
    model's mean over classes in its legend entry. ``recalls``: model name -> {class id: value}.

    >>> fig = class_recall_figure({"a": {5: 1.0, 6: 0.5}, "b": {5: 0.25, 6: 0.75}})
    >>> [t.name for t in fig.data], fig.data[0].y, fig.data[0].x
    (['a (mean 75.0)', 'b (mean 50.0)'], (100.0, 50.0), ('class 5', 'class 6'))
    """
    if not recalls:
        raise ValueError("class_recall_figure needs at least one model's recalls")
    classes = sorted({int(c) for values in recalls.values() for c in values})

    def name(c: int) -> str:
        return class_names[c] if class_names is not None and c < len(class_names) else f"class {c}"

    fig = go.Figure()
    for i, (model, values) in enumerate(recalls.items()):
        present = [c for c in classes if c in values]
        y = [100 * float(values[c]) for c in present]
        fig.add_trace(
            go.Bar(
                x=[name(c) for c in present], y=y, name=f"{model} (mean {np.mean(y):.1f})",
                marker_color=RUN_COLORS[i % len(RUN_COLORS)],
                hovertemplate="%{x}: %{y:.1f}%<extra>" + model + "</extra>",
            )
        )  # fmt: skip
    fig.update_layout(
        **base_layout(height=height, barmode="group", showlegend=True, uirevision="class-recall"),
        yaxis={"title": {"text": "Recall@1 (%)"}, "range": [0, 105]},
    )
    return fig


__all__ = ["class_recall_figure", "explorer_figure", "pca_coordinates", "thumbnails_figure"]
