"""The training loop, as a stream of snapshots.

``Trainer(config)`` builds the data, model, loss, optimiser and P×K sampler from a
``TrainConfig``. ``trainer.run(n)`` takes up to n optimiser steps and returns the snapshots
recorded meanwhile (every ``snapshot_every`` steps, and at the last step): small frozen records
that the app, the CLI and the demos consume without reaching into the loop.

Reproducibility: everything random comes from the seed (model initialisation under a forked
RNG, the sampler from its own generator), so two runs with one config are bitwise equal on CPU;
the batch of step t is a pure function of (seed, t), so a checkpoint (model, optimiser, step)
lets a resumed run continue exactly as the uninterrupted one would have.

A loss, gradient or weight that turns NaN/inf raises ``TrainingDiverged`` naming the step; the
weights are left as they were before that step.

>>> t = Trainer(TrainConfig(dataset="toy-circle", embedding_dim=2, max_steps=20, eval_every=20))
>>> snaps = t.run(100)
>>> t.done, snaps[-1].step, sorted(snaps[-1].metrics)[:2]
(True, 20, ['f1', 'map@r'])
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import get_total_norm

from symsynth.backbones import BACKBONES, build_backbone
from symsynth.data import Dataset, load_dataset
from symsynth.data.benchmarks import ImageFiles, augmentation_seeds
from symsynth.devices import autocast, maybe_compile
from symsynth.distributed import (
    all_gather_with_grad,
    init_from_env,
    rank_slice,
    save_on_main,
    wrap_model,
)
from symsynth.losses import LOSSES, LossOverflow, build_loss
from symsynth.metrics import evaluate
from symsynth.mining import hardest_negatives, points_table
from symsynth.models import build_model
from symsynth.samplers import PKSampler
from symsynth.synthesis import METHODS

MODELS = ("auto", "mlp", "cnn", *BACKBONES)
_INIT_LOCK = threading.Lock()  # model initialisation uses the global RNG, forked under this lock


class TrainingDiverged(RuntimeError):
    """Training produced NaN/inf at ``step``; the weights from before that step are kept.

    ``snapshots`` holds what ``Trainer.run`` had recorded in that call before it stopped.
    """

    def __init__(self, step: int, what: str, lr: float) -> None:
        self.step = step
        self.snapshots: list[Snapshot] = []
        super().__init__(
            f"training diverged at step {step}: the {what} became NaN or inf. The weights from"
            f" before step {step} are kept. Try a lower learning rate (now {lr:g}, e.g."
            f" {lr / 10:g})."
        )


@dataclass
class TrainConfig:
    """Everything that defines a run; ``to_dict``/``from_dict`` round-trip through JSON."""

    dataset: str = "toy-sphere"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    model: str = "auto"  # auto: cnn for images, mlp otherwise
    embedding_dim: int = 3
    loss: str = "triplet"
    synthesis: str = "symm"
    hparams: dict[str, float] = field(default_factory=dict)
    lr: float = 0.01
    p: int | None = None  # classes per batch; None: min(8, training classes)
    k: int = 4
    epochs: int = 10
    max_steps: int | None = None  # overrides epochs when set
    seed: int = 0
    eval_every: int = 50  # steps between held-out evaluations (0: only at the end)
    eval_size: int = 1000  # held-out items used for the metrics (a fixed seeded subset)
    snapshot_every: int = 10
    probe_size: int = 400  # held-out items whose embeddings every snapshot carries
    weights: str | None = None  # backbones only: a local file of pretrained trunk weights
    device: str = "cpu"  # cpu, cuda or auto
    amp: bool = False  # bf16 autocast on CUDA (a no-op with a message elsewhere)
    compile: bool = False  # torch.compile the model (a no-op with a message where it fails)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {', '.join(unknown)}; valid: {sorted(known)}")
        return cls(**d)

    def validate(self) -> None:
        """Raise ValueError naming the first bad value and what would be valid."""

        def need(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(msg)

        need(self.loss in LOSSES, f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        need(
            self.synthesis in METHODS,
            f"unknown synthesis {self.synthesis!r}; choose one of {', '.join(METHODS)}",
        )
        need(self.model in MODELS, f"unknown model {self.model!r}; choose one of {MODELS}")
        need(
            self.p is None or (isinstance(self.p, int) and self.p >= 2),
            f"p must be None (auto) or a whole number >= 2, got {self.p!r}",
        )
        for name in ("embedding_dim", "k", "epochs", "snapshot_every", "probe_size"):
            value = getattr(self, name)
            need(
                isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"{name} must be a whole number >= 1, got {value!r}",
            )
        need(self.embedding_dim >= 2, f"embedding_dim must be >= 2, got {self.embedding_dim}")
        need(
            self.k % 2 == 0, f"k must be even (pairs of one class), got {self.k}; try {self.k + 1}"
        )
        need(self.eval_every >= 0, f"eval_every must be >= 0, got {self.eval_every}")
        need(self.eval_size >= 2, f"eval_size must be >= 2, got {self.eval_size}")
        need(
            self.max_steps is None or (isinstance(self.max_steps, int) and self.max_steps >= 1),
            f"max_steps must be None or a whole number >= 1, got {self.max_steps!r}",
        )
        need(
            isinstance(self.lr, int | float) and 0 < self.lr <= 10 and np.isfinite(self.lr),
            f"lr must be a number in (0, 10], got {self.lr!r}",
        )
        need(
            isinstance(self.seed, int) and self.seed >= 0,
            f"seed must be an int >= 0, got {self.seed!r}",
        )
        build_loss(self.loss, self.synthesis, **self.hparams)  # checks the hyper-parameters


@dataclass(frozen=True)
class Snapshot:
    """What the trainer shows of itself at one step (numpy arrays, detached, small).

    Mined pairs index ``concat(batch_embeddings, synthetic_points)``: one per batch row, its
    hardest mined negative pair, with flags saying whether each end is synthetic.
    """

    step: int
    epoch: int
    loss: float
    metrics: dict[str, float] | None
    probe_embeddings: np.ndarray
    probe_labels: np.ndarray
    batch_embeddings: np.ndarray
    batch_labels: np.ndarray
    synthetic_points: np.ndarray
    synthetic_labels: np.ndarray
    mined_first: np.ndarray
    mined_second: np.ndarray
    mined_first_synthetic: np.ndarray
    mined_second_synthetic: np.ndarray
    synthetic_share: float


def _all_finite(tensors: list[Tensor]) -> bool:
    """No NaN or inf in any of ``tensors``: one fused max-abs reduction (NaN propagates through
    it, and unlike a 2-norm it cannot overflow) instead of a check and a sync per tensor."""
    with torch.no_grad():
        return not tensors or bool(torch.isfinite(get_total_norm(tensors, norm_type=math.inf)))


def _subset(n: int, size: int, seed: int) -> Tensor:
    """A fixed, sorted random subset of range(n) of at most ``size`` items."""
    if n <= size:
        return torch.arange(n)
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:size].sort().values


class Trainer:
    """One training run: ``run(n)`` for steps, ``evaluate()`` for metrics, ``save``/``load``."""

    def __init__(self, config: TrainConfig, data: Dataset | None = None) -> None:
        config.validate()
        self.config = config
        self.data = data if data is not None else load_dataset(
            config.dataset, seed=config.seed, **config.dataset_options
        )  # fmt: skip
        name = config.model
        if name == "auto":
            name = "cnn" if self.data.is_image else "mlp"
        self.dist = init_from_env(config.device)  # one process, or a rank under torchrun
        with _INIT_LOCK, torch.random.fork_rng():
            torch.manual_seed(config.seed)
            if name in BACKBONES:
                model = build_backbone(name, config.embedding_dim, weights=config.weights)
            else:
                model = build_model(name, self.data.input_shape, config.embedding_dim)
        self.model: nn.Module = maybe_compile(model.to(self.dist.device), config.compile)
        self.ddp = wrap_model(self.model, self.dist)  # the model itself in one process
        self.loss_fn = build_loss(config.loss, config.synthesis, **config.hparams)
        fused = self.dist.device.type in ("cpu", "cuda")  # one kernel, not ~10 ops per tensor
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, fused=fused)
        train_y = self.data.train.y
        p = config.p or min(8, len(self.data.train.classes))
        self.sampler = PKSampler(train_y, p, config.k, seed=config.seed)
        self.max_steps = config.max_steps or config.epochs * len(self.sampler)
        self.step_count = 0
        self.history: list[dict[str, Any]] = []  # one row per step: step, loss (+ metrics)
        test = self.data.test
        self.probe_index = _subset(len(test), config.probe_size, config.seed)
        self.eval_index = _subset(len(test), config.eval_size, config.seed + 1)
        self._epoch_batches: tuple[int, Tensor] = (-1, torch.empty(0))

    # -- training -------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.step_count >= self.max_steps

    @property
    def epoch(self) -> int:
        return self.step_count // len(self.sampler)

    def _next_batch(self) -> Tensor:
        """Batch ``step_count`` of the sampler's epochs: a pure function of the step."""
        epoch, index = divmod(self.step_count, len(self.sampler))
        if self._epoch_batches[0] != epoch:
            self._epoch_batches = (epoch, self.sampler.epoch_batches(epoch))
        return self._epoch_batches[1][index]

    def step(self) -> tuple[float, Tensor, Tensor]:
        """One optimiser step. Returns the loss, the batch's raw embeddings and its labels."""
        idx, train, dev = self._next_batch(), self.data.train, self.dist.device
        local = rank_slice(idx)  # this rank's whole pairs; all of idx in one process
        if isinstance(train.x, ImageFiles):  # augmented as a function of (seed, step, row)
            seeds = augmentation_seeds(self.config.seed, self.step_count, len(idx))
            x = train.x.load(local, seeds=rank_slice(seeds))
        else:
            x = train.x[local]
        y = train.y[idx].to(dev)
        self.model.train()
        step = self.step_count + 1
        with autocast(dev, self.config.amp):
            raw = self.ddp(x.to(dev), normalize=False)
        raw = all_gather_with_grad(raw.float())  # the whole batch, gradients to own rows
        if not torch.isfinite(raw).all():
            raise TrainingDiverged(step, "embedding", self.config.lr)
        try:
            loss = self.loss_fn(raw, y)
        except LossOverflow as err:
            raise TrainingDiverged(step, "loss", self.config.lr) from err
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        if not _all_finite([p.grad for p in params]):
            self.optimizer.zero_grad(set_to_none=True)
            raise TrainingDiverged(step, "gradient", self.config.lr)
        before = [p.detach().clone() for p in params]
        self.optimizer.step()
        if not _all_finite(params):
            with torch.no_grad():
                for p, old in zip(params, before, strict=True):
                    p.copy_(old)
            raise TrainingDiverged(step, "weights", self.config.lr)
        self.step_count = step
        self.history.append({"step": step, "loss": loss.item()})
        return self.history[-1]["loss"], raw.detach(), y

    def run(self, n_steps: int, deadline: float | None = None) -> list[Snapshot]:
        """Up to ``n_steps`` optimiser steps, stopping early once ``time.monotonic()`` passes
        ``deadline``; the snapshots recorded on the way."""
        snapshots = []
        c = self.config
        for _ in range(max(0, int(n_steps))):
            if self.done or (deadline is not None and time.monotonic() >= deadline):
                break
            try:
                loss, raw, y = self.step()
            except TrainingDiverged as err:
                err.snapshots = snapshots
                raise
            s = self.step_count
            evaluate_now = self.done or (c.eval_every and s % c.eval_every == 0)
            metrics = self.evaluate() if evaluate_now else None
            if metrics is not None:
                self.history[-1].update(metrics)
            if evaluate_now or s % c.snapshot_every == 0 or s == 1:
                snapshots.append(self._snapshot(loss, raw, y, metrics))
        return snapshots

    # -- looking at the model -------------------------------------------------------------

    @torch.no_grad()
    def embed(self, x: Tensor | ImageFiles, index: Tensor | None = None, batch_size: int = 256):
        """L2-normalised embeddings (on the CPU) of ``x[index]``, loaded and embedded in chunks."""
        self.model.eval()
        index = torch.arange(len(x)) if index is None else index
        chunks = [self.model(x[i].to(self.dist.device)).cpu() for i in index.split(batch_size)]
        return torch.cat(chunks) if chunks else torch.empty(0, self.config.embedding_dim)

    def evaluate(self, full: bool = False) -> dict[str, float]:
        """The protocol's metrics on held-out classes: the fixed subset used while training
        (``eval_size`` items), or the whole test split with ``full=True``."""
        test = self.data.test
        index = torch.arange(len(test)) if full else self.eval_index
        return evaluate(self.embed(test.x, index), test.y[index])

    @torch.no_grad()
    def _snapshot(self, loss: float, raw: Tensor, y: Tensor, metrics) -> Snapshot:
        view = self.loss_fn.prepare(raw, y)  # what the loss saw at this step
        synthesis = self.loss_fn.synthesis
        table = points_table(view, y, synthesis, self.loss_fn.alpha, self.loss_fn.beta)
        pairs = hardest_negatives(self.loss_fn.mine(view, y))
        points = torch.nn.functional.normalize(table.points, dim=1).cpu()  # drawn on the sphere
        b = len(y)
        chosen_synthetic = pairs.first_synthetic | pairs.second_synthetic
        test = self.data.test
        return Snapshot(
            step=self.step_count,
            epoch=self.epoch,
            loss=loss,
            metrics=metrics,
            probe_embeddings=self.embed(test.x, self.probe_index).numpy(),
            probe_labels=test.y[self.probe_index].numpy(),
            batch_embeddings=points[:b].numpy(),
            batch_labels=y.cpu().numpy(),
            synthetic_points=points[b:].numpy(),
            synthetic_labels=table.labels[b:].cpu().numpy(),
            mined_first=pairs.first.cpu().numpy(),
            mined_second=pairs.second.cpu().numpy(),
            mined_first_synthetic=pairs.first_synthetic.cpu().numpy(),
            mined_second_synthetic=pairs.second_synthetic.cpu().numpy(),
            synthetic_share=float(chosen_synthetic.float().mean()) if len(pairs.anchor) else 0.0,
        )

    # -- checkpoints ----------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step_count,
            "history": self.history,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write a checkpoint atomically (a temporary file renamed over ``path``); under
        torchrun rank 0 writes it and every rank waits."""
        save_on_main(self.state_dict(), path)

    @classmethod
    def load(cls, path: str | os.PathLike, data: Dataset | None = None) -> Trainer:
        """Rebuild a trainer from a checkpoint (loaded with ``weights_only=True``)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        trainer = cls(TrainConfig.from_dict(state["config"]), data)
        trainer.model.load_state_dict(state["model"])
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.step_count = int(state["step"])
        trainer.history = list(state["history"])
        return trainer


def save_atomic(obj: Any, path: str | os.PathLike) -> None:
    """torch.save to a temporary file in the same folder, then rename: never half a file.
    Temporary files of ``path`` that a killed writer left behind go once a save succeeds (one
    process writes a given path)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """JSON, written atomically like the checkpoints."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
