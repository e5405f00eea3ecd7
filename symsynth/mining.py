"""Hard negative pair mining over groups of original and synthetic points.

Each positive pair m (rows 2m, 2m+1) and its synthetic points form a *group* with the pair's
label. Wherever a loss compares two points of different classes, mining replaces their
similarity by the hardest one between their groups:

    pair mode   (contrastive, lifted, N-pair, angular):  s(i, k) ← max_{u ∈ G(i), v ∈ G(k)} s(u, v)
    anchor mode (triplet, semi-hard triplet):            s(i, k) ← max_{v ∈ G(k)} s(x_i, v)

Same-class entries keep their original value: positive terms always use the original pair.
With ``metric="euclidean"`` the score is −‖u − v‖² (harder = larger), so the hardest pair is
the closest one.

Every group member is a linear combination W·(a, p) of its pair (``synthesis.group_coefficients``),
so all group similarities follow from the batch Gram matrix E·Eᵀ the baseline computes anyway:

    S[m, g, n, h] = Σ_ij W[m, g, i] · G[2m + i, 2n + j] · W[n, h, j]

an O(B²) einsum instead of a (B + S) × (B + S) × D product. ``explicit=True`` materialises the
points and multiplies them out instead; both paths agree (tests check it) and the app uses the
point table to draw what was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from symsynth.synthesis import (
    check_method,
    check_pairs,
    group_coefficients,
    is_normalized,
    synthesize,
)

MODES = ("pair", "anchor")
METRICS = ("dot", "euclidean")


@dataclass(frozen=True)
class PointTable:
    """Originals first (rows 0..B-1), then the synthetic points of ``synthesize``."""

    points: Tensor
    labels: Tensor
    synthetic: Tensor
    pair: Tensor


@dataclass(frozen=True)
class Mined:
    """Mined scores between the batch's original points.

    ``score[i, k]``: the score a loss uses for rows i and k (similarity, or −squared distance);
    for ``negative[i, k]`` (different labels) that of the hardest group pair, else the original.
    ``first[i, k]``, ``second[i, k]``: the rows of the point table that were compared.
    ``synthetic[j]``: whether row j of the point table is synthetic.
    """

    score: Tensor
    first: Tensor
    second: Tensor
    negative: Tensor
    synthetic: Tensor


@dataclass(frozen=True)
class MinedPairs:
    """The hardest mined negative of each batch row (one line per anchor in the app)."""

    anchor: Tensor
    first: Tensor
    second: Tensor
    first_synthetic: Tensor
    second_synthetic: Tensor
    score: Tensor


def points_table(
    embeddings: Tensor,
    labels: Tensor,
    synthesis: str,
    alpha: float = 2.0,
    beta: float = 1.0,
    n_inner: int = 2,
) -> PointTable:
    """The batch's originals followed by its synthetic points, with labels and flags."""
    syn = synthesize(embeddings, labels, synthesis, alpha, beta, n_inner)
    b = labels.numel()
    pair = torch.arange(b, device=labels.device) // 2
    return PointTable(
        points=torch.cat([embeddings, syn.points]),
        labels=torch.cat([labels, syn.labels]),
        synthetic=torch.cat(
            [torch.zeros(b, dtype=torch.bool), torch.ones(syn.labels.numel(), dtype=torch.bool)]
        ).to(labels.device),
        pair=torch.cat([pair, syn.pair]),
    )


def _member_rows(m: int, per_group: int, device: torch.device) -> Tensor:
    """[M, G] point-table row of member g of pair m (originals 2m, 2m+1, then synthetic)."""
    pairs = torch.arange(m, device=device)[:, None]
    originals = torch.cat([2 * pairs, 2 * pairs + 1], 1)
    n_syn = per_group - 2
    synthetic = 2 * m + pairs * n_syn + torch.arange(n_syn, device=device)[None, :]
    return torch.cat([originals, synthetic], 1)


def _coefficients(embeddings: Tensor, gram: Tensor, synthesis: str, alpha, beta, n_inner) -> Tensor:
    m = gram.shape[0] // 2
    idx = torch.arange(m, device=gram.device)
    pair_gram = gram.view(m, 2, m, 2)[idx, :, idx, :]  # [M, 2, 2]
    normalize = synthesis == "ee" and is_normalized(embeddings)
    return group_coefficients(pair_gram, synthesis, alpha, beta, n_inner, normalize)


