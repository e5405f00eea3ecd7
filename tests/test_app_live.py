"""AppTest of the Live Training page: render, Play / Pause / Step / Reset, every control, the URL,
and the error paths (a setup that cannot train, a run that diverges)."""

from __future__ import annotations

import pytest

from symsynth.train import Trainer, TrainingDiverged
from symsynth.viz.style import SYNTHETIC
from symsynth.viz.training import TRACES
from tests.app_helpers import button, no_errors, status, trainer

LIVE = "pages/2_Live_Training.py"


@pytest.fixture
def live(app_test):
    """The page with a short run (200 steps, 30 a tick) so that tests can train it to the end."""
    return app_test(LIVE, steps="200", speed="30").run()


def test_default_render(app_test, plotly_specs):
    at = app_test(LIVE).run()
    no_errors(at)
    assert [b.label for b in at.button] == ["Play", "Pause", "Step +10", "Reset"]
    assert button(at, "Pause").disabled and not button(at, "Play").disabled
    assert set(plotly_specs(at)) == {"lt_inputs", "lt_history"}  # toy sphere: inputs are 3-D
    assert any("Press **Play**" in i.value for i in at.info)
    assert status(at).startswith("step **0** / 1000")
    q = at.query_params
    assert (q["dataset"], q["loss"], q["synthesis"], q["dim"]) == (
        "toy-sphere",
        "triplet",
        "symm",
        "3",
    )


def test_step_draws_the_batch_synthetic_points_and_mined_pairs(live, plotly_specs):
    button(live, "Step").click().run()
    no_errors(live)
    assert trainer(live).step_count == 10
    fig = plotly_specs(live)["lt_embedding_3"]
    assert tuple(t["name"] for t in fig["data"]) == TRACES
    synthetic = fig["data"][TRACES.index("synthetic points")]
    assert synthetic["type"] == "scatter3d" and synthetic["marker"]["color"] == SYNTHETIC
    snap = live.session_state["lt_frames"][-1]
    assert len(synthetic["x"]) == len(snap.synthetic_points) == len(snap.batch_labels)
    assert fig["layout"]["uirevision"] == "embedding"
    assert status(live).startswith("step **10** / 200")


def test_play_trains_in_chunks_then_pause_shows_replay_and_downloads(live, plotly_specs):
    button(live, "Play").click().run()
    no_errors(live)
    assert live.session_state["lt_playing"] and trainer(live).step_count == 30
    assert button(live, "Play").disabled and not button(live, "Pause").disabled
    assert "lt_replay_chart" not in plotly_specs(live)  # no replay while playing
    # the browser plays every snapshot of the tick (steps 1, 10, 20), then the newest (30)
    view = plotly_specs(live)["lt_embedding_3"]
    assert [f["name"] for f in view["frames"]] == ["1", "10", "20"]
    assert [t["name"] for t in view["frames"][0]["data"]] == list(TRACES[1:])
    newest = live.session_state["lt_frames"][-1]
    assert newest.step == 30 and len(view["data"][1]["x"]) == len(newest.probe_embeddings)
    live.run()  # the next tick of the fragment
    assert trainer(live).step_count == 60
    assert [f["name"] for f in plotly_specs(live)["lt_embedding_3"]["frames"]] == ["40", "50"]
    button(live, "Pause").click().run()
    no_errors(live)
    assert not live.session_state["lt_playing"]
    live.run()
    assert trainer(live).step_count == 60  # paused: nothing trains
    specs = plotly_specs(live)
    replay = specs["lt_replay_chart"]
    steps = [f["name"] for f in replay["frames"]]
    assert steps[0] == "1" and steps[-1] == "60"
    history = specs["lt_history"]["data"]
    assert len(history[0]["x"]) == 60  # a loss point for every step
    labels = [d.label for d in live.get("download_button")]
    assert labels == ["Config (JSON)", "Metrics (CSV)", "Weights (state_dict)", "Replay (HTML)"]


def test_a_run_that_ends_stops_playing(app_test):
    at = app_test(LIVE, steps="200", speed="100").run()
    button(at, "Play").click().run()
    at.run()
    no_errors(at)
    assert trainer(at).done and not at.session_state["lt_playing"]
    assert "finished" in status(at)
    assert button(at, "Play").disabled and button(at, "Step").disabled


def test_reset_starts_over(live):
    button(live, "Step").click().run()
    first = trainer(live)
    button(live, "Reset").click().run()
    no_errors(live)
    assert trainer(live) is not first and trainer(live).step_count == 0
    assert live.session_state["lt_frames"] == []


@pytest.mark.parametrize(
    ("kind", "key", "value", "field"),
    [
        ("selectbox", "lt_dataset", "blobs", "dataset"),
        ("selectbox", "lt_model", "mlp", "model"),
        ("select_slider", "lt_dim", 8, "embedding_dim"),
        ("selectbox", "lt_loss", "npair", "loss"),
        ("button_group", "lt_synthesis", "ee", "synthesis"),
        ("select_slider", "lt_lr", 1e-3, "lr"),
        ("number_input", "lt_p", 3, "p"),
        ("selectbox", "lt_k", 4, "k"),
        ("number_input", "lt_seed", 7, "seed"),
        ("selectbox", "lt_steps", 500, "max_steps"),
    ],
)
def test_every_control_starts_a_fresh_run(live, kind, key, value, field):
    button(live, "Step").click().run()
    widget = getattr(live, kind)(key=key)
    widget.set_value(value).run()
    no_errors(live)
    assert getattr(trainer(live).config, field) == value
    assert trainer(live).step_count == 0 and not live.session_state["lt_frames"]
    name = {"embedding_dim": "dim", "max_steps": "steps"}.get(field, field)
    assert live.query_params[name] == str(value)


