"""Real-browser tests: Debian's chromium, driven by Playwright, against `streamlit run app.py`.

Each test opens a page as a person would, checks that no exception box is shown, and keeps a
screenshot in test-artifacts/. Live Training is played: the chart must move, and a 3-D camera the
user turned must survive the updates.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# Streamlit probes these paths relative to a page's URL before the root ones; the 404s are its own.
IGNORED_CONSOLE = re.compile(r"_stcore/(health|host-config)|Failed to load resource")
LIVE_FIGURE = "div.symsynth-live-figure"
PAGES = sorted((Path(__file__).resolve().parent.parent / "pages").glob("*.py"))


def settle(page, charts: int = 1, timeout: float = 60_000) -> None:
    """Wait until the script has finished and at least ``charts`` charts are drawn, all of them."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout
    )
    page.wait_for_function(
        """(n) => { const g = [...document.querySelectorAll('.js-plotly-plot')];
                    return g.length >= n && g.every(x => x._fullLayout); }""",
        arg=charts,
        timeout=timeout,
    )


def check_page(page, artifacts_dir, name: str) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator(".js-plotly-plot").count() >= 1
    errors = [e for e in page.console_errors if not IGNORED_CONSOLE.search(e)]
    assert not errors, errors
    page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("script", PAGES, ids=lambda p: p.stem)
def test_every_page_loads_without_an_exception(page, streamlit_server, artifacts_dir, script):
    url_path = re.sub(r"^\d+_", "", script.stem)  # Streamlit's URL for pages/2_Live_Training.py
    page.goto(f"{streamlit_server}/{url_path}")
    page.locator("h1").first.wait_for(timeout=60_000)
    settle(page, charts=0)
    page.wait_for_timeout(1000)  # a page may start a second run (a fragment, a rerun)
    settle(page, charts=0)
    assert page.locator('[data-testid="stException"]').count() == 0
    errors = [e for e in page.console_errors if not IGNORED_CONSOLE.search(e)]
    assert not errors, errors
    page.screenshot(path=str(artifacts_dir / f"page_{script.stem}.png"))


def test_home(page, streamlit_server, artifacts_dir):
    page.goto(streamlit_server)
    page.get_by_text("Mine the hardest negative pair").wait_for()
    settle(page, charts=3)
    check_page(page, artifacts_dir, "home")
    assert page.locator('[data-testid="stPageLink"]').count() >= 2
    nav = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
    assert [n.split("\n")[-1].strip() for n in nav][:3] == [
        "Home", "Reflection Lab", "Live Training",
    ], nav  # fmt: skip


def test_reflection_lab(page, streamlit_server, artifacts_dir):
    page.goto(f"{streamlit_server}/Reflection_Lab?dim=3&ee=1")
    page.get_by_role("heading", name="Hard negative pair mining").wait_for()
    settle(page, charts=3)
    check_page(page, artifacts_dir, "reflection_lab_3d")
    # the 3-D figure draws through WebGL (plotly's gl3d scene)
    assert page.locator(".js-plotly-plot .gl-container canvas").count() >= 1
    text = page.get_by_text("The hardest negative pair is").inner_text()
    assert "similarity" in text


CAMERA_AND_DATA = """() => {
  const g = document.querySelector('div.symsynth-live-figure');
  if (!g || !g._fullLayout || !g._fullLayout.scene) return null;
  const x = g.data[1].x;
  return {
    eye: g._fullLayout.scene._scene.getCamera().eye,
    probe: typeof x === 'object' && x.bdata ? x.bdata : Array.from(x).join(','),
    updates: Number(g.dataset.updates || 0),
    chunks: Number(g.dataset.chunks || 0),
  };
}"""


# The lowest opacity of any element container on the page (Streamlit fades stale ones), sampled
# every 50 ms for ``ms`` milliseconds.
LOWEST_OPACITY = """(ms) => new Promise((done) => {
  const boxes = () => [...document.querySelectorAll('[data-testid="stElementContainer"]')];
  let lowest = 1;
  const timer = setInterval(() => {
    for (const e of boxes()) lowest = Math.min(lowest, Number(getComputedStyle(e).opacity));
  }, 50);
  setTimeout(() => { clearInterval(timer); done(lowest); }, ms);
})"""


def turn(page, dx: float, dy: float) -> dict:
    """Drag across the live figure as a person would; return the camera eye the drag left."""
    box = page.locator(LIVE_FIGURE).first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=12)
    page.mouse.up()
    return page.evaluate(CAMERA_AND_DATA)["eye"]


