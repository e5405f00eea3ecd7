"""Nothing lost: a writer killed mid-save and a training run killed mid-way (SIGKILL, for real)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from symsynth.train import save_atomic

ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import sys, torch
from symsynth.train import save_atomic
path, i = sys.argv[1], 0
while True:  # big enough that a kill lands mid-write now and then
    i += 1
    save_atomic({"i": torch.tensor(i), "w": torch.full((2_000_000,), float(i))}, path)
    print(i, flush=True)
"""


def _wait_for(predicate, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_next_save_removes_what_a_killed_writer_left(tmp_path):
    path = tmp_path / "ck.pt"
    stale = tmp_path / ".ck.pt.abc123.tmp"  # as a SIGKILL during torch.save leaves it
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / ".other.pt.abc123.tmp"  # another file's: not ours to remove
    other.write_bytes(b"")
    save_atomic({"i": torch.tensor(1)}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.abc123.tmp", "ck.pt"]


def test_a_writer_killed_mid_save_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "ck.pt"
    for attempt in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "1"  # one complete save exists
        time.sleep(0.05 * (attempt + 1))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = torch.load(path, weights_only=True)  # never a torn file
        assert torch.equal(state["w"], torch.full((2_000_000,), float(state["i"])))


@pytest.mark.slow
def test_a_killed_cli_run_resumes_to_the_uninterrupted_result(tmp_path):
    common = [sys.executable, "-m", "symsynth", "train", "--dataset", "toy-sphere",
              "--embedding-dim", "3", "--max-steps", "120", "--checkpoint-every", "10",
              "--seed", "5", "--quiet"]  # fmt: skip
    full = subprocess.run([*common, "--out", str(tmp_path / "full")], cwd=ROOT, timeout=600)
    assert full.returncode == 0
    part = tmp_path / "part"
    proc = subprocess.Popen([*common, "--out", str(part)], cwd=ROOT)
    assert _wait_for(lambda: (part / "checkpoint.pt").exists())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = torch.load(part / "checkpoint.pt", weights_only=True)["step"]
    resumed = subprocess.run([*common, "--out", str(part), "--resume"], cwd=ROOT, timeout=600)
    assert resumed.returncode == 0
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    b = torch.load(part / "model.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a), f"resumed from step {step}"
    assert not [p for p in os.listdir(part) if p.endswith(".tmp")]
