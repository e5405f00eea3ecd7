"""Fair comparisons: losses × synthesis variants × seeds, one budget, a cache, the paper's table.

A :class:`Comparison` is a base :class:`~symsynth.train.TrainConfig` (dataset and its options,
model, embedding size, learning rate, batch shape, budget in epochs or ``max_steps``) crossed
with a list of losses, a list of synthesis variants (none / symm / ee) and a list of seeds.
Every cell of one seed uses the same data, the same model initialisation and the same batches
(the seed drives all three, see ``symsynth.train``); only the loss and the synthesis differ.
Across seeds everything random changes, including the generated data set, so the seed-to-seed
spread measures how much a result depends on luck.

:func:`run_one` trains one cell and returns a :class:`RunResult` (final metrics on the
held-out classes, the loss/metric history, the final probe embeddings). With a
:class:`RunCache` a finished cell is stored on disk (JSON + npz, never pickle) under a hash of
its configuration and of the training code; the same configuration is then loaded, not
retrained. :func:`run_comparison` runs all cells one after the other (``threads`` sets torch's
threads per run) and reports progress, per run and overall, through a callback.

:func:`aggregate` turns runs into the paper's table layout: one :class:`Row` per loss ×
synthesis with mean ± standard deviation over seeds of NMI, F1, R@1/2/4/8, MAP@R and
precision@1; the best variant per loss and metric is marked, and each variant's gain over its
loss's baseline (synthesis "none") is compared with the seed-to-seed spread.
:func:`to_markdown` and :func:`to_csv` export it.

>>> import tempfile
>>> from symsynth.train import TrainConfig
>>> base = TrainConfig(dataset="toy-circle", embedding_dim=2, max_steps=5, eval_every=5)
>>> cmp = Comparison(base, losses=("triplet",), synthesis=("none", "symm"), seeds=(0, 1))
>>> len(cmp.configs())
4
>>> with tempfile.TemporaryDirectory() as tmp:
...     result = run_comparison(cmp, cache=RunCache(tmp))
...     again = run_comparison(cmp, cache=RunCache(tmp))  # every cell comes from the cache
>>> [r.cached for r in again.runs]
[True, True, True, True]
>>> rows = aggregate(result.runs)
>>> [(row.loss, row.synthesis, row.seeds) for row in rows]
[('triplet', 'none', (0, 1)), ('triplet', 'symm', (0, 1))]
>>> print(to_markdown(rows).splitlines()[0])
| loss | synthesis | NMI | F1 | R@1 | R@2 | R@4 | R@8 | MAP@R | P@1 |
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from symsynth.losses import LOSSES
from symsynth.synthesis import METHODS
from symsynth.train import TrainConfig, Trainer, TrainingDiverged

# The paper's columns (NMI, F1, R@K) and Musgrave et al.'s additions, in table order.
METRICS = ("nmi", "f1", "recall@1", "recall@2", "recall@4", "recall@8", "map@r", "precision@1")
LABELS = {
    "nmi": "NMI",
    "f1": "F1",
    "recall@1": "R@1",
    "recall@2": "R@2",
    "recall@4": "R@4",
    "recall@8": "R@8",
    "map@r": "MAP@R",
    "precision@1": "P@1",
}
BASELINE = "none"
CACHE_VERSION = 1  # bump when the meaning of a cached run changes
CACHE_ENV = "SYMSYNTH_CACHE"
TIE = 1e-9  # means closer than this count as equal when marking the best variant


# ------------------------------------------------------------------------------- one cell


@dataclass(frozen=True)
class RunResult:
    """One trained cell of a comparison.

    ``metrics`` are :func:`symsynth.metrics.evaluate` on the whole held-out split after
    training; ``history`` has one row per step (``step``, ``loss``, and the metrics on the
    fixed evaluation subset at evaluation steps); ``probe_embeddings`` are the final
    L2-normalised embeddings of the trainer's probe set of held-out items. ``diverged_at`` is
    the step at which training produced NaN/inf (the metrics then describe the weights from
    before it), else None. ``seconds`` is the wall-clock time of training and evaluation.
    """

    config: TrainConfig
    metrics: dict[str, float]
    history: list[dict[str, float]]
    probe_embeddings: np.ndarray
    probe_labels: np.ndarray
    seconds: float
    steps: int
    diverged_at: int | None = None
    cached: bool = False
    weights: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def loss(self) -> str:
        return self.config.loss

    @property
    def synthesis(self) -> str:
        return self.config.synthesis

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def name(self) -> str:
        """``loss+synthesis`` (the baseline is just the loss name)."""
        return self.loss if self.synthesis == BASELINE else f"{self.loss}+{self.synthesis}"

    def trainer(self) -> Trainer:
        """A :class:`Trainer` for this configuration with the trained weights loaded (for
        looking at the model, e.g. embedding the whole held-out split)."""
        if not self.weights:
            raise ValueError(f"run {self.name} (seed {self.seed}) holds no weights to restore")
        trainer = Trainer(self.config)
        state = {k: torch.from_numpy(np.array(v)) for k, v in self.weights.items()}
        trainer.model.load_state_dict(state)
        return trainer


@dataclass(frozen=True)
class Progress:
    """Where a comparison is: run ``run`` (0-based) of ``runs``, at ``step`` of ``steps``.

    ``finished`` is True on the last report of a run (``cached`` says it came from the cache).
    """

    run: int
    runs: int
    step: int
    steps: int
    config: TrainConfig
    finished: bool = False
    cached: bool = False

    @property
    def run_fraction(self) -> float:
        """Share of the current run done, in [0, 1]."""
        return 1.0 if self.finished else self.step / max(1, self.steps)

    @property
    def overall_fraction(self) -> float:
        """Share of the whole comparison done, in [0, 1] (each run counts the same)."""
        return (self.run + self.run_fraction) / max(1, self.runs)


ProgressCallback = Callable[[Progress], None]


def run_one(
    config: TrainConfig,
    cache: RunCache | None = None,
    on_progress: ProgressCallback | None = None,
    threads: int | None = None,
    chunk: int = 10,
) -> RunResult:
    """Train one configuration to its budget and evaluate it on the held-out classes.

    With ``cache`` a stored result for the same configuration is returned without training,
    and a new result is stored. ``on_progress`` is called every ``chunk`` steps and once at the
    end with a :class:`Progress`; an exception raised in it stops the run (nothing is stored).
    ``threads`` sets torch's CPU threads for the run (restored afterwards); on a busy 2-core
    machine 1 thread is several times faster than 2 for these small models.

    >>> from symsynth.train import TrainConfig
    >>> r = run_one(TrainConfig(dataset="toy-circle", embedding_dim=2, max_steps=5))
    >>> r.steps, sorted(r.metrics) == sorted(METRICS), r.probe_embeddings.shape[1]
    (5, True, 2)
    """
    config.validate()
    if cache is not None:
        hit = cache.get(config)
        if hit is not None:
            if on_progress:
                on_progress(Progress(0, 1, hit.steps, hit.steps, config, True, True))
            return hit
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be None or a whole number >= 1, got {threads!r}")
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        trainer = Trainer(config)
        last = None
        diverged_at = None
        try:
            while not trainer.done:
                snapshots = trainer.run(chunk)
                last = snapshots[-1] if snapshots else last
                if on_progress:
                    on_progress(Progress(0, 1, trainer.step_count, trainer.max_steps, config))
        except TrainingDiverged as err:
            diverged_at = err.step
        metrics = trainer.evaluate(full=True)
        if last is None or last.step != trainer.step_count:  # diverged before a snapshot
            probe = trainer.embed(trainer.data.test.x[trainer.probe_index]).numpy()
        else:
            probe = last.probe_embeddings
    finally:
        torch.set_num_threads(previous_threads)
    result = RunResult(
        config=config,
        metrics=metrics,
        history=[dict(row) for row in trainer.history],
        probe_embeddings=np.asarray(probe, dtype=np.float32),
        probe_labels=trainer.data.test.y[trainer.probe_index].numpy(),
        seconds=time.perf_counter() - start,
        steps=trainer.step_count,
        diverged_at=diverged_at,
        weights={k: v.detach().numpy().copy() for k, v in trainer.model.state_dict().items()},
    )
    if cache is not None:
        cache.put(result)
    if on_progress:
        on_progress(Progress(0, 1, result.steps, trainer.max_steps, config, True))
    return result


# ------------------------------------------------------------------------------- the cache


def default_cache_dir() -> Path:
    """``$SYMSYNTH_CACHE`` if set, else ``~/.cache/symsynth/runs``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "symsynth" / "runs")


