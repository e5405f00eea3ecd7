"""symsynth.viz.compare: what each comparison figure draws, on hand-made rows, curves and
frames."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from symsynth.compare import Curve, Row
from symsynth.viz.compare import (
    curves_figure,
    embedding_grid,
    html_page,
    metric_bars,
    side_by_side_replay,
    synthesis_color,
    write_html,
)
from symsynth.viz.style import EE, ORIGINAL_PAIR, SYNTHETIC
from symsynth.viz.training import EmbeddingFrame


def row(loss, synthesis, mean, std, seeds=(0, 1, 2)):
    metrics = ("recall@1", "nmi")
    return Row(
        loss, synthesis, seeds, dict(zip(metrics, mean, strict=True)),
        dict(zip(metrics, std, strict=True)), {m: False for m in metrics},
    )  # fmt: skip


ROWS = [
    row("triplet", "none", (0.50, 0.40), (0.01, 0.02)),
    row("triplet", "symm", (0.60, 0.45), (0.02, 0.03)),
    row("npair", "none", (0.55, 0.42), (math.nan, 0.01)),
    row("npair", "symm", (0.57, 0.44), (0.03, 0.01)),
    row("npair", "ee", (0.52, 0.41), (0.01, 0.01)),
]


def test_metric_bars_group_losses_with_one_bar_per_synthesis_and_error_bars():
    fig = metric_bars(ROWS, metrics=("recall@1", "nmi"))
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert [(t.name, t.xaxis) for t in bars] == [
        ("none", "x"), ("symm", "x"), ("ee", "x"), ("none", "x2"), ("symm", "x2"), ("ee", "x2")
    ]  # fmt: skip
    none_r1, symm_r1, ee_r1 = bars[:3]
    assert list(none_r1.x) == ["triplet", "npair"] and list(ee_r1.x) == ["npair"]
    np.testing.assert_allclose(none_r1.y, [50.0, 55.0])
    np.testing.assert_allclose(symm_r1.error_y.array, [2.0, 3.0])
    np.testing.assert_allclose(none_r1.error_y.array, [1.0, 0.0])  # NaN spread: no error bar
    np.testing.assert_allclose(bars[4].y, [45.0, 44.0])  # NMI panel, symm
    assert [t.marker.color for t in bars[:3]] == [ORIGINAL_PAIR, SYNTHETIC, EE]
    assert [t.showlegend for t in bars] == [True] * 3 + [False] * 3  # one legend entry each
    assert fig.layout.barmode == "group"
    assert [a.text for a in fig.layout.annotations] == ["R@1 (%)", "NMI (%)"]


def test_metric_bars_refuse_unknown_metrics_and_empty_input():
    with pytest.raises(ValueError, match="no metric 'map@r'"):
        metric_bars(ROWS, metrics=("map@r",))
    with pytest.raises(ValueError, match="at least one row"):
        metric_bars([])


def test_synthesis_colours_follow_the_house_style():
    assert synthesis_color("symm") == SYNTHETIC and synthesis_color("ee") == EE
    assert synthesis_color("none") == ORIGINAL_PAIR


def _circle(n, offset=0.0):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False) + offset
    return np.stack([np.cos(t), np.sin(t)], 1)


def test_embedding_grid_two_d_panels_share_axes_and_aspect():
    labels = np.arange(6) % 3
    panels = [(f"run {i}", _circle(6, i), labels) for i in range(5)]
    fig = embedding_grid(panels, cols=3)
    points = [t for t in fig.data if t.name != "unit circle"]
    assert [t.name for t in points] == [f"run {i}" for i in range(5)]
    np.testing.assert_allclose(np.stack([points[2].x, points[2].y], 1), _circle(6, 2))
    assert [(t.xaxis, t.yaxis) for t in points] == [
        ("x", "y"), ("x2", "y2"), ("x3", "y3"), ("x4", "y4"), ("x5", "y5")
    ]  # fmt: skip
    for i in range(1, 6):
        suffix = "" if i == 1 else str(i)
        assert tuple(fig.layout[f"xaxis{suffix}"].range) == (-1.15, 1.15)
        assert tuple(fig.layout[f"yaxis{suffix}"].range) == (-1.15, 1.15)
        assert fig.layout[f"yaxis{suffix}"].scaleanchor == f"x{suffix}"
    assert [a.text for a in fig.layout.annotations] == [f"run {i}" for i in range(5)]
    assert fig.layout.yaxis4.domain[1] < fig.layout.yaxis.domain[0]  # two rows


def test_embedding_grid_draws_three_d_on_scenes_and_projects_higher_dimensions():
    rng = np.random.default_rng(0)
    x3 = rng.normal(size=(20, 3))
    x3 /= np.linalg.norm(x3, axis=1, keepdims=True)
    fig = embedding_grid([("a", x3, np.zeros(20, int)), ("b", x3, np.zeros(20, int))], cols=2)
    scatters = [t for t in fig.data if isinstance(t, go.Scatter3d)]
    assert [t.scene for t in scatters] == ["scene", "scene2"]
    np.testing.assert_allclose(np.stack([scatters[0].x, scatters[0].y, scatters[0].z], 1), x3)
    assert tuple(fig.layout.scene2.xaxis.range) == (-1.15, 1.15)
    x64 = rng.normal(size=(30, 64))
    x64 /= np.linalg.norm(x64, axis=1, keepdims=True)
    fig = embedding_grid([("d64", x64, np.arange(30) % 5)])
    (points,) = fig.data  # no unit circle: a projection has none
    xy = np.stack([points.x, points.y], 1)
    assert np.hypot(*xy.T).max() == pytest.approx(1.0)  # scaled to the unit disc
    top = np.linalg.svd(x64 - x64.mean(0), compute_uv=False)[:2]
    drawn = np.linalg.svd(xy, compute_uv=False)
    assert drawn[1] / drawn[0] == pytest.approx(top[1] / top[0])  # the plane of most variance


def test_embedding_grid_keeps_the_first_classes_when_asked():
    e = _circle(12)
    labels = np.repeat([7, 3, 5, 9], 3)
    fig = embedding_grid([("p", e, labels)], max_classes=2)
    (points,) = [t for t in fig.data if t.name == "p"]
    assert sorted(set(points.customdata)) == [3, 5]
    np.testing.assert_allclose(points.x, e[np.isin(labels, [3, 5]), 0])
    with pytest.raises(ValueError, match="max_classes"):
        embedding_grid([("p", e, labels)], max_classes=0)


def test_embedding_grid_refuses_mixed_dimensions():
    with pytest.raises(ValueError, match="same embedding dimension"):
        embedding_grid([("a", _circle(4), np.zeros(4)), ("b", np.eye(3), np.zeros(3))])
    with pytest.raises(ValueError, match="at least one panel"):
        embedding_grid([])


def test_curves_overlay_loss_and_recall_colour_by_synthesis_dash_by_loss():
    steps = np.arange(1, 7)
    curves = [
        Curve("triplet", "none", steps, np.array([6.0, 4, 2, 2, 2, 2]), np.array([3, 6]),
              np.array([0.2, 0.4])),
        Curve("triplet", "symm", steps, np.ones(6), np.array([3, 6]), np.array([0.3, 0.5])),
        Curve("npair", "symm", steps, np.ones(6), np.array([3, 6]), np.array([0.1, 0.2])),
    ]  # fmt: skip
    fig = curves_figure(curves, smooth=2)
    losses = [t for t in fig.data if t.xaxis == "x"]
    recalls = [t for t in fig.data if t.xaxis == "x2"]
    assert [t.name for t in losses] == ["triplet", "triplet+symm", "npair+symm"]
    np.testing.assert_allclose(losses[0].y, [6, 5, 3, 2, 2, 2])  # trailing mean of 2 steps
    np.testing.assert_allclose(recalls[1].y, [30, 50])
    np.testing.assert_array_equal(recalls[1].x, [3, 6])
    assert [t.line.color for t in losses] == [ORIGINAL_PAIR, SYNTHETIC, SYNTHETIC]
    assert [t.line.dash for t in losses] == ["solid", "solid", "dash"]
    assert [t.showlegend for t in recalls] == [False] * 3
    assert fig.layout.yaxis.type == "log"
    with pytest.raises(ValueError, match="at least one curve"):
        curves_figure([])


def frame(step: int, dim: int = 2) -> EmbeddingFrame:
    unit = np.eye(dim)[:2]
    return EmbeddingFrame(
        step=step, probe=unit * (1 + step / 100), probe_labels=np.array([0, 1]),
        batch=unit, batch_labels=np.array([0, 0]), synthetic=-unit,
        synthetic_labels=np.array([0, 0]), mined_first=np.array([0]),
        mined_second=np.array([2]), mined_synthetic=np.array([True]),
        manifold="circle" if dim == 2 else "sphere",
    )  # fmt: skip


def test_side_by_side_replay_animates_both_panels_in_step():
    left, right = [frame(s) for s in (1, 10, 20)], [frame(s) for s in (1, 10)]
    fig = side_by_side_replay(left, right, titles=("triplet", "triplet+symm"))
    assert [f.name for f in fig.frames] == ["1", "10"]  # paired by position, the shorter wins
    n = len(fig.data) // 2
    assert {t.xaxis for t in fig.data[:n]} == {"x"} and {t.xaxis for t in fig.data[n:]} == {"x2"}
    first = fig.frames[1]
    assert len(first.data) == len(first.traces) == len(fig.data) - 2  # all but the manifolds
    assert 0 not in first.traces and n not in first.traces
    np.testing.assert_allclose(first.data[0].x, left[1].probe[:, 0])
    assert [s.label for s in fig.layout.sliders[0].steps] == ["1", "10"]
    assert [a.text for a in fig.layout.annotations] == ["triplet", "triplet+symm"]
    fig3 = side_by_side_replay([frame(1, 3)], [frame(1, 3)])
    assert {t.scene for t in fig3.data} == {"scene", "scene2"}
    with pytest.raises(ValueError, match="at least one frame"):
        side_by_side_replay([], right)


def test_html_page_and_write_html_are_standalone(tmp_path):
    fig = metric_bars(ROWS, metrics=("nmi",))
    page = html_page([("first <b>", fig), ("second", fig)], "title & co", intro="a\n\nb")
    assert page.count("<h2>") == 2 and "first &lt;b&gt;" in page and "title &amp; co" in page
    assert page.count("<p>") == 2
    single = fig.to_html(full_html=False, include_plotlyjs=True)
    assert len(page) < 1.5 * len(single)  # plotly.js is inlined once, not per figure
    write_html(fig, tmp_path / "f.html")
    text = (tmp_path / "f.html").read_text()
    assert text.lower().startswith("<!doctype html>") and len(text) > 1_000_000
