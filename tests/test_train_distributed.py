"""The wired-up paths of issue 7: the CLI on a benchmark folder layout, and torchrun with two
CPU ranks (gloo) ending where one process ends."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from symsynth.cli import main
from symsynth.train import TrainConfig, Trainer
from tests.test_benchmark_data import make_cub

ROOT = Path(__file__).resolve().parent.parent


def test_cli_trains_on_a_cub_layout_folder(tmp_path):
    root = make_cub(tmp_path / "data", n_classes=4, per_class=4)
    out = tmp_path / "run"
    args = ["train", "--dataset", "cub200", "--data-root", str(root), "--image-size", "16",
            "--model", "cnn", "--embedding-dim", "8", "--p", "2", "--k", "2",
            "--max-steps", "3", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["dataset_options"] == {"data_root": str(root), "image_size": 16}
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["recall@1"] <= 1.0


def test_cli_says_what_a_benchmark_folder_must_contain(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--dataset", "cars196", "--data-root", str(tmp_path), "--out",
              str(tmp_path / "x"), "--max-steps", "1"])  # fmt: skip
    assert exit_.value.code == 2
    assert "cars_annos.mat" in capsys.readouterr().err


def test_backbones_without_torchvision_are_a_readable_error(tmp_path, capsys):
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(SystemExit):
            main(["train", "--dataset", "digits", "--model", "resnet18", "--out",
                  str(tmp_path), "--max-steps", "1"])  # fmt: skip
        assert "pip install torchvision" in capsys.readouterr().err
    else:
        pytest.skip("torchvision is installed here")


@pytest.mark.slow
def test_torchrun_two_ranks_match_one_process(tmp_path):
    # Three steps: the two runs sum the same gradients in another order (float rounding, ~1e-8);
    # later, one hard-negative choice can flip on such a difference and the runs drift apart.
    common = ["-m", "symsynth", "train", "--dataset", "toy-sphere", "--embedding-dim", "3",
              "--loss", "triplet", "--synthesis", "symm", "--p", "4", "--k", "2",
              "--max-steps", "3", "--seed", "2", "--quiet"]  # fmt: skip
    one = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "one")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert one.returncode == 0, one.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                "--master-addr", "127.0.0.1", "--master-port", "29533"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run([*torchrun, *common, "--out", str(tmp_path / "two")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert two.returncode == 0, two.stderr
    a = torch.load(tmp_path / "one" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "two" / "model.pt", weights_only=True)
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)
    la = (tmp_path / "one" / "history.csv").read_text().splitlines()
    lb = (tmp_path / "two" / "history.csv").read_text().splitlines()
    assert len(la) == len(lb) == 4
    # and a checkpoint written by rank 0 resumes in a single process
    t = Trainer.load(tmp_path / "two" / "checkpoint.pt")
    assert t.step_count == 3 and isinstance(t.config, TrainConfig)
