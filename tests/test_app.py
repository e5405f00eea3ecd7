"""AppTest of Home (app.py) and the Reflection Lab: default render, every control once, the URL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symsynth.viz import circle_point, reflection_scene, sphere_point
from tests.app_helpers import no_errors

LAB = "pages/1_Reflection_Lab.py"
ROOT = Path(__file__).resolve().parent.parent


def trace(spec: dict, prefix: str) -> dict:
    hits = [t for t in spec["data"] if str(t.get("name", "")).startswith(prefix)]
    assert len(hits) == 1, [t.get("name") for t in spec["data"]]
    return hits[0]


def coords(t: dict) -> np.ndarray:
    return np.stack([np.asarray(t[k], dtype=float) for k in ("x", "y", "z") if k in t], 1)


# ---------------------------------------------------------------------------------- Home


def test_home_renders_both_steps_and_links_every_page(app_test, plotly_specs):
    at = app_test("app.py").run()
    no_errors(at)
    assert at.title[0].value == "Symmetrical Synthesis for deep metric learning"
    specs = plotly_specs(at)
    assert set(specs) == {"home_reflect", "home_mine", "home_heatmap"}
    assert not any(t["name"].startswith("mined") for t in specs["home_reflect"]["data"])
    assert trace(specs["home_mine"], "mined negative pair")
    labels = [e.proto.label for e in at.get("page_link")]  # titles from app.py's navigation
    pages = sorted((ROOT / "pages").glob("*.py"))
    assert labels == [p.stem.split("_", 1)[1].replace("_", " ") for p in pages]
    assert "Live Training" in labels
    assert any("2001.11658" in c.value for c in at.caption)


def test_home_slider_turns_the_positive(app_test, plotly_specs):
    at = app_test("app.py").run()
    at.slider(key="home_spread").set_value(100).run()
    no_errors(at)
    points = coords(trace(plotly_specs(at)["home_reflect"], "original points"))
    np.testing.assert_allclose(points[1], circle_point(120), atol=1e-9)
    expected = reflection_scene([circle_point(a) for a in (20, 120, 150, 215)])
    np.testing.assert_allclose(
        coords(trace(plotly_specs(at)["home_reflect"], "synthetic")),
        expected.synthetic_points,
        atol=1e-9,
    )


# ---------------------------------------------------------------------------------- Lab


def readouts(at) -> dict[str, list[float]]:
    """The Lab's readouts table (Markdown, one column per synthetic point): {row name: values}."""
    (text,) = [m.value for m in at.markdown if m.value.startswith("| | a′ = sym(a; p)")]
    rows = [line.strip("|").split("|") for line in text.splitlines()[2:]]
    return {cells[0].strip(): [float(c) for c in cells[1:]] for cells in rows}


def test_lab_default_render(app_test, plotly_specs):
    at = app_test(LAB).run()
    no_errors(at)
    specs = plotly_specs(at)
    assert set(specs) == {"lab_figure_2", "lab_heat"}
    expected = reflection_scene([circle_point(a) for a in (20, 70, 150, 200)])
    np.testing.assert_allclose(
        coords(trace(specs["lab_figure_2"], "synthetic (symm)")), expected.synthetic_points
    )
    table = readouts(at)
    assert set(table) == {"‖x‖", "‖x′‖", "x·axis", "x′·axis", "‖x − foot‖", "‖x′ − foot‖"}
    np.testing.assert_allclose(table["‖x′‖"], table["‖x‖"])
    np.testing.assert_allclose(table["x′·axis"], table["x·axis"])
    i, j = expected.mined_rows
    assert any(f"**{expected.names[i]} – {expected.names[j]}**" in m.value for m in at.markdown)
    assert at.query_params["alpha"] == "2" and at.query_params["dim"] == "2"


