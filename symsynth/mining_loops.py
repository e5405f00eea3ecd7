"""Hard negative pair mining on the CPU as two compiled loops, entry by entry (numba).

On a CPU the batched torch path of :class:`symsynth.mining._MinedScores` spends its time on
dispatching small ops, 5–15 µs each, not on arithmetic: at B = 80 (a digits batch) its forward
and backward dispatched about 125 ops for some 10⁵ multiply-adds. These two loops do all the
work between the Gram product and the embeddings' gradient product in one call each
direction, in the notation of ``mining._MinedScores`` (R: row pairs, or points in anchor mode;
N: column pairs):

    member g of pair m:   W[g, 0, m]·a_m + W[g, 1, m]·p_m
    dot[r, n]  = Σ_ij L_i · G[row_i, 2n + j] · R_j     (L = W[gl, :, r], R = W[gc, :, n];
                                                         anchor mode: row_0 = r, L = (1))
    score      = dot, or 2·dot − ‖u‖² − ‖v‖²  (euclidean; ‖member‖² = ``sq``)

``forward`` computes every pair's coefficients W (and squared norms) from its own Gram entries,
the plain scores, and the hardest (gl, gc) of every different-label entry, the first on ties,
written over the plain scores; ``backward`` sends the gradient of every entry to the Gram
entries it read and to the chosen members' coefficients and squared norms, and from those to
the pairs' own Gram entries. The coefficient formulas and their derivatives are the functions
of :mod:`symsynth.synthesis`, compiled in here; the arithmetic follows the batched path, which
the tests hold these loops to.

Compiled by numba on first use and cached on disk (in ``__pycache__`` beside this file, or
numba's per-user cache where that is read-only): the first compile for float32 took 16.2 s on
the 2-core development machine (quiet), loading it in a later process about 1 s (numba's
import included); ``mining.warm_up`` does either ahead of time.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from symsynth import synthesis

# The formulas of synthesis.py the loops compile in. numba's disk cache is keyed on this file
# alone, not on synthesis.py: tests/test_mining_loops.py holds FORMULAS to a fingerprint of
# SHARED, so changing a formula means changing that line too, and numba then compiles afresh.
SHARED = (
    synthesis.reflection_coefficients,
    synthesis.reflection_slopes,
    synthesis.interpolant_scale,
)
FORMULAS = "b6fe16aa"
_reflection, _reflection_slopes, _interpolant = (njit(f) for f in SHARED)


@njit(cache=True, nogil=True, inline="always")
def _member_pairs(g):  # pragma: no cover
    """(gl, gc) of every choice gl·G + gc, as look-up tables (an integer division is slow)."""
    k = np.arange(g * g)
    return k // g, k % g


@njit(cache=True, nogil=True)
def _coefficients(gram, symm, alpha, beta, n_inner, normalize, w, sq):  # pragma: no cover
    """W [G, 2, M] pair by pair from the pairs' Gram entries, as
    ``synthesis.coefficient_planes`` lays it out (a, p, then the synthetic members), and, when
    ``sq`` has rows, every member's squared norm Σ_ij W_i W_j Γ_ij [G, M]."""
    g, m = w.shape[0], w.shape[2]
    for k in range(m):
        a, p = 2 * k, 2 * k + 1
        aa, ap, pp = gram[a, a], gram[a, p], gram[p, p]
        w[:2, :, k] = 0.0
        w[0, 0, k] = 1.0
        w[1, 1, k] = 1.0
        if symm:  # a' = c_x·a + ca_a·p (a about p), p' = ca_p·a + c_x·p
            c_x, ca_a = _reflection(ap, pp, alpha, beta)
            w[2, 0, k], w[2, 1, k] = c_x, ca_a
            w[3, 0, k], w[3, 1, k] = _reflection(ap, aa, alpha, beta)[1], c_x
        else:  # ee: (1 − t)·a + t·p, unit-norm if normalize
            for i in range(n_inner):
                t = (i + 1) / (n_inner + 1)
                scale = _interpolant(aa, ap, pp, t)[0] if normalize else 1.0
                w[2 + i, 0, k], w[2 + i, 1, k] = (1 - t) * scale, t * scale
        for h in range(g if sq.shape[0] else 0):
            w0, w1 = w[h, 0, k], w[h, 1, k]
            sq[h, k] = (w0 * w0 * aa + w0 * w1 * ap) + (w1 * w0 * gram[p, a] + w1 * w1 * pp)