def test_speed_changes_the_chunk_not_the_run(live):
    button(live, "Step").click().run()
    live.select_slider(key="lt_speed").set_value(100).run()
    assert trainer(live).step_count == 10
    button(live, "Play").click().run()
    assert trainer(live).step_count == 110 and live.query_params["speed"] == "100"


def test_high_dimensions_use_a_fixed_pca_view(app_test, plotly_specs):
    at = app_test(LIVE, dataset="digits", dim="16", synthesis="ee").run()
    button(at, "Step").click().run()
    no_errors(at)
    fig = plotly_specs(at)["lt_embedding_4"]
    assert (
        fig["data"][1]["type"] == "scatter" and "PCA view of 16-D" in fig["layout"]["title"]["text"]
    )
    examples = plotly_specs(at)["lt_inputs"]  # images: a mosaic of held-out examples
    assert (
        examples["data"][0]["type"] == "heatmap"
        and "class 5" in examples["layout"]["yaxis"]["ticktext"]
    )
    basis = at.session_state["lt_projection"].basis.copy()
    button(at, "Step").click().run()
    assert (at.session_state["lt_projection"].basis == basis).all()


def test_a_shared_link_opens_the_same_setup(app_test):
    at = app_test(
        LIVE, dataset="blobs", model="mlp", dim="2", loss="contrastive", synthesis="none",
        lr="0.001", p="3", k="4", seed="5", steps="500", speed="10",
    ).run()  # fmt: skip
    no_errors(at)
    c = trainer(at).config
    assert (c.dataset, c.model, c.embedding_dim, c.loss, c.synthesis) == (
        "blobs", "mlp", 2, "contrastive", "none"
    )  # fmt: skip
    assert (c.lr, c.p, c.k, c.seed, c.max_steps) == (0.001, 3, 4, 5, 500)
    assert at.session_state["lt_speed"] == 10


def test_nonsense_in_the_url_falls_back_to_defaults(app_test):
    at = app_test(
        LIVE, dataset="imagenet", dim="-1", lr="NaN", p="many", k="3", seed="x", loss="",
        steps="1e400",
    ).run()  # fmt: skip
    no_errors(at)
    c = trainer(at).config
    assert (c.dataset, c.embedding_dim, c.lr, c.p, c.k, c.seed, c.loss, c.max_steps) == (
        "toy-sphere", 3, 0.01, 4, 2, 0, "triplet", 1000
    )  # fmt: skip


def test_a_setup_that_cannot_train_says_why(app_test):
    at = app_test(LIVE, model="cnn").run()  # a CNN needs images; the toy sphere is 3 numbers
    assert not at.exception
    assert "This setup cannot train" in at.error[0].value and "cnn" in at.error[0].value
    assert not at.button  # no Play on a run that cannot exist
    at.selectbox(key="lt_model").set_value("auto").run()
    no_errors(at)
    assert trainer(at).config.model == "auto"


def test_too_many_classes_per_batch_is_explained(app_test):
    at = app_test(LIVE, p="1e99").run()  # clamped to the widget's 64, still too many
    assert not at.exception
    assert at.session_state["lt_p"] == 64
    assert "use p <= 6" in at.error[0].value


def test_switching_dataset_fits_p_to_its_classes(app_test):
    at = app_test(LIVE, p="6").run()
    at.selectbox(key="lt_dataset").set_value("spirals").run()
    no_errors(at)
    assert trainer(at).config.p == len(trainer(at).data.train.classes)


def test_divergence_stops_with_a_message_and_keeps_the_last_good_state(live, monkeypatch):
    real_step = Trainer.step

    def step(self):
        if self.step_count >= 20:
            raise TrainingDiverged(self.step_count + 1, "loss", self.config.lr)
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", step)
    button(live, "Play").click().run()
    assert not live.exception
    assert "diverged at step 21" in live.error[0].value
    assert not live.session_state["lt_playing"] and trainer(live).step_count == 20
    assert button(live, "Play").disabled and button(live, "Step").disabled
    assert live.session_state["lt_frames"][-1].step == 20  # the last good snapshot is drawn
    button(live, "Reset").click().run()
    monkeypatch.setattr(Trainer, "step", real_step)
    button(live, "Play").click().run()
    no_errors(live)
    assert trainer(live).step_count == 30


def test_sessions_do_not_share_a_run(app_test):
    first = app_test(LIVE).run()
    second = app_test(LIVE).run()
    button(first, "Step").click().run()
    second.run()
    assert trainer(first) is not trainer(second)
    assert trainer(first).step_count == 10 and trainer(second).step_count == 0
