"""symsynth.compare: one cell, the cache, the aggregation to the paper's table, the exports,
and the ``compare`` command line on tiny settings."""

from __future__ import annotations

import csv
import io
import json
import math
import re

import numpy as np
import pytest
import torch

import symsynth.compare as compare_module
from symsynth.cli import main
from symsynth.compare import (
    METRICS,
    Comparison,
    Progress,
    RunCache,
    RunResult,
    aggregate,
    config_key,
    mean_curves,
    run_comparison,
    run_one,
    runs_to_csv,
    to_csv,
    to_markdown,
)
from symsynth.train import TrainConfig, Trainer, TrainingDiverged

TINY = TrainConfig(dataset="toy-circle", embedding_dim=2, max_steps=6, eval_every=3, seed=0)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fake(loss: str, synthesis: str, seed: int, **metrics: float) -> RunResult:
    """A hand-made run: only the fields the table reads."""
    config = TrainConfig(loss=loss, synthesis=synthesis, seed=seed)
    return RunResult(config, dict(metrics), [], np.zeros((0, 2)), np.zeros(0), 0.0, 1)


@pytest.fixture
def count_trainers(monkeypatch):
    """Counts Trainer constructions inside symsynth.compare."""
    built = []

    class Counting(Trainer):
        def __init__(self, *args, **kwargs):
            built.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(compare_module, "Trainer", Counting)
    return built


# ------------------------------------------------------------------------------ one cell


def test_run_one_returns_held_out_metrics_history_and_probe_embeddings():
    result = run_one(TINY)
    trainer = Trainer(TINY)
    trainer.run(100)
    assert result.metrics == pytest.approx(trainer.evaluate(full=True))  # same seed, same run
    assert set(result.metrics) == set(METRICS)
    assert [row["step"] for row in result.history] == list(range(1, 7))
    assert [row["step"] for row in result.history if "recall@1" in row] == [3, 6]
    expected_probe = trainer.embed(trainer.data.test.x[trainer.probe_index]).numpy()
    np.testing.assert_allclose(result.probe_embeddings, expected_probe, atol=1e-6)
    np.testing.assert_array_equal(result.probe_labels, trainer.data.test.y[trainer.probe_index])
    assert result.steps == 6 and result.diverged_at is None and not result.cached


def test_progress_reports_steps_then_one_finished_report():
    reports: list[Progress] = []
    run_one(TINY, on_progress=reports.append, chunk=2)
    assert [p.step for p in reports] == [2, 4, 6, 6]
    assert [p.finished for p in reports] == [False, False, False, True]
    assert reports[0].run_fraction == pytest.approx(2 / 6)
    assert reports[-1].overall_fraction == 1.0


def test_threads_apply_during_the_run_and_are_restored():
    torch.set_num_threads(2)
    seen = []
    run_one(
        TINY, threads=1, on_progress=lambda p: seen.append((p.finished, torch.get_num_threads()))
    )
    assert {n for finished, n in seen if not finished} == {1}
    assert torch.get_num_threads() == 2
    with pytest.raises(ValueError, match="threads"):
        run_one(TINY, threads=0)


def test_a_diverged_run_is_kept_with_the_step_it_diverged_at(monkeypatch):
    class Diverging(Trainer):
        def step(self):
            if self.step_count == 3:
                raise TrainingDiverged(4, "loss", self.config.lr)
            return super().step()

    monkeypatch.setattr(compare_module, "Trainer", Diverging)
    result = run_one(TINY, chunk=2)
    assert result.diverged_at == 4 and result.steps == 3
    assert set(result.metrics) == set(METRICS) and len(result.probe_embeddings) > 0
    monkeypatch.undo()
    fine = run_one(TrainConfig.from_dict({**TINY.to_dict(), "synthesis": "none"}))
    rows = aggregate([fine, result])
    assert [r.diverged for r in rows] == [0, 1]
    assert "symm (1 diverged)" in to_markdown(rows)


