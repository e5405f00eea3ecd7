"""Baseline and Symm training side by side, on the circle (or the sphere), as one offline HTML.

Two runs with the same data, initial weights and batches, one with the plain loss and one with
Symmetrical Synthesis, recorded as snapshots (``symsynth.train.Trainer``) and replayed in step
with one Play button: held-out classes (coloured dots) pulling apart, each batch's positive
pairs, its synthetic points (red, dashed) and the negative pair each point mined (red when a
synthetic point was chosen). The page also states both runs' final metrics on the held-out
classes, measured by ``symsynth.metrics``.

    python demos/train_circle.py --out circle.html           # 8 blobs in the plane -> circle
    python demos/train_circle.py --sphere --out sphere.html
    python demos/train_circle.py --loss npair --synthesis ee --steps 400
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # a checkout, not installed

from symsynth.cli import key_value  # noqa: E402
from symsynth.data import DATASETS  # noqa: E402
from symsynth.losses import LOSSES  # noqa: E402
from symsynth.synthesis import METHODS  # noqa: E402
from symsynth.train import TrainConfig, Trainer  # noqa: E402
from symsynth.viz import FixedProjection, frame_from_snapshot, history_figure  # noqa: E402
from symsynth.viz.compare import html_page, side_by_side_replay  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CIRCLE = {"dataset": "blobs", "dim": 2, "options": {}}
SPHERE = {"dataset": "blobs", "dim": 3, "options": {"dim": 3, "n_classes": 12}}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python demos/train_circle.py",
        description="Train a baseline and a synthesis variant with the same seed and write "
        "both runs as one side-by-side animation (standalone HTML, opens offline).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--sphere",
        action="store_true",
        help="3-D: 12 Gaussian blobs in 3-D, embedded on the unit sphere",
    )
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="instead of the toy (the embedding stays 2-D or 3-D)",
    )
    parser.add_argument(
        "--option",
        type=key_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="dataset option (repeatable)",
    )
    parser.add_argument("--loss", choices=list(LOSSES), default="triplet")
    parser.add_argument(
        "--synthesis",
        choices=[m for m in METHODS if m != "none"],
        default="symm",
        help="the variant shown beside the baseline",
    )
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--frames", type=int, default=60, help="animation frames (at most)")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--p", type=int, default=4, help="classes per batch")
    parser.add_argument("--k", type=int, default=2, help="points per class per batch (even)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "demos" / "circle.html")
    return parser


def record(config: TrainConfig) -> tuple[Trainer, list]:
    """Train ``config`` to its end and return the trainer and all its snapshots."""
    trainer = Trainer(config)
    snapshots = []
    while not trainer.done:
        snapshots += trainer.run(100)
    return trainer, snapshots


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    toy = SPHERE if args.sphere else CIRCLE
    options = dict(args.option) if args.dataset else {**toy["options"], **dict(args.option)}
    if args.steps < 1 or args.frames < 1:
        parser.exit(
            2, f"error: --steps and --frames must be >= 1, got {args.steps}, {args.frames}\n"
        )
    base = TrainConfig(
        dataset=args.dataset or toy["dataset"],
        dataset_options=options,
        embedding_dim=toy["dim"],
        loss=args.loss,
        synthesis="none",
        lr=args.lr,
        p=args.p,
        k=args.k,
        max_steps=args.steps,
        seed=args.seed,
        eval_every=max(1, args.steps // 10),
        snapshot_every=max(1, args.steps // args.frames),
    )
    variant = TrainConfig.from_dict({**base.to_dict(), "synthesis": args.synthesis})
    torch.set_num_threads(1)
    try:
        (plain, plain_snaps), (synth, synth_snaps) = record(base), record(variant)
    except ValueError as err:  # bad dataset options, a batch larger than the data, ...
        parser.exit(2, f"error: {err}\n")
    frames = []
    for snaps in (plain_snaps, synth_snaps):
        projection = FixedProjection(toy["dim"])
        frames.append([frame_from_snapshot(s, projection) for s in snaps])
    names = (args.loss, f"{args.loss} + {args.synthesis}")
    scores = [t.evaluate(full=True) for t in (plain, synth)]
    summary = "; ".join(
        f"{name}: Recall@1 {m['recall@1']:.3f}, MAP@R {m['map@r']:.3f}, NMI {m['nmi']:.3f}"
        for name, m in zip(names, scores, strict=True)
    )
    intro = (
        f"{base.dataset} ({', '.join(f'{k}={v}' for k, v in options.items()) or 'defaults'}),"
        f" {toy['dim']}-D embedding, {args.steps} steps, seed {args.seed}; both runs see the"
        f" same data, initial weights and batches. Press Play.\n\n"
        f"Final metrics on the held-out classes (one seed, so no claim about the methods): "
        f"{summary}."
    )

    def curves(trainer: Trainer, snaps: list):
        evals = [row for row in trainer.history if "recall@1" in row]
        return history_figure(
            steps=[row["step"] for row in trainer.history],
            losses=[row["loss"] for row in trainer.history],
            eval_steps=[row["step"] for row in evals],
            recall_at_1=[row["recall@1"] for row in evals],
            map_at_r=[row["map@r"] for row in evals],
            share_steps=[s.step for s in snaps],
            synthetic_share=[s.synthetic_share for s in snaps],
        )

    figures = [
        (f"{names[0]} (left) and {names[1]} (right)",
         side_by_side_replay(frames[0], frames[1], titles=names)),
        (f"{names[0]}: loss, held-out Recall@1 / MAP@R", curves(plain, plain_snaps)),
        (f"{names[1]}: loss, held-out Recall@1 / MAP@R, synthetic share of mined negatives",
         curves(synth, synth_snaps)),
    ]  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(html_page(figures, "Baseline vs synthesis, step by step", intro))
    print(summary)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