def test_lab_reads_a_shared_link(app_test, plotly_specs):
    at = app_test(LAB, dim="3", ee="1", alpha="1.5", beta="1.2", az_p="100", el_p="-30").run()
    no_errors(at)
    specs = plotly_specs(at)
    assert set(specs) == {"lab_figure_3", "lab_heat", "lab_heat_ee"}
    fig = specs["lab_figure_3"]
    assert trace(fig, "synthetic (symm)")["type"] == "scatter3d"
    originals = [sphere_point(*ae) for ae in ((20, 10), (100, -30), (150, -15), (200, 40))]
    expected = reflection_scene(originals, alpha=1.5, beta=1.2)
    np.testing.assert_allclose(coords(trace(fig, "synthetic (symm)")), expected.synthetic_points)
    ee = reflection_scene(originals, "ee", alpha=1.5, beta=1.2)
    np.testing.assert_allclose(coords(trace(fig, "synthetic (ee")), ee.synthetic_points)
    assert at.slider(key="lab_alpha").value == 1.5


@pytest.mark.parametrize(
    "query",
    [
        {"alpha": "abc", "beta": "nan", "dim": "7", "az_a": "9999", "el_p": "-1e9", "ee": "yes"},
        {"alpha": "", "az_n1": "1e400"},
    ],
)
def test_lab_survives_any_url(app_test, query):
    at = app_test(LAB, **query).run()
    no_errors(at)
    state = at.session_state
    assert 0.0 <= state["lab_alpha"] <= 3.0 and 0.25 <= state["lab_beta"] <= 1.5
    assert 0.0 <= state["lab_az_a"] <= 360.0 and state["lab_dim"] in ("2", "3")
    if "az_a" in query:
        assert state["lab_az_a"] == 360.0 and state["lab_alpha"] == 2.0


def test_lab_every_control_once(app_test, plotly_specs):
    at = app_test(LAB).run()
    for key, value in [
        ("lab_az_a", 45.0),
        ("lab_az_p", 300.0),
        ("lab_az_n1", 10.0),
        ("lab_az_n2", 90.0),
        ("lab_alpha", 1.0),
        ("lab_beta", 0.5),
    ]:
        at.slider(key=key).set_value(value).run()
        no_errors(at)
        assert at.query_params[key.removeprefix("lab_")] == f"{value:g}"
    # α = 1, β = 0.5: each synthetic point is half its perpendicular foot
    fig = plotly_specs(at)["lab_figure_2"]
    syn = coords(trace(fig, "synthetic (symm)"))
    feet = coords(trace(fig, "perpendicular foot"))
    np.testing.assert_allclose(syn[:2], 0.5 * feet, atol=1e-12)
    assert "β scales radially" in [t["name"] for t in fig["data"]]
    assert "Away from α = 2, β = 1" in at.caption[0].value

    at.button[0].click().run()  # paper setting
    no_errors(at)
    assert (at.slider(key="lab_alpha").value, at.slider(key="lab_beta").value) == (2.0, 1.0)

    at.toggle(key="lab_ee").set_value(True).run()
    no_errors(at)
    assert "lab_heat_ee" in plotly_specs(at) and at.query_params["ee"] == "1"

    at.radio(key="lab_dim").set_value("3").run()
    no_errors(at)
    for key in ("lab_el_a", "lab_el_p", "lab_el_n1", "lab_el_n2"):
        at.slider(key=key).set_value(-45.0).run()
        no_errors(at)
    fig = plotly_specs(at)["lab_figure_3"]
    points = coords(trace(fig, "original points"))
    np.testing.assert_allclose(points[0], sphere_point(45, -45), atol=1e-9)
    # back to the circle: the hidden elevation sliders do not break anything
    at.radio(key="lab_dim").set_value("2").run()
    no_errors(at)
    assert "lab_figure_2" in plotly_specs(at)


def test_home_warms_the_training_core_up_in_the_background():
    """In a fresh process: Home renders without waiting for torch, and its background thread
    leaves the training core (and the optimiser's torch._dynamo) imported for the next page."""
    code = """
import sys, threading
from streamlit.testing.v1 import AppTest
assert "symsynth.train" not in sys.modules and "torch._dynamo" not in sys.modules
at = AppTest.from_file("app.py", default_timeout=60).run()
assert not at.exception
(thread,) = [t for t in threading.enumerate() if t.name == "symsynth-warm-up"] or [None]
if thread is not None:
    thread.join(60)
assert "symsynth.train" in sys.modules and "torch._dynamo" in sys.modules
print("warm")
"""
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0 and "warm" in run.stdout, run.stderr[-2000:]
