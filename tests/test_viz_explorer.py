"""Unit tests of the Embedding Explorer's figures (symsynth.viz.explorer)."""

from __future__ import annotations

import numpy as np
import pytest

from symsynth.viz.explorer import (
    CORRECT,
    QUERY,
    WRONG,
    class_recall_figure,
    explorer_figure,
    pca_coordinates,
    thumbnails_figure,
)
from symsynth.viz.style import class_color


def test_explorer_figure_2d_colours_by_class_and_marks_query_and_neighbours():
    xy = np.random.default_rng(0).normal(size=(10, 2))
    labels = np.array([0, 1] * 5)
    fig = explorer_figure(xy, labels, query=3, neighbours=[5, 4, 1], correct=[True, False, True])
    items, query, good, bad = fig.data
    assert items.type == "scatter" and list(items.customdata) == list(range(10))
    assert list(items.marker.color) == [class_color(c) for c in labels]
    np.testing.assert_allclose(items.x, xy[:, 0])
    assert list(query.customdata) == [3] and query.marker.color == QUERY
    np.testing.assert_allclose([query.x[0], query.y[0]], xy[3])
    assert sorted(good.customdata) == [1, 5] and good.marker.color == CORRECT
    assert list(bad.customdata) == [4] and bad.marker.color == WRONG
    assert fig.layout.yaxis.scaleanchor == "x"
    assert fig.layout.dragmode is None  # Streamlit's point selection sets click-to-select


def test_explorer_figure_3d_and_without_query():
    xy = np.eye(3)
    fig = explorer_figure(xy, [0, 1, 2])
    assert [t.type for t in fig.data] == ["scatter3d"]
    assert list(fig.data[0].z) == [0.0, 0.0, 1.0]
    fig = explorer_figure(xy, [0, 1, 2], query=0, neighbours=[1], correct=[False])
    assert [t.type for t in fig.data] == ["scatter3d"] * 4
    assert "x" not in {t.marker.symbol for t in fig.data}  # a 3-D "x" is drawn as a box
    assert fig.layout.scene.aspectmode == "data"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"coords": np.zeros((3, 4))}, r"\[N, 2\] or \[N, 3\]"),
        ({"labels": [0, 1]}, "3 points but 2 labels"),
        ({"query": 3}, "query 3 is not an item index"),
        ({"query": 0, "neighbours": [1, 2], "correct": [True]}, "2 neighbours but 1 correct"),
    ],
)
def test_explorer_figure_rejects_bad_input(kwargs, message):
    args = {"coords": np.zeros((3, 2)), "labels": [0, 1, 1], **kwargs}
    with pytest.raises(ValueError, match=message):
        explorer_figure(**args)


def test_thumbnails_figure_one_panel_per_image_titles_coloured_by_correctness():
    images = np.arange(3 * 64, dtype=float).reshape(3, 1, 8, 8)
    fig = thumbnails_figure(images, ["query", "✓ 5", "✗ 6"], [None, True, False])
    assert [t.type for t in fig.data] == ["heatmap"] * 3
    np.testing.assert_allclose(fig.data[2].z, images[2, 0])
    assert [a.text for a in fig.layout.annotations] == ["query", "✓ 5", "✗ 6"]
    assert [a.font.color for a in fig.layout.annotations] == [QUERY, CORRECT, WRONG]
    with pytest.raises(ValueError, match="2 images, 1 titles"):
        thumbnails_figure(images[:2], ["q"], [None])
    with pytest.raises(ValueError, match="thumbnails need"):
        thumbnails_figure(np.zeros((2, 8)), ["a", "b"], [None, True])


def test_class_recall_figure_groups_models_per_class_with_names():
    fig = class_recall_figure(
        {"triplet": {1: 0.5, 3: 1.0}, "triplet+symm": {1: 0.75, 3: 1.0}},
        class_names=["zero", "one", "two", "three"],
    )
    assert fig.layout.barmode == "group"
    assert [t.name for t in fig.data] == ["triplet (mean 75.0)", "triplet+symm (mean 87.5)"]
    assert list(fig.data[0].x) == ["one", "three"] and list(fig.data[1].y) == [75.0, 100.0]
    with pytest.raises(ValueError, match="at least one"):
        class_recall_figure({})


def test_pca_coordinates_centre_high_dimensions_and_keep_low_ones():
    rng = np.random.default_rng(1)
    # 8-D unit vectors spread along one direction around a common mean direction
    x = np.tile(np.eye(8)[0], (50, 1)) + np.outer(rng.normal(size=50), np.eye(8)[1])
    x += 0.01 * rng.normal(size=x.shape)
    xy = pca_coordinates(x, 2)
    assert xy.shape == (50, 2)
    np.testing.assert_allclose(xy.mean(axis=0), 0, atol=1e-9)  # centred
    # the first axis follows the spread (direction 1), not the mean (direction 0)
    assert abs(np.corrcoef(xy[:, 0], x[:, 1])[0, 1]) > 0.99
    assert pca_coordinates(x, 3).shape == (50, 3)
    np.testing.assert_array_equal(pca_coordinates(x[:, :3]), x[:, :3])
    with pytest.raises(ValueError, match="D >= 2"):
        pca_coordinates(np.zeros((4, 1)))
