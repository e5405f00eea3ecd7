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
entries of the plain score matrix; its backward maps the gradient back onto the Gram matrix:
onto the 2×2 blocks the chosen scores read, onto the chosen members' coefficients, and through
those (the derivatives of ``synthesis``' formulas, in closed form) onto each pair's own Gram
entries. Autograd would spend more time on the bookkeeping of the many tiny ops than on the
arithmetic. On the CPU (float32, float64) everything between the two matrix products runs as
one compiled loop each way (:mod:`symsynth.mining_loops`, numba), elsewhere as batched torch
ops; the tests hold both to each other. ``explicit=True`` materialises the points and
multiplies them out instead, with autograd; both paths agree, gradients included (tests check
it), and the app uses the point table to draw what was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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


def _pair_blocks(x: Tensor) -> Tensor:
    """[2, 2, M] view of the 2×2 diagonal blocks of a [B, B] matrix: [i, j, m] = x[2m + i, 2m + j]
    (of the Gram matrix: each pair's own Gram matrix Γ)."""
    m = x.shape[0] // 2
    return x.view(m, 2, m, 2).diagonal(dim1=0, dim2=2)


def _squared_norms(w: Tensor, pg: Tensor) -> tuple[Tensor, Tensor]:
    """‖member‖² = Σ_ij W_i W_j Γ_ij [G, M], from the coefficients W [G, 2, M] and the pairs' Gram
    matrices Γ [2, 2, M]; also the products W_i W_j [G, 2, 2, M] (∂‖member‖²/∂Γ)."""
    ww = w.unsqueeze(2) * w.unsqueeze(1)
    return (ww * pg).sum((1, 2)), ww


def _members(
    embeddings: Tensor, gram: Tensor, synthesis: str, metric: str,
    alpha: float, beta: float, n_inner: int,
) -> Tensor:  # fmt: skip
    """[G, P, M] per group member: its coefficients (member g of pair m is W[g, 0, m]·a_m +
    W[g, 1, m]·p_m, ``synthesis.coefficient_planes``) and, for distances, its squared norm."""
    pg = _pair_blocks(gram)
    normalize = synthesis == "ee" and is_normalized(embeddings)
    w = coefficient_planes(pg[0, 0], pg[0, 1], pg[1, 1], synthesis, alpha, beta, n_inner, normalize)
    if metric == "dot":
        return w
    return torch.cat([w, _squared_norms(w, pg)[0][:, None]], 1)


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


def _group_negatives(labels: Tensor, mode: str) -> Tensor:
    """[R, N]: whether row r (pair, or point in anchor mode) and column pair n differ in label."""
    col = labels[0::2]
    return (col if mode == "pair" else labels)[:, None] != col[None, :]


def _block_views(x: Tensor, mode: str) -> list[Tensor]:
    """The [R, N] strided views of a [B, B] matrix, one per position in its 1×2 (anchor mode:
    point r × pair n) or 2×2 (pair mode: pair r × pair n; positions (0, 0), (0, 1), (1, 0),
    (1, 1)) blocks. One op per view puts an [R, N] value on every entry of its block;
    broadcasting it over a size-2 innermost dimension instead is several times slower."""
    m = x.shape[1] // 2
    if mode == "anchor":
        return list(x.view(-1, m, 2).unbind(2))
    return [v for row in x.view(m, 2, m, 2).unbind(1) for v in row.unbind(2)]


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

    @property
    def coefficients(self) -> tuple:
        """The arguments of ``synthesis.coefficient_planes`` after Γ."""
        return self.synthesis, self.alpha, self.beta, self.n_inner, self.normalize

    def loops(self, block: bool) -> tuple:
        """The settings as :mod:`symsynth.mining_loops` takes them."""
        return (
            self.synthesis == "symm", self.alpha, self.beta, self.n_inner, self.normalize,
            self.mode == "pair", block, self.metric == "euclidean",
        )  # fmt: skip


def _choose(s: Tensor, sq: Tensor | None, sq_rows: Tensor | None, pair: bool):
    """The hardest member pair of every entry from the dot products ``s`` [Gr, Gc, R, N]
    (overwritten): its score and its flat index gr·G + gc [R, N], the first on ties. For
    distances (``sq`` [G, M], the members' squared norms, ``sq_rows`` [R, 1] the anchors' in
    anchor mode) the score is −‖u − v‖² = 2 u·v − ‖u‖² − ‖v‖²; an anchor's own ‖u‖² is the same
    for all its candidates, so it is subtracted from the hardest score only."""
    if sq is not None:
        s = s.mul_(2)
        if pair:
            s = s.sub_(sq[:, None, :, None])
        s = s.sub_(sq[None, :, None, :])
    top, arg = _first_argmax(s.flatten(0, 1))
    return (top if sq_rows is None else top.sub_(sq_rows)), arg


class _MinedScores(torch.autograd.Function):
    """The score matrix a loss uses, from the embeddings [B, D], as one autograd node.

    Forward: the plain scores (``_score``), with every different-label entry (``negative``
    [R, N], per row pair or point and column pair) replaced by the hardest one of its groups.
    The chosen member pair of row r and column pair n, u = L_0·(row's a) + L_1·(row's p) and
    v = R_0·a_n + R_1·p_n (L = W[gl, :, r], R = W[gc, :, n]), scores

        dot[r, n] = Σ_ij L_i · blocks[i, j, r, n] · R_j,   blocks[i, j, r, n] = G[2r + i, 2n + j]
        score     = dot, or 2·dot − ‖u‖² − ‖v‖² = −‖u − v‖² (``euclidean``)

    (anchor mode: u is the point itself, L = (1), blocks [1, 2, B, M]). ``block``: only the
    a_m × p_n quarter [M, M] of the pair-mode matrix (N-pair's logits). Returns the scores and
    the choice (``_choose``), the latter without a gradient.

    Backward, by hand, onto the Gram matrix G = E·Eᵀ and then, in one product, onto the
    embeddings: dE = dG·E with dG symmetric. The gradient of the plain entries goes to their
    Gram entries; that of the chosen scores to the blocks they read (L_i R_j), to the chosen
    members' coefficients and squared norms, and through those — W and ‖member‖² depend on the
    pair's own Gram matrix Γ — to the pairs' 2×2 diagonal blocks of G, with the derivatives of
    ``synthesis``' formulas (``coefficient_vjp``).

    On CPU float32/float64 all of it between the two products runs as two compiled loops
    (:mod:`symsynth.mining_loops`, ``_loops_forward``, ``_loops_backward``), elsewhere as
    batched torch ops (``_batched_forward``, ``_batched_backward``); the tests hold both to the
    explicit points."""

    @staticmethod
    def forward(ctx, embeddings, labels, how, block):  # noqa: D102
        gram = embeddings @ embeddings.T
        ctx.how, ctx.block, ctx.loops = how, block, _use_loops(gram)
        run = _loops_forward if ctx.loops else _batched_forward
        score, choice, ctx.kept = run(gram, labels, how, block)  # kept: what the backward reads
        ctx.save_for_backward(embeddings)
        ctx.mark_non_differentiable(choice)
        return score, choice

    @staticmethod
    def backward(ctx, grad, _):  # noqa: D102
        (embeddings,) = ctx.saved_tensors
        run = _loops_backward if ctx.loops else _batched_backward
        return run(grad.contiguous(), ctx.kept, ctx.how, ctx.block) @ embeddings, None, None, None


USE_LOOPS = True  # the compiled loops on CPU float32/float64; False: batched torch ops everywhere


def warm_up() -> None:
    """Compile the CPU loops for float32, or load them from numba's on-disk cache: about 16 s the
    first time on a machine, about a second after that. Training calls them anyway; this
    only moves the wait (the app does it in the background when the server starts)."""
    e = torch.eye(4, 3, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1])
    (
        mined_scores(e, labels, "symm").sum() + mined_scores(e, labels, "symm", "anchor").sum()
    ).backward()