@njit(cache=True, nogil=True)
def forward(
    gram, labels, symm, alpha, beta, n_inner, normalize, pair, block, euclidean,
    w, sq, negative, score, choice,
):  # fmt: skip  # pragma: no cover
    """Fill, from the Gram matrix and the labels: ``w`` and ``sq`` (``_coefficients``; sq has no
    rows for dot products), ``negative`` [R, N] (row r and column pair n differ in label),
    ``score`` ([B, B], or block: the a_r × p_n quarter [M, M]) with the plain scores and over
    them the hardest group-pair score of every negative entry, and ``choice`` with that entry's
    member pair gl·G + gc.

    Row by row, with the column pairs n innermost: loops over whole contiguous rows, which numba
    vectorises. The arg-max takes two passes, the max, then the first member pair that reaches
    it: a running max with its arg-max as one compare and select stays scalar (0.9 ns an entry
    here, against 0.4 ns for the two passes). In pair mode the hardest pair between two groups
    is the same either way round: an entry below the diagonal takes the score and the mirrored
    choice (gl ↔ gc) of the one above it, so ``backward`` visits each once."""
    _coefficients(gram, symm, alpha, beta, n_inner, normalize, w, sq)
    g, m = w.shape[0], w.shape[2]
    for r in range(negative.shape[0]):
        label = labels[2 * r] if pair else labels[r]
        for n in range(m):
            negative[r, n] = label != labels[2 * n]
    for i in range(score.shape[0]):  # G, or 2G − diag − diag (block: rows a_r, columns p_n)
        for j in range(score.shape[1]):
            u, v = (2 * i, 2 * j + 1) if block else (i, j)
            plain = gram[u, v]
            score[i, j] = (plain + plain - gram[u, u]) - gram[v, v] if euclidean else plain
    even = np.ascontiguousarray(gram[:, 0::2])  # G[i, 2n]: · a_n
    odd = np.ascontiguousarray(gram[:, 1::2])  # G[i, 2n + 1]: · p_n
    t0, t1 = np.empty(m, gram.dtype), np.empty(m, gram.dtype)  # u · a_n, u · p_n
    pairs = g * g if pair else g  # member pairs (gl, gc) per entry: choice gl·G + gc
    scores = np.empty((pairs, m), gram.dtype)  # of the row being mined, pair by pair
    best, arg = np.empty(m, gram.dtype), np.empty(m, np.int32)
    gl_of, gc_of = _member_pairs(g)
    mirror = gc_of * g + gl_of  # choice (gl, gc) -> (gc, gl)
    for r in range(negative.shape[0]):
        a = 2 * r if pair else r  # the Gram rows of the row's originals
        b = a + 1 if pair else a
        best[:] = -np.inf
        for gl in range(g if pair else 1):
            if pair:
                l0, l1 = w[gl, 0, r], w[gl, 1, r]
                ea, eb, oa, ob = even[a], even[b], odd[a], odd[b]
                for n in range(m):
                    t0[n] = ea[n] * l0 + eb[n] * l1
                    t1[n] = oa[n] * l0 + ob[n] * l1
            else:
                t0[:] = even[a]
                t1[:] = odd[a]
            for gc in range(g):
                w0, w1, s = w[gc, 0], w[gc, 1], scores[gl * g + gc]
                for n in range(m):
                    s[n] = t0[n] * w0[n] + t1[n] * w1[n]
                if euclidean:  # 2 u·v − ‖u‖² − ‖v‖²; an anchor's own ‖u‖² comes last
                    sq_col = sq[gc]
                    if pair:
                        sq_row = sq[gl, r]
                        for n in range(m):
                            s[n] = (s[n] + s[n] - sq_row) - sq_col[n]
                    else:
                        for n in range(m):
                            s[n] = s[n] + s[n] - sq_col[n]
                for n in range(m):
                    best[n] = np.maximum(best[n], s[n])
        arg[:] = pairs  # the first member pair that reaches the max: the first on ties
        for k in range(pairs):
            s = scores[k]
            for n in range(m):
                arg[n] = np.minimum(arg[n], k + pairs * np.int32(s[n] != best[n]))
        for n in range(m):
            if not negative[r, n]:
                choice[r, n] = 0
                continue
            if pair and n < r:  # the same two groups as (n, r), done in row n: mirror it
                choice[r, n] = mirror[choice[n, r]]
                hard = score[n, r] if block else score[2 * n, 2 * r]
            else:
                choice[r, n] = arg[n]
                hard = best[n] - gram[r, r] if euclidean and not pair else best[n]
            if block:
                score[r, n] = hard
            else:
                for i in range(a, b + 1):
                    score[i, 2 * n] = hard
                    score[i, 2 * n + 1] = hard


