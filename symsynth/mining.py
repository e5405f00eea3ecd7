"""Hard negative pair mining over groups of original and synthetic points.

Each positive pair m (rows 2m, 2m+1) and its synthetic points form a *group* with the pair's
label. Wherever a loss compares two points of different classes, mining replaces their
similarity by the hardest one between their groups:

    pair mode   (contrastive, lifted, N-pair, angular):  s(i, k) ← max_{u ∈ G(i), v ∈ G(k)} s(u, v)
    anchor mode (triplet, semi-hard triplet):            s(i, k) ← max_{v ∈ G(k)} s(x_i, v)

Same-class entries keep their original value: positive terms always use the original pair.
With ``metric="euclidean"`` the score is −‖u − v‖² (harder = larger), so the hardest pair is
the closest one.

Every group member is a linear combination of its pair, W[g, 0, m]·a_m + W[g, 1, m]·p_m
(``synthesis.coefficient_planes``), so all group similarities follow from the batch Gram matrix
E·Eᵀ the baseline computes anyway:

    S[g, h, m, n] = Σ_ij W[g, i, m] · G[2m + i, 2n + j] · W[h, j, n]

O(B²) element-wise work instead of a (B + S) × (B + S) × D product. The hardest member pair is
chosen without a gradient (all of S, laid out plane by plane: [G, G, M, M]); only the chosen
scores are then recomputed with one, by ``_ChosenScores``, a gather and a bilinear form with a
hand-written backward (autograd would spend more time on the bookkeeping of the many tiny ops
than on the arithmetic). ``explicit=True`` materialises the points and multiplies them out
instead; both paths agree, gradients included (tests check it), and the app uses the point
table to draw what was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from symsynth.synthesis import (
    check_method,
    check_pairs,
    coefficient_planes,
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


def _members(
    embeddings: Tensor, gram: Tensor, synthesis: str, metric: str,
    alpha: float, beta: float, n_inner: int,
) -> Tensor:  # fmt: skip
    """[G, P, M] per group member: its coefficients (member g of pair m is W[g, 0, m]·a_m +
    W[g, 1, m]·p_m, ``synthesis.coefficient_planes``) and, for distances, its squared norm."""
    m = gram.shape[0] // 2
    pair_gram = gram.view(m, 2, m, 2).diagonal(dim1=0, dim2=2)  # [i, j, m] = (2m + i)·(2m + j)
    aa, ap, _, pp = pair_gram.reshape(4, m).unbind()
    normalize = synthesis == "ee" and is_normalized(embeddings)
    w = coefficient_planes(aa, ap, pp, synthesis, alpha, beta, n_inner, normalize)
    if metric == "dot":
        return w
    sq = (w[:, :, None] * pair_gram * w[:, None]).sum((1, 2))  # Σ_ij W_i W_j (i·j)
    return torch.cat([w, sq[:, None]], 1)


def _blocks(gram: Tensor, mode: str) -> Tensor:
    """The Gram matrix as contiguous planes [I, J, R, N]: (original i of row r)·(original j of
    pair n). The rows are the pairs (I = 2) in pair mode, the single points (I = 1) in anchor
    mode. Contiguous, so that everything computed from it is laid out plane by plane too."""
    b = gram.shape[0]
    if mode == "pair":
        return gram.view(b // 2, 2, b // 2, 2).permute(1, 3, 0, 2).contiguous()
    return gram.view(b, b // 2, 2).permute(2, 0, 1)[None].contiguous()


def _dots(blocks: Tensor, w_col: Tensor, w_row: Tensor | None) -> Tensor:
    """[Gr, Gc, R, N]: Σ_ij w_row[g, i]·blocks[i, j]·w_col[h, j], the dot product of member g of
    row r with member h of column pair n. ``w_row`` [Gr, 2+, R or 1, N or 1] and ``w_col``
    [Gc, 2+, R or 1, N or 1] (coefficients first) broadcast over the R × N plane;
    ``w_row=None``: the rows are the original points themselves (anchor mode, I = 1)."""
    t = blocks  # t[g, j]: row member g · original j of column pair n
    if w_row is not None:
        (b0, b1), (r0, r1, *_) = blocks.unbind(0), w_row[:, :, None].unbind(1)
        t = (b0 * r0).addcmul_(b1, r1)
    (t0, t1), (c0, c1, *_) = t[:, None].unbind(2), w_col.unbind(1)
    return (t0 * c0).addcmul_(t1, c1)


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
    Every member is W[g, :, m]·(a_m, p_m), so S = W G Wᵀ blockwise, from the batch Gram matrix G.
    """
    _check(synthesis, "pair", "dot", labels)
    gram = embeddings @ embeddings.T
    w = _members(embeddings, gram, synthesis, "dot", alpha, beta, n_inner)
    s = _dots(_blocks(gram, "pair"), w[:, :, None, :], w[:, :, :, None])  # [G, G, M, M]
    return s.permute(2, 0, 3, 1)