def test_trained_weights_can_be_restored():
    result = run_one(TINY)
    trainer = result.trainer()
    probe = trainer.embed(trainer.data.test.x[trainer.probe_index]).numpy()
    np.testing.assert_allclose(probe, result.probe_embeddings, atol=1e-6)


# ------------------------------------------------------------------------------ the cache


def test_cache_hit_means_no_retraining(tmp_path, count_trainers):
    cache = RunCache(tmp_path)
    first = run_one(TINY, cache=cache)
    assert len(count_trainers) == 1 and TINY in cache
    again = run_one(TINY, cache=cache)
    assert len(count_trainers) == 1  # loaded, not trained
    assert again.cached and not first.cached
    assert again.metrics == first.metrics and again.history == first.history
    np.testing.assert_array_equal(again.probe_embeddings, first.probe_embeddings)
    assert again.weights.keys() == first.weights.keys()
    other = TrainConfig.from_dict({**TINY.to_dict(), "seed": 1})
    run_one(other, cache=cache)
    assert len(count_trainers) == 2  # a different configuration is trained


def test_cache_is_json_and_npz_only(tmp_path):
    folder = RunCache(tmp_path).put(run_one(TINY))
    assert sorted(p.name for p in folder.iterdir()) == [
        "arrays.npz",
        "config.json",
        "result.json",
        "weights.npz",
    ]
    assert json.loads((folder / "config.json").read_text()) == TINY.to_dict()
    for name in ("arrays.npz", "weights.npz"):
        with np.load(folder / name, allow_pickle=False) as arrays:  # no pickled objects inside
            assert all(arrays[k].dtype != object for k in arrays.files)
    assert not list(tmp_path.glob(".*"))  # no temporary folder left behind


def test_cache_key_covers_every_config_field():
    base = config_key(TINY)
    for change in ({"lr": 0.02}, {"dataset_options": {"spread": 0.2}}, {"hparams": {"margin": 0.1}},
                   {"max_steps": 7}, {"synthesis": "ee"}, {"k": 6}):  # fmt: skip
        assert config_key(TrainConfig.from_dict({**TINY.to_dict(), **change})) != base
    assert config_key(TrainConfig.from_dict(TINY.to_dict())) == base


def test_cache_survives_a_new_config_field_and_refuses_a_changed_default(tmp_path):
    cache = RunCache(tmp_path)
    folder = cache.put(run_one(TINY))
    record = json.loads((folder / "result.json").read_text())
    del record["config"]["probe_size"]  # as if written before TrainConfig had this field
    (folder / "result.json").write_text(json.dumps(record))
    assert cache.get(TINY) is not None  # its default keeps the old behaviour: still a hit
    record["config"]["eval_size"] = 999  # stored under a default that has changed since
    (folder / "result.json").write_text(json.dumps(record))
    assert cache.get(TINY) is None
    record["config"]["retired_option"] = 1  # a field TrainConfig no longer has
    (folder / "result.json").write_text(json.dumps(record))
    assert cache.get(TINY) is None


def test_cache_key_follows_the_training_code(monkeypatch):
    before = config_key(TINY)
    assert re.fullmatch(r"[0-9a-f]{16}", compare_module.code_fingerprint())
    monkeypatch.setattr(compare_module, "code_fingerprint", lambda: "other training code")
    assert config_key(TINY) != before


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMSYNTH_CACHE", str(tmp_path / "here"))
    assert RunCache().root == tmp_path / "here"


def test_comparison_uses_the_cache_and_keeps_its_order(tmp_path, count_trainers):
    cmp = Comparison(TINY, losses=("triplet", "npair"), synthesis=("none", "symm"), seeds=(0, 1))
    overall = []
    result = run_comparison(cmp, RunCache(tmp_path), lambda p: overall.append(p))
    assert len(count_trainers) == 8
    keys = [(r.loss, r.synthesis, r.seed) for r in result.runs]
    assert keys == [(c.loss, c.synthesis, c.seed) for c in cmp.configs()]
    finished = [p for p in overall if p.finished]
    assert [p.run for p in finished] == list(range(8)) and all(p.runs == 8 for p in finished)
    assert finished[-1].overall_fraction == 1.0
    assert [p.overall_fraction for p in overall] == sorted(p.overall_fraction for p in overall)
    again = run_comparison(cmp, RunCache(tmp_path))
    assert len(count_trainers) == 8 and all(r.cached for r in again.runs)