@njit(cache=True, nogil=True, inline="always")
def _add(d_gram, i, k, v):  # pragma: no cover
    """Add ``v`` to the gradient of G[i, k] and of G[k, i]: ``d_gram`` stays symmetric, so that
    dE = d_gram · E with no transpose to add."""
    d_gram[i, k] += v
    d_gram[k, i] += v


@njit(cache=True, nogil=True, inline="always")
def _plain(d_gram, gk, i, k, euclidean):  # pragma: no cover
    """The gradient ``gk`` of a plain entry (i, k): G[i, k], or 2G[i, k] − G[i, i] − G[k, k]."""
    if euclidean:
        _add(d_gram, i, k, gk + gk)
        _add(d_gram, i, i, -gk)
        _add(d_gram, k, k, -gk)
    else:
        _add(d_gram, i, k, gk)


@njit(cache=True, nogil=True, inline="always")
def _chosen_grad(grad, r, n, pair, block):  # pragma: no cover
    """The gradient of the chosen score of (r, n): the sum over the entries that hold it."""
    if block:
        return grad[r, n]
    i = 2 * r if pair else r
    total = grad[i, 2 * n] + grad[i, 2 * n + 1]
    if pair:
        total += grad[i + 1, 2 * n] + grad[i + 1, 2 * n + 1]
    return total


@njit(cache=True, nogil=True)
def backward(
    grad, gram, w, choice, negative, symm, alpha, beta, n_inner, normalize, pair, block,
    euclidean, d_gram,
):  # fmt: skip  # pragma: no cover
    """Accumulate the gradient ``grad`` of the scores into ``d_gram`` [B, B], zero on entry and
    kept symmetric, so that the gradient of the embeddings is d_gram · E: first every entry's
    (into d_gram, and into the gradients of W and of −‖member‖²), then ``_through_coefficients``."""
    g, m = w.shape[0], w.shape[2]
    d_w, d_sq = np.zeros_like(w), np.zeros((g, m), w.dtype)
    gl_of, gc_of = _member_pairs(g)
    for r in range(negative.shape[0]):
        a = 2 * r if pair else r
        b = 2 * r + 1 if pair else r
        for n in range(m):
            c0, c1 = 2 * n, 2 * n + 1
            if not negative[r, n]:
                if block:  # a_r · p_n
                    _plain(d_gram, grad[r, n], a, c1, euclidean)
                else:
                    for i in range(a, b + 1):
                        _plain(d_gram, grad[i, c0], i, c0, euclidean)
                        _plain(d_gram, grad[i, c1], i, c1, euclidean)
                continue
            if pair and n < r:
                continue  # with (n, r): the same chosen pair, mirrored
            dh = _chosen_grad(grad, r, n, pair, block)
            if pair:
                dh += _chosen_grad(grad, n, r, pair, block)
            gl, gc = gl_of[choice[r, n]], gc_of[choice[r, n]]
            dd = dh + dh if euclidean else dh
            r0, r1 = w[gc, 0, n], w[gc, 1, n]
            if pair:
                l0, l1 = w[gl, 0, r], w[gl, 1, r]
                _add(d_gram, a, c0, l0 * r0 * dd)
                _add(d_gram, a, c1, l0 * r1 * dd)
                _add(d_gram, b, c0, l1 * r0 * dd)
                _add(d_gram, b, c1, l1 * r1 * dd)
                d_w[gc, 0, n] += (gram[a, c0] * l0 + gram[b, c0] * l1) * dd
                d_w[gc, 1, n] += (gram[a, c1] * l0 + gram[b, c1] * l1) * dd
                d_w[gl, 0, r] += (gram[a, c0] * r0 + gram[a, c1] * r1) * dd
                d_w[gl, 1, r] += (gram[b, c0] * r0 + gram[b, c1] * r1) * dd
                if euclidean:
                    d_sq[gl, r] += dh
            else:
                _add(d_gram, a, c0, r0 * dd)
                _add(d_gram, a, c1, r1 * dd)
                d_w[gc, 0, n] += gram[a, c0] * dd
                d_w[gc, 1, n] += gram[a, c1] * dd
                if euclidean:
                    _add(d_gram, a, a, -dh)  # the anchor's own −‖u‖²
            if euclidean:
                d_sq[gc, n] += dh
    _through_coefficients(
        gram, w, d_w, d_sq, symm, alpha, beta, n_inner, normalize, euclidean, d_gram
    )