def _settings(config: TrainConfig) -> dict[str, Any]:
    """The fields of ``config`` that differ from TrainConfig's defaults."""
    out = {}
    for f in dataclasses.fields(TrainConfig):
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        value = getattr(config, f.name)
        if value != default:
            out[f.name] = value
    return out


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the training code (every ``symsynth`` module but the drawing, comparing and
    command-line ones): a run cached by other training code is not reused, since a change as
    small as a different summation order can change a trajectory."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("viz/") or relative in _NOT_TRAINING:
            continue
        digest.update(relative.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


_NOT_TRAINING = {"compare.py", "cli.py", "__main__.py"}


def config_key(config: TrainConfig) -> str:
    """A stable hash of the configuration, the training code (:func:`code_fingerprint`) and the
    cache format: the cache's key.

    Only the settings that differ from TrainConfig's defaults enter the hash, so a field added
    to TrainConfig later (whose default keeps the old behaviour) does not orphan the cache;
    :meth:`RunCache.get` confirms every hit against the full configuration stored with it.

    >>> from symsynth.train import TrainConfig
    >>> config_key(TrainConfig(seed=1)) == config_key(TrainConfig(seed=1))
    True
    >>> config_key(TrainConfig(seed=1)) == config_key(TrainConfig(seed=2))
    False
    """
    key = {"cache_version": CACHE_VERSION, "code": code_fingerprint(), "config": _settings(config)}
    text = json.dumps(key, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class RunCache:
    """Finished runs on disk, one folder per key (:func:`config_key`): ``config.json``,
    ``result.json`` (metrics, history, timing), ``arrays.npz`` (probe embeddings and labels)
    and ``weights.npz`` (the model's state_dict as arrays). A folder is written under a
    temporary name and renamed when complete, so a half-written run is never read.

    >>> import tempfile
    >>> from symsynth.train import TrainConfig
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     cache = RunCache(tmp)
    ...     config = TrainConfig(dataset="toy-circle", embedding_dim=2, max_steps=3)
    ...     first = cache.get(config)
    ...     folder = cache.put(run_one(config))
    ...     cache.get(config).cached
    True
    >>> first is None
    True
    """

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def path(self, config: TrainConfig) -> Path:
        return self.root / config_key(config)

    def __contains__(self, config: TrainConfig) -> bool:
        return (self.path(config) / "result.json").exists()

    def get(self, config: TrainConfig) -> RunResult | None:
        """The stored result of ``config``, or None if there is none."""
        folder = self.path(config)
        if not (folder / "result.json").exists():
            return None
        stored = json.loads((folder / "result.json").read_text())
        try:
            same = TrainConfig.from_dict(stored["config"]) == config
        except (TypeError, ValueError):  # written by a version with other TrainConfig fields
            same = False
        if not same:  # a default changed since it was stored (or, in theory, a hash collision)
            return None
        with np.load(folder / "arrays.npz", allow_pickle=False) as arrays:
            probe, labels = arrays["probe_embeddings"], arrays["probe_labels"]
        with np.load(folder / "weights.npz", allow_pickle=False) as w:
            weights = {k: w[k] for k in w.files}
        return RunResult(
            config=config,
            metrics=stored["metrics"],
            history=stored["history"],
            probe_embeddings=probe,
            probe_labels=labels,
            seconds=stored["seconds"],
            steps=stored["steps"],
            diverged_at=stored["diverged_at"],
            cached=True,
            weights=weights,
        )

    def put(self, result: RunResult) -> Path:
        """Store ``result`` (replacing an older copy of the same configuration)."""
        folder = self.path(result.config)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=f".{folder.name}."))
        try:
            (tmp / "config.json").write_text(json.dumps(result.config.to_dict(), indent=2))
            record = {
                "config": result.config.to_dict(),
                "metrics": result.metrics,
                "history": result.history,
                "seconds": result.seconds,
                "steps": result.steps,
                "diverged_at": result.diverged_at,
                "code": code_fingerprint(),
            }
            (tmp / "result.json").write_text(json.dumps(record))
            np.savez_compressed(
                tmp / "arrays.npz",
                probe_embeddings=result.probe_embeddings,
                probe_labels=result.probe_labels,
            )
            np.savez_compressed(tmp / "weights.npz", **result.weights)
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder


# ------------------------------------------------------------------------ the comparison


@dataclass(frozen=True)
class Comparison:
    """Losses × synthesis variants × seeds on one base configuration.

    ``base`` fixes everything shared (dataset and options, model, embedding size, learning
    rate, P×K batch, budget, evaluation schedule); its ``loss``, ``synthesis``, ``seed`` and
    ``hparams`` are replaced per cell. ``hparams`` maps a loss name to that loss's
    hyper-parameters (e.g. ``{"triplet": {"margin": 0.1}}``); losses not named use their
    defaults. A run keeps only its final snapshot, so a large ``base.snapshot_every`` saves
    the time of the intermediate ones (each embeds the probe set).

    >>> from symsynth.train import TrainConfig
    >>> cmp = Comparison(TrainConfig(dataset="digits"), losses=("npair",), seeds=(0, 1))
    >>> [(c.loss, c.synthesis, c.seed) for c in cmp.configs()]
    [('npair', 'none', 0), ('npair', 'none', 1), ('npair', 'symm', 0), ('npair', 'symm', 1)]
    """

    base: TrainConfig
    losses: tuple[str, ...]
    synthesis: tuple[str, ...] = ("none", "symm")
    seeds: tuple[int, ...] = (0, 1, 2)
    hparams: dict[str, dict[str, float]] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError naming the first bad value and what would be valid."""
        _check_names("loss", self.losses, tuple(LOSSES))
        _check_names("synthesis", self.synthesis, METHODS)
        if not self.seeds:
            raise ValueError("seeds is empty; give at least one seed, e.g. seeds=(0, 1, 2)")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds lists a seed twice: {list(self.seeds)}")
        stray = sorted(set(self.hparams) - set(self.losses))
        if stray:
            raise ValueError(
                f"hparams given for loss {stray[0]!r}, which is not compared;"
                f" compared losses: {', '.join(self.losses)}"
            )
        for config in self.configs():
            config.validate()

    def configs(self) -> list[TrainConfig]:
        """Every cell's configuration, loss-major, then synthesis, then seed."""
        return [
            dataclasses.replace(
                self.base,
                loss=loss,
                synthesis=synthesis,
                seed=seed,
                hparams=dict(self.hparams.get(loss, {})),
                dataset_options=dict(self.base.dataset_options),
            )
            for loss in self.losses
            for synthesis in self.synthesis
            for seed in self.seeds
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base.to_dict(),
            "losses": list(self.losses),
            "synthesis": list(self.synthesis),
            "seeds": list(self.seeds),
            "hparams": self.hparams,
        }