def wait_for_updates(page, n: int) -> dict:
    page.wait_for_function(
        f"(n) => {{ const s = ({CAMERA_AND_DATA})(); return s && s.updates >= n; }}",
        arg=n,
        timeout=60_000,
    )
    return page.evaluate(CAMERA_AND_DATA)


def step_count(page) -> int:
    text = page.get_by_text(re.compile(r"^step \d+ / \d+")).inner_text()
    return int(re.match(r"step (\d+)", text).group(1))


WATCH_REMOVED_CHARTS = """() => { window.removedCharts = [];
  new MutationObserver((records) => { for (const r of records) for (const n of r.removedNodes)
    if (n.nodeType === 1 && (n.matches('.js-plotly-plot') || n.querySelector('.js-plotly-plot')))
      window.removedCharts.push(String(n.className)); })
  .observe(document.body, {childList: true, subtree: true}); }"""


def test_play_on_a_slow_setup_keeps_the_page_in_place(page, streamlit_server, artifacts_dir):
    """A CNN's first chunk on digits takes over a second. Pressing Play must not rebuild the
    charts already on the page (Streamlit remounted those a whole-page run sent after such a
    pause: the live charts vanished and came back) nor fade the page while it trains."""
    page.goto(f"{streamlit_server}/Live_Training?dataset=digits&dim=3&steps=10000&speed=100")
    play = page.get_by_role("button", name="Play", exact=True)
    play.wait_for(timeout=60_000)
    settle(page, charts=2)  # the held-out digits and the live charts
    page.evaluate(WATCH_REMOVED_CHARTS)
    play.click()
    lowest = page.evaluate(LOWEST_OPACITY, 2500)
    page.wait_for_function(f"({CAMERA_AND_DATA})() !== null", timeout=60_000)  # the view is drawn
    page.get_by_role("button", name="Pause", exact=True).click()
    assert page.evaluate("window.removedCharts") == []
    assert lowest == 1, lowest
    page.screenshot(path=str(artifacts_dir / "live_training_digits.png"))


def test_live_training_plays_and_keeps_the_camera(page, streamlit_server, artifacts_dir):
    page.goto(f"{streamlit_server}/Live_Training?steps=5000&speed=100")
    play = page.get_by_role("button", name="Play", exact=True)
    play.wait_for()
    page.get_by_role("button", name=re.compile(r"^Step")).click()
    page.wait_for_function(f"({CAMERA_AND_DATA})() !== null", timeout=60_000)
    before = page.evaluate(CAMERA_AND_DATA)

    turned = turn(page, 160, 50)
    assert turned != before["eye"]

    play.click()
    start = step_count(page)
    after = wait_for_updates(page, before["updates"] + 4)
    assert after["probe"] != before["probe"]  # the embedding moved
    # each tick's figure carries five of its ten snapshots: the view draws more often than it hears
    # from the server
    assert after["updates"] - before["updates"] > after["chunks"] - before["chunks"]
    assert step_count(page) > start
    for axis in "xyz":  # the camera the user chose survived every update
        assert after["eye"][axis] == pytest.approx(turned[axis], abs=1e-6)
    # while the server trains the next chunk, Streamlit would fade the live view and its charts
    # as stale (opacity 0.33 after 0.5 s): they must stay fully visible while playing
    lowest = page.evaluate(LOWEST_OPACITY, 3000)
    assert lowest == 1, lowest
    page.screenshot(path=str(artifacts_dir / "live_training_playing.png"))

    page.get_by_role("button", name="Pause", exact=True).click()
    page.get_by_text("Replay", exact=True).wait_for()
    settle(page, charts=4)  # the replay has moved the page: drag where the chart is now
    # paused, turn it again and let go below the chart (plotly itself keeps only a drag released
    # over its canvas), then take a step: the new camera survives too
    height = page.locator(LIVE_FIGURE).first.bounding_box()["height"]
    turned_again = turn(page, -120, height)
    assert turned_again != turned
    shown = page.evaluate(CAMERA_AND_DATA)["updates"]
    page.get_by_role("button", name=re.compile(r"^Step")).click()
    stepped = wait_for_updates(page, shown + 1)
    for axis in "xyz":
        assert stepped["eye"][axis] == pytest.approx(turned_again[axis], abs=1e-6)
    settle(page, charts=4)
    check_page(page, artifacts_dir, "live_training_paused")
    # the replay is a client-side animation with its own slider and play button
    replay = page.locator(".js-plotly-plot", has=page.locator(".slider-container"))
    assert replay.count() == 1
    replay.scroll_into_view_if_needed()
    replay.screenshot(path=str(artifacts_dir / "live_training_replay.png"))
