"""The Reflection Lab's pictures: the paper's Figure 1 and its α/β figure, on a circle or a sphere.

:func:`reflection_scene` places two pairs (class A: a, p; class B: n₁, n₂) and asks the core for
everything drawn: the synthetic points (``symsynth.synthesis``), the perpendicular foot
(α = 1), the group similarities and the mined hardest negative pair (``symsynth.mining``).
:func:`reflection_figure` and :func:`similarity_heatmap` only draw a scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch

from symsynth.mining import group_similarities, mine, points_table
from symsynth.synthesis import symmetric_points
from symsynth.viz.style import (
    EE,
    GUIDE,
    ORIGINAL_PAIR,
    SYNTHETIC,
    ZOOMED_CUBE,
    base_layout,
    class_color,
    unit_manifold,
)

ORIGINAL_NAMES = ("a", "p", "n₁", "n₂")
_SUB = "₁₂₃₄₅₆₇₈₉"


def circle_point(angle_deg: float) -> np.ndarray:
    """The unit vector at ``angle_deg`` on the circle."""
    t = np.deg2rad(angle_deg)
    return np.array([np.cos(t), np.sin(t)])


def sphere_point(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """The unit vector at (azimuth, elevation) on the sphere, in degrees."""
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    return np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])


def member_names(method: str, n_inner: int = 2) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names of the group members of class A and of class B, in mining's member order."""
    if method == "symm":
        return ("a", "p", "a′", "p′"), ("n₁", "n₂", "n₁′", "n₂′")
    if method == "ee":
        inner = range(n_inner)
        return (
            ("a", "p", *(f"i{_SUB[k]}" for k in inner)),
            ("n₁", "n₂", *(f"j{_SUB[k]}" for k in inner)),
        )
    return ("a", "p"), ("n₁", "n₂")


@dataclass(frozen=True)
class ReflectionScene:
    """Everything the Reflection Lab draws, as NumPy arrays.

    ``points`` holds the point table: rows 0-3 the originals a, p, n₁, n₂, then the synthetic
    points (those of pair A first). ``similarity[g, h]`` is the dot product of member g of
    class A's group with member h of class B's group. ``mined_rows`` are the two point-table
    rows the core's mining chose, ``mined`` = (g, h) the same pair as group members (with
    synthesis, the argmax of ``similarity``).
    """

    method: str
    alpha: float
    beta: float
    points: np.ndarray
    labels: np.ndarray
    synthetic: np.ndarray
    names: tuple[str, ...]
    feet: np.ndarray  # [2, D]: foot of a on the axis p, foot of p on the axis a (α = 1)
    alpha_points: np.ndarray  # [2, D]: a and p moved by α alone (β = 1)
    similarity: np.ndarray
    row_names: tuple[str, ...]
    col_names: tuple[str, ...]
    mined: tuple[int, int]
    mined_rows: tuple[int, int]
    mined_score: float

    @property
    def dim(self) -> int:
        return self.points.shape[1]

    @property
    def originals(self) -> np.ndarray:
        return self.points[:4]

    @property
    def synthetic_points(self) -> np.ndarray:
        return self.points[4:]

    @property
    def mined_synthetic(self) -> tuple[bool, bool]:
        return bool(self.synthetic[self.mined_rows[0]]), bool(self.synthetic[self.mined_rows[1]])

    def readouts(self) -> list[dict]:
        """For each synthetic point of class A: its norm and its similarity to its axis,
        next to those of the original it was made from, and the two halves of its chord."""
        if self.method != "symm":
            return []
        a, p = self.points[0], self.points[1]
        rows = []
        for name, x, axis, x_syn, foot in (
            ("a", a, p, self.points[4], self.feet[0]),
            ("p", p, a, self.points[5], self.feet[1]),
        ):
            rows.append(
                {
                    "point": f"{name}′ = sym({name}; {'p' if name == 'a' else 'a'})",
                    "‖x‖": float(np.linalg.norm(x)),
                    "‖x′‖": float(np.linalg.norm(x_syn)),
                    "x·axis": float(x @ axis),
                    "x′·axis": float(x_syn @ axis),
                    "‖x − foot‖": float(np.linalg.norm(x - foot)),
                    "‖x′ − foot‖": float(np.linalg.norm(x_syn - foot)),
                }
            )
        return rows


