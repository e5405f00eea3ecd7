"""The command line, end to end on small settings."""

import json
import subprocess
import sys

import pytest
import torch

from symsynth.cli import main
from symsynth.metrics import evaluate
from symsynth.train import Trainer

KEYS = {"recall@1", "recall@2", "recall@4", "recall@8", "nmi", "f1", "map@r", "precision@1"}


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "symsynth", *args], capture_output=True, text=True, timeout=300
    )


def test_help_lists_the_options():
    out = run("train", "--help")
    assert out.returncode == 0
    for flag in ("--dataset", "--loss", "--synthesis", "--epochs", "--seed", "--out", "--resume"):
        assert flag in out.stdout


def test_train_on_digits_writes_metrics_config_and_weights(tmp_path):
    out = run("train", "--dataset", "digits", "--loss", "triplet", "--synthesis", "symm",
              "--max-steps", "30", "--seed", "0", "--out", str(tmp_path))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "step" in out.stderr  # the progress bar
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == KEYS and all(0 <= v <= 1 for v in metrics.values())
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["dataset"] == "digits" and config["synthesis"] == "symm"
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert (tmp_path / "history.csv").read_text().startswith("step,loss")


def test_metrics_are_those_of_the_saved_model_on_held_out_classes(tmp_path):
    assert main(["train", "--dataset", "toy-circle", "--embedding-dim", "2", "--max-steps",
                 "10", "--out", str(tmp_path), "--quiet"]) == 0  # fmt: skip
    from symsynth.data import load_dataset
    from symsynth.models import build_model

    data = load_dataset("toy-circle", seed=0)
    model = build_model("mlp", data.input_shape, 2)
    model.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))
    model.eval()
    with torch.no_grad():
        expected = evaluate(model(data.test.x), data.test.y)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == pytest.approx(expected)


def test_resume_after_interruption_ends_bitwise_equal(tmp_path, monkeypatch):
    args = ["train", "--dataset", "toy-sphere", "--embedding-dim", "3", "--quiet",
            "--checkpoint-every", "7", "--seed", "3", "--max-steps", "20"]  # fmt: skip
    assert main([*args, "--out", str(tmp_path / "full")]) == 0
    calls = []
    real_run = Trainer.run

    def interrupted(self, n):  # Ctrl-C during the third chunk, after the step-14 checkpoint
        calls.append(n)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_run(self, n)

    monkeypatch.setattr(Trainer, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main([*args, "--out", str(tmp_path / "part")])
    monkeypatch.undo()
    assert torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=True)["step"] == 14
    assert main([*args, "--out", str(tmp_path / "part"), "--resume"]) == 0
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    full = (tmp_path / "full" / "history.csv").read_text()
    assert (tmp_path / "part" / "history.csv").read_text() == full


@pytest.mark.parametrize(
    "args,message",
    [
        (["--dataset", "mnist"], "invalid choice: 'mnist'"),
        (["--k", "3"], "k must be even"),
        (["--lr", "-1"], "lr must be"),
        (["--hparam", "margin"], "expected NAME=VALUE"),
        (["--hparam", "margn=0.1"], "unknown hyper-parameter"),
        (["--resume"], "no checkpoint"),
    ],
)
def test_bad_arguments_exit_with_a_readable_error(tmp_path, args, message):
    out = run("train", "--out", str(tmp_path / "x"), "--max-steps", "2", *args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
