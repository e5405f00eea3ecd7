"""Toy datasets: class clusters on the circle and the sphere, and 2-D/3-D input-space toys.

``toy-circle`` and ``toy-sphere`` are already points on S¹ / S² (a unit class centre plus
Gaussian noise of size ``spread``, normalised back onto the sphere), so the geometry of the
paper can be watched directly. ``blobs``, ``rings`` and ``spirals`` live in the plane (blobs
and rings also in 3-D): a small MLP has to learn to map them onto the circle or sphere.

Every toy splits its classes the same way by default: even class ids train, odd ids test, so
the unseen test classes lie between the training classes. ``train_classes`` changes that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from symsynth.data.base import (
    DataError,
    Dataset,
    assemble,
    check_float,
    check_int,
    check_train_classes,
    default_train_classes,
)

MAX_CLASSES = 64
MAX_SAMPLES_PER_CLASS = 5000
GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


def _check_common(
    n_classes: int, samples_per_class: int, spread: float, train_classes
) -> tuple[int, int, float, tuple[int, ...]]:
    n_classes = check_int("n_classes", n_classes, 4, MAX_CLASSES)
    samples_per_class = check_int("samples_per_class", samples_per_class, 2, MAX_SAMPLES_PER_CLASS)
    spread = check_float("spread", spread, 0.0, 2.0)
    if train_classes is None:
        train_classes = default_train_classes(n_classes, interleaved=True)
    return n_classes, samples_per_class, spread, check_train_classes(train_classes, n_classes)


def _check_dim(dim: int, name: str) -> int:
    if dim not in (2, 3) or isinstance(dim, bool):
        raise DataError(f"dim={dim!r} is not supported for {name!r}; use dim=2 or dim=3")
    return int(dim)


def _toy(name, x, y, n_classes, train_classes, description, dim, seed, options) -> Dataset:
    names = [f"class {k}" for k in range(n_classes)]
    split = f" Classes {_ids(train_classes)} train, the others test."
    return assemble(
        name,
        x.astype(np.float32),
        y.astype(np.int64),
        names,
        train_classes,
        description + split,
        is_image=False,
        natural_dim=dim,
        seed=seed,
        options=options,
    )


def _ids(ids: tuple[int, ...]) -> str:
    if len(ids) > 6:
        return ", ".join(map(str, ids[:3])) + ", …, " + str(ids[-1])
    return ", ".join(map(str, ids))


def _on_sphere(centres: np.ndarray, samples_per_class: int, spread: float, rng) -> np.ndarray:
    """``samples_per_class`` noisy copies of each unit centre, normalised back to the sphere."""
    points = np.repeat(centres, samples_per_class, axis=0)
    points = points + spread * rng.standard_normal(points.shape)
    norms = np.linalg.norm(points, axis=1, keepdims=True)
    return points / np.maximum(norms, 1e-12)


def circle_centres(n_classes: int) -> np.ndarray:
    """Evenly spaced unit vectors on the circle: class k at angle 2πk/n.

    >>> circle_centres(4).round(3).tolist()
    [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [-0.0, -1.0]]
    """
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def sphere_centres(n_classes: int) -> np.ndarray:
    """Nearly evenly spaced unit vectors on the sphere (a Fibonacci lattice, north to south).

    >>> c = sphere_centres(12)
    >>> c.shape, bool(np.allclose(np.linalg.norm(c, axis=1), 1.0))
    ((12, 3), True)
    """
    k = np.arange(n_classes)
    z = 1.0 - (2 * k + 1) / n_classes
    r = np.sqrt(1.0 - z**2)
    return np.stack([r * np.cos(k * GOLDEN_ANGLE), r * np.sin(k * GOLDEN_ANGLE), z], axis=1)


def toy_circle(
    seed: int = 0,
    *,
    n_classes: int = 8,
    samples_per_class: int = 50,
    spread: float = 0.15,
    train_classes: Sequence[int] | None = None,
) -> Dataset:
    """Class clusters on the unit circle, items given directly as 2-D unit vectors.

    Class k is centred at angle 2πk/n; ``spread`` (about the angular noise in radians) sets how
    much neighbouring classes overlap.

    >>> ds = toy_circle(n_classes=6, samples_per_class=10)
    >>> tuple(ds.train.x.shape), ds.train.classes, ds.test.classes
    ((30, 2), [0, 2, 4], [1, 3, 5])
    """
    n_classes, samples_per_class, spread, train_classes = _check_common(
        n_classes, samples_per_class, spread, train_classes
    )
    rng = np.random.default_rng(seed)
    x = _on_sphere(circle_centres(n_classes), samples_per_class, spread, rng)
    y = np.repeat(np.arange(n_classes), samples_per_class)
    options = dict(n_classes=n_classes, samples_per_class=samples_per_class, spread=spread)
    description = (
        f"{n_classes} class clusters on the unit circle, {samples_per_class} points each"
        f" (noise {spread:g})."
    )
    return _toy("toy-circle", x, y, n_classes, train_classes, description, 2, seed, options)


def toy_sphere(
    seed: int = 0,
    *,
    n_classes: int = 12,
    samples_per_class: int = 50,
    spread: float = 0.15,
    train_classes: Sequence[int] | None = None,
) -> Dataset:
    """Class clusters on the unit sphere S², items given directly as 3-D unit vectors.

    Class centres are a Fibonacci lattice (nearly even spacing); ``spread`` is the noise.

    >>> ds = toy_sphere(samples_per_class=5)
    >>> tuple(ds.test.x.shape), ds.natural_dim
    ((30, 3), 3)
    """
    n_classes, samples_per_class, spread, train_classes = _check_common(
        n_classes, samples_per_class, spread, train_classes
    )
    rng = np.random.default_rng(seed)
    x = _on_sphere(sphere_centres(n_classes), samples_per_class, spread, rng)
    y = np.repeat(np.arange(n_classes), samples_per_class)
    options = dict(n_classes=n_classes, samples_per_class=samples_per_class, spread=spread)
    description = (
        f"{n_classes} class clusters on the unit sphere, {samples_per_class} points each"
        f" (noise {spread:g})."
    )
    return _toy("toy-sphere", x, y, n_classes, train_classes, description, 3, seed, options)


def _blob_centres(n_classes: int, dim: int, rng) -> np.ndarray:
    """Random centres in [-1, 1]^dim kept apart: each new one at least ``gap`` from the others."""
    gap = 1.2 / n_classes ** (1.0 / dim)
    centres: list[np.ndarray] = []
    while len(centres) < n_classes:
        for _ in range(200):
            c = rng.uniform(-1.0, 1.0, dim)
            if all(np.linalg.norm(c - o) >= gap for o in centres):
                break
        centres.append(c)  # after 200 misses the last candidate is taken as it is
    return np.stack(centres)


def blobs(
    seed: int = 0,
    *,
    n_classes: int = 8,
    samples_per_class: int = 50,
    spread: float = 0.12,
    dim: int = 2,
    train_classes: Sequence[int] | None = None,
) -> Dataset:
    """Gaussian blobs at random, well separated centres in the square (or cube) [-1, 1]^dim.

    >>> ds = blobs(dim=3, samples_per_class=4)
    >>> ds.input_shape, ds.natural_dim
    ((3,), 3)
    """
    n_classes, samples_per_class, spread, train_classes = _check_common(
        n_classes, samples_per_class, spread, train_classes
    )
    dim = _check_dim(dim, "blobs")
    rng = np.random.default_rng(seed)
    centres = _blob_centres(n_classes, dim, rng)
    x = np.repeat(centres, samples_per_class, axis=0)
    x = x + spread * rng.standard_normal(x.shape)
    y = np.repeat(np.arange(n_classes), samples_per_class)
    options = dict(n_classes=n_classes, samples_per_class=samples_per_class, spread=spread, dim=dim)
    description = f"{n_classes} Gaussian blobs in {dim}-D, {samples_per_class} points each."
    return _toy("blobs", x, y, n_classes, train_classes, description, dim, seed, options)


def rings(
    seed: int = 0,
    *,
    n_classes: int = 6,
    samples_per_class: int = 50,
    spread: float = 0.03,
    dim: int = 2,
    train_classes: Sequence[int] | None = None,
) -> Dataset:
    """Concentric rings (2-D) or spherical shells (3-D): class k has radius (k + 1) / n.

    The class is the distance from the origin, which no linear map can turn into a direction:
    the model has to bend the plane.

    >>> ds = rings(samples_per_class=5)
    >>> ds.n_classes, ds.train.classes
    (6, [0, 2, 4])
    """
    n_classes, samples_per_class, spread, train_classes = _check_common(
        n_classes, samples_per_class, spread, train_classes
    )
    dim = _check_dim(dim, "rings")
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), samples_per_class)
    directions = rng.standard_normal((len(y), dim))
    directions /= np.maximum(np.linalg.norm(directions, axis=1, keepdims=True), 1e-12)
    radii = (y + 1) / n_classes + spread * rng.standard_normal(len(y))
    x = directions * radii[:, None]
    options = dict(n_classes=n_classes, samples_per_class=samples_per_class, spread=spread, dim=dim)
    shape = "rings" if dim == 2 else "spherical shells"
    description = f"{n_classes} concentric {shape}, {samples_per_class} points each."
    return _toy("rings", x, y, n_classes, train_classes, description, dim, seed, options)


def spirals(
    seed: int = 0,
    *,
    n_classes: int = 6,
    samples_per_class: int = 100,
    spread: float = 0.03,
    turns: float = 1.0,
    train_classes: Sequence[int] | None = None,
) -> Dataset:
    """Interleaved spiral arms in the plane: arm k starts at angle 2πk/n and winds ``turns`` times.

    >>> ds = spirals(samples_per_class=5, turns=0.5)
    >>> ds.input_shape, ds.options["turns"]
    ((2,), 0.5)
    """
    n_classes, samples_per_class, spread, train_classes = _check_common(
        n_classes, samples_per_class, spread, train_classes
    )
    turns = check_float("turns", turns, 0.0, 3.0)
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), samples_per_class)
    t = rng.uniform(0.0, 1.0, len(y))
    radius = 0.15 + 0.85 * t
    angle = 2 * np.pi * (y / n_classes + turns * t)
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    x = x + spread * rng.standard_normal(x.shape)
    options = dict(
        n_classes=n_classes, samples_per_class=samples_per_class, spread=spread, turns=turns
    )
    description = (
        f"{n_classes} interleaved spiral arms winding {turns:g} times,"
        f" {samples_per_class} points each."
    )
    return _toy("spirals", x, y, n_classes, train_classes, description, 2, seed, options)