def reflection_scene(
    originals,
    method: str = "symm",
    alpha: float = 2.0,
    beta: float = 1.0,
    n_inner: int = 2,
) -> ReflectionScene:
    """The scene for four points a, p (class A) and n₁, n₂ (class B), each a row of ``originals``
    ([4, 2] or [4, 3]); ``method`` is the synthesis (none, symm, ee)."""
    x = torch.as_tensor(np.asarray(originals, dtype=np.float64))
    if x.dim() != 2 or x.shape[0] != 4 or x.shape[1] not in (2, 3):
        raise ValueError(f"originals must be [4, 2] or [4, 3] (a, p, n₁, n₂); got {tuple(x.shape)}")
    labels = torch.tensor([0, 0, 1, 1])
    table = points_table(x, labels, method, alpha, beta, n_inner)
    block = group_similarities(x, labels, method, alpha, beta, n_inner)[0, :, 1, :]
    mined = mine(x, labels, method, mode="pair", alpha=alpha, beta=beta, n_inner=n_inner)
    rows = (int(mined.first[0, 2]), int(mined.second[0, 2]))
    axes = torch.stack([x[1], x[0]])  # a is reflected about p, p about a
    feet = symmetric_points(x[:2], axes, alpha=1.0, beta=1.0)
    alpha_points = symmetric_points(x[:2], axes, alpha=alpha, beta=1.0)
    row_names, col_names = member_names(method, n_inner)
    synthetic_names = row_names[2:] + col_names[2:]
    return ReflectionScene(
        method=method,
        alpha=float(alpha),
        beta=float(beta),
        points=table.points.numpy(),
        labels=table.labels.numpy(),
        synthetic=table.synthetic.numpy(),
        names=ORIGINAL_NAMES + synthetic_names,
        feet=feet.numpy(),
        alpha_points=alpha_points.numpy(),
        similarity=block.numpy(),
        row_names=row_names,
        col_names=col_names,
        mined=(_member(rows[0], block.shape[0]), _member(rows[1], block.shape[1])),
        mined_rows=rows,
        mined_score=float(mined.score[0, 2]),
    )


def _member(row: int, group_size: int) -> int:
    """Group member index of a point-table row of the two-pair scene (a, p, n₁, n₂, then the
    synthetic points of pair A, then those of pair B)."""
    if row < 4:
        return row % 2
    return 2 + (row - 4) % (group_size - 2)


# ---------------------------------------------------------------------------------------------
# drawing


def _xyz(points: np.ndarray, dim: int) -> dict:
    pts = np.atleast_2d(points)
    coords = {"x": pts[:, 0], "y": pts[:, 1]}
    if dim == 3:
        coords["z"] = pts[:, 2]
    return coords


def _polyline(segments: list[tuple[np.ndarray, np.ndarray]], dim: int) -> dict:
    """Coordinates of several segments in one trace, separated by gaps."""
    rows = []
    for start, end in segments:
        rows += [start, end, np.full(dim, np.nan)]
    return _xyz(np.array(rows) if rows else np.empty((0, dim)), dim)


def _trace(dim: int, **kwargs) -> go.Scatter | go.Scatter3d:
    return go.Scatter3d(**kwargs) if dim == 3 else go.Scatter(**kwargs)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 1e-12 else v


def _great_circle(u: np.ndarray, w: np.ndarray, n: int = 121) -> np.ndarray:
    """The great circle through u and w (a circle in their plane), [n, 3]."""
    e1 = _unit(u)
    e2 = _unit(w - (w @ e1) * e1)
    if np.linalg.norm(e2) < 1e-9:  # u and w are parallel: any circle through u will do
        e2 = _unit(np.cross(e1, [0.0, 0.0, 1.0] if abs(e1[2]) < 0.9 else [1.0, 0.0, 0.0]))
    t = np.linspace(0, 2 * np.pi, n)[:, None]
    return np.cos(t) * e1 + np.sin(t) * e2


