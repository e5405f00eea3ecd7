"""Command line: ``python -m symsynth train ...`` and ``python -m symsynth compare ...``
(see ``--help`` of each).

``train`` writes into ``--out``: config.json, metrics.json (the evaluate() keys on the held-out
classes), model.pt (the model's state_dict), history.csv (loss per step, metrics at eval
steps) and checkpoint.pt (everything needed to ``--resume`` an interrupted run exactly).

``compare`` trains losses × synthesis variants × seeds on one configuration (runs are cached,
see ``symsynth.compare``) and writes into ``--out``: table.md, table.csv, runs.csv,
comparison.json and the figures bars.html, embeddings.html, curves.html (standalone, offline).
"""

from __future__ import annotations

import argparse
import ast
import csv
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from symsynth.backbones import BackboneUnavailable
from symsynth.compare import Comparison, Progress, RunCache, aggregate, run_comparison, to_markdown
from symsynth.data import DATASETS
from symsynth.data.benchmarks import BENCHMARKS
from symsynth.distributed import cleanup
from symsynth.losses import LOSSES
from symsynth.mining import warm_up
from symsynth.synthesis import METHODS
from symsynth.train import MODELS, TrainConfig, Trainer, TrainingDiverged, save_atomic, write_json


def key_value(text: str) -> tuple[str, Any]:
    """``name=value`` with value parsed as a Python literal when it is one (0.2, [0, 1], True)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m symsynth",
        description="Deep metric learning with Symmetrical Synthesis (Gu & Ko, AAAI 2020).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser(
        "train",
        help="train one configuration and evaluate it on held-out classes",
        description="Train an embedding with a pair-based loss, with or without synthesis, and "
        "write metrics.json, config.json, model.pt, history.csv and checkpoint.pt to --out.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = TrainConfig()
    t.add_argument("--dataset", default="digits", choices=DATASETS + BENCHMARKS)
    t.add_argument("--loss", default=d.loss, choices=list(LOSSES))
    t.add_argument("--synthesis", default=d.synthesis, choices=METHODS)
    t.add_argument("--seed", type=int, default=d.seed)
    add_run_arguments(t)
    t.add_argument("--eval-every", type=int, default=0, help="steps between evaluations")
    t.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints")
    t.add_argument(
        "--hparam", type=key_value, action="append", default=[], metavar="NAME=VALUE",
        help="loss hyper-parameter, e.g. margin=0.1 (repeatable)",
    )  # fmt: skip
    t.add_argument("--data-root", default=None, help="folder of cub200 / cars196 / sop")
    t.add_argument("--image-size", type=int, default=None, help="cub200 / cars196 / sop crops")
    t.add_argument("--weights", default=None, help="pretrained trunk weights (googlenet/resnet18)")
    t.add_argument("--device", default=d.device, choices=("cpu", "cuda", "auto"))
    t.add_argument("--amp", action="store_true", help="bf16 autocast on CUDA")
    t.add_argument("--compile", action="store_true", help="torch.compile the model")
    t.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_compare_parser(sub)
    return parser


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """What ``train`` and ``compare`` share: the budget, output, model, optimiser, batches, data
    options."""
    d = TrainConfig()
    parser.add_argument("--epochs", type=int, default=d.epochs)
    parser.add_argument("--max-steps", type=int, default=None, help="overrides --epochs")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--model", default=d.model, choices=MODELS)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--p", type=int, default=None, help="classes per batch (default: up to 8)")
    parser.add_argument("--k", type=int, default=d.k, help="samples per class per batch (even)")
    parser.add_argument(
        "--dataset-option", type=key_value, action="append", default=[], metavar="NAME=VALUE",
        help="dataset option, e.g. n_classes=12 (repeatable)",
    )  # fmt: skip


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list of names (spaces ignored, empty entries dropped)."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _seeds(text: str) -> tuple[int, ...]:
    """``3`` means seeds 0, 1, 2; ``4,7`` means exactly seeds 4 and 7."""
    try:
        many = "," in text
        seeds = tuple(int(s) for s in _names(text)) if many else tuple(range(int(text)))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of seeds (3) or a list of seeds (0,1,2), got {text!r}"
        ) from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds must be >= 0 and at least one, got {text!r}")
    return seeds


def add_compare_parser(sub: argparse._SubParsersAction) -> None:
    """The ``compare`` subcommand's arguments."""
    d = TrainConfig()
    c = sub.add_parser(
        "compare",
        help="train losses x synthesis variants x seeds and write the paper's table",
        description="Train every combination of --losses, --synthesis and --seeds with the same "
        "data, model, batches and budget, then write table.md, table.csv, runs.csv, "
        "comparison.json and the figures bars.html, embeddings.html and curves.html to --out. "
        "Finished runs are cached: the same configuration is never trained twice.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    c.add_argument("--dataset", default="digits", choices=DATASETS)
    c.add_argument(
        "--losses",
        type=_names,
        default="triplet,npair",
        help=f"comma-separated, from: {', '.join(LOSSES)}",
    )
    c.add_argument(
        "--synthesis",
        type=_names,
        default=",".join(METHODS),
        help=f"comma-separated, from: {', '.join(METHODS)}",
    )
    c.add_argument(
        "--seeds", type=_seeds, default="3", help="how many seeds (3: seeds 0,1,2) or a list (4,7)"
    )
    add_run_arguments(c)
    c.add_argument(
        "--eval-every",
        type=int,
        default=d.eval_every,
        help="steps between held-out evaluations (0: only at the end)",
    )
    c.add_argument(
        "--hparam", type=key_value, action="append", default=[], metavar="LOSS.NAME=VALUE",
        help="a loss's hyper-parameter, e.g. triplet.margin=0.1 (repeatable)",
    )  # fmt: skip
    c.add_argument("--cache-dir", type=Path, default=None,
                   help="where finished runs are kept (default: $SYMSYNTH_CACHE or "
                   "~/.cache/symsynth/runs)")  # fmt: skip
    c.add_argument("--no-cache", action="store_true", help="train everything, store nothing")
    c.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads per run (1: fastest on a busy machine)",
    )
    c.add_argument(
        "--figure-seed",
        type=int,
        default=None,
        help="the seed whose embeddings are drawn (default: the first)",
    )
    c.add_argument("--quiet", action="store_true", help="no progress bars")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    options = dict(args.dataset_option)
    for key in ("data_root", "image_size"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    return TrainConfig(
        dataset=args.dataset,
        dataset_options=options,
        model=args.model,
        embedding_dim=args.embedding_dim,
        loss=args.loss,
        synthesis=args.synthesis,
        hparams=dict(args.hparam),
        lr=args.lr,
        p=args.p,
        k=args.k,
        epochs=args.epochs,
        max_steps=args.max_steps,
        seed=args.seed,
        eval_every=args.eval_every,
        weights=args.weights,
        device=args.device,
        amp=args.amp,
        compile=args.compile,
    )


def _write_history(history: list[dict[str, Any]], path: Path) -> None:
    columns = sorted(
        {k for row in history for k in row}, key=lambda k: (k != "step", k != "loss", k)
    )
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)