def test_same_seed_means_same_data_initialisation_and_batches():
    cmp = Comparison(TINY, losses=("triplet", "npair"), synthesis=("none", "symm"), seeds=(3,))
    configs = cmp.configs()
    trainers = [Trainer(c) for c in configs]
    first = trainers[0]
    for t in trainers[1:]:
        assert torch.equal(t.data.train.x, first.data.train.x)
        theirs, ours = t.model.state_dict(), first.model.state_dict()
        assert all(torch.equal(theirs[k], ours[k]) for k in ours)
        assert torch.equal(t.sampler.epoch_batches(0), first.sampler.epoch_batches(0))
    assert {(c.loss, c.synthesis) for c in configs} == {
        ("triplet", "none"), ("triplet", "symm"), ("npair", "none"), ("npair", "symm")
    }  # fmt: skip


def test_per_loss_hyperparameters_go_only_to_their_loss():
    cmp = Comparison(TINY, losses=("triplet", "npair"), seeds=(0,),
                     hparams={"triplet": {"margin": 0.05}})  # fmt: skip
    by_loss = {c.loss: c.hparams for c in cmp.configs()}
    assert by_loss == {"triplet": {"margin": 0.05}, "npair": {}}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"losses": ("tripplet",)}, "unknown loss 'tripplet'; choose from"),
        ({"losses": ()}, "no loss given"),
        ({"losses": ("npair",), "synthesis": ("none", "mirror")}, "unknown synthesis 'mirror'"),
        ({"losses": ("npair", "npair")}, "lists a name twice"),
        ({"losses": ("npair",), "seeds": ()}, "seeds is empty"),
        ({"losses": ("npair",), "seeds": (1, 1)}, "lists a seed twice"),
        ({"losses": ("npair",), "hparams": {"triplet": {"margin": 1}}}, "not compared"),
        ({"losses": ("npair",), "hparams": {"npair": {"margin": 1}}}, "unknown hyper-param"),
    ],
)
def test_bad_comparisons_name_the_offending_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Comparison(TINY, **kwargs).validate()


# ------------------------------------------------------------------------------ the table


def test_aggregation_on_hand_made_numbers():
    runs = [
        fake("triplet", "none", 0, nmi=0.40, f1=0.10),
        fake("triplet", "none", 1, nmi=0.50, f1=0.20),
        fake("triplet", "none", 2, nmi=0.60, f1=0.30),
        fake("triplet", "symm", 0, nmi=0.70, f1=0.10),
        fake("triplet", "symm", 1, nmi=0.80, f1=0.15),
        fake("triplet", "symm", 2, nmi=0.90, f1=0.35),
    ]
    base, symm = aggregate(runs, metrics=["nmi", "f1"])
    assert (base.loss, base.synthesis, base.seeds) == ("triplet", "none", (0, 1, 2))
    assert base.mean["nmi"] == pytest.approx(0.5)
    assert base.std["nmi"] == pytest.approx(0.1)  # sample standard deviation (ddof = 1)
    assert symm.mean["nmi"] == pytest.approx(0.8) and symm.std["nmi"] == pytest.approx(0.1)
    assert symm.gain["nmi"] == pytest.approx(0.3)
    assert symm.beyond_spread["nmi"] and symm.wins["nmi"] == 3
    assert symm.mean["f1"] == pytest.approx(0.2)
    assert symm.gain["f1"] == pytest.approx(0.0, abs=1e-12)
    assert not symm.beyond_spread["f1"] and symm.wins["f1"] == 1  # only seed 2 is better
    assert symm.best["nmi"] and not base.best["nmi"]
    assert base.best["f1"] and symm.best["f1"]  # a tie marks both
    assert base.gain == {} and base.wins == {}