def _manifold_traces(scene: ReflectionScene) -> list:
    if scene.dim == 2:
        return [unit_manifold(2)]
    circle = _great_circle(scene.points[0], scene.points[1])
    return [
        unit_manifold(3),
        go.Scatter3d(
            **_xyz(circle, 3), mode="lines", line={"color": GUIDE, "width": 3},
            name="great circle through a and p", hoverinfo="skip",
        ),
    ]  # fmt: skip


def _axis_traces(scene: ReflectionScene, reach: float) -> list:
    """The lines through 0 and each member of pair A: the axes of symmetry."""
    a, p = scene.points[0], scene.points[1]
    segments = [(-reach * _unit(v), reach * _unit(v)) for v in (p, a)]
    return [
        _trace(
            scene.dim, **_polyline(segments, scene.dim), mode="lines",
            line={"color": class_color(0), "width": 1, "dash": "dot"},
            name="axes of symmetry (0→p, 0→a)", hoverinfo="skip",
        )
    ]  # fmt: skip


def _construction_traces(scene: ReflectionScene) -> list:
    """For a and p: the chord through the foot of the perpendicular, and the β scaling."""
    dim = scene.dim
    chords, scaling = [], []
    for k in range(2):
        x, foot, moved = scene.points[k], scene.feet[k], scene.alpha_points[k]
        chords += [(x, foot), (foot, moved)]
        if scene.method == "symm" and abs(scene.beta - 1.0) > 1e-9:
            scaling.append((moved, scene.points[4 + k]))
    traces = [
        _trace(
            dim, **_polyline(chords, dim), mode="lines",
            line={"color": GUIDE, "width": 2}, name="chord x → foot → x′ (α)",
            hoverinfo="skip",
        ),
        _trace(
            dim, **_xyz(scene.feet, dim), mode="markers+text",
            marker={"symbol": "x" if dim == 2 else "cross", "size": 7 if dim == 2 else 4,
                    "color": "#333"},  # a 3-D "x" glyph came out as an empty box in chromium
            text=["foot", "foot"], textposition="bottom center", name="perpendicular foot (α = 1)",
        ),
    ]  # fmt: skip
    if scaling:
        traces.append(
            _trace(
                dim, **_polyline(scaling, dim), mode="lines",
                line={"color": SYNTHETIC, "width": 1, "dash": "dot"}, name="β scales radially",
                hoverinfo="skip",
            )
        )  # fmt: skip
    return traces


def _point_traces(scene: ReflectionScene, contrast: ReflectionScene | None) -> list:
    dim = scene.dim
    small = dim == 3
    orig = scene.originals
    traces = [
        _trace(
            dim, **_xyz(orig, dim), mode="markers+text", text=list(scene.names[:4]),
            textposition="top center", textfont={"size": 15},
            marker={"size": 8 if small else 13, "color": [class_color(c) for c in scene.labels[:4]],
                    "line": {"color": "white", "width": 1}},
            name="original points", customdata=list(scene.names[:4]),
            hovertemplate="%{customdata}<extra>original</extra>",
        )
    ]  # fmt: skip
    syn = scene.synthetic_points
    if len(syn):
        marker = {"size": 8 if small else 15, "color": SYNTHETIC}
        if dim == 2:
            marker.update(
                symbol="circle-open", line={"color": SYNTHETIC, "width": 2, "dash": "dash"}
            )
        else:
            marker.update(symbol="circle-open")
        traces.append(
            _trace(
                dim, **_xyz(syn, dim), mode="markers+text", text=list(scene.names[4:]),
                textposition="bottom center", textfont={"color": SYNTHETIC, "size": 15},
                marker=marker, name=f"synthetic ({scene.method})", customdata=list(scene.names[4:]),
                hovertemplate="%{customdata}<extra>synthetic</extra>",
            )
        )  # fmt: skip
    if contrast is not None and len(contrast.synthetic_points):
        traces.append(
            _trace(
                dim, **_xyz(contrast.synthetic_points, dim), mode="markers+text",
                text=list(contrast.names[4:]), textposition="middle right",
                textfont={"color": EE}, name=f"synthetic ({contrast.method}, for contrast)",
                marker={"symbol": "diamond-open", "size": 7 if small else 11, "color": EE},
            )
        )  # fmt: skip
    return traces


