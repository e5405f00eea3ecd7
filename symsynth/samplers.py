"""P × K batch sampling: P classes, K samples of each, same-label pairs in consecutive rows.

Symmetrical Synthesis reflects each member of a positive pair about the other, so every batch
must hold same-label pairs in rows ``2m`` and ``2m + 1``. :class:`PKSampler` lays a batch out
as P blocks of K consecutive samples of one class (K even), which gives exactly that.

One epoch, as a pure function of ``(seed, epoch)``:

1. Each class's samples are shuffled, then repeated cyclically up to the next multiple of K
   and cut into K-sample *chunks*: a class with ``n`` samples gives ``ceil(n / K)`` chunks.
   Every sample appears at least once; the last chunk is topped up with the class's first
   shuffled samples, never with a sample already in that chunk (when ``n >= K``).
2. A class with fewer than K samples (but at least 2) gives one chunk, its shuffled samples
   repeated cyclically: some samples appear twice, but the two members of a pair are always
   two different samples. A class with a single sample cannot form a pair: the sampler
   raises ``ValueError`` naming it (remove it, or give it a second sample).
3. Batches are filled greedily: each takes one chunk from each of the P classes with the
   most chunks left (ties broken at random, the order of the P blocks shuffled). The epoch
   ends when fewer than P classes have a chunk left; those leftover chunks are not used.
   This greedy order yields the largest possible number of batches, which depends only on
   the class sizes, so ``len(sampler)`` is the same for every epoch.

Resuming: ``epoch_batches(e)`` depends only on ``(seed, e)``. The sampler remembers the epoch
and how many batches of it it has handed out; ``state_dict()`` saves that and
``load_state_dict()`` restores it, so the next ``iter(sampler)`` continues with the very
batch that would have come next. ``iter_from(epoch, batch_index)`` does the same statelessly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["PKSampler"]


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _labels_to_numpy(labels: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(labels, Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (one class id per sample), got shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"labels must be integer class ids, got dtype {labels.dtype}; "
            "map class names to ids with np.unique(names, return_inverse=True)"
        )
    return labels


def _max_batches(chunks_per_class: np.ndarray, p: int) -> int:
    """Largest b with sum_j min(c_j, b) >= p * b: the most batches of p distinct classes."""
    lo, hi = 0, int(chunks_per_class.sum()) // p
    while lo < hi:  # the feasible b form a prefix [0, b*], so binary search works
        mid = (lo + hi + 1) // 2
        if np.minimum(chunks_per_class, mid).sum() >= p * mid:
            lo = mid
        else:
            hi = mid - 1
    return lo


class PKSampler:
    """Yield batches of P classes × K samples, same-label pairs in rows ``2m`` and ``2m + 1``.

    Each batch is a LongTensor of ``p * k`` dataset indices: K consecutive indices of one
    class, then K of the next, P classes in all, every class distinct. See the module
    docstring for what an epoch is and how classes smaller than K are handled.

    Args:
        labels: 1-D integer class ids, one per dataset sample (tensor or array).
        p: classes per batch, 2 <= p <= number of classes.
        k: samples per class in a batch, even and >= 2.
        seed: non-negative integer; epoch ``e`` depends only on ``(seed, e)``.

    Iterating yields the batches of the current epoch (``sampler.epoch``) and then moves
    on to the next epoch, so ``for epoch in range(E): for idx in sampler: ...`` sees E
    different epochs. ``set_epoch(e)`` jumps to the start of epoch ``e``.

    >>> import torch
    >>> labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    >>> sampler = PKSampler(labels, p=2, k=2, seed=0)
    >>> len(sampler)
    3
    >>> batch = next(iter(sampler))
    >>> batch.shape
    torch.Size([4])
    >>> bool((labels[batch[0::2]] == labels[batch[1::2]]).all())
    True
    """

    def __init__(self, labels: Tensor | np.ndarray, p: int, k: int, seed: int = 0) -> None:
        labels_np = _labels_to_numpy(labels)
        self.p = _check_int("p (classes per batch)", p, 2)
        self.k = _check_int("k (samples per class)", k, 2)
        self.seed = _check_int("seed", seed, 0)
        if self.k % 2:
            raise ValueError(
                f"k (samples per class) must be even so that each class's samples form "
                f"same-label pairs in rows 2m and 2m+1, got k={self.k}; use k={self.k + 1}"
            )
        classes, codes, counts = np.unique(labels_np, return_inverse=True, return_counts=True)
        singles = classes[counts < 2]
        if len(singles):
            shown = ", ".join(str(c) for c in singles[:10].tolist())
            more = f" and {len(singles) - 10} more" if len(singles) > 10 else ""
            raise ValueError(
                f"{len(singles)} class(es) have a single sample and cannot form a positive "
                f"pair: {shown}{more}. Remove these classes or add a second sample to each."
            )
        if self.p > len(classes):
            raise ValueError(
                f"p={self.p} classes per batch, but the labels hold only {len(classes)} "
                f"classes; use p <= {len(classes)}"
            )
        self.num_samples = len(labels_np)
        self.classes = classes
        self._codes = codes.astype(np.int64)
        self._counts = counts.astype(np.int64)
        self._chunks = -(-self._counts // self.k)  # ceil(n / k), at least 1
        self._num_batches = _max_batches(self._chunks, self.p)
        self.epoch = 0
        self._next_batch = 0

    def __len__(self) -> int:
        """Batches per epoch (the same for every epoch)."""
        return self._num_batches

    def epoch_batches(self, epoch: int) -> Tensor:
        """All batches of ``epoch`` as a LongTensor ``[len(self), p * k]``; pure in (seed, epoch).

        Computed in NumPy (one random generator seeded by ``(seed, epoch)``): the greedy loop
        below runs once per batch, and NumPy's per-call cost is a tenth of torch's here.

        >>> import torch
        >>> s = PKSampler(torch.arange(6) // 2, p=2, k=2, seed=3)
        >>> torch.equal(s.epoch_batches(1), s.epoch_batches(1))
        True
        """
        epoch = _check_int("epoch", epoch, 0)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch]))
        k, p, counts, chunks = self.k, self.p, self._counts, self._chunks
        # Step 1: shuffle within classes (a random permutation, then a stable sort by class).
        order = rng.permutation(self.num_samples)
        order = order[np.argsort(self._codes[order], kind="stable")]
        starts = np.cumsum(counts) - counts
        # Step 2: repeat each class cyclically up to chunks * k slots (slot i -> sample i % n).
        slots = chunks * k
        slot_class = np.repeat(np.arange(len(counts)), slots)
        slot_pos = np.arange(slots.sum()) - np.repeat(np.cumsum(slots) - slots, slots)
        chunk_table = order[starts[slot_class] + slot_pos % counts[slot_class]].reshape(-1, k)
        first_chunk = np.cumsum(chunks) - chunks
        # Step 3: greedy batches from the classes with the most chunks left (a uniform draw in
        # [0, 1) breaks ties and never outweighs one chunk); the P blocks in random order.
        left = chunks.copy()
        batches = np.empty((self._num_batches, p * k), dtype=np.int64)
        for b in range(self._num_batches):
            score = np.where(left > 0, left + rng.random(len(left)), -1.0)
            chosen = rng.permutation(np.sort(np.argpartition(-score, p - 1)[:p]))
            used = chunks[chosen] - left[chosen]
            batches[b] = chunk_table[first_chunk[chosen] + used].reshape(-1)
            left[chosen] -= 1
        return torch.from_numpy(batches)

    def iter_from(self, epoch: int, batch_index: int = 0) -> Iterator[Tensor]:
        """Yield batches ``batch_index, batch_index + 1, ...`` of ``epoch`` (stateless).

        >>> import torch
        >>> s = PKSampler(torch.arange(8) // 2, p=2, k=2)
        >>> rest = list(s.iter_from(epoch=0, batch_index=1))
        >>> torch.equal(rest[0], s.epoch_batches(0)[1])
        True
        """
        batch_index = _check_int("batch_index", batch_index, 0)
        if batch_index > self._num_batches:
            raise ValueError(
                f"batch_index={batch_index} is past the end of an epoch of "
                f"{self._num_batches} batches; use 0 <= batch_index <= {self._num_batches}"
            )
        yield from self.epoch_batches(epoch)[batch_index:]

    def __iter__(self) -> Iterator[Tensor]:
        epoch, start = self.epoch, self._next_batch
        if start >= self._num_batches:  # a saved position at the very end of an epoch
            epoch, start = epoch + 1, 0
        batches = self.epoch_batches(epoch)
        for b in range(start, self._num_batches):
            if b + 1 == self._num_batches:  # the epoch is complete once this batch is out
                self.epoch, self._next_batch = epoch + 1, 0
            else:
                self._next_batch = b + 1
            yield batches[b]

    def set_epoch(self, epoch: int) -> None:
        """Start the next iteration at the first batch of ``epoch``."""
        self.epoch = _check_int("epoch", epoch, 0)
        self._next_batch = 0

    def state_dict(self) -> dict[str, int]:
        """Where the sampler is: the epoch and how many of its batches were handed out.

        Save it with the model right after a training step; ``load_state_dict`` makes the
        next ``iter(sampler)`` yield the batch that would have come next.
        """
        return {
            "seed": self.seed,
            "p": self.p,
            "k": self.k,
            "num_samples": self.num_samples,
            "epoch": self.epoch,
            "batch_index": self._next_batch,
        }

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore a position saved by ``state_dict`` (same labels, p, k and seed required).

        >>> import torch
        >>> s = PKSampler(torch.arange(12) // 2, p=3, k=2, seed=1)
        >>> it = iter(s); first = next(it)
        >>> t = PKSampler(torch.arange(12) // 2, p=3, k=2, seed=1)
        >>> t.load_state_dict(s.state_dict())
        >>> torch.equal(next(iter(t)), next(it))
        True
        """
        missing = {"seed", "p", "k", "num_samples", "epoch", "batch_index"} - set(state)
        if missing:
            raise ValueError(f"sampler state is missing {sorted(missing)}")
        for key in ("seed", "p", "k", "num_samples"):
            if state[key] != getattr(self, key):
                raise ValueError(
                    f"sampler state has {key}={state[key]} but this sampler has "
                    f"{key}={getattr(self, key)}; resume with the same data and settings"
                )
        epoch = _check_int("epoch", state["epoch"], 0)
        batch_index = _check_int("batch_index", state["batch_index"], 0)
        if batch_index > self._num_batches:
            raise ValueError(
                f"batch_index={batch_index} is past the end of an epoch of "
                f"{self._num_batches} batches"
            )
        self.epoch, self._next_batch = epoch, batch_index
