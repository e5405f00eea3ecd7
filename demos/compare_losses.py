"""Compare losses with and without synthesis on the digits and on the glyphs.

For each data set: every loss × synthesis variant × seed is trained with the same data, model
initialisation, batches and budget (``symsynth.compare``), then the paper's table (mean ± std
over seeds, the best variant per loss in bold, each variant's gain over its baseline and
whether it exceeds the seed-to-seed spread) is written as Markdown and CSV with three offline
figures: grouped bars with error bars, the held-out embeddings of every run, and the training
curves. A summary.md puts both tables on one page.

    python demos/compare_losses.py                  # triplet and N-pair, 3 seeds (~15 min)
    python demos/compare_losses.py --quick          # 2 seeds, short runs, small glyph set
    python demos/compare_losses.py --losses triplet,lifted --datasets digits --steps 300

Digits: scikit-learn's 8×8 digits, trained on 0-4 and tested on the unseen 5-9. Glyphs: the
procedural glyph set, first half of the classes for training, second half for testing.
Finished runs are cached, so running it twice only redraws.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout, not installed

from symsynth.compare import Comparison, Progress, RunCache, run_comparison  # noqa: E402
from symsynth.train import TrainConfig  # noqa: E402
from symsynth.viz.compare import export  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("digits", "glyphs")
FULL = {"seeds": 3, "steps": 300, "glyph_classes": 100, "glyph_samples": 30}
QUICK = {"seeds": 2, "steps": 60, "glyph_classes": 40, "glyph_samples": 16}


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python demos/compare_losses.py",
        description="Losses x none/symm/ee x seeds on the digits and the glyphs: the paper's "
        "table (Markdown, CSV) and plots (offline HTML) for each data set.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="2 seeds, 60 steps, 40 glyphs")
    parser.add_argument("--datasets", type=_names, default="digits,glyphs")
    parser.add_argument("--losses", type=_names, default="triplet,npair")
    parser.add_argument("--synthesis", type=_names, default="none,symm,ee")
    parser.add_argument("--seeds", type=int, help="number of seeds (full: 3)")
    parser.add_argument("--steps", type=int, help="optimiser steps per run (full: 300)")
    parser.add_argument("--glyph-classes", type=int, help="glyph classes (full: 100)")
    parser.add_argument("--glyph-samples", type=int, help="images per glyph class (full: 30)")
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--p", type=int, default=None, help="classes per batch (None: up to 8)")
    parser.add_argument("--k", type=int, default=4, help="images per class per batch (even)")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "compare-losses")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="run cache (default: ~/.cache/symsynth/runs)"
    )
    parser.add_argument("--no-cache", action="store_true", help="train every cell afresh")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per run")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def comparisons(args: argparse.Namespace) -> dict[str, Comparison]:
    """One comparison per data set, from the arguments (ValueError names a bad value)."""
    preset = QUICK if args.quick else FULL
    seeds = args.seeds if args.seeds is not None else preset["seeds"]
    steps = args.steps if args.steps is not None else preset["steps"]
    if seeds < 1 or steps < 1:
        raise ValueError(f"--seeds and --steps must be >= 1, got {seeds} and {steps}")
    unknown = [d for d in args.datasets if d not in DATASETS]
    if unknown or not args.datasets:
        raise ValueError(f"--datasets: choose from {', '.join(DATASETS)}, got {args.datasets}")
    options = {
        "digits": {},
        "glyphs": {
            "n_classes": args.glyph_classes or preset["glyph_classes"],
            "samples_per_class": args.glyph_samples or preset["glyph_samples"],
        },
    }
    result = {}
    for dataset in args.datasets:
        base = TrainConfig(
            dataset=dataset,
            dataset_options=options[dataset],
            model="cnn",
            embedding_dim=args.embedding_dim,
            lr=args.lr,
            p=args.p,
            k=args.k,
            max_steps=steps,
            eval_every=max(1, steps // 6),
            snapshot_every=steps,  # a comparison keeps only the final snapshot
        )
        cmp = Comparison(base, args.losses, args.synthesis, tuple(range(seeds)))
        cmp.validate()
        result[dataset] = cmp
    return result


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {args.threads}")
        plan = comparisons(args)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    cache = None if args.no_cache else RunCache(args.cache_dir)
    total = sum(len(c.configs()) for c in plan.values())
    bar = tqdm(total=total, desc="runs", unit="run", disable=args.quiet, file=sys.stderr)
    start = time.perf_counter()
    summary = ["# Loss comparison: digits and glyphs", ""]
    for dataset, cmp in plan.items():

        def progress(p: Progress, dataset=dataset) -> None:
            c = p.config
            bar.set_postfix_str(
                f"{dataset} {c.loss}+{c.synthesis} seed {c.seed}: {p.step}/{p.steps}"
            )
            if p.finished:
                bar.update(1)

        try:
            result = run_comparison(cmp, cache, progress, threads=args.threads)
        except ValueError as err:  # e.g. a batch asking for more classes than the data has
            bar.close()
            parser.exit(2, f"error: {err}\n")
        export(result, args.out / dataset)
        base = cmp.base
        opts = ", ".join(f"{k}={v}" for k, v in base.dataset_options.items()) or "defaults"
        summary += [
            f"## {dataset}",
            "",
            f"{dataset} ({opts}),"
            f" CNN with {base.embedding_dim}-D embedding, lr {base.lr:g}, {base.max_steps} steps,"
            f" seeds {', '.join(map(str, cmp.seeds))}; metrics on the unseen test classes."
            f" Figures: `{dataset}/bars.html`, `{dataset}/curves.html`,"
            f" `{dataset}/embeddings.html`.",
            "",
            (args.out / dataset / "table.md").read_text(),
        ]
    bar.close()
    minutes = (time.perf_counter() - start) / 60
    summary.append(f"Wall-clock time of this invocation: {minutes:.1f} min.\n")
    (args.out / "summary.md").write_text("\n".join(summary))
    if not args.quiet:
        print("\n".join(summary))
    print(f"wrote {args.out}/summary.md and one folder per data set")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
