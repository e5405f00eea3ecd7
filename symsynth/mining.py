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

O(B²) element-wise work instead of a (B + S) × (B + S) × D product. The whole step, from the
Gram matrix to the [B, B] matrix the loss uses, is one autograd node, ``_MinedScores``: its
forward computes the coefficients, all of S (laid out plane by plane: [G, G, M, M]), chooses the
hardest member pair of every entry, and writes the chosen scores over the different-label
entries of the plain score matrix; its backward maps the gradient back onto the Gram matrix in
a handful of batched ops: onto the 2×2 blocks the chosen scores read, onto the chosen members'
coefficients, and through those (``synthesis.coefficient_vjp``, in closed form for symm) onto
each pair's own Gram entries. Autograd would spend more time on the bookkeeping of the many tiny
ops than on the arithmetic. ``explicit=True`` materialises the points and multiplies them out
instead, with autograd; both paths agree, gradients included (tests check it), and the app uses
the point table to draw what was chosen.
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
    coefficient_vjp,
    group_size,
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


_ALL, _FIRSTS, _SECONDS = slice(None), slice(0, None, 2), slice(1, None, 2)


def _score(gram: Tensor, metric: str, rows: slice = _ALL, cols: slice = _ALL) -> Tensor:
    """Similarity as is, or −squared distance from dot products (harder = larger either way),
    of the ``rows`` × ``cols`` block of the Gram matrix (all of it by default)."""
    if metric == "dot":
        return gram[rows, cols]
    sq = gram.diagonal()
    return 2 * gram[rows, cols] - sq[rows, None] - sq[None, cols]


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


def _first_argmax(s: Tensor) -> tuple[Tensor, Tensor]:
    """[R, N] max and argmax over dim 0 of s [K, R, N], the first index on ties.

    torch.argmax across a leading dimension is slow on CPU (~20× amax); a max pool over that
    dimension, with s read as a channels-last image of R·N channels, is vectorised."""
    k = s.shape[0]
    image = s.reshape(1, k, 1, -1).permute(0, 3, 1, 2)  # [1, R·N, K, 1], channels last
    top, arg = F.max_pool2d(image, (k, 1), return_indices=True)
    return top.view(s.shape[1:]), arg.view(s.shape[1:])


def _pick(table: Tensor, member: Tensor) -> Tensor:
    """[P, R, N]: columns ``member`` [R, N] of ``table`` [P, G·M]."""
    return table.index_select(1, member.flatten()).view(len(table), *member.shape)


def _group_negatives(labels: Tensor, mode: str) -> Tensor:
    """[R, N]: whether row r (pair, or point in anchor mode) and column pair n differ in label."""
    col = labels[0::2]
    return (col if mode == "pair" else labels)[:, None] != col[None, :]


@dataclass(frozen=True)
class _How:
    """How to mine: the synthesis and its settings, the mode and the metric."""

    synthesis: str
    mode: str
    metric: str
    alpha: float
    beta: float
    n_inner: int
    normalize: bool  # ee: normalise the interpolants (the embeddings are unit-norm)


def _squared_norms(w: Tensor, pg: Tensor) -> Tensor:
    """[G, M] ‖member‖² = Σ_ij W_i W_j Γ_ij, from the coefficients and the pair Gram matrices."""
    return (w[:, :, None] * pg * w[:, None]).flatten(1, 2).sum(1)


def _choose(s: Tensor, sq: Tensor | None, sq_rows: Tensor | None, pair: bool):
    """The hardest member pair of every entry from the dot products ``s`` [Gr, Gc, R, N]
    (overwritten): its score and its flat index gr·G + gc [R, N], the first on ties. For
    distances (``sq`` [G, M], the members' squared norms, ``sq_rows`` [R] the anchors' in anchor
    mode) the score is −‖u − v‖² = 2 u·v − ‖u‖² − ‖v‖²."""
    if sq is not None:
        row = sq[:, None, :, None] if pair else sq_rows
        s = s.mul_(2).sub_(row).sub_(sq[None, :, None, :])
    return _first_argmax(s.flatten(0, 1))


