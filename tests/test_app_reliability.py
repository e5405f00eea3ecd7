"""Reliability of the app (issue 6): every control and URL value at its extremes gives a message,
never a traceback; a run is bounded in steps and time; Reset always works; torch is capped to
one thread; the upload limit and XSRF protection are configured; model files load with
weights_only=True; no page turns typed text into a server path; closing a tab stops its training
(counted on the real server's CPU and threads)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
import torch

from symsynth.data import DataError, load_dataset
from symsynth.train import Trainer
from tests.app_helpers import button, status, trainer
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, start_streamlit, stop_streamlit

APP_SCRIPTS = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]

LIVE = "pages/2_Live_Training.py"
RUN_SECONDS = int(re.search(r"^RUN_SECONDS = (\d+)", (ROOT / LIVE).read_text(), re.M).group(1))


# ------------------------------------------------------------------ bad values in a shared link

# (URL parameter, value, TrainConfig field or session key, what the page uses instead)
LINK_EXTREMES = [
    ("lr", "1e3", "lr", 0.01),
    ("lr", "0", "lr", 0.01),
    ("lr", "-1", "lr", 0.01),
    ("lr", "nan", "lr", 0.01),
    ("lr", "inf", "lr", 0.01),
    ("dim", "1", "embedding_dim", 3),
    ("dim", "4096", "embedding_dim", 3),
    ("dim", "0", "embedding_dim", 3),
    ("k", "3", "k", 2),
    ("k", "1", "k", 2),
    ("k", "1000", "k", 2),
    ("steps", "0", "max_steps", 1000),
    ("steps", "-5", "max_steps", 1000),
    ("steps", "1e9", "max_steps", 1000),
    ("p", "1", "p", 2),
    ("p", "-3", "p", 2),
    ("p", "2.5", "p", 2),
    ("seed", "-1", "seed", 0),
    ("seed", "1e40", "seed", 2**31 - 1),
    ("seed", "zero", "seed", 0),
    ("speed", "0", "lt_speed", 100),
    ("speed", "1e6", "lt_speed", 100),
    ("dataset", "../../../etc/passwd", "dataset", "toy-sphere"),
    ("dataset", "/etc/passwd", "dataset", "toy-sphere"),
    ("model", "__import__('os')", "model", "auto"),
    ("loss", "x" * 5000, "loss", "triplet"),
    ("synthesis", "symm; rm -rf /", "synthesis", "symm"),
]


@pytest.mark.parametrize(("name", "value", "field", "used"), LINK_EXTREMES)
def test_a_link_value_the_controls_do_not_offer_is_named_and_replaced(
    app_test, name, value, field, used
):
    at = app_test(LIVE, **{name: value}).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith(f"From the link: `{name}=") and f"using {used}" in warning
    assert len(warning) < 400  # a 5000-character value is not echoed back whole
    got = at.session_state[field] if field.startswith("lt_") else getattr(trainer(at).config, field)
    assert got == used
    assert at.query_params[{"embedding_dim": "dim", "max_steps": "steps"}.get(field, name)] == str(
        used
    )  # the URL now says what runs


def test_a_link_with_good_values_gives_no_warning(app_test):
    at = app_test(LIVE, lr="0.010", dim="8", k="4", p="3", seed="12", steps="500").run()
    assert not at.exception and not at.warning and not at.error


# ------------------------------------------------------- the controls' own extremes, played


def play_a_tick(at) -> None:
    button(at, "Play").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_the_largest_learning_rate_trains_or_stops_with_a_message(app_test):
    at = app_test(LIVE, lr="3", loss="contrastive", steps="200", speed="100").run()
    play_a_tick(at)
    while at.session_state["lt_playing"]:
        at.run()  # the next ticks, to the end of the run or a divergence
        assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert not errors or "diverged" in errors[0], errors
    assert trainer(at).step_count > 0


@pytest.mark.parametrize(
    "query",
    [
        {"dataset": "digits", "dim": "128", "p": "5", "k": "8"},  # widest embedding, largest K
        {"dataset": "toy-circle", "dim": "2", "p": "2", "k": "2", "seed": str(2**31 - 1)},
        {"dataset": "blobs", "lr": "0.0001", "speed": "5", "steps": "10000"},
    ],
    ids=["dim128-k8", "smallest-batch-largest-seed", "smallest-lr-longest-run"],
)
def test_the_controls_extremes_train(app_test, query):
    at = app_test(LIVE, **query).run()
    button(at, "Step").click().run()
    assert not at.exception and not at.error and not at.warning
    assert trainer(at).step_count == 10


@pytest.mark.parametrize("dataset", ["spirals", "toy-circle", "digits"])
def test_a_batch_larger_than_the_data_says_so(app_test, dataset):
    at = app_test(LIVE, dataset=dataset, p="64", k="8").run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert error.startswith("This setup cannot train") and "use p <=" in error
    assert not at.button  # nothing to press on a run that cannot exist


# ------------------------------------------------------------------------- runaway work


def test_a_tick_stops_training_after_its_time_budget(app_test, monkeypatch):
    real_step = Trainer.step

    def slow_step(self):
        time.sleep(0.06)  # a setup far slower than any offered: 100 steps would take 6 s
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", slow_step)
    at = app_test(LIVE, speed="100", steps="1000").run()
    play_a_tick(at)
    steps = trainer(at).step_count
    assert 5 <= steps <= 45, steps  # CHUNK_SECONDS (2 s) cut the 100-step tick short
    assert at.session_state["lt_playing"]  # and the next tick trains on


def test_a_run_ends_when_its_training_time_is_used_up_and_reset_starts_another(app_test):
    at = app_test(LIVE, steps="10000", speed="30").run()
    button(at, "Step").click().run()
    at.session_state["lt_seconds"] = RUN_SECONDS - 1e-3  # as if it had trained for that long
    play_a_tick(at)
    at.run()
    assert not at.session_state["lt_playing"] and trainer(at).step_count == 40
    (warning,) = [w.value for w in at.warning]
    assert "minutes of training" in warning and "Reset" in warning
    assert "finished" in status(at)
    assert button(at, "Play").disabled and button(at, "Step").disabled
    at.run()
    assert trainer(at).step_count == 40  # nothing more trains
    button(at, "Reset").click().run()
    assert not at.warning and not button(at, "Play").disabled
    play_a_tick(at)
    assert trainer(at).step_count == 30 and at.session_state["lt_seconds"] < RUN_SECONDS


def test_reset_while_playing_and_after_the_end(app_test):
    at = app_test(LIVE, steps="200", speed="100").run()
    play_a_tick(at)
    assert at.session_state["lt_playing"]
    button(at, "Reset").click().run()
    assert not at.exception and not at.session_state["lt_playing"]
    assert trainer(at).step_count == 0 and at.session_state["lt_frames"] == []
    play_a_tick(at)
    at.run()
    assert trainer(at).done and not at.session_state["lt_playing"]
    button(at, "Reset").click().run()
    assert not at.exception and trainer(at).step_count == 0
    assert not button(at, "Play").disabled


def test_snapshots_kept_per_session_are_capped(app_test):
    at = app_test(LIVE, dataset="digits", dim="128", steps="10000", speed="100").run()
    play_a_tick(at)
    for _ in range(30):  # ticks until 80+ snapshots were recorded (a tick may stop early)
        if trainer(at).step_count >= 800:
            break
        at.run()
    frames = at.session_state["lt_frames"]
    size = sum(a.nbytes for a in vars(frames[-1]).values() if hasattr(a, "nbytes"))
    assert size > 200_000  # a 128-D snapshot carries 400 probe embeddings: ~0.2 MB
    # FRAME_BYTES (16 MB), not MAX_FRAMES (240), decided: 77 snapshots at most, then thinned
    assert trainer(at).step_count // 10 > 16 * 2**20 // size
    assert 30 <= len(frames) <= 16 * 2**20 // size
    assert frames[0].step == 1 and frames[-1].step == trainer(at).step_count


def test_torch_runs_one_thread_in_every_later_script_thread(app_test):
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # as a fresh server process starts on this 2-core machine
    try:
        at = app_test(LIVE).run()
        assert not at.exception
        seen = []
        worker = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        worker.start()
        worker.join()
        assert seen == [1]
    finally:
        torch.set_num_threads(before)


# -------------------------------------------------------------------- files and configuration


def test_server_config_limits_uploads_and_keeps_xsrf_protection():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    server = config.get("server", {})
    assert 1 <= server["maxUploadSize"] <= 20
    assert server.get("enableXsrfProtection", True) is True
    assert server.get("enableCORS", True) is True
    # and Streamlit itself, started from the repo, reads the same
    probe = (
        "from streamlit import config as c; c.get_config_options(force_reparse=True); "
        "print(c.get_option('server.maxUploadSize'), c.get_option('server.enableXsrfProtection'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [str(server["maxUploadSize"]), "True"]


def _python_files() -> list[Path]:
    files = list(APP_SCRIPTS)
    for folder in ("symsynth", "demos", "bench", "scripts"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def test_every_torch_load_uses_weights_only():
    calls = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "load"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "torch"
            ):
                safe = any(
                    k.arg == "weights_only"
                    and isinstance(k.value, ast.Constant)
                    and k.value.value is True
                    for k in node.keywords
                )
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", safe))
    assert calls  # the checkpoint and backbone loaders are found
    assert all(safe for _, safe in calls), [where for where, safe in calls if not safe]


FILESYSTEM = {
    "open", "io.open", "os.open", "Path", "pathlib.Path", "PurePath", "os.path.join",
    "os.listdir", "os.scandir", "os.remove", "glob.glob", "shutil.rmtree", "shutil.copy",
}  # fmt: skip
PATH_METHODS = {"with_name", "with_suffix", "joinpath", "glob", "rglob", "open"}
TEMP_DIRS = {"tempfile.TemporaryDirectory", "tempfile.mkdtemp"}


def _dotted(node) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _path_problems(source: str) -> list[str]:
    """Calls and ``/`` joins in ``source`` that build a file path from anything but literals,
    ``__file__`` and a directory the server made itself (tempfile)."""
    tree = ast.parse(source)
    allowed = {"__file__"}
    for node in ast.walk(tree):  # `with tempfile.TemporaryDirectory() as tmp`, `d = mkdtemp()`
        if isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            made = node.context_expr
            if isinstance(made, ast.Call) and _dotted(made.func) in TEMP_DIRS:
                allowed.add(node.optional_vars.id)
        made = node.value if isinstance(node, ast.Assign) else None
        if isinstance(made, ast.Call) and _dotted(made.func) in TEMP_DIRS:
            allowed |= {t.id for t in node.targets if isinstance(t, ast.Name)}

    def names(*nodes) -> set[str]:
        return {n.id for x in nodes for n in ast.walk(x) if isinstance(n, ast.Name)}

    def pathlike(node) -> bool:
        if isinstance(node, ast.Call):
            return _dotted(node.func) in {"Path", "pathlib.Path"} or pathlike(node.func)
        if isinstance(node, ast.Attribute):
            return pathlike(node.value)
        if isinstance(node, ast.BinOp):
            return pathlike(node.left)
        return isinstance(node, ast.Name) and node.id in allowed

    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            is_path_call = _dotted(func) in FILESYSTEM or (
                isinstance(func, ast.Attribute) and func.attr in PATH_METHODS and pathlike(func)
            )
            used = names(*node.args, *(k.value for k in node.keywords))
            if is_path_call and not used <= allowed:
                problems.append(f"line {node.lineno}: {sorted(used - allowed)}")
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Div)
            and pathlike(node.left)
            and not names(node.right) <= allowed
        ):
            problems.append(f"line {node.lineno}: {sorted(names(node.right) - allowed)}")
    return problems


def test_the_path_check_catches_a_typed_path():
    assert _path_problems("Path(st.text_input('file'))")
    assert _path_problems("with tempfile.TemporaryDirectory() as tmp:\n    p = Path(tmp) / up.name")
    assert _path_problems("Path(__file__).with_name(st.query_params['f'])")
    assert not _path_problems("Path(__file__).with_name('live_figure.js')")
    assert not _path_problems("with tempfile.TemporaryDirectory() as t:\n    p = Path(t) / 'a.pt'")


def test_no_page_builds_a_server_path_from_what_a_user_typed():
    """In app.py and pages/, a call that names a file or folder takes only literals,
    ``__file__`` and a temporary directory of the server's own (under a fixed name): the dataset
    is a name from a fixed list, uploads are read as bytes."""
    for path in APP_SCRIPTS:
        assert not _path_problems(path.read_text()), (path.name, _path_problems(path.read_text()))


@pytest.mark.parametrize("name", ["/etc/passwd", "../../etc/passwd", "digits.csv", "~/.ssh"])
def test_a_dataset_name_is_never_opened_as_a_file(name):
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset(name)


# ---------------------------------------------------- the real server: closing a tab stops work


def _proc(pid: int) -> tuple[float, int]:
    """CPU seconds used so far and the thread count of process ``pid`` (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return cpu, int(fields[17])


def _cpu_rate(pid: int, seconds: float) -> float:
    cpu0, t0 = _proc(pid)[0], time.monotonic()
    time.sleep(seconds)
    return (_proc(pid)[0] - cpu0) / (time.monotonic() - t0)


@pytest.fixture(scope="module")
def own_server():
    """A `streamlit run app.py` of its own (so its CPU and threads are this test's alone)."""
    proc, url = start_streamlit("app.py")
    try:
        yield url, proc.pid
    finally:
        stop_streamlit(proc)


def _step(page) -> int:
    text = page.get_by_text(re.compile(r"^step \d+ / \d+")).inner_text()
    return int(re.match(r"step (\d+)", text).group(1))


@pytest.mark.browser
@pytest.mark.slow  # 40-75 s: a server of its own, a page, a run
@pytest.mark.timeout(180)
def test_closing_the_tab_stops_its_training(own_server, _playwright, tmp_path):
    url, pid = own_server
    context = _playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000},
    )  # fmt: skip
    try:
        context.set_default_timeout(60_000)
        page = context.pages[0]
        page.goto(f"{url}/Live_Training?steps=10000&speed=30")
        # XSRF protection is on in the running server: it hands the browser its token cookie
        page.get_by_role("button", name="Play", exact=True).wait_for()
        assert "_streamlit_xsrf" in {c["name"] for c in context.cookies()}
        page.get_by_role("button", name=re.compile(r"^Step")).click()
        page.wait_for_function("() => document.querySelectorAll('.symsynth-live-figure').length>=2")
        page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
        time.sleep(1.0)
        idle_threads = _proc(pid)[1]

        page.get_by_role("button", name="Play", exact=True).click()
        page.wait_for_function(
            "() => /step (\\d+)/.exec(document.body.innerText)?.[1] >= 100", timeout=60_000
        )
        playing_rate = _cpu_rate(pid, 2.0)
        assert _step(page) >= 100  # the run really trained while we measured
    finally:
        context.close()  # the tab goes away while its run is playing

    deadline = time.monotonic() + 30
    while True:  # at most a tick (CHUNK_SECONDS) finishes after the websocket closed
        closed_rate = _cpu_rate(pid, 2.0)
        threads = _proc(pid)[1]
        if (closed_rate < 0.05 and threads <= idle_threads) or time.monotonic() > deadline:
            break
    assert playing_rate > 0.2, playing_rate  # training took the server's CPU ...
    assert closed_rate < 0.05, (playing_rate, closed_rate)  # ... and stopped with the tab
    assert threads <= idle_threads, (idle_threads, threads)  # no orphan thread left behind