def train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    out: Path = args.out
    checkpoint = out / "checkpoint.pt"
    if args.resume:
        if not checkpoint.exists():
            raise ValueError(f"--resume: no checkpoint at {checkpoint}; run without --resume")
        trainer = Trainer.load(checkpoint)
        if trainer.config != config:
            theirs, ours = trainer.config.to_dict(), config.to_dict()
            diff = {k: (theirs[k], ours[k]) for k in ours if theirs[k] != ours[k]}
            raise ValueError(f"--resume: the checkpoint was made with other settings {diff}")
    else:
        trainer = Trainer(config)
    main_rank = trainer.dist.is_main  # under torchrun only rank 0 writes and shows progress
    if main_rank:
        out.mkdir(parents=True, exist_ok=True)
        write_json(config.to_dict(), out / "config.json")
    desc = f"{config.loss}+{config.synthesis}"
    bar = tqdm(
        total=trainer.max_steps, initial=trainer.step_count, disable=args.quiet or not main_rank,
        desc=desc, unit="step", file=sys.stderr,
    )  # fmt: skip
    if config.synthesis != "none" and trainer.dist.device.type == "cpu":
        bar.set_description_str(f"{desc}: preparing the mining loops (~16 s once per machine)")
        warm_up()
        bar.set_description_str(desc)
    status = 0
    try:
        while not trainer.done:
            for snap in trainer.run(min(args.checkpoint_every, trainer.max_steps)):
                post = {"loss": f"{snap.loss:.4f}"}
                if snap.metrics:
                    post["R@1"] = f"{snap.metrics['recall@1']:.3f}"
                bar.set_postfix(post, refresh=False)
            bar.update(trainer.step_count - bar.n)
            trainer.save(checkpoint)
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        trainer.save(checkpoint)
        status = 1
    finally:
        bar.close()
    metrics = trainer.evaluate(full=True)
    if main_rank:
        write_json(metrics, out / "metrics.json")
        save_atomic(trainer.model.state_dict(), out / "model.pt")
        _write_history(trainer.history, out / "history.csv")
        if not args.quiet:
            print(" ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return status


SNAPSHOT_EVERY = 1_000_000  # a comparison keeps only each run's final snapshot


def comparison_from_args(args: argparse.Namespace) -> Comparison:
    """The :class:`~symsynth.compare.Comparison` that ``compare``'s arguments describe."""
    hparams: dict[str, dict[str, Any]] = {}
    for key, value in args.hparam:
        loss, dot, name = key.partition(".")
        if not dot or not loss or not name:
            raise ValueError(
                f"--hparam {key}={value}: name the loss too, as LOSS.NAME=VALUE"
                f" (e.g. triplet.margin=0.1)"
            )
        hparams.setdefault(loss, {})[name] = value
    base = TrainConfig(
        dataset=args.dataset,
        dataset_options=dict(args.dataset_option),
        model=args.model,
        embedding_dim=args.embedding_dim,
        lr=args.lr,
        p=args.p,
        k=args.k,
        epochs=args.epochs,
        max_steps=args.max_steps,
        eval_every=args.eval_every,
        snapshot_every=SNAPSHOT_EVERY,
    )
    return Comparison(base, args.losses, args.synthesis, args.seeds, hparams)


def compare(args: argparse.Namespace) -> int:
    from symsynth.viz.compare import export  # plotly only for this subcommand

    if args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    comparison = comparison_from_args(args)
    comparison.validate()
    if args.figure_seed is not None and args.figure_seed not in comparison.seeds:
        raise ValueError(
            f"--figure-seed {args.figure_seed} is not among the seeds {list(comparison.seeds)}"
        )
    cache = None if args.no_cache else RunCache(args.cache_dir)
    n_runs = len(comparison.configs())
    overall = tqdm(total=n_runs, disable=args.quiet, desc="runs", unit="run", file=sys.stderr)
    current = tqdm(total=1, disable=args.quiet, unit="step", leave=False, file=sys.stderr)
    started = [-1]  # the run the inner bar shows

    def progress(p: Progress) -> None:
        c = p.config
        if p.run != started[0]:
            started[0] = p.run
            current.reset(total=p.steps)
            current.set_description(f"{c.loss}+{c.synthesis} seed {c.seed}", refresh=False)
        current.update(p.step - current.n)
        if p.finished:
            overall.set_postfix({"last": "cached" if p.cached else "trained"}, refresh=False)
            overall.update(1)

    try:
        result = run_comparison(comparison, cache, progress, threads=args.threads)
    finally:
        current.close()
        overall.close()
    written = export(result, args.out, args.figure_seed)
    if not args.quiet:
        print(to_markdown(aggregate(result.runs)))
        print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return compare(args) if args.command == "compare" else train(args)
    except (ValueError, BackboneUnavailable) as err:  # bad settings or data: no traceback
        parser.exit(2, f"error: {err}\n")
    finally:
        cleanup()  # leaves the process group under torchrun; nothing otherwise
