"""Shared fixtures.

Real-browser tests (``@pytest.mark.browser``) get a Streamlit server running this repo's
``app.py`` (one per test session, on a free port) and a fresh headless Debian chromium driven by
Playwright (``/usr/bin/chromium``; never ``playwright install``). Screenshots go to
``test-artifacts/`` so a person can look at what the test saw.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # WebGL (plotly's scatter3d) through the software rasteriser, as --disable-gpu leaves it.
    "--enable-unsafe-swiftshader",
]
SERVER_START_TIMEOUT = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test: tiny models train several times faster that way (and a
    busy machine stays usable); the setting is restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def start_streamlit(script: str = "app.py", env: dict | None = None, log=None):
    """``streamlit run script`` (headless, on a free local port, in its own process group);
    returns the process and its base URL once it answers, or raises with its output."""
    port = _free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", script,
        "--server.headless", "true",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while not _healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_streamlit(proc)
            output = Path(log.name).read_text(errors="replace") if log else ""
            raise RuntimeError(f"streamlit did not come up on {url} for {script}\n{output}")
        time.sleep(0.25)
    return proc, url


def stop_streamlit(proc: subprocess.Popen) -> None:
    """End the server's process group (start_new_session): SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory) -> str:
    """Base URL of ``streamlit run app.py`` started for this test session (killed at the end)."""
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {**os.environ, "SYMSYNTH_CACHE": str(tmp_path_factory.mktemp("runs"))}  # not ~/.cache
    with open(log_path, "wb") as log:
        proc, url = start_streamlit("app.py", env=env, log=log)
    try:
        yield url
    finally:
        stop_streamlit(proc)


@pytest.fixture(scope="session")
def _playwright():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser_context(_playwright, tmp_path):
    """A fresh chromium with its own temporary profile, closed after the test."""
    user_data = tmp_path / "chromium-profile"
    context = _playwright.chromium.launch_persistent_context(
        user_data_dir=str(user_data),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000},
    )
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        context.close()
        shutil.rmtree(user_data, ignore_errors=True)


@pytest.fixture
def page(browser_context):
    """A page of the fresh chromium, with the JavaScript console errors it logged."""
    pg = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    pg.console_errors = []
    pg.on("console", lambda m: m.type == "error" and pg.console_errors.append(m.text))
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))
    return pg


# ------------------------------------------------------------------------------------ AppTest


def _decode(value):
    """Plotly JSON with its base64 typed arrays ({"dtype", "bdata", "shape"}) made NumPy arrays."""
    import base64

    import numpy as np

    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if isinstance(value.get("bdata"), str) and set(value) <= {"bdata", "dtype", "shape"}:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            array = array.reshape([int(d) for d in str(value["shape"]).split(",")])
        return array
    return {k: _decode(v) for k, v in value.items()}


def _plotly_specs(at) -> dict[str, dict]:
    """The plotly figures an AppTest run drew (JSON, arrays decoded), by the key they were
    drawn with: st.plotly_chart, and Live Training's in-place charts (a component whose data is
    the figure's JSON)."""
    import json

    specs = {
        element.proto.id.rsplit("-", 1)[-1]: _decode(json.loads(element.proto.spec))
        for element in at.get("plotly_chart")
    }
    for element in at.get("bidi_component"):
        if element.proto.component_name == "symsynth_live_figure":
            figure = json.loads(json.loads(element.proto.json))
            specs[element.proto.id.rsplit("-", 1)[-1]] = _decode(figure)
    return specs


@pytest.fixture
def plotly_specs():
    """``plotly_specs(at)`` -> {chart key: plotly JSON spec} for an AppTest run."""
    return _plotly_specs


@pytest.fixture
def app_test():
    """``app_test("pages/1_Reflection_Lab.py", **query)`` -> a not-yet-run AppTest of that
    script with those URL query parameters."""
    from streamlit.testing.v1 import AppTest

    def make(script: str, **query) -> AppTest:
        at = AppTest.from_file(str(ROOT / script), default_timeout=60)
        for name, value in query.items():
            at.query_params[name] = value
        return at

    return make
