"""Figure builders of symsynth.viz: what each figure draws, and which points it marks synthetic."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import types

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from symsynth.mining import hardest_negatives, mine, points_table
from symsynth.synthesis import symmetric_points
from symsynth.viz import (
    FixedProjection,
    circle_point,
    embedding_figure,
    frame_from_snapshot,
    history_figure,
    image_grid_figure,
    input_space_figure,
    reflection_figure,
    reflection_scene,
    replay_figure,
    similarity_heatmap,
    sphere_point,
    standalone_html,
)
from symsynth.viz.style import ORIGINAL_PAIR, SYNTHETIC, unit_manifold
from symsynth.viz.training import (
    TRACES,
    embedding_figure_dict,
    figure_json,
    live_embedding_dict,
)


def circle(*angles):
    return np.stack([circle_point(a) for a in angles])


def by_name(fig: go.Figure, prefix: str):
    hits = [t for t in fig.data if t.name and t.name.startswith(prefix)]
    assert len(hits) == 1, [t.name for t in fig.data]
    return hits[0]


def xy(trace) -> np.ndarray:
    cols = [np.asarray(trace.x, dtype=float), np.asarray(trace.y, dtype=float)]
    if getattr(trace, "z", None) is not None:
        cols.append(np.asarray(trace.z, dtype=float))
    return np.stack(cols, 1)


# ---------------------------------------------------------------------------- reflection scene


def test_scene_asks_the_core_for_every_point():
    pts = circle(20, 70, 120, 200)
    scene = reflection_scene(pts, alpha=1.5, beta=1.2)
    x = torch.tensor(pts)
    expected = symmetric_points(x[[0, 1, 2, 3]], x[[1, 0, 3, 2]], alpha=1.5, beta=1.2)
    np.testing.assert_allclose(scene.synthetic_points, expected.numpy(), atol=1e-12)
    np.testing.assert_allclose(
        scene.feet, symmetric_points(x[:2], x[[1, 0]], alpha=1.0).numpy(), atol=1e-12
    )
    assert scene.names == ("a", "p", "n₁", "n₂", "a′", "p′", "n₁′", "n₂′")
    assert scene.synthetic.tolist() == [False] * 4 + [True] * 4
    assert scene.labels.tolist() == [0, 0, 1, 1, 0, 0, 1, 1]


def test_readouts_show_the_preserved_norm_and_similarity_at_the_paper_setting():
    scene = reflection_scene(circle(10, 75, 130, 260))
    (ra, rp) = scene.readouts()
    for r in (ra, rp):
        assert r["‖x′‖"] == pytest.approx(r["‖x‖"])
        assert r["x′·axis"] == pytest.approx(r["x·axis"])
        assert r["‖x′ − foot‖"] == pytest.approx(r["‖x − foot‖"])  # equal chords
    moved = reflection_scene(circle(10, 75, 130, 260), alpha=1.0, beta=0.5).readouts()[0]
    assert moved["‖x′‖"] == pytest.approx(0.5 * np.cos(np.deg2rad(65)))  # half the foot
    assert moved["‖x′ − foot‖"] == pytest.approx(0.5 * np.cos(np.deg2rad(65)))  # β halves x′
    assert reflection_scene(circle(10, 75, 130, 260), "ee").readouts() == []


@pytest.mark.parametrize("method", ["symm", "ee"])
@pytest.mark.parametrize("seed", range(5))
def test_mined_cell_is_the_heatmap_argmax_and_matches_the_core(method, seed):
    rng = np.random.default_rng(seed)
    scene = reflection_scene(circle(*rng.uniform(0, 360, 4)), method)
    g, h = divmod(int(scene.similarity.argmax()), scene.similarity.shape[1])
    assert scene.mined == (g, h)
    assert scene.mined_score == pytest.approx(scene.similarity.max())
    i, j = scene.mined_rows
    assert scene.points[i] @ scene.points[j] == pytest.approx(scene.mined_score)
    assert scene.names[i] == scene.row_names[g] and scene.names[j] == scene.col_names[h]


def test_ee_scene_interpolates_between_the_pair():
    scene = reflection_scene(circle(0, 90, 180, 270), "ee")
    assert scene.row_names == ("a", "p", "i₁", "i₂")
    assert scene.similarity.shape == (4, 4)
    # normalised interpolants lie on the circle between a (0°) and p (90°)
    angles = np.rad2deg(np.arctan2(scene.points[4:6, 1], scene.points[4:6, 0]))
    np.testing.assert_allclose(np.linalg.norm(scene.points[4:], axis=1), 1.0)
    assert ((angles > 0) & (angles < 90)).all()


def test_scene_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\[4, 2\] or \[4, 3\]"):
        reflection_scene(np.zeros((3, 2)))


# ---------------------------------------------------------------------------- reflection figures


def test_2d_figure_marks_synthetic_points_red_and_dashed():
    scene = reflection_scene(circle(20, 70, 120, 200))
    fig = reflection_figure(scene)
    syn = by_name(fig, "synthetic (symm)")
    np.testing.assert_allclose(xy(syn), scene.synthetic_points)
    assert syn.marker.color == SYNTHETIC and syn.marker.line.dash == "dash"
    assert list(syn.text) == ["a′", "p′", "n₁′", "n₂′"]
    orig = by_name(fig, "original points")
    np.testing.assert_allclose(xy(orig), scene.originals)
    assert SYNTHETIC not in orig.marker.color
    assert fig.layout.uirevision == "reflection"


def test_mined_line_is_red_only_when_a_synthetic_point_is_chosen():
    with_synthetic = reflection_scene(circle(20, 70, 120, 200))
    assert any(with_synthetic.mined_synthetic)
    line = by_name(reflection_figure(with_synthetic), "mined negative pair")
    assert line.line.color == SYNTHETIC
    np.testing.assert_allclose(xy(line), with_synthetic.points[list(with_synthetic.mined_rows)])

    # a (0°) and n₂ (3°) are closer than any synthetic point of either class
    originals_only = reflection_scene(circle(0, 10, 90, 3))
    assert originals_only.mined_rows == (0, 3) and not any(originals_only.mined_synthetic)
    assert by_name(reflection_figure(originals_only), "mined negative pair").line.color == (
        ORIGINAL_PAIR
    )


def test_construction_and_beta_traces():
    plain = reflection_figure(reflection_scene(circle(20, 70, 120, 200)))
    names = [t.name for t in plain.data]
    assert "perpendicular foot (α = 1)" in names and "β scales radially" not in names
    scaled = reflection_figure(reflection_scene(circle(20, 70, 120, 200), beta=1.3))
    assert "β scales radially" in [t.name for t in scaled.data]
    bare = reflection_figure(reflection_scene(circle(20, 70, 120, 200)), construction=False)
    assert not any(t.name and t.name.startswith(("axes", "chord")) for t in bare.data)
    unmined = reflection_figure(reflection_scene(circle(20, 70, 120, 200)), mined=False)
    assert not any(t.name and t.name.startswith("mined") for t in unmined.data)


def test_contrast_adds_ee_points():
    pts = circle(20, 70, 120, 200)
    ee = reflection_scene(pts, "ee")
    fig = reflection_figure(reflection_scene(pts), contrast=ee)
    np.testing.assert_allclose(xy(by_name(fig, "synthetic (ee")), ee.synthetic_points)


def test_3d_figure_uses_a_sphere_and_open_markers():
    pts = np.stack([sphere_point(a, e) for a, e in ((20, 10), (70, 30), (120, -20), (200, 40))])
    scene = reflection_scene(pts)
    fig = reflection_figure(scene)
    assert any(isinstance(t, go.Surface) for t in fig.data)
    syn = by_name(fig, "synthetic (symm)")
    assert isinstance(syn, go.Scatter3d) and syn.marker.symbol == "circle-open"
    np.testing.assert_allclose(xy(syn), scene.synthetic_points)
    circle_trace = by_name(fig, "great circle")
    np.testing.assert_allclose(np.linalg.norm(xy(circle_trace), axis=1), 1.0)
    # WebGL draws 3-D markers as glyphs; "x" came out as an empty box in chromium
    assert by_name(fig, "perpendicular foot").marker.symbol == "cross"


def test_heatmap_outlines_the_mined_cell():
    scene = reflection_scene(circle(20, 70, 120, 200))
    fig = similarity_heatmap(scene)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), scene.similarity)
    assert list(fig.data[0].y) == list(scene.row_names)
    (rect,) = fig.layout.shapes
    g, h = scene.mined
    assert (rect.x0 + rect.x1) / 2 == h and (rect.y0 + rect.y1) / 2 == g
    assert rect.line.color == SYNTHETIC
    plain = similarity_heatmap(reflection_scene(circle(0, 10, 90, 3)))
    assert plain.layout.shapes[0].line.color == ORIGINAL_PAIR


# ---------------------------------------------------------------------------- projection


def test_projection_is_the_identity_up_to_three_dimensions():
    x = np.random.default_rng(0).normal(size=(10, 3))
    p = FixedProjection().fit(x)
    np.testing.assert_allclose(p.transform(x), x)
    assert p.manifold == "sphere" and FixedProjection().fit(x[:, :2]).manifold == "circle"


def test_projection_basis_stays_fixed_and_is_deterministic():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 16)) * np.linspace(3, 0.1, 16)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    p = FixedProjection().fit(x)
    assert p.manifold is None
    np.testing.assert_allclose(p.basis @ p.basis.T, np.eye(2), atol=1e-12)
    np.testing.assert_allclose(FixedProjection().fit(x.copy()).basis, p.basis)
    later = rng.normal(size=(50, 16))
    later /= np.linalg.norm(later, axis=1, keepdims=True)
    y = p.transform(later)
    assert y.shape == (50, 2) and (np.linalg.norm(y, axis=1) <= 1 + 1e-9).all()
    np.testing.assert_allclose(p.transform(x[:5]), x[:5] @ p.basis.T)


def test_projection_errors():
    with pytest.raises(RuntimeError, match="fit"):
        FixedProjection().transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        FixedProjection().fit(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="expected"):
        FixedProjection().fit(np.ones((3, 5))).transform(np.ones((3, 4)))


# ---------------------------------------------------------------------------- training figures


def fake_snapshot(dim: int, synthesis: str = "symm", step: int = 0, seed: int = 0):
    """A snapshot with the fields symsynth.train.Snapshot has, made by the real core."""
    g = torch.Generator().manual_seed(seed)
    e = torch.nn.functional.normalize(torch.randn(16, dim, generator=g), dim=1)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3] * 2)
    table = points_table(e, labels, synthesis)
    pairs = hardest_negatives(mine(e, labels, synthesis))
    probe = torch.nn.functional.normalize(torch.randn(120, dim, generator=g), dim=1)
    return types.SimpleNamespace(
        step=step,
        probe_embeddings=probe.numpy(),
        probe_labels=np.arange(120) % 5,
        batch_embeddings=e.numpy(),
        batch_labels=labels.numpy(),
        synthetic_points=table.points[16:].numpy(),
        synthetic_labels=table.labels[16:].numpy(),
        mined_first=pairs.first.numpy(),
        mined_second=pairs.second.numpy(),
        mined_first_synthetic=pairs.first_synthetic.numpy(),
        mined_second_synthetic=pairs.second_synthetic.numpy(),
    )


def n_segments(trace) -> int:
    return int(np.isfinite(np.asarray(trace.x, dtype=float)).sum()) // 2


@pytest.mark.parametrize("dim", [2, 3, 16])
def test_embedding_figure_draws_batch_synthetic_and_mined_pairs(dim):
    snap = fake_snapshot(dim)
    proj = FixedProjection()
    frame = frame_from_snapshot(snap, proj)
    fig = embedding_figure(frame)
    assert tuple(t.name for t in fig.data) == TRACES
    assert fig.layout.uirevision == "embedding"
    syn = by_name(fig, "synthetic points")
    np.testing.assert_allclose(xy(syn), proj.transform(snap.synthetic_points))
    assert syn.marker.color == SYNTHETIC
    flags = snap.mined_first_synthetic | snap.mined_second_synthetic
    assert flags.any() and not flags.all()  # this batch mines both kinds
    red = by_name(fig, "mined negatives (synthetic)")
    grey = by_name(fig, "mined negatives (original)")
    assert red.line.color == SYNTHETIC and grey.line.color == ORIGINAL_PAIR
    assert n_segments(red) == flags.sum() and n_segments(grey) == (~flags).sum()
    table = np.concatenate([snap.batch_embeddings, snap.synthetic_points])
    k = int(np.flatnonzero(flags)[0])
    ends = xy(red)[:2]
    np.testing.assert_allclose(ends[0], proj.transform(table[[snap.mined_first[k]]])[0])
    np.testing.assert_allclose(ends[1], proj.transform(table[[snap.mined_second[k]]])[0])
    assert n_segments(by_name(fig, "positive pairs")) == 8
    guide = np.column_stack([fig.data[0].x, fig.data[0].y] + ([fig.data[0].z] if dim == 3 else []))
    guide = guide[np.isfinite(guide).all(axis=1)]
    np.testing.assert_allclose(np.linalg.norm(guide, axis=1), 1.0)  # the sphere's wireframe
    assert fig.data[0].mode == "lines" and fig.data[0].name == "manifold"


def test_embedding_figure_without_synthesis_has_no_red():
    frame = frame_from_snapshot(fake_snapshot(2, "none"), FixedProjection())
    fig = embedding_figure(frame)
    assert len(by_name(fig, "synthetic points").x) == 0
    assert n_segments(by_name(fig, "mined negatives (synthetic)")) == 0
    assert n_segments(by_name(fig, "mined negatives (original)")) == 16


def test_frames_share_the_first_basis():
    proj = FixedProjection()
    frame_from_snapshot(fake_snapshot(8, seed=0), proj)
    basis = proj.basis.copy()
    frame_from_snapshot(fake_snapshot(8, seed=1), proj)
    np.testing.assert_array_equal(proj.basis, basis)


@pytest.mark.parametrize("dim", [2, 3])
def test_replay_animates_every_frame_with_fixed_axes(dim):
    proj = FixedProjection()
    frames = [frame_from_snapshot(fake_snapshot(dim, step=s, seed=s), proj) for s in (0, 5, 10)]
    fig = replay_figure(frames)
    assert [f.name for f in fig.frames] == ["0", "5", "10"]
    assert all(list(f.traces) == list(range(1, len(TRACES))) for f in fig.frames)
    assert len(fig.layout.sliders[0].steps) == 3
    play = fig.layout.updatemenus[0].buttons[0]
    assert play.args[1]["frame"]["redraw"] is (dim == 3)
    np.testing.assert_allclose(
        xy(fig.frames[2].data[3]), proj.transform(fake_snapshot(dim, seed=10).synthetic_points)
    )
    if dim == 2:
        assert list(fig.layout.xaxis.range) == list(fig.layout.yaxis.range)
    else:
        assert fig.layout.scene.xaxis.range is not None
    with pytest.raises(ValueError, match="at least one frame"):
        replay_figure([])


def test_history_figure_plots_the_three_live_series():
    fig = history_figure(
        [1, 2, 3],
        [0.9, 0.7, 0.5],
        [2],
        [0.4],
        [0.2],
        share_steps=[1, 3],
        synthetic_share=[0.5, 0.8],
    )
    names = [t.name for t in fig.data]
    assert names == ["loss", "Recall@1", "MAP@R", "synthetic share"]
    assert list(fig.data[0].y) == [0.9, 0.7, 0.5] and list(fig.data[3].y) == [0.5, 0.8]
    assert list(fig.data[3].x) == [1, 3] and list(fig.data[1].x) == [2]
    assert fig.data[3].line.color == SYNTHETIC
    assert fig.layout.uirevision == "history"


def test_input_space_figure():
    rng = np.random.default_rng(0)
    fig2 = input_space_figure(rng.normal(size=(30, 2)), np.arange(30) % 3)
    assert isinstance(fig2.data[0], go.Scatter) and len(fig2.data[0].x) == 30
    assert isinstance(input_space_figure(rng.normal(size=(5, 3)), [0] * 5).data[0], go.Scatter3d)
    with pytest.raises(ValueError, match=r"\[N, 2\] or \[N, 3\]"):
        input_space_figure(rng.normal(size=(5, 4)), [0] * 5)


def test_viz_never_imports_streamlit():
    code = "import sys, symsynth.viz; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_image_grid_shows_a_row_per_class():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(30, 1, 8, 8))
    labels = np.repeat([5, 6, 7], 10)
    fig = image_grid_figure(images, labels, per_class=3)
    mosaic = np.asarray(fig.data[0].z, dtype=float)
    assert mosaic.shape == (3 * 9, 3 * 9)
    np.testing.assert_allclose(mosaic[9:17, 0:8], images[10, 0])  # class 6, first example
    assert list(fig.layout.yaxis.ticktext) == ["class 5", "class 6", "class 7"]
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        image_grid_figure(rng.uniform(size=(4, 8)), [0] * 4)


def test_standalone_replay_html_carries_plotly_and_real_colours():
    proj = FixedProjection()
    fig = replay_figure([frame_from_snapshot(fake_snapshot(2, step=s), proj) for s in (0, 5)])
    # what Streamlit's plotly template looks like: colour placeholders its frontend fills in
    fig.update_layout(template={"layout": {"font": {"color": "#000032"}}})
    html = standalone_html(fig)
    assert html.lstrip().lower().startswith("<!doctype html>") and len(html) > 1_000_000
    assert "Plotly.newPlot" in html and "#000032" not in html
    assert "addFrames" in html or '"frames"' in html


@pytest.mark.parametrize("dim", [2, 3])
def test_the_live_figure_dict_is_the_validated_figure(dim):
    frame = frame_from_snapshot(fake_snapshot(dim, "symm"), FixedProjection())
    plain = embedding_figure_dict(frame, title="live")
    validated = embedding_figure(frame, title="live")
    assert [t["type"] for t in plain["data"]] == [t.type for t in validated.data]
    sent = json.loads(figure_json(plain))  # what the browser gets, numpy arrays included
    assert sent["layout"]["title"] == {"text": "live"}  # plotly.js 3 ignores a bare string
    assert go.Figure(sent).to_plotly_json()["layout"] == validated.to_plotly_json()["layout"]
    assert [t["name"] for t in sent["data"]] == list(TRACES)
    x = sent["data"][1]["x"]  # a float32 typed array: {"dtype": "f4", "bdata": base64}
    assert x["dtype"] == "f4"
    decoded = np.frombuffer(base64.b64decode(x["bdata"]), dtype="<f4")
    np.testing.assert_allclose(decoded, frame.probe[:, 0], rtol=1e-6)
    assert sent["data"][1]["customdata"] == frame.probe_labels.tolist()
    assert json.loads(figure_json(validated))["data"][1]["name"] == TRACES[1]


def test_a_live_view_carries_the_earlier_frames_of_its_chunk():
    proj = FixedProjection()
    snaps = [fake_snapshot(3, "symm", step=s, seed=s) for s in (10, 20, 30)]
    frames = [frame_from_snapshot(snap, proj) for snap in snaps]
    live = live_embedding_dict(frames, title="live")
    last = embedding_figure_dict(frames[-1], title="live")
    assert figure_json({"data": live["data"]}) == figure_json({"data": last["data"]})
    assert [f["name"] for f in live["frames"]] == ["10", "20"]
    assert [t["name"] for t in live["frames"][0]["data"]] == list(TRACES[1:])
    np.testing.assert_allclose(live["frames"][1]["data"][0]["z"], frames[1].probe[:, 2])
    go.Figure(json.loads(figure_json(live)))  # a valid plotly figure with frames
    with pytest.raises(ValueError, match="at least one frame"):
        live_embedding_dict([])


def test_unit_manifold_wireframe_and_surface_lie_on_the_sphere():
    wire = unit_manifold(3, wireframe=True, name="s", scene="scene2")
    xyz = np.column_stack([wire["x"], wire["y"], wire["z"]])
    rings = np.isnan(xyz[:, 0]).sum()
    assert rings == 11 and wire["scene"] == "scene2" and wire["name"] == "s"
    np.testing.assert_allclose(np.linalg.norm(xyz[~np.isnan(xyz[:, 0])], axis=1), 1.0)
    surface = unit_manifold(3)
    radius = np.sqrt(surface["x"] ** 2 + surface["y"] ** 2 + surface["z"] ** 2)
    np.testing.assert_allclose(radius, 1.0)
    circle = unit_manifold(2, dash="dot")
    assert circle["line"]["dash"] == "dot" and "dash" not in circle
    go.Figure([wire, surface]), go.Figure([circle])  # plotly accepts them as they are
