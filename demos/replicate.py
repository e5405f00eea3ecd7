"""The paper's Table 1 at laptop scale: five losses × none / Symm / EE × seeds on the glyphs.

Gu & Ko (AAAI 2020) report that Symmetrical Synthesis improves every pair-based loss on
CUB-200-2011, Cars196 and Stanford Online Products. This script asks the same question of a
small CNN on the procedural glyph set (200 classes: the first 100 train, the last 100 are the
unseen test classes, like CUB's split), with every cell trained on the same data, model
initialisation, batches and budget, and several seeds so that a gain can be weighed against
the seed-to-seed spread. It writes a Markdown report (our table beside the paper's numbers,
and which gains reproduce) plus the comparison's table, CSV and figures.

    python demos/replicate.py                 # the full run (time: see docs/REPLICATION.md)
    python demos/replicate.py --quick         # a reduced run for class, under 5 minutes

The full run rewrites the generated part of docs/REPLICATION.md (between the ``replicate``
markers; text around them is kept) and writes its files to runs/replicate/; other runs write
REPLICATION.md and their files to runs/replicate-quick/ or runs/replicate-custom/ (``--out``).
Finished cells are cached (see ``symsynth.compare``), so a second run only re-renders.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout, not installed

from symsynth.compare import (  # noqa: E402
    Comparison,
    Progress,
    RunCache,
    aggregate,
    code_fingerprint,
    run_comparison,
    to_markdown,
)
from symsynth.metrics import evaluate  # noqa: E402
from symsynth.train import TrainConfig, Trainer  # noqa: E402
from symsynth.viz.compare import export  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAPER_LOSSES = ("triplet", "semihard_triplet", "npair", "angular", "lifted")
START, END = "<!-- replicate:start -->", "<!-- replicate:end -->"

# Gu & Ko (AAAI 2020), CUB-200-2011, GoogLeNet, 512-D, in % (as restated in PAPER.md).
PAPER_COLUMNS = ("nmi", "f1", "recall@1", "recall@2", "recall@4", "recall@8")
PAPER_CUB = {
    ("triplet", "none"): (49.8, 15.0, 35.9, 47.7, 59.1, 70.0),
    ("triplet", "symm"): (59.6, 26.2, 51.4, 63.0, 74.4, 84.1),
    ("semihard_triplet", "none"): (53.4, 17.9, 40.6, 52.3, 64.2, 75.0),
    ("semihard_triplet", "symm"): (63.3, 32.1, 55.0, 67.3, 77.5, 86.0),
    ("npair", "none"): (60.2, 28.2, 51.9, 64.3, 74.9, 83.2),
    ("npair", "symm"): (63.6, 32.5, 55.9, 67.6, 78.3, 86.2),
    ("angular", "none"): (61.0, 30.2, 53.6, 65.0, 75.3, 83.7),
    ("angular", "symm"): (62.3, 30.5, 54.9, 66.9, 77.3, 86.0),
    ("lifted", "none"): (56.4, 22.6, 46.9, 59.8, 71.2, 81.5),
    ("lifted", "symm"): (62.1, 28.7, 54.9, 66.4, 76.4, 85.3),
}
# R@1 on the two other data sets, baseline → Symm.
PAPER_R1 = {
    "cars": {"triplet": (45.1, 69.7), "semihard_triplet": (53.2, 68.5), "npair": (68.9, 76.5),
             "angular": (71.3, 75.5), "lifted": (59.9, 66.6)},
    "sop": {"triplet": (53.9, 65.7), "semihard_triplet": (57.8, 68.5), "npair": (66.4, 73.2),
            "angular": (67.9, 73.1), "lifted": (62.6, 72.3)},
}  # fmt: skip

# Budgets. "full" is what docs/REPLICATION.md reports; "quick" is the classroom version.
SETTINGS = {
    "full": {
        "losses": PAPER_LOSSES,
        "synthesis": ("none", "symm", "ee"),
        "seeds": 3,
        "steps": 300,
        "eval_every": 100,
        "n_classes": 200,
        "samples_per_class": 40,
    },
    "quick": {
        "losses": ("triplet", "npair"),
        "synthesis": ("none", "symm", "ee"),
        "seeds": 3,
        "steps": 80,
        "eval_every": 40,
        "n_classes": 100,
        "samples_per_class": 24,
    },
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python demos/replicate.py",
        description="The paper's Table 1 at laptop scale on the glyph set (class-disjoint "
        "split): losses x none/symm/ee x seeds, one budget; writes a report with our table "
        "beside the paper's CUB numbers.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="reduced run, under 5 minutes")
    parser.add_argument("--losses", help="comma-separated (default: the paper's five)")
    parser.add_argument("--synthesis", help="comma-separated (default: none,symm,ee)")
    parser.add_argument("--seeds", type=int, help="number of seeds (default: 3)")
    parser.add_argument("--steps", type=int, help="optimiser steps per run (full: 300)")
    parser.add_argument("--eval-every", type=int, help="steps between held-out evaluations")
    parser.add_argument("--n-classes", type=int, help="glyph classes, half train half test")
    parser.add_argument("--samples-per-class", type=int, help="glyph images per class")
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--p", type=int, default=16, help="classes per batch")
    parser.add_argument("--k", type=int, default=4, help="images per class per batch (even)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the table, CSV and figures (default: runs/replicate, or"
        " runs/replicate-quick, runs/replicate-custom)",
    )
    parser.add_argument("--doc", type=Path, default=None,
                        help="report to write (default: docs/REPLICATION.md for the full run, "
                        "OUT/REPLICATION.md otherwise)")  # fmt: skip
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="run cache (default: $SYMSYNTH_CACHE or ~/.cache/...)",
    )
    parser.add_argument("--no-cache", action="store_true", help="train every cell afresh")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def settings_from_args(args: argparse.Namespace) -> tuple[str, dict]:
    """The mode name ("full", "quick" or "custom") and its settings after the overrides."""
    mode = "quick" if args.quick else "full"
    settings = dict(SETTINGS[mode])
    overrides = {
        "losses": tuple(s.strip() for s in args.losses.split(",")) if args.losses else None,
        "synthesis": tuple(s.strip() for s in args.synthesis.split(","))
        if args.synthesis
        else None,
        "seeds": args.seeds,
        "steps": args.steps,
        "eval_every": args.eval_every,
        "n_classes": args.n_classes,
        "samples_per_class": args.samples_per_class,
    }
    changed = {k: v for k, v in overrides.items() if v is not None and v != settings[k]}
    settings.update(changed)
    if changed:
        mode = "custom"
    if settings["seeds"] < 1:
        raise ValueError(f"--seeds must be >= 1, got {settings['seeds']}")
    return mode, settings


def make_comparison(settings: dict, args: argparse.Namespace) -> Comparison:
    base = TrainConfig(
        dataset="glyphs",
        dataset_options={
            "n_classes": settings["n_classes"],
            "samples_per_class": settings["samples_per_class"],
        },
        model="cnn",
        embedding_dim=args.embedding_dim,
        lr=args.lr,
        p=args.p,
        k=args.k,
        max_steps=settings["steps"],
        eval_every=settings["eval_every"],
        snapshot_every=settings["steps"],  # only the final snapshot is kept
    )
    return Comparison(
        base,
        losses=settings["losses"],
        synthesis=settings["synthesis"],
        seeds=tuple(range(settings["seeds"])),
    )


def untrained_scores(comparison: Comparison) -> dict[str, tuple[float, float]]:
    """The metrics of the untrained CNN (each seed's initialisation and data), mean and std."""
    scores = []
    for seed in comparison.seeds:
        config = comparison.configs()[0]
        trainer = Trainer(TrainConfig.from_dict({**config.to_dict(), "seed": seed}))
        scores.append(trainer.evaluate(full=True))
    return {
        m: (float(np.mean([s[m] for s in scores])), float(np.std([s[m] for s in scores], ddof=1)))
        if len(scores) > 1
        else (scores[0][m], float("nan"))
        for m in scores[0]
    }


def raw_pixel_scores(comparison: Comparison) -> dict[str, float]:
    """Nearest neighbours on the raw pixels of the first seed's test classes (no network)."""
    trainer = Trainer(comparison.configs()[0])
    test = trainer.data.test
    return evaluate(test.x.flatten(1), test.y)


def code_version() -> str:
    """The git commit of this checkout (and whether symsynth/ had uncommitted changes), with
    the training-code fingerprint the run cache uses."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "symsynth"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        commit = f"commit {head}" + (" with uncommitted changes in symsynth/" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        commit = "no git checkout"
    return f"{commit}; training-code fingerprint {code_fingerprint()}"


def verdict(gain: float, beyond: bool, wins: int, n: int) -> str:
    """How our R@1 gain reads next to the paper's (always positive) gain."""
    if gain > 0 and beyond and wins == n:
        return "reproduces (gain beyond the seed spread, every seed)"
    if gain > 0 and beyond:
        return f"reproduces on average (beyond the spread, {wins}/{n} seeds)"
    if gain > 0:
        return f"same direction, within the seed spread ({wins}/{n} seeds)"
    if beyond:
        return f"reversed (loss beyond the seed spread, {wins}/{n} seeds better)"
    return f"does not reproduce (no gain; {wins}/{n} seeds better)"


def _fmt(mean: float, std: float) -> str:
    return f"{100 * mean:.1f} ± {100 * std:.1f}" if np.isfinite(std) else f"{100 * mean:.1f}"


def report(
    mode: str,
    settings: dict,
    comparison: Comparison,
    rows,
    untrained: dict,
    raw: dict,
    timing: dict,
    out: Path,
) -> str:
    """The generated part of REPLICATION.md."""
    base = comparison.base
    by_key = {(r.loss, r.synthesis): r for r in rows}
    n_seeds = len(comparison.seeds)
    lines = [
        f"_Generated by `python demos/replicate.py{' --quick' if mode == 'quick' else ''}`"
        f" ({mode} settings) on {timing['date']}. Do not edit between the markers; rerun the"
        " script._",
        "",
        "### Setting",
        "",
        f"- Data: `glyphs`, {settings['n_classes']} classes × {settings['samples_per_class']}"
        f" images (28×28); classes 0–{settings['n_classes'] // 2 - 1} train, the other"
        f" {settings['n_classes'] - settings['n_classes'] // 2} are the unseen test classes"
        " (class-disjoint, like CUB's 100/100). The data set is generated from the seed, so"
        " each seed also draws new glyph classes.",
        f"- Model: the small CNN (`model=cnn`), {base.embedding_dim}-D L2-normalised"
        f" embedding; Adam, lr {base.lr:g}; batches of P×K = {base.p}×{base.k} (pairs of one"
        f" class in consecutive rows); {settings['steps']} steps per run; losses with their"
        " symsynth defaults (triplet margin 0.2 etc.; N-pair with the reference code's 0.002 L2"
        " penalty; angular 45°; lifted structure margin 1).",
        f"- Cells: {len(comparison.losses)} losses × {len(comparison.synthesis)} synthesis"
        f" variants ({', '.join(comparison.synthesis)}) × {n_seeds} seeds"
        f" ({', '.join(map(str, comparison.seeds))}) = {len(comparison.configs())} runs."
        " Within a seed every cell sees the same data, initial weights and batches.",
        "- Metrics: `symsynth.metrics.evaluate` on the whole test split after training"
        " (Recall@K with the query excluded, NMI and F1 of K-means with K = number of test"
        " classes, MAP@R; precision@1 equals R@1 here by definition).",
        f"- Time: {timing['wall'] / 60:.1f} min wall-clock for this invocation"
        f" ({timing['trained']} runs trained, {timing['cached']} loaded from the cache); the"
        f" {len(comparison.configs())} runs took {timing['run_total'] / 60:.1f} min of"
        f" training and evaluation in total ({timing['run_mean']:.0f} s per run on average,"
        f" {timing['run_min']:.0f}–{timing['run_max']:.0f} s), on {timing['machine']}.",
        "",
        "### Our table (test classes, %)",
        "",
        "Untrained CNN (same seeds): "
        + ", ".join(f"{k} {_fmt(*untrained[m])}" for k, m in _SHORT)
        + ". Nearest neighbours on raw pixels (seed 0): "
        + ", ".join(f"{k} {100 * raw[m]:.1f}" for k, m in _SHORT)
        + ".",
        "",
        to_markdown(rows).rstrip(),
        "",
        "### Beside the paper (CUB-200-2011, GoogLeNet, %)",
        "",
        "The paper's gain of Symm over each baseline next to ours (mean over seeds;"
        " ✓ = beyond the seed-to-seed spread; w/n = seeds on which Symm beat the baseline).",
        "",
        "| loss | R@1 paper | R@1 ours | ΔR@1 paper | ΔR@1 ours | ΔNMI paper | ΔNMI ours |"
        " ΔF1 paper | ΔF1 ours | ΔMAP@R ours | reading (R@1) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for loss in comparison.losses:
        paper_base = PAPER_CUB.get((loss, "none"))
        paper_symm = PAPER_CUB.get((loss, "symm"))
        ours_base, ours_symm = by_key.get((loss, "none")), by_key.get((loss, "symm"))
        if ours_base is None or ours_symm is None:
            continue

        def paper_delta(metric: str, pb=paper_base, ps=paper_symm) -> str:
            if pb is None:
                return "—"
            i = PAPER_COLUMNS.index(metric)
            return f"{ps[i] - pb[i]:+.1f}"

        def ours_delta(metric: str, row=ours_symm) -> str:
            mark = " ✓" if row.beyond_spread[metric] else ""
            return f"{100 * row.gain[metric]:+.1f}{mark} ({row.wins[metric]}/{len(row.seeds)})"

        paper_r1 = "—" if paper_base is None else f"{paper_base[2]:.1f} → {paper_symm[2]:.1f}"
        ours_r1 = f"{100 * ours_base.mean['recall@1']:.1f} → {100 * ours_symm.mean['recall@1']:.1f}"
        reading = verdict(
            ours_symm.gain["recall@1"],
            ours_symm.beyond_spread["recall@1"],
            ours_symm.wins["recall@1"],
            len(ours_symm.seeds),
        )
        lines.append(
            f"| {loss} | {paper_r1} | {ours_r1} | {paper_delta('recall@1')} |"
            f" {ours_delta('recall@1')} | {paper_delta('nmi')} | {ours_delta('nmi')} |"
            f" {paper_delta('f1')} | {ours_delta('f1')} | {ours_delta('map@r')} | {reading} |"
        )
    ee_rows = [by_key[(loss, "ee")] for loss in comparison.losses if (loss, "ee") in by_key]
    ee_rows = [r for r in ee_rows if r.gain]
    if ee_rows:
        lines += [
            "",
            "Embedding Expansion (interpolation instead of reflection, same mining) against the"
            " same baselines, R@1 / MAP@R (PAPER.md records no EE numbers for this table):",
            "",
            "| loss | ΔR@1 EE | ΔR@1 Symm | ΔMAP@R EE | ΔMAP@R Symm |",
            "|---|---|---|---|---|",
        ]
        for r in ee_rows:
            symm = by_key.get((r.loss, "symm"))

            def d(row, m: str) -> str:
                if row is None or not row.gain:
                    return "—"
                mark = " ✓" if row.beyond_spread[m] else ""
                return f"{100 * row.gain[m]:+.1f}{mark} ({row.wins[m]}/{len(row.seeds)})"

            lines.append(
                f"| {r.loss} | {d(r, 'recall@1')} | {d(symm, 'recall@1')} |"
                f" {d(r, 'map@r')} | {d(symm, 'map@r')} |"
            )
    lines += [
        "",
        "The paper's R@1 on its other two data sets, baseline → Symm: "
        + "; ".join(
            f"{loss}: Cars {PAPER_R1['cars'][loss][0]} → {PAPER_R1['cars'][loss][1]},"
            f" SOP {PAPER_R1['sop'][loss][0]} → {PAPER_R1['sop'][loss][1]}"
            for loss in comparison.losses
            if loss in PAPER_R1["cars"]
        )
        + ".",
        "",
        f"Files: `{_display(out)}/` holds table.md, table.csv, runs.csv (every run's metrics"
        " and time), comparison.json and the figures bars.html, curves.html, embeddings.html"
        " (open offline).",
        f"Code: {timing['code']}.",
    ]
    return "\n".join(lines)


_SHORT = (("R@1", "recall@1"), ("R@8", "recall@8"), ("NMI", "nmi"), ("MAP@R", "map@r"))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def write_report(doc: Path, generated: str) -> None:
    """Replace the text between the markers in ``doc`` (create the file if needed)."""
    block = f"{START}\n{generated}\n{END}"
    if doc.exists() and START in doc.read_text() and END in doc.read_text():
        text = doc.read_text()
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        doc.write_text(head + block + tail)
        return
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(
        "# Replicating Symmetrical Synthesis at laptop scale\n\n"
        "Generated by `demos/replicate.py`.\n\n" + block + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        mode, settings = settings_from_args(args)
        comparison = make_comparison(settings, args)
        comparison.validate()
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)  # also for the untrained and raw-pixel baselines
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    out: Path = args.out or ROOT / "runs" / ("replicate" if mode == "full" else f"replicate-{mode}")
    doc = args.doc or (
        ROOT / "docs" / "REPLICATION.md" if mode == "full" else out / "REPLICATION.md"
    )
    cache = None if args.no_cache else RunCache(args.cache_dir)
    n_runs = len(comparison.configs())
    code = code_version()  # before training: the code the runs are made with
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    bar = tqdm(total=n_runs, desc="runs", unit="run", disable=args.quiet, file=sys.stderr)

    def progress(p: Progress) -> None:
        c = p.config
        bar.set_postfix_str(f"{c.loss}+{c.synthesis} seed {c.seed}: step {p.step}/{p.steps}")
        if p.finished:
            bar.update(1)

    try:
        result = run_comparison(comparison, cache, progress, threads=args.threads)
    except ValueError as err:  # e.g. a batch asking for more classes than the data has
        parser.exit(2, f"error: {err}\n")
    finally:
        bar.close()
    untrained = untrained_scores(comparison)
    raw = raw_pixel_scores(comparison)
    wall = time.perf_counter() - start
    rows = aggregate(result.runs)
    seconds = [r.seconds for r in result.runs]
    timing = {
        "date": datetime.date.today().isoformat(),
        "code": code,
        "wall": wall,
        "trained": sum(not r.cached for r in result.runs),
        "cached": sum(r.cached for r in result.runs),
        "run_total": sum(seconds),
        "run_mean": float(np.mean(seconds)),
        "run_min": min(seconds),
        "run_max": max(seconds),
        "machine": f"{os.cpu_count()} CPU cores ({platform.machine()}), torch"
        f" {torch.__version__} with {args.threads} thread(s) per run, load average"
        f" {load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at the end (a shared"
        " machine)",
    }
    export(result, out)
    write_report(doc, report(mode, settings, comparison, rows, untrained, raw, timing, out))
    if not args.quiet:
        print(to_markdown(rows))
        print(f"wrote {doc} and {out}/ in {wall / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
