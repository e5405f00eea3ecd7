"""The containers every dataset returns, the data error, and the two ways to split.

Label convention: a label is the ORIGINAL class id of the whole dataset (0 … n_classes−1),
in both splits. ``class_names`` is the same full list on both splits and is indexed by that
id, so ``split.class_names[split.y[i]]`` is always the name of item i. With a class-disjoint
split the training labels and the test labels are disjoint sets of ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

SPLITS = ("class-disjoint", "stratified")
MIN_CLASSES_PER_SIDE = 2  # a retrieval test needs negatives; a training batch needs them too
MAX_SEED = 2**32 - 1


class DataError(ValueError):
    """Bad data or a bad option. The message says what is wrong and how to fix it."""


@dataclass(frozen=True, eq=False)
class Split:
    """One side of a dataset: inputs ``x`` (float32), labels ``y`` (int64), class names.

    >>> import torch
    >>> s = Split(torch.zeros(3, 2), torch.tensor([0, 0, 2]), ["a", "b", "c"])
    >>> len(s), s.classes, s.class_names[int(s.y[2])]
    (3, [0, 2], 'c')
    """

    x: Tensor
    y: Tensor
    class_names: list[str]

    def __post_init__(self) -> None:
        if self.x.dtype != torch.float32 or self.y.dtype != torch.int64:
            raise TypeError(
                f"Split wants float32 x and int64 y, got {self.x.dtype}, {self.y.dtype}"
            )
        if self.y.dim() != 1 or len(self.x) != len(self.y):
            raise ValueError(
                f"Split wants x [N, ...] and y [N];"
                f" got {tuple(self.x.shape)} and {tuple(self.y.shape)}"
            )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def classes(self) -> list[int]:
        """The class ids present in this split, sorted."""
        return torch.unique(self.y).tolist()


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled dataset with a train and a test split and what the UI needs to show it.

    ``input_shape`` is the shape of one item, e.g. ``(2,)`` or ``(1, 28, 28)``;
    ``n_classes`` counts all classes of both splits; ``natural_dim`` is the toy's own space
    (2 or 3) and None for everything else; ``split`` is "class-disjoint" or "stratified".

    >>> from symsynth.data import load_dataset
    >>> ds = load_dataset("toy-circle")
    >>> ds.input_shape, ds.n_classes, ds.natural_dim, ds.train.classes, ds.test.classes
    ((2,), 8, 2, [0, 2, 4, 6], [1, 3, 5, 7])
    """

    name: str
    train: Split
    test: Split
    input_shape: tuple[int, ...]
    n_classes: int
    is_image: bool
    description: str
    natural_dim: int | None = None
    split: str = "class-disjoint"
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        """All class names, indexed by class id (the same list as on each split)."""
        return self.train.class_names


