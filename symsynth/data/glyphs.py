"""Glyphs: a procedural many-class image set with unseen test classes, made from a seed.

Each class is a random prototype of 2-3 strokes (free Bézier curves, straight bars and
elliptic arcs) in the square [-1, 1]². Each sample of a class redraws the prototype through a
random affine warp (rotation, scale, shear, shift), a smooth non-linear bend, a random stroke
width and ink level, then adds pixel noise. By default 200 classes of 40 samples, 28×28:
classes 0-99 train, 100-199 test (first half / last half, like CUB-200).

Reproducible on any machine: only a seeded ``numpy.random.Generator`` and exactly rounded
arithmetic (+, −, ×, ÷, √, min, max; no sin/cos, no matrix products) are used, and pixels are
quantised to 8-bit levels. Class k is drawn from its own random stream ``(seed, k)``, so the
first classes of a large set equal those of a smaller set with the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from symsynth.data.base import (
    Dataset,
    assemble,
    check_float,
    check_int,
    check_train_classes,
    default_train_classes,
)

MAX_CLASSES = 2000
MAX_SAMPLES_PER_CLASS = 500
POINTS_PER_PIECE = 7  # each cubic piece is drawn as a polyline of 6 segments
PROTOTYPE_HALF_SIZE = 0.6  # in glyph units; [-1, 1] is 80 % of the image
KAPPA = 0.5522847498  # a quarter ellipse as one cubic Bézier
# Warp ranges at distortion 1 (each drawn uniformly in ±range, in glyph units where [-1, 1] is
# 80 % of the image): rotation is tan(θ/2), so 0.35 ≈ ±39°; shift 0.3 ≈ ±3.4 px at 28×28.
WARP = {"rotation": 0.35, "scale": 0.25, "shear": 0.3, "shift": 0.3, "bend": 0.3}
_T = np.linspace(0.0, 1.0, POINTS_PER_PIECE)
_S = 1.0 - _T  # cubic Bernstein weights, written as products (no pow) to round the same anywhere
_WEIGHTS = np.stack([_S * _S * _S, 3.0 * _T * _S * _S, 3.0 * _T * _T * _S, _T * _T * _T])


def _free_curve(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.uniform(-0.75, 0.75, (4, 2))]


def _bar(rng: np.random.Generator) -> list[np.ndarray]:
    a, b = rng.uniform(-0.75, 0.75, (2, 2))
    return [np.stack([a, a + (b - a) / 3, a + 2 * (b - a) / 3, b])]


def _arc(rng: np.random.Generator) -> list[np.ndarray]:
    """2 to 4 consecutive quarters of an axis-aligned ellipse (a hook, a U, or a full loop)."""
    cx, cy = rng.uniform(-0.35, 0.35, 2)
    rx, ry = rng.uniform(0.2, 0.45, 2)
    start, n_quarters = int(rng.integers(4)), int(rng.integers(2, 5))
    # The ellipse's four extreme points, counter-clockwise from the right.
    ends = [(1, 0), (0, 1), (-1, 0), (0, -1)]
    pieces = []
    for q in range(start, start + n_quarters):
        (ax, ay), (bx, by) = ends[q % 4], ends[(q + 1) % 4]
        p0, p3 = (ax, ay), (bx, by)
        # Tangent at an extreme point is perpendicular to it: (−y, x) for counter-clockwise.
        p1 = (ax - KAPPA * ay, ay + KAPPA * ax)
        p2 = (bx + KAPPA * by, by - KAPPA * bx)
        unit = np.array([p0, p1, p2, p3], dtype=np.float64)
        pieces.append(np.stack([cx + rx * unit[:, 0], cy + ry * unit[:, 1]], axis=1))
    return pieces


_PRIMITIVES = (_free_curve, _free_curve, _bar, _arc)


def prototype(seed: int, k: int) -> np.ndarray:
    """Class k's prototype as cubic Bézier pieces ``[n_pieces, 4, 2]``.

    The drawn shape is centred and scaled so that its larger side spans [-0.6, 0.6]: classes
    differ in shape, not in size or position.

    >>> points = _polyline(prototype(0, 7))
    >>> float(np.abs(points).max().round(6))
    0.6
    """
    rng = np.random.default_rng([seed, k, 0])
    n_parts = int(rng.integers(2, 4))
    pieces = []
    for _ in range(n_parts):
        pieces += _PRIMITIVES[int(rng.integers(len(_PRIMITIVES)))](rng)
    pieces = np.stack(pieces)
    points = _polyline(pieces).reshape(-1, 2)
    low, high = points.min(axis=0), points.max(axis=0)
    half = max(float((high - low).max()) / 2, 1e-3)
    return (pieces - (low + high) / 2) * (PROTOTYPE_HALF_SIZE / half)


def _polyline(pieces: np.ndarray) -> np.ndarray:
    """Points along each cubic piece, ``[n_pieces, POINTS_PER_PIECE, 2]`` (Bernstein form)."""
    w = _WEIGHTS[:, None, :, None]  # [4, 1, T, 1]
    p = pieces.transpose(1, 0, 2)[:, :, None, :]  # [4, n_pieces, 1, 2]
    return w[0] * p[0] + w[1] * p[1] + w[2] * p[2] + w[3] * p[3]


def _warp(points: np.ndarray, n: int, rng: np.random.Generator, distortion: float) -> np.ndarray:
    """``n`` randomly warped copies of ``points`` [..., 2]: returns [n, ..., 2].

    p ↦ A (p + bend(p)) + shift, with A = rotation · (scale and shear) and bend a small random
    quadratic field. The rotation uses the rational form of tan(θ/2), so no sin/cos is needed.
    """
    r = {key: value * distortion for key, value in WARP.items()}
    u = rng.uniform(-1.0, 1.0, (6, n))
    t = r["rotation"] * u[0]  # tan(θ/2)
    cos, sin = (1 - t * t) / (1 + t * t), 2 * t / (1 + t * t)
    sx, sy, shear = 1 + r["scale"] * u[1], 1 + r["scale"] * u[2], r["shear"] * u[3]
    shift = r["shift"] * np.stack([u[4], u[5]], axis=-1)
    bend = r["bend"] * rng.uniform(-1.0, 1.0, (n, 6))
    extra = (1,) * (points.ndim - 1)
    a00, a01 = cos * sx, cos * shear - sin * sy
    a10, a11 = sin * sx, sin * shear + cos * sy
    a00, a01, a10, a11 = (v.reshape(n, *extra) for v in (a00, a01, a10, a11))
    bend = bend.reshape(n, *extra, 6)
    x, y = points[..., 0][None], points[..., 1][None]
    x, y = (
        x + bend[..., 0] * x * x + bend[..., 1] * x * y + bend[..., 2] * y * y,
        y + bend[..., 3] * x * x + bend[..., 4] * x * y + bend[..., 5] * y * y,
    )
    x, y = a00 * x + a01 * y, a10 * x + a11 * y
    return np.stack([x, y], axis=-1) + shift.reshape(n, *extra, 2)


def _render(
    polylines: np.ndarray, image_of: np.ndarray, n_images: int, half_width: np.ndarray, size: int
) -> np.ndarray:
    """Anti-aliased strokes: pixel value = clip(half_width + ½ − distance to nearest segment, 0, 1).

    ``polylines`` [M, T, 2] are in pixel units (x right, y down), ``image_of`` [M] (sorted)
    says which image each belongs to. Returns [n_images, size, size] float32.
    """
    centres = np.arange(size, dtype=np.float32) + 0.5
    gx = np.tile(centres, size)[None, None, :]  # pixel (row r, column c) is at index r*size + c
    gy = np.repeat(centres, size)[None, None, :]
    a, b = polylines[:, :-1].astype(np.float32), polylines[:, 1:].astype(np.float32)
    ax, ay = a[..., 0:1], a[..., 1:2]
    dx, dy = b[..., 0:1] - ax, b[..., 1:2] - ay
    inv_len2 = np.float32(1) / np.maximum(dx * dx + dy * dy, np.float32(1e-6))
    nearest = np.empty((len(polylines), size * size), dtype=np.float32)
    chunk = max(1, 4_000_000 // (a.shape[1] * size * size))
    for s in range(0, len(polylines), chunk):
        e = slice(s, s + chunk)
        px, py = gx - ax[e], gy - ay[e]
        t = np.clip((px * dx[e] + py * dy[e]) * inv_len2[e], 0, 1)
        ex, ey = px - t * dx[e], py - t * dy[e]
        nearest[e] = (ex * ex + ey * ey).min(axis=1)
    starts = np.flatnonzero(np.r_[True, image_of[1:] != image_of[:-1]])
    per_image = np.minimum.reduceat(nearest, starts, axis=0)
    ink = np.clip(half_width[:, None] + np.float32(0.5) - np.sqrt(per_image), 0, 1)
    return ink.reshape(n_images, size, size)


def _render_classes(
    seed: int, classes: range, n: int, size: int, distortion: float, noise: float
) -> np.ndarray:
    polylines, image_of, half_width, ink, pixel_noise = [], [], [], [], []
    for i, k in enumerate(classes):
        rng = np.random.default_rng([seed, k, 1])
        warped = _warp(_polyline(prototype(seed, k)), n, rng, distortion)  # [n, P, T, 2]
        polylines.append(warped.reshape(-1, POINTS_PER_PIECE, 2))
        image_of.append(np.repeat(np.arange(i * n, (i + 1) * n), warped.shape[1]))
        u = rng.uniform(0.0, 1.0, (2, n))
        half_width.append((0.7 + 0.8 * u[0]) * size / 28)
        ink.append(0.7 + 0.3 * u[1])
        pixel_noise.append(rng.uniform(-1.0, 1.0, (2, n, size, size)).sum(0) / 2)
    # Glyph units to pixels: [-1, 1] spans 80 % of the image, y pointing up.
    points = np.concatenate(polylines)
    pixels = np.stack(
        [size / 2 + 0.4 * size * points[..., 0], size / 2 - 0.4 * size * points[..., 1]], -1
    )
    images = _render(
        pixels,
        np.concatenate(image_of),
        len(classes) * n,
        np.concatenate(half_width).astype(np.float32),
        size,
    )
    images = images * np.concatenate(ink).astype(np.float32)[:, None, None]
    images = images + np.float32(noise) * np.concatenate(pixel_noise).astype(np.float32)
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)


def glyphs(
    seed: int = 0,
    *,
    n_classes: int = 200,
    samples_per_class: int = 40,
    image_size: int = 28,
    distortion: float = 1.0,
    noise: float = 0.15,
    train_classes: Sequence[int] | None = None,
) -> Dataset:
    """The procedural glyph set as float images ``[N, 1, S, S]`` in [0, 1].

    ``distortion`` scales every warp range (0 gives the same image ``samples_per_class``
    times, up to noise); ``noise`` is the amplitude of the pixel noise. The default split is
    the first half of the classes for training, the second half for testing.

    >>> ds = glyphs(n_classes=6, samples_per_class=3, image_size=16)
    >>> tuple(ds.train.x.shape), ds.train.classes, ds.test.classes
    ((9, 1, 16, 16), [0, 1, 2], [3, 4, 5])
    """
    n_classes = check_int("n_classes", n_classes, 4, MAX_CLASSES)
    samples_per_class = check_int("samples_per_class", samples_per_class, 2, MAX_SAMPLES_PER_CLASS)
    image_size = check_int("image_size", image_size, 12, 28)
    distortion = check_float("distortion", distortion, 0.0, 2.0)
    noise = check_float("noise", noise, 0.0, 1.0)
    if train_classes is None:
        train_classes = default_train_classes(n_classes, interleaved=False)
    train_classes = check_train_classes(train_classes, n_classes)
    pixels = _render_classes(
        seed, range(n_classes), samples_per_class, image_size, distortion, noise
    )
    x = (pixels.astype(np.float32) / 255)[:, None]
    y = np.repeat(np.arange(n_classes, dtype=np.int64), samples_per_class)
    names = [f"glyph {k}" for k in range(n_classes)]
    n_train = len(train_classes)
    description = (
        f"Procedural glyphs: {n_classes} random stroke shapes, {samples_per_class} warped and"
        f" noisy {image_size}×{image_size} drawings each; {n_train} classes train,"
        f" {n_classes - n_train} unseen classes test."
    )
    options = dict(
        n_classes=n_classes,
        samples_per_class=samples_per_class,
        image_size=image_size,
        distortion=distortion,
        noise=noise,
    )
    return assemble(
        "glyphs", x, y, names, train_classes, description, is_image=True, seed=seed, options=options
    )