@njit(cache=True, nogil=True)
def _through_coefficients(
    gram, w, d_w, d_sq, symm, alpha, beta, n_inner, normalize, euclidean, d_gram
):  # pragma: no cover
    """The gradients of W and of −‖member‖² onto each pair's own Gram entries Γ, through
    ‖member‖² = Σ_ij W_i W_j Γ_ij and the derivatives of ``synthesis``' coefficient formulas
    (``synthesis.coefficient_vjp``, pair by pair), added to both sides of d_gram's diagonal."""
    g, m = w.shape[0], w.shape[2]
    for k in range(m):
        a, p = 2 * k, 2 * k + 1
        aa, ap, pa, pp = gram[a, a], gram[a, p], gram[p, a], gram[p, p]
        sq_aa = sq_ap = sq_pp = 0.0  # ∂(−Σ_h d_sq_h ‖member h‖²)/∂Γ, one side
        for h in range(g if euclidean else 0):
            ds, w0, w1 = d_sq[h, k], w[h, 0, k], w[h, 1, k]
            sq_aa -= ds * w0 * w0
            sq_ap -= ds * w0 * w1
            sq_pp -= ds * w1 * w1
            d_w[h, 0, k] -= ds * ((aa + aa) * w0 + (ap + pa) * w1)  # Σ_j (Γ_ij + Γ_ji) W_j
            d_w[h, 1, k] -= ds * ((pa + ap) * w0 + (pp + pp) * w1)
        v_aa = v_ap = v_pp = 0.0  # through W
        if symm:  # W[2, 1] = ca_a(ap, pp), W[3, 0] = ca_p(ap, aa)
            d_xa, d_axis = _reflection_slopes(ap, pp, alpha, beta)
            v_ap += d_w[2, 1, k] * d_xa
            v_pp += d_w[2, 1, k] * d_axis
            d_xa, d_axis = _reflection_slopes(ap, aa, alpha, beta)
            v_ap += d_w[3, 0, k] * d_xa
            v_aa += d_w[3, 0, k] * d_axis
        elif normalize:  # W[2 + i] = ((1 − t), t) · scale(n²(Γ))
            for i in range(n_inner):
                t = (i + 1) / (n_inner + 1)
                _, d_scale, (s_aa, s_ap, s_pp) = _interpolant(aa, ap, pp, t)
                d_n2 = ((1 - t) * d_w[2 + i, 0, k] + t * d_w[2 + i, 1, k]) * d_scale
                v_aa += d_n2 * s_aa
                v_ap += d_n2 * s_ap
                v_pp += d_n2 * s_pp
        d_gram[a, a] += 2 * (sq_aa + v_aa)
        d_gram[p, p] += 2 * (sq_pp + v_pp)
        d_gram[a, p] += 2 * sq_ap + v_ap
        d_gram[p, a] += 2 * sq_ap + v_ap