def default_train_classes(n_classes: int, interleaved: bool) -> tuple[int, ...]:
    """The default training classes: even ids (interleaved) or the first half (like CUB)."""
    if interleaved:
        return tuple(range(0, n_classes, 2))
    return tuple(range(n_classes // 2))


def check_train_classes(train_classes: Any, n_classes: int) -> tuple[int, ...]:
    """Validate a user's ``train_classes`` and return it as a sorted tuple of ints.

    >>> check_train_classes([3, 1], n_classes=5)
    (1, 3)
    """
    try:
        ids = list(train_classes)
    except TypeError:
        raise DataError(
            f"train_classes must be a list of class ids, got {train_classes!r};"
            f" e.g. train_classes=[0, 1, 2]"
        ) from None
    bad = [c for c in ids if isinstance(c, bool) or not isinstance(c, int | np.integer)]
    if bad:
        raise DataError(f"train_classes must hold integer class ids; {bad[0]!r} is not one")
    ids = [int(c) for c in ids]
    out_of_range = [c for c in ids if not 0 <= c < n_classes]
    if out_of_range:
        raise DataError(
            f"train_classes holds {out_of_range[0]}, but class ids run from 0 to {n_classes - 1}"
        )
    if len(set(ids)) != len(ids):
        raise DataError(f"train_classes lists a class twice: {sorted(ids)}")
    n_test = n_classes - len(ids)
    if len(ids) < MIN_CLASSES_PER_SIDE or n_test < MIN_CLASSES_PER_SIDE:
        raise DataError(
            f"train_classes gives {len(ids)} training and {n_test} test classes; each side needs"
            f" at least {MIN_CLASSES_PER_SIDE} (choose between 2 and {n_classes - 2} of the"
            f" {n_classes} classes)"
        )
    return tuple(sorted(ids))


def _split(x: np.ndarray, y: np.ndarray, mask: np.ndarray, names: list[str]) -> Split:
    return Split(
        torch.from_numpy(np.ascontiguousarray(x[mask], dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(y[mask], dtype=np.int64)),
        list(names),
    )


def class_disjoint_split(
    x: np.ndarray, y: np.ndarray, class_names: list[str], train_classes: tuple[int, ...]
) -> tuple[Split, Split]:
    """Items of ``train_classes`` go to train, all others to test.

    >>> import numpy as np
    >>> tr, te = class_disjoint_split(np.zeros((4, 1)), np.array([0, 1, 2, 1]), list("abc"), (1,))
    >>> tr.y.tolist(), te.y.tolist()
    ([1, 1], [0, 2])
    """
    is_train = np.isin(y, np.asarray(train_classes, dtype=np.int64))
    return _split(x, y, is_train, class_names), _split(x, y, ~is_train, class_names)


def stratified_split(
    x: np.ndarray, y: np.ndarray, class_names: list[str], test_fraction: float, seed: int
) -> tuple[Split, Split]:
    """Every class on both sides: ``test_fraction`` of each class's items (at least 2 each side).

    Needs at least 4 items in every class; the caller checks that.

    >>> import numpy as np
    >>> tr, te = stratified_split(np.zeros((8, 1)), np.repeat([0, 1], 4), ["a", "b"], 0.5, 0)
    >>> sorted(tr.y.tolist()), sorted(te.y.tolist())
    ([0, 0, 1, 1], [0, 0, 1, 1])
    """
    rng = np.random.default_rng(seed)
    is_test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        n_test = min(max(round(len(members) * test_fraction), 2), len(members) - 2)
        is_test[rng.permutation(members)[:n_test]] = True
    return _split(x, y, ~is_test, class_names), _split(x, y, is_test, class_names)


def check_int(name: str, value: Any, low: int, high: int) -> int:
    """Return ``value`` as an int in [low, high] or raise a DataError naming the option."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise DataError(f"{name} must be an integer between {low} and {high}, got {value!r}")
    if not low <= value <= high:
        raise DataError(f"{name}={value} is out of range; choose between {low} and {high}")
    return int(value)


def check_seed(seed: Any) -> int:
    """Return ``seed`` as an int in [0, 2³² − 1] or raise a DataError."""
    if (
        isinstance(seed, bool)
        or not isinstance(seed, int | np.integer)
        or not 0 <= seed <= MAX_SEED
    ):
        raise DataError(f"seed must be an integer between 0 and {MAX_SEED}, got {seed!r}")
    return int(seed)


def check_float(name: str, value: Any, low: float, high: float) -> float:
    """Return ``value`` as a float in [low, high] or raise a DataError naming the option."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise DataError(f"{name} must be a number between {low} and {high}, got {value!r}")
    if not low <= value <= high:  # also rejects NaN
        raise DataError(f"{name}={value} is out of range; choose between {low} and {high}")
    return float(value)


def assemble(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    class_names: list[str],
    train_classes: tuple[int, ...],
    description: str,
    *,
    is_image: bool,
    natural_dim: int | None = None,
    seed: int = 0,
    options: dict[str, Any] | None = None,
) -> Dataset:
    """Build a class-disjoint :class:`Dataset` from all items ``x`` and class ids ``y``."""
    train, test = class_disjoint_split(x, y, class_names, train_classes)
    return Dataset(
        name=name,
        train=train,
        test=test,
        input_shape=tuple(x.shape[1:]),
        n_classes=len(class_names),
        is_image=is_image,
        description=description,
        natural_dim=natural_dim,
        split="class-disjoint",
        seed=seed,
        options=dict(options or {}, train_classes=train_classes),
    )
