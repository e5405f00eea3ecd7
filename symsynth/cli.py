"""Command line: ``python -m symsynth train ...`` (see ``--help``).

Writes into ``--out``: config.json, metrics.json (the evaluate() keys on the held-out
classes), model.pt (the model's state_dict), history.csv (loss per step, metrics at eval
steps) and checkpoint.pt (everything needed to ``--resume`` an interrupted run exactly).
"""

from __future__ import annotations

import argparse
import ast
import csv
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from symsynth.data import DATASETS
from symsynth.losses import LOSSES
from symsynth.synthesis import METHODS
from symsynth.train import MODELS, TrainConfig, Trainer, TrainingDiverged, save_atomic, write_json


def _key_value(text: str) -> tuple[str, Any]:
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
    t.add_argument("--dataset", default="digits", choices=DATASETS)
    t.add_argument("--loss", default=d.loss, choices=list(LOSSES))
    t.add_argument("--synthesis", default=d.synthesis, choices=METHODS)
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--max-steps", type=int, default=None, help="overrides --epochs")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--out", type=Path, required=True, help="output folder (created)")
    t.add_argument("--model", default=d.model, choices=MODELS)
    t.add_argument("--embedding-dim", type=int, default=64)
    t.add_argument("--lr", type=float, default=0.001)
    t.add_argument("--p", type=int, default=None, help="classes per batch (default: up to 8)")
    t.add_argument("--k", type=int, default=d.k, help="samples per class per batch (even)")
    t.add_argument("--eval-every", type=int, default=0, help="steps between evaluations")
    t.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints")
    t.add_argument(
        "--hparam", type=_key_value, action="append", default=[], metavar="NAME=VALUE",
        help="loss hyper-parameter, e.g. margin=0.1 (repeatable)",
    )  # fmt: skip
    t.add_argument(
        "--dataset-option", type=_key_value, action="append", default=[], metavar="NAME=VALUE",
        help="dataset option, e.g. n_classes=12 (repeatable)",
    )  # fmt: skip
    t.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        dataset=args.dataset,
        dataset_options=dict(args.dataset_option),
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
    out.mkdir(parents=True, exist_ok=True)
    write_json(config.to_dict(), out / "config.json")
    bar = tqdm(
        total=trainer.max_steps, initial=trainer.step_count, disable=args.quiet,
        desc=f"{config.loss}+{config.synthesis}", unit="step", file=sys.stderr,
    )  # fmt: skip
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
    write_json(metrics, out / "metrics.json")
    save_atomic(trainer.model.state_dict(), out / "model.pt")
    _write_history(trainer.history, out / "history.csv")
    if not args.quiet:
        print(" ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    try:
        return train(args)
    except ValueError as err:  # bad settings or data: say what, no traceback
        parser.exit(2, f"error: {err}\n")