def _check_names(what: str, names: Sequence[str], valid: Sequence[str]) -> None:
    if not names:
        raise ValueError(f"no {what} given; choose from {', '.join(valid)}")
    for name in names:
        if name not in valid:
            raise ValueError(f"unknown {what} {name!r}; choose from {', '.join(valid)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what} lists a name twice: {', '.join(names)}")


@dataclass(frozen=True)
class ComparisonResult:
    """The comparison and its runs, in the order of :meth:`Comparison.configs`."""

    comparison: Comparison
    runs: list[RunResult]

    @property
    def seconds(self) -> float:
        """Training time of the runs (those loaded from the cache count their original time)."""
        return sum(r.seconds for r in self.runs)

    def rows(self) -> list[Row]:
        return aggregate(self.runs)

    def runs_for_seed(self, seed: int) -> list[RunResult]:
        """One run per loss × synthesis cell: those of ``seed``."""
        return [r for r in self.runs if r.seed == seed]


def run_comparison(
    comparison: Comparison,
    cache: RunCache | None = None,
    on_progress: ProgressCallback | None = None,
    threads: int | None = None,
) -> ComparisonResult:
    """Train every cell of ``comparison`` one after the other (cells already in ``cache``
    are loaded instead); ``on_progress`` receives a :class:`Progress` during each run and
    when it finishes. Raise from the callback to stop: finished runs stay in the cache.
    ``threads``: torch CPU threads per run (see :func:`run_one`).
    """
    comparison.validate()
    configs = comparison.configs()
    runs = []
    for i, config in enumerate(configs):
        report = None
        if on_progress is not None:

            def report(p: Progress, i: int = i) -> None:
                on_progress(dataclasses.replace(p, run=i, runs=len(configs)))

        runs.append(run_one(config, cache, report, threads))
    return ComparisonResult(comparison, runs)