def _use_loops(gram: Tensor) -> bool:
    return USE_LOOPS and gram.device.type == "cpu" and gram.dtype in (torch.float32, torch.float64)


def _loops_forward(gram, labels, how, block):
    """``_MinedScores``' forward with :func:`symsynth.mining_loops.forward` on NumPy views:
    the coefficients, the plain scores and the mined ones, in one call."""
    from symsynth import mining_loops  # numba: imported, and compiled, on first use

    g = gram.numpy()
    b, m = g.shape[0], g.shape[0] // 2
    pair, euclidean = how.mode == "pair", how.metric == "euclidean"
    w = np.empty((group_size(how.synthesis, how.n_inner), 2, m), g.dtype)
    sq = np.empty((w.shape[0] if euclidean else 0, m), g.dtype)
    negative = np.empty((m if pair else b, m), np.bool_)
    score = np.empty((m, m) if block else (b, b), g.dtype)
    choice = np.empty(negative.shape, np.int64)
    mining_loops.forward(
        g, np.ascontiguousarray(labels.numpy(), np.int64), *how.loops(block),
        w, sq, negative, score, choice,
    )  # fmt: skip
    return torch.from_numpy(score), torch.from_numpy(choice), (g, w, choice, negative)


def _loops_backward(grad, kept, how, block):
    """``_MinedScores``' backward with :func:`symsynth.mining_loops.backward`: dG, symmetric."""
    from symsynth import mining_loops

    g, w, choice, negative = kept
    d_gram = np.zeros_like(g)
    mining_loops.backward(
        grad.numpy(), g, w, choice, negative, *how.loops(block), d_gram
    )  # fmt: skip
    return torch.from_numpy(d_gram)


