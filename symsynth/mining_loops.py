"""Hard negative pair mining on the CPU as two compiled loops, entry by entry (numba).

On a CPU the batched torch path of :class:`symsynth.mining._MinedScores` spends its time on
dispatching about 120 small ops, not on arithmetic: at B = 128 its forward and backward took
~1.8 ms for about a million multiply-adds, against ~0.9 ms with these loops (same process, one
thread). They do the same work with one pass over the [R, N] entries each (R: row pairs, or
points in anchor mode; N: column pairs), in the notation of ``mining._MinedScores``:

    member g of pair m:   W[g, 0, m]·a_m + W[g, 1, m]·p_m
    dot[r, n]  = Σ_ij L_i · G[row_i, 2n + j] · R_j     (L = W[gl, :, r], R = W[gc, :, n];
                                                         anchor mode: row_0 = r, L = (1))
    score      = dot, or 2·dot − ‖u‖² − ‖v‖²  (euclidean; ‖member‖² = ``sq``)

``forward`` takes the hardest (gl, gc) of every different-label entry, the first on ties, and
writes its score over the plain scores; ``backward`` sends the gradient of every entry to the
Gram entries it read and to the chosen members' coefficients and squared norms. The
coefficients themselves (and their derivatives) stay in :mod:`symsynth.synthesis`; the
arithmetic is in the same order as the batched path, which the tests hold these loops to.

Compiled by numba on first use and cached on disk (in ``__pycache__`` beside this file, or
numba's per-user cache where that is read-only): the first compile for float32 took 10.5 s on
the 2-core development machine (12.4 s while it was busy), loading it in a later process
0.8–1.3 s (numba's import included); ``mining.warm_up`` does either ahead of time.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _member_pairs(g):  # pragma: no cover
    """(gl, gc) of every choice gl·G + gc, as look-up tables (an integer division is slow)."""
    k = np.arange(g * g)
    return k // g, k % g


@njit(cache=True, nogil=True)
def forward(gram, w, sq, negative, pair, block, euclidean, score, choice):  # pragma: no cover
    """Write the hardest group-pair score of every ``negative`` entry into ``score`` ([B, B];
    block: the a_r × p_n quarter [M, M]) and its member pair gl·G + gc into ``choice``.

    Row by row, with the column pairs n innermost: loops over whole contiguous rows, which
    numba vectorises (the max as a compare and select). In pair mode the hardest pair between
    two groups is the same either way round: an entry below the diagonal takes the score and
    the mirrored choice (gl ↔ gc) of the one above it, so ``backward`` visits each once."""
    g, m = w.shape[0], w.shape[2]
    even = np.ascontiguousarray(gram[:, 0::2])  # G[i, 2n]: · a_n
    odd = np.ascontiguousarray(gram[:, 1::2])  # G[i, 2n + 1]: · p_n
    t0, t1 = np.empty(m, gram.dtype), np.empty(m, gram.dtype)  # u · a_n, u · p_n
    s, best, arg = np.empty(m, gram.dtype), np.empty(m, gram.dtype), np.empty(m, np.int32)
    gl_of, gc_of = _member_pairs(g)
    mirror = gc_of * g + gl_of  # choice (gl, gc) -> (gc, gl)
    for r in range(negative.shape[0]):
        a = 2 * r if pair else r  # the Gram rows of the row's originals
        b = a + 1 if pair else a
        best[:] = -np.inf
        arg[:] = 0
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
                w0, w1 = w[gc, 0], w[gc, 1]
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
                choose = np.int32(gl * g + gc)
                for n in range(m):
                    better = s[n] > best[n]  # strictly: the first on ties
                    best[n] = s[n] if better else best[n]
                    arg[n] = choose if better else arg[n]
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
    grad, gram, w, choice, negative, pair, block, euclidean, d_gram, d_w, d_sq
):  # pragma: no cover
    """Accumulate the gradient ``grad`` of the scores into ``d_gram`` [B, B] (symmetrised: the
    gradient of the embeddings is d_gram · E), ``d_w`` [G, 2, M] and ``d_sq`` [G, M] (the
    gradient of −‖member‖²), all zero on entry."""
    g, m = w.shape[0], w.shape[2]
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