# ------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Row:
    """One line of the table: a loss with one synthesis variant, over its seeds.

    ``mean`` and ``std`` (sample standard deviation, NaN with a single seed) per metric;
    ``best[m]`` is True when this variant has the highest mean of its loss for metric m (ties,
    within ``TIE``, all count). For a variant whose loss also has a baseline row: ``gain[m]`` =
    its mean minus the baseline's mean, ``beyond_spread[m]`` = ``|gain| > max(std, baseline
    std)``, and ``wins[m]`` = the number of seeds (of those both have) on which it beats the
    baseline.
    These three are empty for the baseline itself. ``diverged`` counts runs that hit NaN/inf.
    """

    loss: str
    synthesis: str
    seeds: tuple[int, ...]
    mean: dict[str, float]
    std: dict[str, float]
    best: dict[str, bool]
    gain: dict[str, float] = field(default_factory=dict)
    beyond_spread: dict[str, bool] = field(default_factory=dict)
    wins: dict[str, int] = field(default_factory=dict)
    diverged: int = 0

    @property
    def name(self) -> str:
        return self.loss if self.synthesis == BASELINE else f"{self.loss}+{self.synthesis}"


def _std(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def aggregate(runs: Iterable[RunResult], metrics: Sequence[str] = METRICS) -> list[Row]:
    """Group runs by (loss, synthesis) and summarise each over its seeds (see :class:`Row`).

    Rows come in the order their (loss, synthesis) first appears in ``runs``.

    >>> from symsynth.train import TrainConfig
    >>> def run(synthesis, seed, r1):
    ...     config = TrainConfig(loss="triplet", synthesis=synthesis, seed=seed)
    ...     return RunResult(config, {"recall@1": r1}, [], np.zeros((0, 2)), np.zeros(0), 0.0, 1)
    >>> runs = [run("none", 0, 0.50), run("none", 1, 0.52)]
    >>> runs += [run("symm", 0, 0.60), run("symm", 1, 0.58)]
    >>> base, symm = aggregate(runs, metrics=["recall@1"])
    >>> round(symm.gain["recall@1"], 3), symm.beyond_spread["recall@1"], symm.wins["recall@1"]
    (0.08, True, 2)
    >>> base.best["recall@1"], symm.best["recall@1"]
    (False, True)
    """
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in runs:
        groups.setdefault((r.loss, r.synthesis), []).append(r)
    missing = [
        (key, m) for key, group in groups.items() for r in group for m in metrics
        if m not in r.metrics
    ]  # fmt: skip
    if missing:
        (loss, synthesis), metric = missing[0]
        raise ValueError(
            f"run {loss}+{synthesis} has no metric {metric!r}; available:"
            f" {', '.join(sorted(groups[(loss, synthesis)][0].metrics))}"
        )
    summary = {}
    for key, group in groups.items():
        summary[key] = (
            {m: float(np.mean([r.metrics[m] for r in group])) for m in metrics},
            {m: _std([r.metrics[m] for r in group]) for m in metrics},
            {r.seed: r.metrics for r in group},
        )
    rows = []
    for (loss, synthesis), group in groups.items():
        mean, std, by_seed = summary[(loss, synthesis)]
        variants = [summary[key][0] for key in groups if key[0] == loss]
        best = {m: mean[m] >= max(v[m] for v in variants) - TIE for m in metrics}
        gain, beyond, wins = {}, {}, {}
        if synthesis != BASELINE and (loss, BASELINE) in summary:
            b_mean, b_std, b_by_seed = summary[(loss, BASELINE)]
            common = sorted(set(by_seed) & set(b_by_seed))
            for m in metrics:
                gain[m] = mean[m] - b_mean[m]
                spread = max(std[m], b_std[m])  # NaN (one seed) compares False
                beyond[m] = bool(abs(gain[m]) > spread)
                wins[m] = sum(by_seed[s][m] > b_by_seed[s][m] for s in common)
        rows.append(
            Row(
                loss=loss,
                synthesis=synthesis,
                seeds=tuple(sorted(r.seed for r in group)),
                mean=mean,
                std=std,
                best=best,
                gain=gain,
                beyond_spread=beyond,
                wins=wins,
                diverged=sum(r.diverged_at is not None for r in group),
            )
        )
    return rows


def _metrics_of(rows: Sequence[Row], metrics: Sequence[str] | None) -> list[str]:
    """The metrics to show: those asked for, else those the rows were aggregated over."""
    if metrics is None:
        return list(rows[0].mean) if rows else list(METRICS)
    for m in metrics:
        if rows and m not in rows[0].mean:
            raise ValueError(f"the table has no metric {m!r}; it has {', '.join(rows[0].mean)}")
    return list(metrics)


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f}"


