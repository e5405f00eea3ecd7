"""What every loss shares: input checks, hard negative pair mining, and plain means.

A loss subclass sets how it mines (``mode``: "pair" or "anchor"; ``metric``: "dot" or
"euclidean"), whether it L2-normalises its input, and implements ``compute(score, labels,
embeddings)`` from the mined score matrix. With ``synthesis="none"`` the score matrix is the
plain similarity (or −squared distance) matrix, so the same ``compute`` is the baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symsynth.mining import Mined, mine, mined_scores
from symsynth.synthesis import check_method


class LossOverflow(ValueError):
    """The loss came out NaN/inf from finite embeddings (too large for the formula)."""


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask`` holds; 0 (with a gradient path) when nothing does."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1)


def distance(score: Tensor) -> Tensor:
    """Euclidean distance from a −squared-distance score (clamped so d = 0 has a gradient)."""
    return (-score).clamp_min(1e-12).sqrt()


def positive_mask(labels: Tensor) -> Tensor:
    """[B, B] True for ordered pairs (i, j), i ≠ j, of the same label."""
    same = labels[:, None] == labels[None, :]
    return same & ~torch.eye(labels.numel(), dtype=torch.bool, device=labels.device)


def positive_pairs(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Row indices (a, p) of every ordered same-label pair, a ≠ p."""
    return positive_mask(labels).nonzero(as_tuple=True)


class MetricLoss(nn.Module):
    """Base class: ``loss(embeddings [B, D], labels [B]) -> scalar``."""

    mode = "pair"
    metric = "dot"
    normalize = True

    def __init__(
        self, synthesis: str = "none", alpha: float = 2.0, beta: float = 1.0, n_inner: int = 2
    ) -> None:
        super().__init__()
        check_method(synthesis)
        self.synthesis, self.alpha, self.beta, self.n_inner = synthesis, alpha, beta, n_inner

    def prepare(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Validate the batch and return the embeddings the loss works on."""
        if not isinstance(embeddings, Tensor) or embeddings.dim() != 2:
            shape = getattr(embeddings, "shape", type(embeddings).__name__)
            raise ValueError(f"embeddings must be a [B, D] tensor, got {shape}")
        if not isinstance(labels, Tensor) or labels.shape != (embeddings.shape[0],):
            raise ValueError(
                f"labels must be a [B] tensor matching {embeddings.shape[0]} embeddings, "
                f"got {getattr(labels, 'shape', labels)}"
            )
        if embeddings.shape[0] < 2:
            raise ValueError(f"a batch needs at least 2 rows, got {embeddings.shape[0]}")
        if not torch.isfinite(embeddings).all():
            raise ValueError(
                "embeddings contain NaN or inf; lower the learning rate or check inputs"
            )
        return F.normalize(embeddings, dim=1) if self.normalize else embeddings

    def mine(self, embeddings: Tensor, labels: Tensor) -> Mined:
        """The mined scores this loss uses (also what the app draws)."""
        return mine(
            embeddings, labels, self.synthesis, self.mode, self.metric,
            self.alpha, self.beta, self.n_inner,
        )  # fmt: skip

    def scores(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """The [B, B] score matrix ``compute`` works on: plain, or mined with synthesis."""
        return mined_scores(
            embeddings, labels, self.synthesis, self.mode, self.metric,
            self.alpha, self.beta, self.n_inner,
        )  # fmt: skip

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        e = self.prepare(embeddings, labels)
        loss = self.compute(self.scores(e, labels), labels, e)
        if not torch.isfinite(loss):
            raise LossOverflow(
                f"the {type(self).__name__} overflowed to {loss.item()}; the embeddings are too"
                f" large (max |x| = {embeddings.detach().abs().max().item():.3g})."
                " Normalise them or lower the learning rate."
            )
        return loss

    def compute(self, score: Tensor, labels: Tensor, embeddings: Tensor) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"synthesis={self.synthesis!r}"


class MarginPairLoss(MetricLoss):
    """A distance loss with a positive and a negative margin (contrastive, lifted)."""

    mode, metric = "pair", "euclidean"

    def __init__(
        self, synthesis: str = "none", pos_margin: float = 0.0, neg_margin: float = 1.0, **kw
    ) -> None:
        super().__init__(synthesis, **kw)
        self.pos_margin, self.neg_margin = pos_margin, neg_margin
