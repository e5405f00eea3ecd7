"""bench/docs_block.py: a benchmark rewrites only its own block of a docs page."""

import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from docs_block import write_block  # noqa: E402


def test_a_block_is_replaced_in_place_and_the_prose_around_it_kept(tmp_path):
    doc = tmp_path / "PERF.md"
    doc.write_text("# Perf\n\nintro\n<!-- a:begin -->\nold\n<!-- a:end -->\n\nreading\n")
    write_block("a", "| new | table |\n", doc)
    assert (
        doc.read_text()
        == "# Perf\n\nintro\n<!-- a:begin -->\n| new | table |\n<!-- a:end -->\n\nreading\n"
    )
    write_block("b", "second", doc)  # a block not there yet goes at the end
    assert doc.read_text().endswith("reading\n\n<!-- b:begin -->\nsecond\n<!-- b:end -->\n")
    write_block("b", "third", doc)
    assert doc.read_text().count("<!-- b:begin -->") == 1 and "third" in doc.read_text()


def test_the_app_latency_block_gives_ratios_to_the_bare_page():
    import app_latency

    figures = {
        "live_first_chart_cold_s": 12.0, "baseline_first_chart_cold_s": 4.0,
        "live_first_chart_warm_s": 4.5, "baseline_first_chart_warm_s": 3.0,
        "home_first_chart_warm_s": 3.0, "lab_first_chart_warm_s": 6.0,
        "play_to_first_frame_s": 0.2, "view_updates_per_s": 3.5, "training_steps_per_s": 120.0,
    }  # fmt: skip
    text = app_latency.markdown(figures, "dataset=toy-sphere", 1.5)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines()}
    assert rows["Live Training: first chart, cold (first visit: imports torch)"].endswith(
        "| 12.00 s | 4.00 s | 3.00 |"
    )
    assert rows["Reflection Lab: first chart, warm"].endswith("| 6.00 s | 3.00 s | 2.00 |")
    assert "| ≥ 100 | 120.0 |" in rows["training steps per second behind them"]
    assert "load average 1.5" in text and "`dataset=toy-sphere`" in text
