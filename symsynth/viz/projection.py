"""A projection of D-dimensional embeddings to 2-D that does not jump from frame to frame.

Live views of high-dimensional embeddings need milliseconds and stability, so they use a fixed
linear basis: the top principal directions of the embeddings the projection was fitted on
(uncentred, so that unit vectors land inside the unit disc), with signs fixed so that refitting
on the same data gives the same picture. Embeddings of dimension 2 or 3 are shown as they are,
on their circle or sphere.
"""

from __future__ import annotations

import numpy as np


class FixedProjection:
    """Fit once (``fit``), then map every later frame with the same basis (``transform``)."""

    def __init__(self, n_components: int = 2):
        if n_components not in (2, 3):
            raise ValueError(f"n_components must be 2 or 3, got {n_components}")
        self.n_components = n_components
        self.basis: np.ndarray | None = None  # [k, D], or None for the identity

    @property
    def fitted(self) -> bool:
        return self.basis is not None

    def fit(self, x) -> FixedProjection:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"fit needs a non-empty [N, D] array, got shape {x.shape}")
        d = x.shape[1]
        if d < 2:
            raise ValueError(f"embeddings need at least 2 dimensions to draw, got {d}")
        if d <= 3:
            self.basis = np.eye(d)
            return self
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        basis = vt[: self.n_components]
        # Make each direction's largest loading positive, so the result is deterministic.
        flip = np.sign(basis[np.arange(len(basis)), np.abs(basis).argmax(1)])
        self.basis = basis * flip[:, None]
        return self

    def transform(self, x) -> np.ndarray:
        if self.basis is None:
            raise RuntimeError("call fit() before transform()")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.basis.shape[1]:
            raise ValueError(f"expected [N, {self.basis.shape[1]}], got shape {x.shape}")
        return x @ self.basis.T

    @property
    def manifold(self) -> str | None:
        """'circle' or 'sphere' when the embeddings are shown as they are, else None."""
        if self.basis is None or self.basis.shape[0] != self.basis.shape[1]:
            return None
        return {2: "circle", 3: "sphere"}.get(self.basis.shape[0])