def _batched_forward(gram, labels, how, block):
    """``_MinedScores``' forward in batched torch ops; also what the backward reuses."""
    pair, euclidean = how.mode == "pair", how.metric == "euclidean"
    negative = _group_negatives(labels, how.mode)
    pg = _pair_blocks(gram)  # Γ[i, j, m] = (2m + i)·(2m + j)
    gamma = (*pg[0].unbind(), pg[1, 1])  # aa, ap, pp
    w = coefficient_planes(*gamma, *how.coefficients)
    sq, ww = _squared_norms(w, pg) if euclidean else (None, None)
    w_cols = w.unbind(1)  # W[:, j]
    cols = _block_views(gram, how.mode)  # blocks[i, j] as [R, N] views, at i·2 + j
    if pair:
        s = _dots(_blocks(gram, "pair"), w[:, :, None], w[..., None])
        hard, choice = _choose(s, sq, None, True)
    else:  # dot[h, r, n] = Σ_j G[r, 2n + j] · W[h, j, n]
        (c0, c1), (w0, w1) = cols, w_cols
        s = (c0 * w0.unsqueeze(1)).addcmul_(c1, w1.unsqueeze(1))
        hard, choice = _choose(s[None], sq, gram.diagonal()[:, None] if euclidean else None, False)
    if block:  # a_r · p_n
        score = torch.where(negative, hard, _score(gram, how.metric, _FIRSTS, _SECONDS))
    else:
        score = _score(gram, how.metric)
        score = score if euclidean else score.clone()  # dot: a view of gram itself
        for entries in _block_views(score, how.mode):
            torch.where(negative, hard, entries, out=entries)
    return score, choice, (gram, pg, gamma, w, ww, w_cols, cols, choice, negative)


