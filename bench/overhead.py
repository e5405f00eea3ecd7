"""What synthesis costs: forward+backward time of every loss with none / symm / ee.

All figures are ratios against a baseline timed in the same run, interleaved round by round so
that machine noise hits both sides alike:
  - each loss with symm / ee against the same loss without synthesis;
  - symm with the batched torch ops instead of the compiled CPU loops (what other devices run);
  - symm with materialised points (the explicit (B+S)×(B+S) Gram path) against the same baseline,
    to show what the Gram-matrix path saves;
  - our baseline against pytorch-metric-learning's equivalent (loss, plus miner for semi-hard);
  - one full training step of the small CNN on digits, symm against none.

    python bench/overhead.py                 # prints the tables and rewrites docs/PERFORMANCE.md
    python bench/overhead.py --quick         # fewer repeats, no file written
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from docs_block import PERFORMANCE, write_block  # noqa: E402

from symsynth import mining  # noqa: E402
from symsynth.losses import LOSSES, build_loss  # noqa: E402
from symsynth.losses.npair import NPairLoss  # noqa: E402
from symsynth.mining import mine  # noqa: E402
from symsynth.train import TrainConfig, Trainer  # noqa: E402
from tests.pml_reference import pml_loss  # noqa: E402


def batch(b: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A P×2 batch of raw embeddings (one pair per class, as the sampler yields at K = 2)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, d, generator=g), torch.arange(b // 2).repeat_interleave(2)


def fwd_bwd(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], e, y) -> Callable[[], None]:
    def call() -> None:
        x = e.detach().requires_grad_()
        fn(x, y).backward()

    return call


def compare(calls: dict[str, Callable[[], None]], rounds: int, inner: int) -> dict[str, float]:
    """Median seconds per call of each callable, measured in interleaved rounds."""
    for call in calls.values():  # warm up
        call()
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                call()
            times[name].append((time.perf_counter() - t0) / inner)
    return {k: statistics.median(v) for k, v in times.items()}


class Explicit(torch.nn.Module):
    """A loss whose mining materialises the synthetic points (the slow, obvious path)."""

    def __init__(self, loss: torch.nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, e, y):
        e = self.loss.prepare(e, y)
        lf = self.loss
        mined = mine(e, y, lf.synthesis, lf.mode, lf.metric, lf.alpha, lf.beta, lf.n_inner, True)
        score = mined.score[0::2, 1::2] if isinstance(lf, NPairLoss) else mined.score  # a·pᵀ
        return lf.compute(score, y, e)


def batched_ops(loss: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss`` with mining's batched torch ops instead of the compiled CPU loops."""

    def call(e, y):
        mining.USE_LOOPS = False
        try:
            return loss(e, y)
        finally:
            mining.USE_LOOPS = True

    return call


def loss_table(sizes, rounds: int, inner: int) -> list[str]:
    rows = [
        "| loss | B | D | baseline ms | symm × | ee × | symm, torch ops × |"
        " symm, explicit points × | PML ms | ours / PML |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in LOSSES:
        for b, d in sizes:
            e, y = batch(b, d)
            calls = {
                "none": fwd_bwd(build_loss(name), e, y),
                "symm": fwd_bwd(build_loss(name, "symm"), e, y),
                "ee": fwd_bwd(build_loss(name, "ee"), e, y),
                "batched": fwd_bwd(batched_ops(build_loss(name, "symm")), e, y),
                "explicit": fwd_bwd(Explicit(build_loss(name, "symm")), e, y),
                "pml": fwd_bwd(lambda x, t, n=name: pml_loss(n, x, t), e, y),
            }
            t = compare(calls, rounds, inner)
            base = t["none"]
            rows.append(
                f"| {name} | {b} | {d} | {1e3 * base:.2f} | {t['symm'] / base:.2f} | "
                f"{t['ee'] / base:.2f} | {t['batched'] / base:.2f} | {t['explicit'] / base:.2f} | "
                f"{1e3 * t['pml']:.2f} | "
                f"{base / t['pml']:.2f} |"
            )
            print(rows[-1], flush=True)
    return rows


STEP_SETTINGS = {  # dataset: (P, K); the CNN, 64-D embeddings
    "digits": (5, 16),  # all 5 training classes, 80 images a batch
    "glyphs": (32, 2),  # 32 of the 100 training classes, 64 images a batch
}


def step_table(rounds: int, inner: int) -> list[str]:
    rows = [
        "| data | P×K | loss | CNN step, none ms | CNN step, symm ms | symm / none |",
        "|---|---|---|---|---|---|",
    ]
    for dataset, (p, k) in STEP_SETTINGS.items():
        for name in ("triplet", "npair"):
            trainers = {
                s: Trainer(
                    TrainConfig(
                        dataset=dataset,
                        loss=name,
                        synthesis=s,
                        embedding_dim=64,
                        p=p,
                        k=k,
                        lr=1e-3,
                        max_steps=10**9,
                    )
                )  # fmt: skip
                for s in ("none", "symm")
            }
            t = compare({s: tr.step for s, tr in trainers.items()}, rounds, inner)
            rows.append(
                f"| {dataset} | {p}×{k} | {name} | {1e3 * t['none']:.2f} | "
                f"{1e3 * t['symm']:.2f} | {t['symm'] / t['none']:.3f} |"
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, no file written")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: stable ratios)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds, inner = (3, 3) if args.quick else (9, 5)
    sizes = [(128, 128), (128, 512), (256, 128), (256, 512)]
    if args.quick:
        sizes = sizes[:1]
    losses = loss_table(sizes, rounds, inner)
    steps = step_table(rounds, inner)
    if args.quick:
        return
    threads = torch.get_num_threads()
    machine = f"{platform.machine()}, {threads} torch thread(s), torch {torch.__version__}"
    body = "\n".join(
        [
            f"Measured by `python bench/overhead.py` on {time.strftime('%Y-%m-%d')} ({machine}).",
            f"Median of {rounds} interleaved rounds of {inner} forward+backward calls; P×2 batches"
            " of random raw embeddings. `×` columns are ratios to the same loss without synthesis.",
            "",
            *losses,
            "",
            "A full training step (forward, loss, backward, Adam) of the small CNN, 64-D:",
            "",
            *steps,
        ]
    )
    write_block("overhead", body)
    print(f"wrote the overhead block of {PERFORMANCE}")


if __name__ == "__main__":
    main()