def group_similarities(
    embeddings: Tensor,
    labels: Tensor,
    synthesis: str,
    alpha: float = 2.0,
    beta: float = 1.0,
    n_inner: int = 2,
    gram: Tensor | None = None,
) -> Tensor:
    """S [M, G, M, G]: dot product of member g of pair m with member h of pair n.

    Members are ordered a, p, then the synthetic points as ``synthesize`` makes them.
    """
    check_method(synthesis)
    check_pairs(labels)
    if gram is None:
        gram = embeddings @ embeddings.T
    m = labels.numel() // 2
    w = _coefficients(embeddings, gram, synthesis, alpha, beta, n_inner)
    return torch.einsum("mgi,minj,nhj->mgnh", w, gram.view(m, 2, m, 2), w)


def mine(
    embeddings: Tensor,
    labels: Tensor,
    synthesis: str,
    mode: str = "pair",
    metric: str = "dot",
    alpha: float = 2.0,
    beta: float = 1.0,
    n_inner: int = 2,
    explicit: bool = False,
) -> Mined:
    """Hard negative pair mining for a batch; ``synthesis="none"`` leaves every score as it is.

    >>> import torch
    >>> e = torch.nn.functional.normalize(torch.randn(6, 3), dim=1)
    >>> mined = mine(e, torch.tensor([0, 0, 1, 1, 2, 2]), "symm")
    >>> mined.score.shape, bool((mined.score >= e @ e.T - 1e-6).all())
    (torch.Size([6, 6]), True)
    """
    check_method(synthesis)
    if mode not in MODES:
        raise ValueError(f"unknown mining mode {mode!r}; choose one of {', '.join(MODES)}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    b, dev = labels.numel(), embeddings.device
    gram = embeddings @ embeddings.T
    original = _score(gram, metric)
    negative = labels[:, None] != labels[None, :]
    eye = torch.arange(b, device=dev)
    first, second = eye[:, None].expand(b, b), eye[None, :].expand(b, b)
    if synthesis == "none":
        return Mined(
            original, first, second, negative, torch.zeros(b, dtype=torch.bool, device=dev)
        )

    check_pairs(labels)
    m = b // 2
    if explicit:
        points = points_table(embeddings, labels, synthesis, alpha, beta, n_inner).points
        g = (points.shape[0] - b) // m + 2
        rows = _member_rows(m, g, dev)
        s = (points @ points.T)[rows[:, :, None, None], rows[None, None, :, :]]
    else:
        s = group_similarities(embeddings, labels, synthesis, alpha, beta, n_inner, gram)
        g = s.shape[1]
        rows = _member_rows(m, g, dev)
    s = _score(s, metric)  # [M, G, M, G]
    pairs = torch.arange(m, device=dev)
    if mode == "anchor":  # the anchor itself against every member of the other group
        best, h = s[eye // 2, eye % 2].max(-1)  # [B, M]
        hard_first = eye[:, None].expand(b, m)
        hard_second = rows[pairs[None, :], h]
    else:  # every member of one group against every member of the other
        best, gh = s.permute(0, 2, 1, 3).reshape(m, m, g * g).max(-1)  # [M, M]
        hard_first = rows[pairs[:, None], gh // g]
        hard_second = rows[pairs[None, :], gh % g]
        best, hard_first, hard_second = (
            t.repeat_interleave(2, 0) for t in (best, hard_first, hard_second)
        )
    best, hard_first, hard_second = (
        t.repeat_interleave(2, 1) for t in (best, hard_first, hard_second)
    )
    synthetic = torch.arange(b + m * (g - 2), device=dev) >= b
    return Mined(
        score=torch.where(negative, best, original),
        first=torch.where(negative, hard_first, first),
        second=torch.where(negative, hard_second, second),
        negative=negative,
        synthetic=synthetic,
    )


def _score(s: Tensor, metric: str) -> Tensor:
    """Similarity as is, or −squared distance from dot products (harder = larger either way)."""
    if metric == "dot":
        return s
    if s.dim() == 2:
        sq = s.diagonal()
        return 2 * s - sq[:, None] - sq[None, :]
    sq = torch.einsum("mgmg->mg", s)
    return 2 * s - sq[:, :, None, None] - sq[None, None, :, :]


def hardest_negatives(mined: Mined) -> MinedPairs:
    """Per batch row, the hardest mined negative: what the app draws as a line."""
    masked = mined.score.masked_fill(~mined.negative, float("-inf"))
    score, col = masked.max(1)
    anchor = torch.arange(score.numel(), device=score.device)
    keep = torch.isfinite(score)
    first, second = mined.first[anchor, col], mined.second[anchor, col]
    return MinedPairs(
        anchor=anchor[keep],
        first=first[keep],
        second=second[keep],
        first_synthetic=mined.synthetic[first[keep]],
        second_synthetic=mined.synthetic[second[keep]],
        score=score[keep],
    )
