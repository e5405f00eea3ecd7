"""A classroom at once: N real browser sessions press Play on Live Training against one server.

    .venv/bin/python bench/load.py [--sessions 8] [--rounds 2] [--play-seconds 8] [--json out.json]

Starts its own `streamlit run app.py` on loopback, opens ``--sessions`` isolated browser contexts
(one headless Debian chromium, the launch flags of tests/conftest.py; each context is a separate
browser session with its own cookies and websocket, i.e. its own Streamlit session), each on a
different setup (dataset, embedding dimension, seed). All sessions load, then every round all of
them press Play at the same moment, watch their run for ``--play-seconds`` and press Pause.

Measured and checked:
- click -> chart update: from each Play click to that page's embedding chart redrawing (p50, p95,
  max over all sessions and rounds), and from each Pause click to the replay appearing;
- every session keeps updating: the gap between consecutive embedding redraws while playing
  (p95, max) and its own step counter rising in every round;
- isolation: every page still shows its own dataset's description and its own configuration in
  its URL, and the step counters of the sessions differ;
- memory: the server's peak RSS (VmHWM, /proc), before the sessions and at the end;
- after every tab is closed: the server's CPU use and thread count (training stopped).
The run is bounded: ``--deadline`` seconds for everything, then it stops and cleans up by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, start_streamlit, stop_streamlit  # noqa: E402

# (dataset, embedding dimension): every session another setup, seeds differ as well
SETUPS = [
    ("toy-sphere", 3),
    ("toy-circle", 2),
    ("blobs", 2),
    ("rings", 3),
    ("spirals", 2),
    ("digits", 16),
    ("toy-sphere", 8),
    ("blobs", 3),
    ("digits", 3),
    ("rings", 2),
]

# Timestamps (page clock) of every redraw of the embedding chart (live_figure.js counts redraws
# in data-updates; the embedding chart is the one whose title names the embedding).
OBSERVE = """() => {
  window.__redraws = [];
  new MutationObserver((records) => {
    for (const r of records) {
      const title = r.target.layout && r.target.layout.title;
      const text = title && (title.text || title);
      if (typeof text === 'string' && text.startsWith('embedding')) {
        window.__redraws.push(performance.now());
      }
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['data-updates']});
}"""
STEP = re.compile(r"step (\d+) / (\d+)")


def proc_status(pid: int) -> dict[str, float]:
    """RSS now and at its peak (MB), threads, CPU seconds so far, of process ``pid``."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {
        "rss_mb": int(status["VmRSS"].split()[0]) / 1024,
        "peak_rss_mb": int(status["VmHWM"].split()[0]) / 1024,
        "threads": int(status["Threads"]),
        "cpu_s": (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"),
    }


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class Session:
    def __init__(self, index: int, dataset: str, dim: int, speed: int):
        self.index, self.dataset, self.dim = index, dataset, dim
        self.seed = 100 + index
        self.query = (  # p=3: every dataset here has at least 3 training classes
            f"dataset={dataset}&dim={dim}&seed={self.seed}&p=3&steps=10000&speed={speed}"
        )
        self.play_latency: list[float] = []
        self.pause_latency: list[float] = []
        self.gaps: list[float] = []
        self.steps: list[int] = []
        self.problems: list[str] = []

    async def open(self, browser, url: str) -> None:
        self.context = await browser.new_context(viewport={"width": 1300, "height": 900})
        self.context.set_default_timeout(180_000)
        self.page = await self.context.new_page()
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        start = time.perf_counter()
        await self.page.goto(f"{url}/Live_Training?{self.query}")
        try:
            await self.page.get_by_role("button", name="Play", exact=True).wait_for()
        except Exception as err:
            text = (await self.page.locator("body").inner_text())[:500]
            raise RuntimeError(
                f"session {self.index} ({self.query}) shows no Play: {text}"
            ) from err
        await self.page.wait_for_selector(
            '[data-testid="stApp"][data-test-script-state="notRunning"]'
        )
        self.load_s = time.perf_counter() - start
        await self.page.evaluate(OBSERVE)

    async def step(self) -> int:
        text = await self.page.locator("body").inner_text()
        match = STEP.search(text)
        return int(match.group(1)) if match else -1

    async def round(self, play_seconds: float, start_together: asyncio.Barrier) -> None:
        page = self.page
        before = await self.step()
        await start_together.wait()
        t0 = await page.evaluate("performance.now()")
        await page.get_by_role("button", name="Play", exact=True).click()
        first = await page.wait_for_function(
            "(t0) => window.__redraws.find((t) => t > t0)", arg=t0, timeout=120_000
        )
        t1 = await first.json_value()
        self.play_latency.append((t1 - t0) / 1000)
        await asyncio.sleep(play_seconds)
        redraws = [t for t in await page.evaluate("window.__redraws") if t >= t1]
        self.gaps += [(b - a) / 1000 for a, b in zip(redraws, redraws[1:], strict=False)]
        after = await self.step()
        self.steps.append(after)
        if after <= before:
            self.problems.append(f"steps did not rise in a round ({before} -> {after})")
        t0 = await page.evaluate("performance.now()")
        await page.get_by_role("button", name="Pause", exact=True).click()
        await page.get_by_text("Replay", exact=True).wait_for()
        self.pause_latency.append((await page.evaluate("performance.now()") - t0) / 1000)
        await page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')

    async def check_isolation(self, description: str) -> None:
        page = self.page
        if await page.get_by_text(description, exact=True).count() == 0:
            self.problems.append(f"its own data description {description!r} is not shown")
        for part in (f"dataset={self.dataset}", f"dim={self.dim}", f"seed={self.seed}"):
            if part not in page.url:
                self.problems.append(f"the URL lost {part}: {page.url}")
        if await page.locator('[data-testid="stException"]').count():
            self.problems.append("an exception is shown")


async def run(args, url: str, pid: int) -> dict:
    from playwright.async_api import async_playwright

    from symsynth.data import load_dataset

    samples: list[dict] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            samples.append({"t": time.monotonic(), **proc_status(pid)})
            await asyncio.sleep(0.25)

    figures: dict = {"sessions": args.sessions, "rounds": args.rounds}
    figures["server_before"] = proc_status(pid)
    sampler = asyncio.create_task(sample())
    sessions = [
        Session(i, *SETUPS[i % len(SETUPS)], speed=args.speed) for i in range(args.sessions)
    ]
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            await asyncio.gather(*(s.open(browser, url) for s in sessions))
            figures["page_load_s_max"] = max(s.load_s for s in sessions)
            cpu0, t0 = proc_status(pid)["cpu_s"], time.monotonic()
            for _ in range(args.rounds):
                barrier = asyncio.Barrier(len(sessions))
                await asyncio.gather(*(s.round(args.play_seconds, barrier) for s in sessions))
            figures["server_cpu_cores_while_playing"] = (proc_status(pid)["cpu_s"] - cpu0) / (
                time.monotonic() - t0
            )
            for s in sessions:
                await s.check_isolation(load_dataset(s.dataset, s.seed).description)
            figures["threads_with_tabs_open"] = proc_status(pid)["threads"]
        finally:
            for s in sessions:
                if hasattr(s, "context"):
                    await s.context.close()
            await browser.close()
    await asyncio.sleep(args.settle)  # a tick under way when its tab closed may still finish
    cpu0, t0 = proc_status(pid)["cpu_s"], time.monotonic()
    await asyncio.sleep(3.0)
    figures["server_cpu_cores_after_closing"] = (proc_status(pid)["cpu_s"] - cpu0) / (
        time.monotonic() - t0
    )
    stop.set()
    await sampler
    after = proc_status(pid)
    figures["threads_after_closing"] = after["threads"]
    figures["peak_rss_mb"] = after["peak_rss_mb"]
    figures["rss_after_closing_mb"] = after["rss_mb"]

    play = [x for s in sessions for x in s.play_latency]
    pause = [x for s in sessions for x in s.pause_latency]
    gaps = [x for s in sessions for x in s.gaps]
    figures.update(
        play_click_to_chart_update_s={
            "n": len(play), "p50": quantile(play, 0.5), "p95": quantile(play, 0.95),
            "max": max(play, default=float("nan")),
        },
        pause_click_to_replay_s={
            "n": len(pause), "p50": quantile(pause, 0.5), "p95": quantile(pause, 0.95),
            "max": max(pause, default=float("nan")),
        },
        gap_between_redraws_while_playing_s={
            "n": len(gaps), "p50": quantile(gaps, 0.5), "p95": quantile(gaps, 0.95),
            "max": max(gaps, default=float("nan")),
        },
    )  # fmt: skip
    figures["per_session"] = [
        {
            "setup": s.query.split("&p=")[0],
            "steps_after_each_round": s.steps,
            "redraws": len(s.gaps) + args.rounds,
            "problems": s.problems,
        }
        for s in sessions
    ]
    # Separate runs are proven by check_isolation (each tab shows its own dataset); equal step
    # counts in two tabs are normal (same speed, same number of ticks), not a sign of sharing.
    figures["ok"] = (
        all(not s.problems and len(s.steps) == args.rounds for s in sessions)
        and figures["server_cpu_cores_after_closing"] < 0.1
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="Play/Pause rounds per session")
    parser.add_argument("--play-seconds", type=float, default=8.0)
    parser.add_argument("--speed", type=int, default=20, help="steps per redraw (Speed control)")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds after closing tabs")
    parser.add_argument("--deadline", type=float, default=420.0, help="stop after this long")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if not 1 <= args.sessions <= 32 or not 1 <= args.rounds <= 10:
        raise SystemExit("--sessions must be 1..32 and --rounds 1..10")

    started = time.monotonic()
    server, url = start_streamlit("app.py")
    try:
        figures = asyncio.run(asyncio.wait_for(run(args, url, server.pid), args.deadline))
    except TimeoutError:
        raise SystemExit(f"not finished within --deadline {args.deadline:g} s; stopped") from None
    finally:
        stop_streamlit(server)

    figures["seconds"] = time.monotonic() - started
    figures["cores"] = os.cpu_count()
    figures["load_average_1min_at_end"] = os.getloadavg()[0]
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if not figures["ok"]:
        raise SystemExit("FAILED: see problems above")


if __name__ == "__main__":
    main()
