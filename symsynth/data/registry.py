"""``load_dataset(name, seed, **options)``: every built-in dataset by name, cached in memory."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from symsynth.data.base import DataError, Dataset, Split, check_seed
from symsynth.data.benchmarks import cars196, cub200, sop
from symsynth.data.digits import digits
from symsynth.data.glyphs import glyphs
from symsynth.data.toys import blobs, rings, spirals, toy_circle, toy_sphere

_BUILDERS: dict[str, Callable[..., Dataset]] = {
    "toy-circle": toy_circle,
    "toy-sphere": toy_sphere,
    "blobs": blobs,
    "rings": rings,
    "spirals": spirals,
    "digits": digits,
    "glyphs": glyphs,
}
DATASETS: tuple[str, ...] = tuple(_BUILDERS)  # the built-in ones: generated or shipped
# the paper's benchmarks, read from a local folder (option data_root); see docs/REPRODUCE.md
_BUILDERS.update({"cub200": cub200, "cars196": cars196, "sop": sop})


def dataset_options(name: str) -> dict[str, Any]:
    """The options a dataset accepts, with their defaults (None: chosen from other options).

    >>> dataset_options("toy-circle")
    {'n_classes': 8, 'samples_per_class': 50, 'spread': 0.15, 'train_classes': None}
    """
    parameters = inspect.signature(_builder(name)).parameters
    return {key: p.default for key, p in parameters.items() if p.kind is p.KEYWORD_ONLY}


def load_dataset(name: str, seed: int = 0, **options: Any) -> Dataset:
    """Load a built-in dataset with a class-disjoint train/test split.

    ``name`` is one of :data:`DATASETS`; ``options`` are those of :func:`dataset_options`
    (for example ``n_classes``, ``spread``, ``samples_per_class``, ``train_classes``). The
    same name, seed and options give the same tensors; results are cached in memory and every
    call returns its own copy of the tensors.

    >>> ds = load_dataset("digits")
    >>> ds.train.classes, ds.test.classes, ds.is_image
    ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9], True)
    >>> load_dataset("toy-sphere", seed=1, n_classes=20).n_classes
    20
    """
    valid = dataset_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise DataError(
            f"unknown option {unknown[0]!r} for dataset {name!r}; valid options are:"
            f" {', '.join(valid) or '(none)'}"
        )
    seed = check_seed(seed)
    frozen = tuple(
        sorted((key, _freeze(key, value)) for key, value in {**valid, **options}.items())
    )
    return _copy(_load_cached(name, seed, frozen))


def _builder(name: str) -> Callable[..., Dataset]:
    if name not in _BUILDERS:
        valid = ", ".join(_BUILDERS)
        raise DataError(f"unknown dataset {name!r}; valid names are: {valid}")
    return _BUILDERS[name]


def _freeze(key: str, value: Any) -> Any:
    """Make an option value hashable for the cache (a list of class ids becomes a tuple)."""
    if isinstance(value, list | tuple | range | np.ndarray):
        return tuple(value.tolist() if isinstance(value, np.ndarray) else value)
    try:
        hash(value)
    except TypeError:
        raise DataError(
            f"option {key}={value!r} has an unsupported type {type(value).__name__}"
        ) from None
    return value


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, seed: int, frozen: tuple[tuple[str, Any], ...]) -> Dataset:
    return _BUILDERS[name](seed, **dict(frozen))


def _copy(ds: Dataset) -> Dataset:
    """A copy whose tensors the caller may modify without touching the cache."""

    def copy_split(s: Split) -> Split:
        return Split(s.x.clone(), s.y.clone(), list(s.class_names))

    return dataclasses.replace(
        ds, train=copy_split(ds.train), test=copy_split(ds.test), options=dict(ds.options)
    )


def clear_cache() -> None:
    """Forget every cached dataset (the next load generates it again)."""
    _load_cached.cache_clear()