class _MinedScores(torch.autograd.Function):
    """The score matrix a loss uses, from the embeddings [B, D], as one autograd node.

    Forward: the plain scores (``_score``), with every different-label entry (``negative``
    [R, N], per row pair or point and column pair) replaced by the hardest one of its groups.
    The chosen member pair of row r and column pair n, u = L_0·(row's a) + L_1·(row's p) and
    v = R_0·a_n + R_1·p_n (coefficient columns L, R of ``table`` [P, G·M]; P = 3 holds the squared
    norm too), scores

        dot[r, n] = Σ_ij L_i · blocks[i, j, r, n] · R_j,   blocks[i, j, r, n] = G[2r + i, 2n + j]
        score     = dot, or 2·dot − ‖u‖² − ‖v‖² = −‖u − v‖² (``euclidean``)

    (anchor mode: u is the point itself, L = (1), blocks [1, 2, B, M]). ``block``: only the
    a_m × p_n quarter [M, M] of the pair-mode matrix (N-pair's logits). Returns the scores and
    the choice (``_choose``), the latter without a gradient.

    Backward, by hand, onto the Gram matrix G = E·Eᵀ and then, in one product, onto the
    embeddings: dE = (dG + dGᵀ)·E. The gradient of the plain entries goes to their Gram
    entries; that of the chosen scores to the blocks they read (L_i R_j), to the chosen
    members' coefficients (summed per member with ``index_add_``), and through the
    coefficients — W and ‖member‖² depend on the pair's own Gram matrix Γ — to the pairs' 2×2
    diagonal blocks of G, with ``coefficient_vjp`` (the product with ∂W/∂Γ, in closed form for
    symm)."""

    @staticmethod
    def forward(ctx, embeddings, negative, how, block):  # noqa: D102
        gram = embeddings @ embeddings.T
        b, m = gram.shape[0], gram.shape[0] // 2
        pair, euclidean = how.mode == "pair", how.metric == "euclidean"
        pg = gram.view(m, 2, m, 2).diagonal(dim1=0, dim2=2)  # Γ[i, j, m] = (2m + i)·(2m + j)
        args = (how.synthesis, how.alpha, how.beta, how.n_inner, how.normalize)
        w = coefficient_planes(pg[0, 0], pg[0, 1], pg[1, 1], *args)
        sq = _squared_norms(w, pg) if euclidean else None
        blocks = _blocks(gram, how.mode)
        s = _dots(blocks, w[:, :, None], w[..., None] if pair else None)
        hard, choice = _choose(s, sq, None if pair else gram.diagonal()[:, None], pair)
        if block:  # a_r · p_n
            score = torch.where(negative, hard, _score(gram, how.metric, _FIRSTS, _SECONDS))
        else:
            shape = (m, 2, m, 2) if pair else (b, m, 2)
            at = (slice(None), None, slice(None), None) if pair else (Ellipsis, None)
            plain = _score(gram, how.metric).view(shape)
            score = torch.where(negative[at], hard[at], plain).view(b, b)
            ctx.at = at
        ctx.save_for_backward(embeddings, blocks, pg, w, sq, choice, negative)
        ctx.how, ctx.block = how, block
        ctx.mark_non_differentiable(choice)
        return score, choice

    @staticmethod
    def backward(ctx, grad, _):  # noqa: D102
        embeddings, blocks, pg, w, sq, choice, negative = ctx.saved_tensors
        how, pair, euclidean = ctx.how, ctx.how.mode == "pair", ctx.how.metric == "euclidean"
        g, m = w.shape[0], w.shape[2]
        b = 2 * m
        grad = grad.contiguous()
        # the plain entries: G itself, or 2G − diag_i − diag_j
        if ctx.block:
            d_hard = grad * negative
            d_plain = grad.masked_fill(negative, 0)
            d_gram = grad.new_zeros(b, b)
            d_gram[0::2, 1::2] = 2 * d_plain if euclidean else d_plain
            if euclidean:
                d_diag = d_gram.diagonal()
                d_diag[0::2] -= d_plain.sum(1)
                d_diag[1::2] -= d_plain.sum(0)
        else:
            rows = grad[0::2] + grad[1::2] if pair else grad  # sum over the 2×2 (1×2) blocks
            d_hard = (rows[:, 0::2] + rows[:, 1::2]).mul_(negative)
            shape = (m, 2, m, 2) if pair else (b, m, 2)
            d_gram = grad.view(shape).masked_fill(negative[ctx.at], 0).view(b, b)
            if euclidean:
                d_diag = d_gram.sum(0).add_(d_gram.sum(1))
                d_gram.mul_(2).diagonal().sub_(d_diag)
        # the chosen scores: the blocks they read and the chosen members' coefficients
        table = w.transpose(0, 1)  # [2, G, M]
        if euclidean:
            table = torch.cat([table, sq[None]])
        table = table.reshape(-1, g * m)
        cols = torch.arange(m, device=grad.device)
        gl = choice.div(g, rounding_mode="floor")
        gc = choice.sub(gl, alpha=g)  # choice = gl·G + gc
        right_member = torch.add(cols, gc, alpha=m)  # member number g·M + n
        right = _pick(table, right_member)  # [P, R, N]
        d_dot = 2 * d_hard if euclidean else d_hard
        d_t = right[:2] * d_dot  # ∂/∂t_j, t_j = u·(original j of pair n)
        if pair:
            left_member = torch.add(cols[:, None], gl, alpha=m)
            left = _pick(table, left_member)
            t = (left[0] * blocks[0]).addcmul_(left[1], blocks[1])  # [2, R, N]
            d_blocks = d_gram.view(m, 2, m, 2).permute(1, 3, 0, 2)  # [i, j, r, n]
            d_blocks.addcmul_(left[:2, None], d_t)
            d_left = (blocks[:, 0] * d_t[0]).addcmul_(blocks[:, 1], d_t[1])
        else:
            t = blocks[0]
            d_gram.view(b, m, 2).add_(d_t.permute(1, 2, 0))
            if euclidean:  # ‖u‖² of the anchor itself
                d_gram.diagonal().sub_(d_hard.sum(1))
        d_right = t * d_dot
        d_table = torch.zeros_like(table)
        if euclidean:
            d_table[2].index_add_(0, right_member.flatten(), d_hard.flatten(), alpha=-1)
            if pair:
                d_table[2].index_add_(0, left_member.flatten(), d_hard.flatten(), alpha=-1)
        d_table[:2].index_add_(1, right_member.flatten(), d_right.flatten(1))
        if pair:
            d_table[:2].index_add_(1, left_member.flatten(), d_left.flatten(1))
        # the coefficients (and squared norms) depend on each pair's own Gram matrix Γ
        d_w = d_table[:2].view(2, g, m).transpose(0, 1)  # [G, 2, M]
        d_pg = d_gram.view(m, 2, m, 2).diagonal(dim1=0, dim2=2)  # a view of Γ's gradient
        varying = how.synthesis == "symm" or how.normalize  # W depends on Γ
        if euclidean:  # ‖member‖² = Σ_ij W_i W_j Γ_ij
            d_sq = d_table[2].view(g, 1, 1, m)
            d_pg.add_((d_sq * w[:, :, None] * w[:, None]).sum(0))
            if varying:  # ∂/∂W_i = Σ_j (Γ_ij + Γ_ji) W_j
                d_w = d_w + (d_sq * (pg + pg.transpose(0, 1)) * w[:, None]).sum(2)
        if varying:
            args = (how.synthesis, how.alpha, how.beta, how.n_inner, how.normalize)
            d_aa, d_ap, d_pp = coefficient_vjp(d_w, pg[0, 0], pg[0, 1], pg[1, 1], *args)
            d_pg[0, 0].add_(d_aa)
            d_pg[0, 1].add_(d_ap)
            d_pg[1, 1].add_(d_pp)
        return (d_gram + d_gram.T) @ embeddings, None, None, None