def _first_argmax(s: Tensor) -> Tensor:
    """[R, N] argmax over dim 0 of s [K, R, N], the first index on ties.

    torch.argmax across a leading dimension is slow on CPU (~20× amax); a max pool over that
    dimension, with s read as a channels-last image of R·N channels, is vectorised."""
    k = s.shape[0]
    image = s.reshape(1, k, 1, -1).permute(0, 3, 1, 2)  # [1, R·N, K, 1], channels last
    return F.max_pool2d(image, (k, 1), return_indices=True)[1].view(s.shape[1:])


def _pick(table: Tensor, member: Tensor) -> Tensor:
    """[P, R, N]: columns ``member`` [R, N] of ``table`` [P, G·M]."""
    return table.index_select(1, member.flatten()).view(len(table), *member.shape)


class _ChosenScores(torch.autograd.Function):
    """The scores of the chosen member pairs, [R, N], with a hand-written gradient:

        dot[r, n] = Σ_ij L[i, r, n]·blocks[i, j, r, n]·R[j, r, n]
        score     = dot, or 2·dot − L[2] − R[2] = −‖u − v‖² for distances (``euclidean``)

    R = table[:, right] holds the chosen column members' values (the two coefficients, then the
    squared norm), L = table[:, left] the row members'; in anchor mode (``left`` None) the row
    is the original point itself (blocks [1, 2, R, N]) with squared norm ``row_sq`` [R, 1].
    ``table`` [P, G·M] keeps member g of pair n in column g·M + n. Autograd would record some
    forty small nodes for this gather and bilinear form; one node is several times cheaper."""

    @staticmethod
    def forward(ctx, blocks, table, right, left, row_sq, euclidean):  # noqa: D102
        r = _pick(table, right)  # [P, R, N]
        ell = None if left is None else _pick(table, left)
        t = blocks[0] if ell is None else ell[0] * blocks[0] + ell[1] * blocks[1]  # [2, R, N]
        score = t[0] * r[0] + t[1] * r[1]
        if euclidean:
            score = 2 * score - r[2] - (row_sq if ell is None else ell[2])
        ctx.save_for_backward(blocks, table, right, left, r, ell, t)
        ctx.euclidean = euclidean
        return score

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        blocks, table, right, left, r, ell, t = ctx.saved_tensors
        d = 2 * grad if ctx.euclidean else grad  # ∂score/∂dot
        dt = r[:2] * d
        d_right = t * d
        if ctx.euclidean:
            d_right = torch.cat([d_right, -grad[None]])
        d_table = torch.zeros_like(table).index_add_(1, right.flatten(), d_right.flatten(1))
        d_row_sq = None
        if ell is None:
            d_blocks = dt[None]
            d_row_sq = -grad.sum(1, keepdim=True) if ctx.euclidean else None
        else:
            d_blocks = ell[:2, None] * dt
            d_left = (blocks * dt).sum(1)
            if ctx.euclidean:
                d_left = torch.cat([d_left, -grad[None]])
            d_table.index_add_(1, left.flatten(), d_left.flatten(1))
        return d_blocks, d_table, None, None, d_row_sq, None


@dataclass(frozen=True)
class _Hardest:
    """The hardest score per row (pair, or anchor point) and column pair, [M, M] or [B, M], and
    the members that gave it as member numbers g·M + n (``left`` None in anchor mode: there it is
    the anchor itself); ``members`` G per group."""

    score: Tensor
    left: Tensor | None
    right: Tensor
    members: int