def _mined_trace(scene: ReflectionScene) -> go.Scatter | go.Scatter3d:
    i, j = scene.mined_rows
    uses_synthetic = any(scene.mined_synthetic)
    color = SYNTHETIC if uses_synthetic else ORIGINAL_PAIR
    pair = f"{scene.names[i]}–{scene.names[j]}"
    return _trace(
        scene.dim, **_xyz(scene.points[[i, j]], scene.dim), mode="lines",
        line={"color": color, "width": 6 if scene.dim == 3 else 4},
        name=f"mined negative pair {pair} (s = {scene.mined_score:.2f})",
        hoverinfo="skip",
    )  # fmt: skip


def reflection_figure(
    scene: ReflectionScene,
    contrast: ReflectionScene | None = None,
    construction: bool = True,
    mined: bool = True,
    title: str | None = None,
    height: int = 520,
) -> go.Figure:
    """The scene drawn on its circle or sphere: originals, synthetic points (red, dashed outline),
    axes of symmetry, the chord through the perpendicular foot, and the mined negative pair
    (red when it uses a synthetic point). ``contrast``, another scene on the same points (say EE),
    adds its synthetic points as green diamonds."""
    reach = max(1.2, 1.1 * float(np.abs(scene.points).max()))
    traces = _manifold_traces(scene)
    if construction:
        traces += _axis_traces(scene, reach)
        if scene.method == "symm":
            traces += _construction_traces(scene)
    if mined:
        traces.append(_mined_trace(scene))
    traces += _point_traces(scene, contrast)
    fig = go.Figure(traces)
    lim = [-reach, reach]
    layout = base_layout(title=title, height=height, uirevision="reflection")
    if scene.dim == 2:
        layout.update(
            xaxis={"range": lim, "visible": False, "constrain": "domain"},
            yaxis={"range": lim, "visible": False, "scaleanchor": "x"},
        )
    else:
        axis = {"range": lim, "visible": False}
        layout.update(scene={"xaxis": axis, "yaxis": axis, "zaxis": axis, **ZOOMED_CUBE})
    fig.update_layout(**layout)
    return fig


def similarity_heatmap(scene: ReflectionScene, title: str | None = None) -> go.Figure:
    """The group × group similarities of class A (rows) and class B (columns); the outlined cell
    is the hardest negative pair that mining selects (red outline when it uses a synthetic
    point)."""
    s = scene.similarity
    top = max(1.0, float(np.abs(s).max()))
    fig = go.Figure(
        go.Heatmap(
            z=s, x=list(scene.col_names), y=list(scene.row_names), colorscale="Blues",
            zmin=-top, zmax=top, texttemplate="%{z:.2f}", textfont={"size": 14},
            colorbar={"title": {"text": "x·y"}, "thickness": 12},
            hovertemplate="%{y} · %{x} = %{z:.3f}<extra></extra>",
        )
    )  # fmt: skip
    g, h = scene.mined
    color = SYNTHETIC if any(scene.mined_synthetic) else ORIGINAL_PAIR
    fig.add_shape(
        type="rect", x0=h - 0.5, x1=h + 0.5, y0=g - 0.5, y1=g + 0.5,
        line={"color": color, "width": 4},
    )  # fmt: skip
    fig.update_layout(
        **base_layout(
            title={"text": title or "class A group (rows) × class B group (columns)"},
            height=110 + 60 * len(scene.row_names),
            uirevision="heatmap",
            margin={"l": 10, "r": 10, "t": 80, "b": 10},
            xaxis={"side": "top"},
            yaxis={"autorange": "reversed"},
        )
    )
    return fig