def test_gain_must_exceed_the_larger_spread_of_the_two_rows():
    runs = [
        fake("npair", "none", 0, nmi=0.50), fake("npair", "none", 1, nmi=0.52),  # std 0.014
        fake("npair", "ee", 0, nmi=0.50), fake("npair", "ee", 1, nmi=0.60),  # std 0.071
        fake("npair", "symm", 0, nmi=0.57), fake("npair", "symm", 1, nmi=0.59),  # std 0.014
    ]  # fmt: skip
    base, ee, symm = aggregate(runs, metrics=["nmi"])
    assert ee.gain["nmi"] == pytest.approx(0.04)  # beyond the baseline's spread, not EE's own
    assert not ee.beyond_spread["nmi"]
    assert symm.gain["nmi"] == pytest.approx(0.07) and symm.beyond_spread["nmi"]
    negative = aggregate(
        [fake("npair", "none", s, nmi=v) for s, v in ((0, 0.8), (1, 0.81))]
        + [fake("npair", "symm", s, nmi=v) for s, v in ((0, 0.5), (1, 0.52))],
        metrics=["nmi"],
    )[1]
    assert negative.gain["nmi"] < 0 and negative.beyond_spread["nmi"]  # a loss beyond spread


def test_one_seed_has_no_spread_and_never_exceeds_it():
    base, symm = aggregate([fake("npair", "none", 0, nmi=0.1), fake("npair", "symm", 0, nmi=0.9)],
                           metrics=["nmi"])  # fmt: skip
    assert math.isnan(base.std["nmi"]) and math.isnan(symm.std["nmi"])
    assert symm.gain["nmi"] == pytest.approx(0.8) and not symm.beyond_spread["nmi"]


def test_variant_without_a_baseline_has_no_gain():
    (row,) = aggregate([fake("npair", "symm", 0, nmi=0.3)], metrics=["nmi"])
    assert row.gain == {} and row.best["nmi"]


def test_aggregation_names_a_missing_metric():
    with pytest.raises(ValueError, match="has no metric 'nmi'"):
        aggregate([fake("npair", "none", 0, f1=0.3)], metrics=["nmi"])


def test_markdown_export():
    runs = [fake("triplet", "none", s, nmi=v) for s, v in ((0, 0.40), (1, 0.50))]
    runs += [fake("triplet", "symm", s, nmi=v) for s, v in ((0, 0.70), (1, 0.80))]
    text = to_markdown(aggregate(runs, metrics=["nmi"]))
    lines = text.splitlines()
    assert lines[0] == "| loss | synthesis | NMI |"
    assert lines[2] == "| triplet | none | 45.0 ± 7.1 |"
    assert lines[3] == "| triplet | symm | **75.0 ± 7.1** |"
    assert "| triplet | symm | +30.0 ✓ (2/2) |" in lines
    assert "seeds (0, 1)" in text
    no_gains = to_markdown(aggregate(runs, metrics=["nmi"]), gains=False)
    assert "ΔNMI" not in no_gains and "ΔNMI" in text


def test_csv_export_round_trips_the_numbers():
    runs = [fake("triplet", "none", s, nmi=v, f1=0.1) for s, v in ((0, 0.40), (1, 0.50))]
    runs += [fake("triplet", "symm", s, nmi=v, f1=0.1) for s, v in ((0, 0.70), (1, 0.80))]
    rows = aggregate(runs, metrics=["nmi", "f1"])
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [(r["loss"], r["synthesis"], r["seeds"]) for r in table] == [
        ("triplet", "none", "0 1"), ("triplet", "symm", "0 1")
    ]  # fmt: skip
    assert float(table[0]["nmi_mean"]) == pytest.approx(0.45)
    assert float(table[1]["nmi_std"]) == pytest.approx(rows[1].std["nmi"])
    assert float(table[1]["nmi_gain"]) == pytest.approx(0.30)
    assert table[1]["nmi_beyond_spread"] == "True" and table[1]["nmi_wins"] == "2"
    assert table[0]["nmi_gain"] == "" and table[0]["nmi_best"] == "False"
    with pytest.raises(ValueError, match="no metric 'map@r'"):
        to_csv(rows, metrics=["map@r"])


