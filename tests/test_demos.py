"""Smoke tests of the classroom demos (demos/*.py) on tiny settings, in temporary folders."""

from __future__ import annotations

import csv
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMOS = ("reflection_figure", "train_circle", "compare_losses", "replicate")


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"demo_{name}", ROOT / "demos" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def offline(html: str) -> bool:
    """plotly.js is inside the page and nothing is fetched from elsewhere."""
    return "Plotly" in html and not re.search(r"<script[^>]*src=", html)


@pytest.mark.parametrize("name", DEMOS)
def test_every_demo_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load(name).main(["--help"])
    assert exit_info.value.code == 0
    assert f"python demos/{name}.py" in capsys.readouterr().out


@pytest.mark.slow  # a fresh interpreter importing torch and plotly: ~5-30 s on a busy machine
def test_a_demo_runs_as_a_script_from_anywhere(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "demos" / "reflection_figure.py"), "--help"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "--angles" in out.stdout


def test_reflection_figure_writes_one_offline_page(tmp_path):
    path = tmp_path / "reflection.html"
    assert load("reflection_figure").main(["--angles", "0,40,95,130", "--out", str(path)]) == 0
    html = path.read_text()
    assert offline(html) and html.count("<h2>") == 6
    for heading in ("Figure 1 on the circle", "Figure 1 on the sphere", "α moves along the chord",
                    "β scales radially", "group similarities"):  # fmt: skip
        assert heading in html
    assert "Mining picks the pair a′ and n₁" in html  # the mirror image of a lands next to n₁


def test_reflection_figure_rejects_bad_angles(capsys):
    with pytest.raises(SystemExit) as exit_info:
        load("reflection_figure").main(["--angles", "0,40,95"])
    assert exit_info.value.code == 2
    assert "expected four angles" in capsys.readouterr().err


def test_train_circle_writes_a_side_by_side_animation(tmp_path, capsys):
    path = tmp_path / "circle.html"
    demo = load("train_circle")
    assert demo.main(["--steps", "6", "--frames", "3", "--out", str(path)]) == 0
    html = path.read_text()
    assert offline(html) and "triplet + symm" in html
    assert html.count('"name":"2"') + html.count('"name": "2"') >= 1  # animation frames by step
    assert "Recall@1" in capsys.readouterr().out
    sphere = tmp_path / "sphere.html"
    assert demo.main(["--sphere", "--steps", "2", "--frames", "2", "--out", str(sphere)]) == 0
    assert "scene2" in sphere.read_text()


def test_compare_losses_writes_tables_and_plots_per_dataset(tmp_path):
    args = ["--quick", "--steps", "2", "--seeds", "1", "--losses", "triplet",
            "--synthesis", "none,symm", "--glyph-classes", "8", "--glyph-samples", "4",
            "--p", "3", "--no-cache", "--quiet", "--out", str(tmp_path)]  # fmt: skip
    assert load("compare_losses").main(args) == 0
    for dataset in ("digits", "glyphs"):
        folder = tmp_path / dataset
        assert {p.name for p in folder.iterdir()} >= {"table.md", "table.csv", "bars.html"}
        rows = list(csv.DictReader((folder / "table.csv").open()))
        assert [(r["loss"], r["synthesis"]) for r in rows] == [
            ("triplet", "none"), ("triplet", "symm")
        ]  # fmt: skip
        assert offline((folder / "curves.html").read_text())
    summary = (tmp_path / "summary.md").read_text()
    assert "## digits" in summary and "## glyphs" in summary and "| triplet | symm |" in summary


def test_compare_losses_bad_dataset_exits_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        load("compare_losses").main(["--datasets", "mnist", "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "--datasets: choose from digits, glyphs" in capsys.readouterr().err


TINY_REPLICATION = ["--quick", "--steps", "2", "--eval-every", "1", "--losses", "triplet",
                    "--synthesis", "none,symm,ee", "--seeds", "2", "--n-classes", "8",
                    "--samples-per-class", "4", "--p", "3", "--quiet"]  # fmt: skip


def test_replicate_writes_the_report_then_rewrites_only_between_the_markers(tmp_path):
    demo = load("replicate")
    out, cache = tmp_path / "out", ["--cache-dir", str(tmp_path / "cache")]
    assert demo.main([*TINY_REPLICATION, *cache, "--out", str(out)]) == 0
    doc = out / "REPLICATION.md"  # not docs/: only the full run writes there
    text = doc.read_text()
    assert text.startswith("# Replicating Symmetrical Synthesis")
    assert "(custom settings)" in text  # --quick with overrides is not the quick preset
    assert "| triplet | none |" in text and "| triplet | symm |" in text
    assert "| triplet | 35.9 → 51.4 |" in text  # the paper's CUB R@1 beside ours
    assert "Untrained CNN (same seeds)" in text and "raw pixels" in text
    assert "| triplet | " in text.split("Embedding Expansion")[1]  # the EE table
    assert "6 runs trained, 0 loaded from the cache" in text
    assert {p.name for p in out.iterdir()} >= {"table.md", "runs.csv", "bars.html"}

    doc.write_text(f"# Mine\n\nprose before\n\n{demo.START}\nold\n{demo.END}\n\nprose after\n")
    assert demo.main([*TINY_REPLICATION, *cache, "--out", str(out)]) == 0
    text = doc.read_text()
    assert text.startswith("# Mine\n\nprose before") and text.endswith("prose after\n")
    assert "\nold\n" not in text and text.count(demo.START) == 1
    assert "0 runs trained, 6 loaded from the cache" in text


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--losses", "triplet,foo"], "unknown loss 'foo'"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--threads", "0"], "--threads must be >= 1"),
    ],
)
def test_replicate_bad_arguments_exit_2(extra, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        load("replicate").main([*TINY_REPLICATION, "--out", str(tmp_path), "--no-cache", *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_verdicts_read_the_gain_against_the_spread():
    verdict = load("replicate").verdict
    assert verdict(0.05, True, 3, 3).startswith("reproduces (")
    assert verdict(0.05, True, 2, 3).startswith("reproduces on average")
    assert verdict(0.05, False, 2, 3).startswith("same direction, within the seed spread")
    assert verdict(-0.05, True, 0, 3).startswith("reversed")
    assert verdict(-0.01, False, 1, 3).startswith("does not reproduce")