def _mined(
    embeddings: Tensor, labels: Tensor, synthesis: str, mode: str, metric: str,
    alpha: float, beta: float, n_inner: int, block: bool = False,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``_MinedScores`` on this batch: the scores and the choice."""
    normalize = synthesis == "ee" and is_normalized(embeddings)
    how = _How(synthesis, mode, metric, alpha, beta, n_inner, normalize)
    return _MinedScores.apply(embeddings, _group_negatives(labels, mode), how, block)


def _explicit_hardest(
    embeddings: Tensor, labels: Tensor, gram: Tensor, synthesis: str, mode: str, metric: str,
    alpha: float, beta: float, n_inner: int,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """The reference path: the point table materialised, all its dot products multiplied out,
    the hardest member pairs chosen as ``_choose`` does and their scores gathered with
    autograd. Returns the hardest scores [R, N] and the choice gr·G + gc."""
    b, m, dev = labels.numel(), labels.numel() // 2, embeddings.device
    pair, euclidean = mode == "pair", metric == "euclidean"
    members = _members(embeddings, gram.detach(), synthesis, metric, alpha, beta, n_inner)
    g = members.shape[0]
    points = points_table(embeddings, labels, synthesis, alpha, beta, n_inner).points
    full = points @ points.T
    table_rows = _member_rows(m, g, dev).T.reshape(g, 1, m)  # point-table row per member
    rows = torch.arange(m if pair else b, device=dev)[:, None]  # row r's own pair, or point
    with torch.no_grad():
        s = full[(table_rows.transpose(1, 2) if pair else rows[None])[:, None], table_rows]
        sq_rows = None if pair else gram.detach().diagonal()[:, None]
        choice = _choose(s, members[:, 2] if euclidean else None, sq_rows, pair)[1]
    table_rows = table_rows.flatten()
    cols = torch.arange(m, device=dev)[None, :]
    first = table_rows[choice // g * m + rows] if pair else rows
    second = table_rows[choice % g * m + cols]
    score = full[first, second]
    if euclidean:
        score = 2 * score - full.diagonal()[first] - full.diagonal()[second]
    return score, choice


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
    if synthesis == "none":
        return _score(embeddings @ embeddings.T, metric)
    return _mined(embeddings, labels, synthesis, mode, metric, alpha, beta, n_inner)[0]


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
        return _score(embeddings @ embeddings.T, metric, _FIRSTS, _SECONDS)
    args = (synthesis, "pair", metric, alpha, beta, n_inner)
    return _mined(embeddings, labels, *args, block=True)[0]


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
    negative = labels[:, None] != labels[None, :]
    eye = torch.arange(b, device=dev)
    first, second = eye[:, None].expand(b, b), eye[None, :].expand(b, b)
    if synthesis == "none":
        original = _score(embeddings @ embeddings.T, metric)
        return Mined(
            original, first, second, negative, torch.zeros(b, dtype=torch.bool, device=dev)
        )

    args = (synthesis, mode, metric, alpha, beta, n_inner)
    if explicit:
        gram = embeddings @ embeddings.T
        hard, choice = _explicit_hardest(embeddings, labels, gram, *args)
        score = torch.where(negative, _expand(hard, mode), _score(gram, metric))
    else:
        score, choice = _mined(embeddings, labels, *args)
    g = group_size(synthesis, n_inner)
    table_rows = _member_rows(m, g, dev).T.flatten()  # by member number g·M + n
    cols = torch.arange(m, device=dev)
    hard_second = table_rows[choice % g * m + cols]
    if mode == "pair":
        hard_first = table_rows[choice // g * m + cols[:, None]]
    else:
        hard_first = eye[:, None].expand(b, m)  # the anchor itself
    return Mined(
        score=score,
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