def to_markdown(
    rows: Sequence[Row], metrics: Sequence[str] | None = None, gains: bool = True
) -> str:
    """The table in Markdown, in percent: ``mean ± std`` per metric, the best variant of each
    loss in bold. With ``gains`` a second table follows: each variant's gain over its
    baseline in percentage points, marked ``✓`` when it exceeds the seed-to-seed spread
    (larger of the two standard deviations), with the number of seeds it won.

    >>> from symsynth.train import TrainConfig
    >>> run = RunResult(TrainConfig(loss="npair", synthesis="none"), {"nmi": 0.5}, [],
    ...                 np.zeros((0, 2)), np.zeros(0), 0.0, 1)
    >>> print(to_markdown(aggregate([run], ["nmi"])))
    | loss | synthesis | NMI |
    |---|---|---|
    | npair | none | **50.0 ± –** |
    <BLANKLINE>
    Mean ± sample standard deviation over seeds (0), in %; bold: best variant of each loss.
    <BLANKLINE>
    """
    metrics = _metrics_of(rows, metrics)
    head = ["loss", "synthesis", *(LABELS.get(m, m) for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = []
        for m in metrics:
            text = f"{_pct(row.mean[m])} ± {_pct(row.std[m])}"
            cells.append(f"**{text}**" if row.best[m] else text)
        synthesis = row.synthesis + (f" ({row.diverged} diverged)" if row.diverged else "")
        lines.append("| " + " | ".join([row.loss, synthesis, *cells]) + " |")
    seeds = sorted({s for row in rows for s in row.seeds})
    lines += [
        "",
        f"Mean ± sample standard deviation over seeds ({', '.join(map(str, seeds))}), in %;"
        " bold: best variant of each loss.",
    ]
    variants = [row for row in rows if row.gain]
    if gains and variants:
        head = ["loss", "synthesis", *(f"Δ{LABELS.get(m, m)}" for m in metrics)]
        lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in variants:
            n = len(row.seeds)
            cells = [
                f"{100 * row.gain[m]:+.1f}{' ✓' if row.beyond_spread[m] else ''}"
                f" ({row.wins[m]}/{n})"
                for m in metrics
            ]
            lines.append("| " + " | ".join([row.loss, row.synthesis, *cells]) + " |")
        lines += [
            "",
            "Gain over the same loss without synthesis, in percentage points; ✓: larger than"
            " the seed-to-seed spread (the larger standard deviation of the two rows);"
            " (w/n): seeds on which the variant beat the baseline.",
        ]
    return "\n".join(lines) + "\n"


def to_csv(rows: Sequence[Row], metrics: Sequence[str] | None = None) -> str:
    """The table as CSV (values as fractions in [0, 1], not percent): per metric its
    ``_mean``, ``_std``, ``_best``, and for variants with a baseline ``_gain``,
    ``_beyond_spread`` and ``_wins`` (empty for baselines).

    >>> from symsynth.train import TrainConfig
    >>> run = RunResult(TrainConfig(loss="npair", synthesis="none"), {"nmi": 0.5}, [],
    ...                 np.zeros((0, 2)), np.zeros(0), 0.0, 1)
    >>> print(to_csv(aggregate([run], ["nmi"])).splitlines()[1])
    npair,none,0,1,0,0.5,,True,,,
    """
    metrics = _metrics_of(rows, metrics)
    columns = ["loss", "synthesis", "seeds", "n_seeds", "diverged"]
    for m in metrics:
        columns += [f"{m}_{s}" for s in ("mean", "std", "best", "gain", "beyond_spread", "wins")]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        line: list[Any] = [
            row.loss, row.synthesis, " ".join(map(str, row.seeds)), len(row.seeds), row.diverged
        ]  # fmt: skip
        for m in metrics:
            line += [
                row.mean[m],
                "" if math.isnan(row.std[m]) else row.std[m],
                row.best[m],
                row.gain.get(m, ""),
                row.beyond_spread.get(m, ""),
                row.wins.get(m, ""),
            ]
        writer.writerow(line)
    return buffer.getvalue()


def runs_to_csv(runs: Sequence[RunResult], metrics: Sequence[str] = METRICS) -> str:
    """One line per run: loss, synthesis, seed, steps, seconds, diverged_at, and its metrics."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["loss", "synthesis", "seed", "steps", "seconds", "diverged_at", *metrics])
    for r in runs:
        writer.writerow(
            [r.loss, r.synthesis, r.seed, r.steps, round(r.seconds, 2),
             "" if r.diverged_at is None else r.diverged_at, *(r.metrics[m] for m in metrics)]
        )  # fmt: skip
    return buffer.getvalue()


# ------------------------------------------------------------------------- curves


@dataclass(frozen=True)
class Curve:
    """Training curves of one loss × synthesis cell, averaged over its seeds: the loss at
    every step, and Recall@1 on the evaluation subset at the evaluation steps."""

    loss: str
    synthesis: str
    steps: np.ndarray
    loss_values: np.ndarray
    eval_steps: np.ndarray
    recall_at_1: np.ndarray

    @property
    def name(self) -> str:
        return self.loss if self.synthesis == BASELINE else f"{self.loss}+{self.synthesis}"


def mean_curves(runs: Iterable[RunResult], metric: str = "recall@1") -> list[Curve]:
    """One :class:`Curve` per (loss, synthesis), the mean over its seeds at the steps all of
    them reached (``metric`` fills ``recall_at_1``; any key of the history works).

    >>> from symsynth.train import TrainConfig
    >>> hist = lambda r: [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5, "recall@1": r}]
    >>> runs = [RunResult(TrainConfig(seed=s), {}, hist(r), np.zeros((0, 2)), np.zeros(0), 0, 2)
    ...         for s, r in ((0, 0.2), (1, 0.4))]
    >>> c = mean_curves(runs)[0]
    >>> c.steps.tolist(), c.loss_values.tolist(), c.eval_steps.tolist(), c.recall_at_1.tolist()
    ([1, 2], [1.0, 0.5], [2], [0.30000000000000004])
    """
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in runs:
        groups.setdefault((r.loss, r.synthesis), []).append(r)
    curves = []
    for (loss, synthesis), group in groups.items():
        n = min(len(r.history) for r in group)
        steps = np.array([row["step"] for row in group[0].history[:n]], dtype=int)
        values = np.mean([[row["loss"] for row in r.history[:n]] for r in group], axis=0)
        evals = [
            {row["step"]: row[metric] for row in r.history[:n] if metric in row} for r in group
        ]
        common = sorted(set.intersection(*(set(e) for e in evals))) if evals else []
        curves.append(
            Curve(
                loss=loss,
                synthesis=synthesis,
                steps=steps,
                loss_values=np.asarray(values, dtype=float).reshape(-1),
                eval_steps=np.array(common, dtype=int),
                recall_at_1=np.array([np.mean([e[s] for e in evals]) for s in common]),
            )
        )
    return curves


__all__ = [
    "BASELINE",
    "LABELS",
    "METRICS",
    "Comparison",
    "ComparisonResult",
    "Curve",
    "Progress",
    "Row",
    "RunCache",
    "RunResult",
    "aggregate",
    "code_fingerprint",
    "config_key",
    "default_cache_dir",
    "mean_curves",
    "run_comparison",
    "run_one",
    "runs_to_csv",
    "to_csv",
    "to_markdown",
]
