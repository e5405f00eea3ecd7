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


def _check(synthesis: str, mode: str, metric: str, labels: Tensor) -> None:
    check_method(synthesis)
    if mode not in MODES:
        raise ValueError(f"unknown mining mode {mode!r}; choose one of {', '.join(MODES)}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if synthesis != "none":
        check_pairs(labels)


def _score(gram: Tensor, metric: str) -> Tensor:
    """Similarity as is, or −squared distance from dot products (harder = larger either way)."""
    if metric == "dot":
        return gram
    sq = gram.diagonal()
    return 2 * gram - sq[:, None] - sq[None, :]


def _coefficients(
    embeddings: Tensor, gram: Tensor, synthesis: str, alpha: float, beta: float, n_inner: int
) -> tuple[Tensor, Tensor]:
    """W [M, G, 2] of every group (synthesis.group_coefficients), pair Grams [M, 2, 2]."""
    m = gram.shape[0] // 2
    pair_gram = gram.view(m, 2, m, 2).diagonal(dim1=0, dim2=2).permute(2, 0, 1)
    normalize = synthesis == "ee" and is_normalized(embeddings)
    return group_coefficients(pair_gram, synthesis, alpha, beta, n_inner, normalize), pair_gram


def group_similarities(
    embeddings: Tensor,
    labels: Tensor,
    synthesis: str,
    alpha: float = 2.0,
    beta: float = 1.0,
    n_inner: int = 2,
) -> Tensor:
    """S [M, G, M, G]: dot product of member g of pair m with member h of pair n.

    Members are ordered a, p, then the synthetic points as ``synthesize`` makes them.
    Every member is W[m, g]·(a_m, p_m), so S = W G Wᵀ blockwise, from the batch Gram matrix G.
    """
    _check(synthesis, "pair", "dot", labels)
    gram = embeddings @ embeddings.T
    w, _ = _coefficients(embeddings, gram, synthesis, alpha, beta, n_inner)
    m = gram.shape[0] // 2
    return torch.einsum("mgi,minj,nhj->mgnh", w, gram.view(m, 2, m, 2), w)


@dataclass(frozen=True)
class _Hardest:
    """The hardest score per (row group or anchor, column group) and the members that gave it:
    pair mode [M, M] with ``left``/``right`` member numbers; anchor mode [B, M], ``right`` only."""

    score: Tensor
    left: Tensor | None
    right: Tensor
    members: int


def _hardest(
    embeddings: Tensor, labels: Tensor, gram: Tensor, synthesis: str, mode: str, metric: str,
    alpha: float, beta: float, n_inner: int, explicit: bool,
) -> _Hardest:  # fmt: skip
    """Choose the hardest member pairs without a gradient, then compute just those scores with
    one: the same gradient as through a max, without back-propagating through all G×G."""
    b, m, dev = labels.numel(), labels.numel() // 2, embeddings.device
    w, pair_gram = _coefficients(embeddings, gram, synthesis, alpha, beta, n_inner)
    g = w.shape[1]
    blocks = gram.view(m, 2, m, 2).permute(0, 2, 1, 3)  # [M, M, 2, 2]: pair m × pair n
    sq = _bilinear(w, pair_gram[:, None], w)  # [M, G] squared norms of the members
    if explicit:
        points = points_table(embeddings, labels, synthesis, alpha, beta, n_inner).points
        full = points @ points.T
        rows = _member_rows(m, g, dev)
    with torch.no_grad():
        if explicit:
            s = (
                full[:b][:, rows]
                if mode == "anchor"
                else full[rows[:, None, :, None], rows[:, None]]
            )
        else:  # originals × members [B, M, G], then members × members [M, M, G, G]
            s = torch.einsum("inj,nhj->inh", gram.view(b, m, 2), w)
            if mode == "pair":
                s = torch.einsum("mgi,minh->mngh", w, s.view(m, 2, m, g))
        # −‖u − v‖² = 2 u·v − ‖u‖² − ‖v‖²: with equal norms (unit embeddings; reflections keep
        # the norm, EE re-normalises) the closest pair is the most similar one, so skip the rest
        equal_norms = bool(sq.max() - sq.min() <= 1e-6 * sq.max().clamp_min(1e-12))
        if metric == "euclidean" and not equal_norms and mode == "pair":
            s = 2 * s - sq[:, None, :, None] - sq[None, :, None, :]
        elif metric == "euclidean" and not equal_norms:
            s = 2 * s - gram.diagonal()[:, None, None] - sq[None]
        if mode == "pair":
            choice = s.reshape(m, m, g * g).argmax(-1)
            left, right = choice // g, choice % g  # [M, M] member numbers
        else:
            left, right = None, s.argmax(-1)  # [B, M]
    cols = torch.arange(m, device=dev)[None, :]
    w_right = w[cols, right]  # [rows, M, 2]
    if mode == "pair":
        w_left = w[cols.T, left]
        if explicit:
            score = full[rows[cols.T, left], rows[cols, right]]
        else:
            score = _bilinear(w_left, blocks, w_right)
        if metric == "euclidean":
            score = 2 * score - sq[cols.T, left] - sq[cols, right]
    else:
        if explicit:
            score = full[torch.arange(b, device=dev)[:, None], rows[cols, right]]
        else:
            score = (gram.view(b, m, 2) * w_right).sum(-1)
        if metric == "euclidean":
            score = 2 * score - gram.diagonal()[:, None] - sq[cols, right]
    return _Hardest(score, left, right, g)


def _bilinear(u: Tensor, blocks: Tensor, v: Tensor) -> Tensor:
    """u·B·vᵀ over the last two axes, broadcast: u [..., 2], B [..., 2, 2], v [..., 2]."""
    return (u[..., :, None] * blocks * v[..., None, :]).sum((-2, -1))


def _expand(grouped: Tensor, mode: str) -> Tensor:
    """Group-level values to [B, B]: [M, M] (pair) or [B, M] (anchor) repeated per member."""
    if mode == "pair":
        m = grouped.shape[0]
        return grouped[:, None, :, None].expand(m, 2, m, 2).reshape(2 * m, 2 * m)
    b, m = grouped.shape
    return grouped[:, :, None].expand(b, m, 2).reshape(b, 2 * m)


def mined_scores(
    embeddings: Tensor,
    labels: Tensor,
    synthesis: str,
    mode: str = "pair",
    metric: str = "dot",
    alpha: float = 2.0,
    beta: float = 1.0,
    n_inner: int = 2,
) -> Tensor:
    """[B, B] scores a loss uses: the plain ones, with hard negative pair mining on the
    different-label entries. The lean path of :func:`mine` (no indices), used in training."""
    _check(synthesis, mode, metric, labels)
    gram = embeddings @ embeddings.T
    original = _score(gram, metric)
    if synthesis == "none":
        return original
    hard = _hardest(embeddings, labels, gram, synthesis, mode, metric, alpha, beta, n_inner, False)
    return torch.where(labels[:, None] != labels[None, :], _expand(hard.score, mode), original)


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
    """Hard negative pair mining with what was chosen; ``synthesis="none"`` mines nothing.

    >>> import torch
    >>> e = torch.nn.functional.normalize(torch.randn(6, 3), dim=1)
    >>> mined = mine(e, torch.tensor([0, 0, 1, 1, 2, 2]), "symm")
    >>> mined.score.shape, bool((mined.score >= e @ e.T - 1e-6).all())
    (torch.Size([6, 6]), True)
    """
    _check(synthesis, mode, metric, labels)
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

    hard = _hardest(
        embeddings, labels, gram, synthesis, mode, metric, alpha, beta, n_inner, explicit
    )
    m, g = b // 2, hard.members
    rows = _member_rows(m, g, dev)
    cols = torch.arange(m, device=dev)[None, :]
    hard_second = rows[cols, hard.right]
    hard_first = eye[:, None].expand(b, m) if mode == "anchor" else rows[cols.T, hard.left]
    return Mined(
        score=torch.where(negative, _expand(hard.score, mode), original),
        first=torch.where(negative, _expand(hard_first, mode), first),
        second=torch.where(negative, _expand(hard_second, mode), second),
        negative=negative,
        synthetic=torch.arange(b + m * (g - 2), device=dev) >= b,
    )


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