def test_runs_csv_has_one_line_per_run():
    result = run_comparison(Comparison(TINY, losses=("triplet",), seeds=(0, 1)))
    table = list(csv.DictReader(io.StringIO(runs_to_csv(result.runs))))
    assert [(r["synthesis"], r["seed"]) for r in table] == [
        ("none", "0"), ("none", "1"), ("symm", "0"), ("symm", "1")
    ]  # fmt: skip
    assert float(table[2]["recall@1"]) == pytest.approx(result.runs[2].metrics["recall@1"])


def test_mean_curves_average_seeds_step_by_step():
    def hist(scale):
        return [{"step": 1, "loss": 2.0 * scale}, {"step": 2, "loss": scale, "recall@1": scale}]

    runs = [fake("npair", "none", 0), fake("npair", "none", 1)]
    runs = [
        RunResult(r.config, {}, hist(s), r.probe_embeddings, r.probe_labels, 0.0, 2)
        for r, s in zip(runs, (0.2, 0.4), strict=True)
    ]
    (curve,) = mean_curves(runs)
    assert curve.steps.tolist() == [1, 2]
    assert curve.loss_values.tolist() == pytest.approx([0.6, 0.3])
    assert curve.eval_steps.tolist() == [2] and curve.recall_at_1.tolist() == pytest.approx([0.3])


# ------------------------------------------------------------------------- command line


CLI = ["compare", "--dataset", "toy-circle", "--embedding-dim", "2", "--losses", "triplet",
       "--synthesis", "none,symm", "--seeds", "2", "--max-steps", "4", "--eval-every", "2",
       "--quiet"]  # fmt: skip


def test_compare_cli_writes_tables_and_offline_figures(tmp_path, count_trainers):
    out, cache = tmp_path / "out", tmp_path / "cache"
    assert main([*CLI, "--out", str(out), "--cache-dir", str(cache)]) == 0
    assert len(count_trainers) == 4
    names = {p.name for p in out.iterdir()}
    assert names == {"table.md", "table.csv", "runs.csv", "comparison.json", "bars.html",
                     "embeddings.html", "curves.html"}  # fmt: skip
    md = (out / "table.md").read_text()
    assert md.startswith("| loss | synthesis | NMI | F1 | R@1 |") and "| triplet | symm |" in md
    assert len(list(csv.DictReader((out / "table.csv").open()))) == 2
    spec = json.loads((out / "comparison.json").read_text())
    assert spec["seeds"] == [0, 1] and spec["base"]["max_steps"] == 4
    html = (out / "bars.html").read_text()
    assert not re.search(r"<script[^>]*src=", html)  # plotly.js is inlined, nothing fetched
    assert "Plotly" in html and len(html) > 1_000_000
    assert main([*CLI, "--out", str(out), "--cache-dir", str(cache)]) == 0
    assert len(count_trainers) == 4  # second time: all from the cache


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--losses", "triplet,foo"], "unknown loss 'foo'"),
        (["--synthesis", "none,symmetric"], "unknown synthesis 'symmetric'"),
        (["--seeds", "two"], "expected a number of seeds"),
        (["--hparam", "margin=0.1"], "name the loss too, as LOSS.NAME=VALUE"),
        (["--hparam", "triplet.marg=0.1"], "unknown hyper-parameter"),
        (["--figure-seed", "5"], "--figure-seed 5 is not among the seeds"),
        (["--threads", "0"], "--threads must be >= 1"),
        (["--dataset-option", "n_classes=1"], "n_classes"),
    ],
)
def test_compare_cli_bad_arguments_exit_2_without_traceback(tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exit_info:
        main([*CLI, "--out", str(tmp_path / "o"), "--no-cache", *extra])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
