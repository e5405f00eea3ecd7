"""bench/load.py: its measurements (fast) and a short run of the whole script (slow, browser)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import load  # noqa: E402


def test_quantile_picks_the_order_statistic():
    values = [float(v) for v in range(1, 101)]
    assert load.quantile(values, 0.95) == 95.0
    assert load.quantile(values, 0.5) == 51.0 and load.quantile([3.0], 0.95) == 3.0
    assert load.quantile([], 0.95) != load.quantile([], 0.95)  # NaN: nothing was measured


def test_proc_status_sees_threads_cpu_and_memory_of_this_process():
    before = load.proc_status(os.getpid())
    done = threading.Event()
    worker = threading.Thread(target=done.wait)
    worker.start()
    busy_until = time.process_time() + 0.3
    while time.process_time() < busy_until:
        pass
    during = load.proc_status(os.getpid())
    done.set()
    worker.join()
    assert during["threads"] == before["threads"] + 1
    assert during["cpu_s"] >= before["cpu_s"] + 0.25
    assert 10 < during["rss_mb"] <= during["peak_rss_mb"]


def test_every_session_gets_its_own_setup():
    sessions = [load.Session(i, *load.SETUPS[i % len(load.SETUPS)], speed=20) for i in range(8)]
    assert len({s.query for s in sessions}) == 8
    assert len({(s.dataset, s.dim) for s in sessions}) == 8


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(400)
def test_a_short_load_run_passes_its_own_checks(tmp_path):
    out = tmp_path / "load.json"
    cmd = [sys.executable, "bench/load.py", "--sessions", "2", "--rounds", "1",
           "--play-seconds", "3", "--deadline", "300", "--json", str(out)]  # fmt: skip
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=360)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["ok"] and figures["play_click_to_chart_update_s"]["n"] == 2
    assert all(len(s["steps_after_each_round"]) == 1 for s in figures["per_session"])
    assert figures["peak_rss_mb"] > figures["server_before"]["rss_mb"]
