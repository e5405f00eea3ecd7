"""Real-browser tests of Compare Losses and the Embedding Explorer: run a tiny comparison in
chromium, see its table and figures, go to the explorer in the same session, click a point and see
its nearest neighbours. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest

from tests.test_browser import IGNORED_CONSOLE, settle

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

# An isolated point of the first explorer chart (the one farthest from its nearest other point,
# so that a click there cannot land on another), with its item index and page coordinates.
ISOLATED_POINT = """() => {
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const t = gd._fullData[0], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  const px = Array.from(t.x, (x, i) => [box.left + xa._offset + xa.l2p(x),
                                       box.top + ya._offset + ya.l2p(t.y[i])]);
  let best = -1, far = -1;
  px.forEach(([x, y], i) => {
    let near = Infinity;
    px.forEach(([u, v], j) => { if (j !== i) near = Math.min(near, Math.hypot(x - u, y - v)); });
    if (near > far && x > box.left + 20 && y > box.top + 40) { far = near; best = i; }
  });
  return {item: Number(t.customdata[best]), x: px[best][0], y: px[best][1], gap: far};
}"""


def no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0
    errors = [e for e in page.console_errors if not IGNORED_CONSOLE.search(e)]
    assert not errors, errors


def set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    settle(page, charts=0)


def test_tiny_comparison_then_explore_its_neighbours(page, streamlit_server, artifacts_dir):
    page.goto(f"{streamlit_server}/Compare_Losses")
    page.get_by_role("heading", name="Compare Losses").wait_for(timeout=60_000)
    settle(page, charts=0)
    set_number(page, "Seeds", 1)
    set_number(page, "Budget", 20)
    page.get_by_text(re.compile(r"= 4 runs of 20 steps")).wait_for()
    no_exception(page)

    page.get_by_role("button", name="Run comparison").click()
    page.get_by_role("heading", name="Results").wait_for(timeout=180_000)
    settle(page, charts=3)
    no_exception(page)
    table = page.locator('[data-testid="stMarkdownContainer"] table').first
    assert "triplet" in table.inner_text() and "npair" in table.inner_text()
    assert page.locator("table strong").count() >= 1  # the best variant of each loss in bold
    assert page.get_by_role("button", name=re.compile("Figures \\(HTML\\)")).count() == 1
    page.screenshot(path=str(artifacts_dir / "compare_losses_results.png"), full_page=True)
    for i, name in enumerate(("bars", "embeddings", "curves")):
        chart = page.locator('[data-testid="stPlotlyChart"]').nth(i)
        chart.scroll_into_view_if_needed()
        chart.screenshot(path=str(artifacts_dir / f"compare_losses_{name}.png"))

    # the Embedding Explorer in the same session: this comparison's runs are its models
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Embedding Explorer").click()
    page.get_by_role("heading", name="Embedding Explorer").wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"^Query: item 0,")).first.wait_for(timeout=60_000)
    settle(page, charts=3)
    no_exception(page)
    assert page.get_by_text("Compare seed 0: triplet on digits").count() >= 1

    target = page.evaluate(ISOLATED_POINT)
    assert target["gap"] > 3, target  # a point a click can hit alone
    page.mouse.click(target["x"], target["y"])
    page.get_by_text(re.compile(rf"^Query: item {target['item']},")).first.wait_for(timeout=60_000)
    settle(page, charts=3)
    no_exception(page)
    # the query and its neighbours: thumbnails and the table with right/wrong marks
    chart = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
    names = page.evaluate("(gd) => gd._fullData.map(t => t.name)", chart.element_handle())
    assert names[:2] == ["held-out items", "query"]
    query = page.evaluate("(gd) => Number(gd._fullData[1].customdata[0])", chart.element_handle())
    assert query == target["item"]
    line = page.get_by_text(re.compile(rf"^Query: item {query},")).first.inner_text()
    shared = int(re.search(r"(\d+) of 5 nearest neighbours", line).group(1))
    thumbs = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').nth(1)
    titles = page.evaluate(
        "(gd) => gd.layout.annotations.map(a => a.text)", thumbs.element_handle()
    )
    assert titles[0] == "query" and len(titles) == 6
    assert sum(t.startswith("✓") for t in titles[1:]) == shared
    assert all(t[0] in "✓✗" for t in titles[1:])
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    page.screenshot(path=str(artifacts_dir / "embedding_explorer_selected.png"), full_page=True)