def _hardest(
    embeddings: Tensor, labels: Tensor, gram: Tensor, synthesis: str, mode: str, metric: str,
    alpha: float, beta: float, n_inner: int, explicit: bool,
) -> _Hardest:  # fmt: skip
    """Choose the hardest member pairs without a gradient, then compute just those scores with
    one: the same gradient as through a max, without back-propagating through all G×G.

    The dot products of all member pairs, [Gr, Gc, R, N], come from the Gram matrix (``_dots``),
    or with ``explicit`` from the materialised point table (then so do the chosen scores)."""
    b, m, dev = labels.numel(), labels.numel() // 2, embeddings.device
    members = _members(embeddings, gram, synthesis, metric, alpha, beta, n_inner)  # [G, P, M]
    g, pair, euclidean = members.shape[0], mode == "pair", metric == "euclidean"
    rows = torch.arange(m if pair else b, device=dev)[:, None]  # row r's own pair, or point
    cols = torch.arange(m, device=dev)[None, :]
    blocks = _blocks(gram, mode)
    if explicit:
        points = points_table(embeddings, labels, synthesis, alpha, beta, n_inner).points
        full = points @ points.T
        table_rows = _member_rows(m, g, dev).T.reshape(g, 1, m)  # point-table row per member
    with torch.no_grad():
        if explicit:
            s = full[(table_rows.transpose(1, 2) if pair else rows[None])[:, None], table_rows]
        else:
            s = _dots(blocks, members[:, :, None], members[..., None] if pair else None)
        # −‖u − v‖² = 2 u·v − ‖u‖² − ‖v‖²: with equal norms (unit embeddings; reflections keep
        # the norm, EE re-normalises) the closest pair is the most similar one, so skip the rest
        if euclidean and _unequal(members[:, 2]):
            sq = members[:, 2, None]  # [G, 1, M]
            sq_row = sq.transpose(1, 2) if pair else gram.diagonal()[None, :, None]  # [Gr, R, 1]
            s = 2 * s - sq_row[:, None] - sq
        choice = _first_argmax(s.flatten(0, 1))  # left member · G + right member
        right = choice % g * m + cols  # member numbers g·M + n
        left = choice // g * m + rows if pair else None
    if explicit:
        table_rows = table_rows.flatten()
        first, second = table_rows[left] if pair else rows, table_rows[right]
        score = full[first, second]
        if euclidean:
            score = 2 * score - full.diagonal()[first] - full.diagonal()[second]
    else:
        table = members.transpose(0, 1).reshape(-1, g * m)  # [P, G·M]
        row_sq = None if pair or not euclidean else gram.diagonal()[:, None]
        score = _ChosenScores.apply(blocks, table, right, left, row_sq, euclidean)
    return _Hardest(score, left, right, g)


def _unequal(values: Tensor) -> bool:
    """Whether the values differ by more than rounding (relative 1e-6)."""
    lo, hi = torch.stack(values.aminmax()).tolist()
    return hi - lo > 1e-6 * max(abs(hi), 1e-12)


def _expand(grouped: Tensor, mode: str) -> Tensor:
    """Group-level values to [B, B]: [M, M] (pair) or [B, M] (anchor) repeated per member."""
    twice = torch.stack([grouped, grouped], 2).flatten(1)  # columns 2n, 2n + 1
    return torch.stack([twice, twice], 1).flatten(0, 1) if mode == "pair" else twice


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


def mined_pair_scores(
    embeddings: Tensor,
    labels: Tensor,
    synthesis: str,
    metric: str = "dot",
    alpha: float = 2.0,
    beta: float = 1.0,
    n_inner: int = 2,
) -> Tensor:
    """[M, M] pair-mode scores between the first and the second row of every pair, a_m × p_n:
    ``mined_scores(..., mode="pair")[0::2, 1::2]`` without the [B, B] detour (N-pair's logits).
    """
    _check(synthesis, "pair", metric, labels)
    if synthesis == "none":
        return _score(embeddings @ embeddings.T, metric)[0::2, 1::2]
    gram = embeddings @ embeddings.T
    hard = _hardest(
        embeddings, labels, gram, synthesis, "pair", metric, alpha, beta, n_inner, False
    )
    original = _score(gram, metric)[0::2, 1::2]
    return torch.where(labels[0::2, None] != labels[None, 1::2], hard.score, original)


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
    b, m, dev = labels.numel(), labels.numel() // 2, embeddings.device
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
    table_rows = _member_rows(m, hard.members, dev).T.flatten()  # by member number g·M + n
    hard_second = table_rows[hard.right]
    hard_first = eye[:, None].expand(b, m) if hard.left is None else table_rows[hard.left]
    return Mined(
        score=torch.where(negative, _expand(hard.score, mode), original),
        first=torch.where(negative, _expand(hard_first, mode), first),
        second=torch.where(negative, _expand(hard_second, mode), second),
        negative=negative,
        synthetic=torch.arange(b + m * (hard.members - 2), device=dev) >= b,
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
