"""AppTest of the Compare Losses page: default render, controls, a tiny comparison trained to
completion (and then loaded from the cache), stopping, and the error paths."""

from __future__ import annotations

import pytest

from symsynth.compare import RunCache, aggregate, to_markdown
from tests.app_helpers import button, no_errors

COMPARE = "pages/3_Compare_Losses.py"
MAX_TICKS = 20


def plan(at) -> str:
    return next(c.value for c in at.caption if "already in the cache" in c.value)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    """Every test gets an empty run cache of its own."""
    monkeypatch.setenv("SYMSYNTH_CACHE", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture
def tiny(app_test):
    """The page set to a tiny comparison: toy circle, triplet, none + symm, 2 seeds, 20 steps."""
    at = app_test(COMPARE).run()
    at.selectbox(key="cl_dataset").set_value("toy-circle")
    at.multiselect(key="cl_losses").set_value(["triplet"])
    at.select_slider(key="cl_dim").set_value(2)
    at.number_input(key="cl_budget").set_value(20)
    return at.run()


def run_to_end(at) -> None:
    button(at, "Run comparison").click().run()
    for _ in range(MAX_TICKS):  # each rerun is one tick of the fragment: one run
        if not at.session_state["cl_job"]["running"]:
            return
        at.run()
    pytest.fail(f"the comparison did not finish in {MAX_TICKS} ticks")


def test_default_render(app_test, plotly_specs):
    at = app_test(COMPARE).run()
    no_errors(at)
    assert [b.label for b in at.button] == ["Run comparison", "Stop"]
    assert button(at, "Stop").disabled and not button(at, "Run comparison").disabled
    assert plan(at).startswith("2 losses × 2 synthesis × 2 seeds = **8 runs** of 100 steps")
    assert plan(at).endswith("0 already in the cache.")
    assert any("Run comparison" in i.value for i in at.info)
    assert plotly_specs(at) == {}  # nothing to show before a comparison ran
    assert at.selectbox(key="cl_dataset").value == "digits"


def test_controls_change_the_plan(app_test):
    at = app_test(COMPARE).run()
    at.multiselect(key="cl_losses").set_value(["lifted"])
    at.multiselect(key="cl_synthesis").set_value(["none", "symm", "ee"])
    at.number_input(key="cl_seeds").set_value(3)
    at.segmented_control(key="cl_unit").set_value("epochs")
    at.number_input(key="cl_budget").set_value(2).run()
    no_errors(at)
    assert plan(at).startswith("1 losses × 3 synthesis × 3 seeds = **9 runs** of 2 epochs")


def test_no_loss_is_an_error_and_disables_run(app_test):
    at = app_test(COMPARE).run()
    at.multiselect(key="cl_losses").set_value([]).run()
    assert not at.exception
    (error,) = at.error
    assert "cannot run" in error.value and "no loss given" in error.value
    assert button(at, "Run comparison").disabled


def test_tiny_comparison_runs_to_completion_then_comes_from_the_cache(
    tiny, plotly_specs, cache_dir
):
    assert plan(tiny).startswith("1 losses × 2 synthesis × 2 seeds = **4 runs** of 20 steps")
    run_to_end(tiny)
    no_errors(tiny)
    result = tiny.session_state["cl_result"]
    assert [(r.synthesis, r.seed, r.steps, r.cached) for r in result.runs] == [
        ("none", 0, 20, False), ("none", 1, 20, False),
        ("symm", 0, 20, False), ("symm", 1, 20, False),
    ]  # fmt: skip
    # the table is the core's, with the gain table under it
    table = next(m.value for m in tiny.markdown if m.value.startswith("| loss | synthesis"))
    assert table == to_markdown(aggregate(result.runs)).strip()
    assert "| triplet | symm |" in table and "ΔR@1" in table
    specs = plotly_specs(tiny)
    assert set(specs) == {"cl_bars", "cl_grid", "cl_curves"}
    assert [t["name"] for t in specs["cl_bars"]["data"][:2]] == ["none", "symm"]
    grid_titles = [a["text"] for a in specs["cl_grid"]["layout"]["annotations"]]
    assert grid_titles == ["triplet (seed 0)", "triplet+symm (seed 0)"]
    assert {t["name"] for t in specs["cl_curves"]["data"]} == {"triplet", "triplet+symm"}
    downloads = [d.proto.label for d in tiny.get("download_button")]
    assert downloads == ["Table (CSV)", "Table (Markdown)", "Every run (CSV)", "Figures (HTML)"]
    assert all(config in RunCache(cache_dir) for config in result.comparison.configs())

    # the other seed's embeddings
    tiny.segmented_control(key="cl_view_seed").set_value(1).run()
    grid_titles = [a["text"] for a in plotly_specs(tiny)["cl_grid"]["layout"]["annotations"]]
    assert grid_titles == ["triplet (seed 1)", "triplet+symm (seed 1)"]

    # the same comparison again: no training, every run from the cache
    assert plan(tiny).endswith("4 already in the cache.")
    run_to_end(tiny)
    no_errors(tiny)
    assert all(r.cached for r in tiny.session_state["cl_result"].runs)
    assert any("(4 from the cache)" in c.value for c in tiny.caption)


def test_stop_keeps_finished_runs_and_run_continues(tiny):
    button(tiny, "Run comparison").click().run()  # the first tick trains the first run
    assert len(tiny.session_state["cl_job"]["runs"]) == 1
    assert not button(tiny, "Stop").disabled and button(tiny, "Run comparison").disabled
    button(tiny, "Stop").click().run()
    no_errors(tiny)
    assert any("Stopped after 1 of 4 runs" in i.value for i in tiny.info)
    assert "cl_result" not in tiny.session_state
    run_to_end(tiny)  # the finished run comes from the cache
    runs = tiny.session_state["cl_result"].runs
    assert [r.cached for r in runs] == [True, False, False, False]


def test_changed_settings_are_flagged_on_old_results(tiny):
    run_to_end(tiny)
    tiny.number_input(key="cl_budget").set_value(30).run()
    no_errors(tiny)
    assert any("settings differ" in c.value for c in tiny.caption)


def test_a_run_that_cannot_train_shows_why(tiny, monkeypatch):
    import symsynth.compare

    def refuse(config, *args, **kwargs):
        raise ValueError("the data set has too few items per class")

    monkeypatch.setattr(symsynth.compare, "run_one", refuse)
    button(tiny, "Run comparison").click().run()
    assert not tiny.exception
    (error,) = tiny.error
    assert "triplet (seed 0) cannot train" in error.value and "too few items" in error.value
    assert not tiny.session_state["cl_job"]["running"]
    assert not button(tiny, "Run comparison").disabled


def test_settings_are_saved_for_a_return_visit_and_the_job_goes_on(tiny):
    button(tiny, "Run comparison").click().run()  # one run done, three to go
    assert len(tiny.session_state["cl_job"]["runs"]) == 1
    # Streamlit forgets a page's widget values when the user opens another page; the page
    # keeps a plain copy that restores them on the way back
    saved = tiny.session_state["cl_saved"]
    assert (saved["cl_dataset"], saved["cl_losses"], saved["cl_dim"], saved["cl_budget"]) == (
        "toy-circle", ["triplet"], 2, 20,
    )  # fmt: skip
    tiny.run()  # a full rerun (as on coming back): the job continues where it was
    no_errors(tiny)
    assert len(tiny.session_state["cl_job"]["runs"]) == 2
    for _ in range(MAX_TICKS):
        if not tiny.session_state["cl_job"]["running"]:
            break
        tiny.run()
    assert len(tiny.session_state["cl_result"].runs) == 4
