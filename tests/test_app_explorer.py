"""AppTest of the Embedding Explorer page: the untrained "before" model, picking a query and its
neighbours, models from Live Training and Compare Losses side by side, checkpoint uploads (good
and bad), and the on-demand UMAP."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from symsynth.compare import Comparison, run_comparison
from symsynth.train import TrainConfig, Trainer
from tests.app_helpers import no_errors

EXPLORER = "pages/4_Embedding_Explorer.py"
TOY = TrainConfig(dataset="toy-circle", embedding_dim=2, max_steps=20, eval_every=20)


def traces(spec) -> dict:
    return {t["name"]: t for t in spec["data"]}


def query_line(at, side: int = 0) -> str:
    return [m.value for m in at.markdown if m.value.startswith("Query: item")][side]


@pytest.fixture(scope="module")
def comparison():
    """A finished tiny comparison on the toy circle (triplet, none and symm, seed 0)."""
    cmp = Comparison(TOY, losses=("triplet",), synthesis=("none", "symm"), seeds=(0,))
    return run_comparison(cmp, threads=1)


def test_default_render_shows_the_untrained_model(app_test, plotly_specs):
    at = app_test(EXPLORER).run()
    no_errors(at)
    assert at.selectbox(key="ex_model").value.startswith("untrained: triplet+symm on digits")
    specs = plotly_specs(at)
    assert set(specs) == {"ex_chart_0", "ex_thumbs_0", "ex_class_recall"}
    points = traces(specs["ex_chart_0"])
    assert list(points) == ["held-out items", "query", "correct neighbour", "wrong neighbour"]
    view = at.session_state["ex_views"]["untrained"]
    assert len(points["held-out items"]["x"]) == len(view.items) == 896  # digits 5-9
    # 5 neighbours (the default k): the query's thumbnail and theirs
    assert len(specs["ex_thumbs_0"]["data"]) == 6
    (table,) = at.dataframe
    assert list(table.value.columns) == ["rank", "item", "class", "cosine similarity", "correct"]
    assert len(table.value) == 5
    assert query_line(at).startswith("Query: item 0, class **5**")


def test_query_and_k_pick_the_neighbours(app_test, plotly_specs):
    at = app_test(EXPLORER).run()
    at.number_input(key="ex_query").set_value(123)
    at.slider(key="ex_k").set_value(8).run()
    no_errors(at)
    view = at.session_state["ex_views"]["untrained"]
    neighbours = view.neighbours[123, :8]
    correct = view.labels[neighbours] == view.labels[123]
    points = traces(plotly_specs(at)["ex_chart_0"])
    assert np.asarray(points["query"]["customdata"]).tolist() == [123]
    assert sorted(np.asarray(points["correct neighbour"]["customdata"]).tolist()) == sorted(
        neighbours[correct].tolist()
    )
    assert sorted(np.asarray(points["wrong neighbour"]["customdata"]).tolist()) == sorted(
        neighbours[~correct].tolist()
    )
    table = at.dataframe[0].value
    assert table["item"].tolist() == neighbours.tolist()
    assert table["correct"].tolist() == ["✓" if ok else "✗" for ok in correct]
    assert f"{int(correct.sum())} of 8 nearest neighbours" in query_line(at)
    # the neighbours really are the nearest by cosine similarity
    sims = view.embeddings @ view.embeddings[123] / np.linalg.norm(view.embeddings, axis=1)
    sims /= np.linalg.norm(view.embeddings[123])
    sims[123] = -np.inf
    assert set(np.argsort(-sims)[:8]) == set(neighbours.tolist())


def test_compare_runs_side_by_side_with_recall_per_class(app_test, plotly_specs, comparison):
    at = app_test(EXPLORER)
    at.session_state["cl_result"] = comparison
    at.run()
    labels = at.selectbox(key="ex_model").options
    assert labels[:2] == [
        "Compare seed 0: triplet on toy-circle, 2-D, step 20",
        "Compare seed 0: triplet+symm on toy-circle, 2-D, step 20",
    ]
    at.toggle(key="ex_compare").set_value(True).run()
    at.selectbox(key="ex_model_2").set_value(labels[1]).run()
    no_errors(at)
    specs = plotly_specs(at)
    assert {"ex_chart_0", "ex_chart_1", "ex_class_recall"} <= set(specs)
    assert "ex_thumbs_0" not in specs  # toy data: no images, the inputs in the table instead
    assert "input" in at.dataframe[0].value.columns
    bars = specs["ex_class_recall"]["data"]
    assert len(bars) == 2
    assert list(bars[0]["x"]) == ["class 1", "class 3", "class 5", "class 7"]
    # the per-class recall averages (weighted by class size) to the core's Recall@1
    for bar, name in zip(bars, labels[:2], strict=True):
        view = next(v for v in at.session_state["ex_views"].values() if v.label == name)
        counts = np.bincount(view.labels)[np.unique(view.labels)]
        weighted = np.average(np.asarray(bar["y"]) / 100, weights=counts)
        assert weighted == pytest.approx(view.recall_at_1)
        assert bar["name"].startswith(name)


def test_live_training_model_and_its_before_picture(app_test, plotly_specs):
    live = Trainer(TOY)
    live.run(20)
    at = app_test(EXPLORER)
    at.session_state["lt_trainer"] = live
    at.run()
    assert at.selectbox(key="ex_model").value == (
        "Live Training: triplet+symm on toy-circle, 2-D, step 20"
    )
    at.toggle(key="ex_compare").set_value(True).run()
    assert at.selectbox(key="ex_model_2").options[-1] == "Live Training, before training (step 0)"
    at.selectbox(key="ex_model_2").set_value("Live Training, before training (step 0)").run()
    no_errors(at)
    left, right = [m.value for m in at.markdown if "· Recall@1" in m.value]
    assert left.startswith("**Live Training: triplet+symm") and right.startswith("**Live Training,")
    assert set(plotly_specs(at)) >= {"ex_chart_0", "ex_chart_1"}


def test_uploaded_checkpoint(app_test, tmp_path):
    trainer = Trainer(TOY)
    trainer.run(10)
    trainer.save(tmp_path / "run.pt")
    at = app_test(EXPLORER).run()
    at.file_uploader(key="ex_upload").upload("run.pt", (tmp_path / "run.pt").read_bytes()).run()
    no_errors(at)
    label = "upload run.pt: triplet+symm on toy-circle, 2-D, step 10"
    assert label in at.selectbox(key="ex_model").options
    at.selectbox(key="ex_model").set_value(label).run()
    no_errors(at)
    view = next(v for v in at.session_state["ex_views"].values() if v.label == label)
    expected = trainer.embed(trainer.data.test.x).numpy()
    np.testing.assert_allclose(view.embeddings, expected, atol=1e-6)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a checkpoint", "could not be loaded as a symsynth checkpoint"),
        (None, "not a checkpoint written by Trainer.save"),  # a bare state_dict
    ],
)
def test_a_bad_upload_shows_a_readable_error(app_test, content, message):
    if content is None:
        buffer = io.BytesIO()
        torch.save(Trainer(TOY).model.state_dict(), buffer)
        content = buffer.getvalue()
    at = app_test(EXPLORER).run()
    at.file_uploader(key="ex_upload").upload("weights.pt", content).run()
    assert not at.exception
    (error,) = at.error
    assert "weights.pt" in error.value and message in error.value
    assert not any(o.startswith("upload") for o in at.selectbox(key="ex_model").options)


def test_umap_is_computed_only_on_demand(app_test, plotly_specs):
    at = app_test(EXPLORER).run()  # the untrained digits model: 8-D embeddings
    at.segmented_control(key="ex_method").set_value("UMAP").run()
    no_errors(at)
    assert any("Compute UMAP" in i.value for i in at.info)
    assert [b.label for b in at.button] == ["Compute UMAP"]
    assert "ex_chart_0" not in plotly_specs(at)
    assert not at.session_state["ex_umap"]
    # PCA again: drawn at once, no UMAP needed
    at.segmented_control(key="ex_method").set_value("PCA").run()
    assert "ex_chart_0" in plotly_specs(at) and not at.button


@pytest.mark.slow
def test_compute_umap(app_test, plotly_specs):
    at = app_test(EXPLORER).run()
    at.segmented_control(key="ex_method").set_value("UMAP")
    at.segmented_control(key="ex_dim").set_value(3).run()
    at.button[0].click().run()
    no_errors(at)
    points = traces(plotly_specs(at)["ex_chart_0"])["held-out items"]
    assert points["type"] == "scatter3d" and len(points["x"]) == 896
    assert ("untrained", 3) in at.session_state["ex_umap"]


def test_3d_view(app_test, plotly_specs):
    at = app_test(EXPLORER).run()
    at.segmented_control(key="ex_dim").set_value(3).run()
    no_errors(at)
    points = traces(plotly_specs(at)["ex_chart_0"])
    assert {t["type"] for t in points.values()} == {"scatter3d"}
    view = at.session_state["ex_views"]["untrained"]
    assert np.asarray(points["held-out items"]["z"]).shape == (len(view.items),)
    assert any("In 3-D, type the query's item number" in c.value for c in at.caption)
    assert any("PCA of the 8-D embeddings to 3-D" in c.value for c in at.caption)
