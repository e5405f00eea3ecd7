"""bench/app_latency.py's floor page: it must draw its one chart, or every ratio is meaningless."""

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_the_baseline_page_draws_one_plotly_chart():
    at = AppTest.from_file(str(ROOT / "bench" / "baseline_app.py")).run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1 and '"scatter"' in charts[0].proto.spec