def _batched_backward(grad, kept, how, block):
    """``_MinedScores``' backward in batched torch ops: the gradient of G (plain entries and
    chosen blocks), of W and of −‖member‖² (summed per member with ``scatter_add_``), then
    through W and ‖member‖² onto each pair's Γ. All [R, N] work on a [B, B] matrix goes
    through its ``_block_views``. Returns dG + dGᵀ."""
    gram, pg, gamma, w, ww, w_cols, cols, choice, negative = kept
    pair, euclidean = how.mode == "pair", how.metric == "euclidean"
    g, m = w.shape[0], w.shape[2]
    # the plain entries: G itself, or 2G − diag_i − diag_j
    if block:
        d_hard = grad * negative
        d_plain = grad.masked_fill(negative, 0)
        d_gram = grad.new_zeros(2 * m, 2 * m)
        views = _block_views(d_gram, how.mode)  # a_r · p_n is position (0, 1)
        torch.mul(d_plain, 2 if euclidean else 1, out=views[1])
        if euclidean:  # ‖a_r‖² and ‖p_n‖²
            views[0].diagonal().sub_(d_plain.sum(1))
            views[3].diagonal().sub_(d_plain.sum(0))
    else:
        grads = _block_views(grad, how.mode)
        d_hard = grads[0] + grads[1]  # summed over the block
        if pair:
            d_hard = d_hard.add_(grads[2]).add_(grads[3])
        d_hard = d_hard.mul_(negative)
        d_gram = grad.clone()
        views = _block_views(d_gram, how.mode)
        for entries in views:
            entries.masked_fill_(negative, 0)
        if euclidean:  # in anchor mode the chosen scores' −‖u‖² too: every entry of row i
            d_diag = d_gram.sum(0).add_(d_gram.sum(1) if pair else grad.sum(1))
            d_gram.mul_(2).diagonal().sub_(d_diag)
    # the chosen scores: the blocks they read, the chosen members' coefficients (d_w) and
    # squared norms (d_sq)
    d_w = torch.zeros_like(w)
    d_w_cols = d_w.unbind(1)
    d_dot = 2 * d_hard if euclidean else d_hard
    if pair:  # choice = gl·G + gc
        gl = choice.div(g, rounding_mode="floor")
        gc = choice.sub(gl, alpha=g)
        right = [w_j.gather(0, gc) for w_j in w_cols]  # R_j[r, n] = W[gc, j, n]
        left = [w_i.T.gather(1, gl) for w_i in w_cols]  # L_i[r, n] = W[gl, i, r]
        d_t = [r_j * d_dot for r_j in right]  # ∂/∂t_j, t_j = u·(original j of pair n)
        for k, entries in enumerate(views):  # block position (i, j) = divmod(k, 2)
            entries.addcmul_(left[k // 2], d_t[k % 2])
        for j in range(2):  # ∂/∂R_j = t_j · d_dot
            t_j = (left[0] * cols[j]).addcmul_(left[1], cols[2 + j])
            d_w_cols[j].scatter_add_(0, gc, t_j.mul_(d_dot))
        for i in range(2):  # ∂/∂L_i = Σ_j blocks[i, j] · d_t_j
            d_left = (cols[2 * i] * d_t[0]).addcmul_(cols[2 * i + 1], d_t[1])
            d_w_cols[i].T.scatter_add_(1, gl, d_left)
    else:
        gc = choice
        for entries, c_j, w_j, d_w_j in zip(views, cols, w_cols, d_w_cols, strict=True):
            entries.addcmul_(d_dot, w_j.gather(0, gc))  # R_j[r, n] = W[gc, j, n]
            d_w_j.scatter_add_(0, gc, c_j * d_dot)
    # W and ‖member‖² depend on each pair's own Gram matrix Γ
    d_pg = _pair_blocks(d_gram)  # a view of Γ's gradient
    varying = how.synthesis == "symm" or how.normalize  # W depends on Γ
    if euclidean:  # ‖member‖² = Σ_ij W_i W_j Γ_ij (symmetric in i, j)
        d_sq = w.new_zeros(g, m).scatter_add_(0, gc, d_hard)
        if pair:
            d_sq.T.scatter_add_(1, gl, d_hard)
        d_sq = d_sq.view(g, 1, 1, m)
        d_pg.sub_((d_sq * ww).sum(0))
        if varying:  # ∂/∂W_i = Σ_j (Γ_ij + Γ_ji) W_j
            d_w.sub_((d_sq * (pg + pg.transpose(0, 1)) * w.unsqueeze(1)).sum(2))
    if varying:
        d_aa, d_ap, d_pp = coefficient_vjp(d_w, *gamma, *how.coefficients)
        d_pg[0, 0].add_(d_aa)
        d_pg[1, 1].add_(d_pp)
        d_pg[0, 1].add_(d_ap)
    return d_gram + d_gram.T


def _mined(
    embeddings: Tensor, labels: Tensor, synthesis: str, mode: str, metric: str,
    alpha: float, beta: float, n_inner: int, block: bool = False,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``_MinedScores`` on this batch: the scores and the choice."""
    normalize = synthesis == "ee" and is_normalized(embeddings)
    how = _How(synthesis, mode, metric, alpha, beta, n_inner, normalize)
    return _MinedScores.apply(embeddings, labels, how, block)


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
