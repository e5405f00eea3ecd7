"""Synthetic points in the embedding space: Symmetrical Synthesis and Embedding Expansion.

Symmetrical Synthesis (Gu & Ko, AAAI 2020) reflects each member of a positive pair about
the other one. With the projection of x onto the line through 0 and the axis a,

    proj_a(x) = (x·a / ‖a‖²) a
    sym(x; a) = β (x + α (proj_a(x) − x))
              = β(1 − α) · x  +  αβ (x·a / ‖a‖²) · a        (the same point, as coefficients)

α = 2, β = 1 is the mirror image of x about the line 0→a: ‖x'‖ = ‖x‖ and x'·a = x·a.
α = 1 is the foot of the perpendicular; β scales the result radially.

Embedding Expansion (Ko & Gu, CVPR 2020) instead takes ``n_inner`` evenly spaced points on the
segment between the pair, ``(1 − t) a + t p`` with t = k / (n_inner + 1), L2-normalised when the
embeddings are.

Every synthetic point is a linear combination of its pair's two original points, with
coefficients that depend only on the pair's own 2×2 Gram matrix. :func:`coefficient_planes`
returns those coefficients, and on request
their partial derivatives with respect to the pair's Gram entries; :func:`coefficient_vjp`
back-propagates a gradient through them (in closed form for symm); :func:`synthesize`
multiplies them out, and :mod:`symsynth.mining` uses them to get all group similarities from
the batch Gram matrix without materialising any synthetic point, and to back-propagate through
the coefficients by hand. The formulas, and their derivatives, live here and only here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

METHODS = ("none", "symm", "ee")
_EPS = 1e-12
_NORMALISED_TOL = 1e-4


# The formulas below are plain arithmetic on their arguments, with no calls: the same lines run
# on torch tensors (with autograd, on any device) and, compiled by numba, inside the CPU loops of
# symsynth.mining_loops. max(x, ε) is written x + (ε − x)·[x < ε] for that reason.


def reflection_coefficients(
    xa: Tensor | float, aa: Tensor | float, alpha: float, beta: float
) -> tuple[float, Tensor | float]:
    """Coefficients (c_x, c_a) with sym(x; a) = c_x·x + c_a·a, from x·a and ‖a‖² (clamped at ε):
    c_x = β(1 − α), a number, and c_a = αβ (x·a) / ‖a‖²."""
    aa_c = aa + (_EPS - aa) * (aa < _EPS)
    return beta * (1.0 - alpha), alpha * beta * xa / aa_c


def reflection_slopes(
    xa: Tensor | float, aa: Tensor | float, alpha: float, beta: float
) -> tuple[Tensor | float, Tensor | float]:
    """∂c_a/∂(x·a) = αβ/‖a‖² and ∂c_a/∂‖a‖² = −αβ (x·a)/‖a‖⁴ of :func:`reflection_coefficients`
    (c_x is a constant); the second is 0 where ‖a‖² is clamped (an all-zero axis)."""
    aa_c = aa + (_EPS - aa) * (aa < _EPS)
    d_xa = alpha * beta / aa_c
    return d_xa, -d_xa * xa / aa_c * (aa >= _EPS)


def interpolant_scale(
    aa: Tensor | float, ap: Tensor | float, pp: Tensor | float, t: float
) -> tuple[Tensor | float, Tensor | float, tuple[float, float, float]]:
    """EE's normalisation of the interpolant (1 − t)·a + t·p, from the pair's Gram entries:
    its squared norm n² = (1 − t)²·aa + 2t(1 − t)·ap + t²·pp, the scale 1/n (n² clamped at ε),
    ∂scale/∂n² = −scale³/2 (0 where clamped), and ∂n²/∂(aa, ap, pp)."""
    slopes = ((1 - t) ** 2, 2 * t * (1 - t), t * t)
    norm2 = slopes[0] * aa + slopes[1] * ap + slopes[2] * pp
    scale = (norm2 + (_EPS - norm2) * (norm2 < _EPS)) ** -0.5
    return scale, -0.5 * scale**3 * (norm2 >= _EPS), slopes


def symmetric_points(points: Tensor, axes: Tensor, alpha: float = 2.0, beta: float = 1.0) -> Tensor:
    """Reflect ``points`` about the lines through the origin and ``axes``.

    Returns ``β (x + α (proj_a(x) − x))`` row by row, same shape as ``points`` (``[N, D]`` or
    ``[D]``), differentiable in both arguments. An all-zero axis has no direction; its
    projection is taken as 0, so the result is ``β(1 − α) x``.

    >>> import torch
    >>> x, a = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])
    >>> symmetric_points(x, a)
    tensor([0., 1.])
    >>> symmetric_points(x, a, alpha=1.0)  # the foot of the perpendicular
    tensor([0.5000, 0.5000])
    """
    if not isinstance(points, Tensor) or not isinstance(axes, Tensor):
        raise TypeError("points and axes must be torch tensors")
    if points.shape != axes.shape or points.dim() not in (1, 2):
        raise ValueError(
            f"points and axes must have the same shape [N, D] or [D]; got {tuple(points.shape)}"
            f" and {tuple(axes.shape)}"
        )
    if not points.is_floating_point():
        raise ValueError(f"points must be floating point, got {points.dtype}")
    xa = (points * axes).sum(-1, keepdim=True)
    aa = (axes * axes).sum(-1, keepdim=True)
    c_x, c_a = reflection_coefficients(xa, aa, alpha, beta)
    return c_x * points + c_a * axes


def check_pairs(labels: Tensor) -> None:
    """Raise ValueError unless rows 2m and 2m+1 share a label for every m (even batch)."""
    if labels.dim() != 1:
        raise ValueError(f"labels must be a 1-D tensor, got shape {tuple(labels.shape)}")
    n = labels.numel()
    if n == 0 or n % 2:
        raise ValueError(
            f"synthesis needs an even batch of consecutive same-label pairs; got {n} rows. "
            "Use symsynth.samplers.PKSampler (K even) to build batches."
        )
    if not torch.equal(labels[0::2], labels[1::2]):
        bad = (labels[0::2] != labels[1::2]).nonzero().flatten()
        m = int(bad[0])
        raise ValueError(
            f"synthesis needs rows 2m and 2m+1 to share a label; rows {2 * m} and {2 * m + 1} have "
            f"labels {labels[2 * m].item()} and {labels[2 * m + 1].item()} "
            f"({bad.numel()} of {n // 2} pairs differ). Use symsynth.samplers.PKSampler."
        )


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown synthesis {method!r}; choose one of {', '.join(METHODS)}")


def coefficient_planes(
    aa: Tensor,
    ap: Tensor,
    pp: Tensor,
    method: str,
    alpha: float = 2.0,
    beta: float = 1.0,
    n_inner: int = 2,
    normalize: bool = False,
    jacobian: bool = False,
) -> Tensor | tuple[Tensor, Tensor | None]:
    """Coefficients W [G, 2, M] of every pair's group, from the pairs' Gram entries [M].

    Member g of pair m = (a, p) is ``W[g, 0, m] * a + W[g, 1, m] * p``, where ``aa``, ``ap``, ``pp``
    are a·a, a·p and p·p. Members are ordered: a, p, then the synthetic points (symm: sym(a; p),
    sym(p; a); ee: the n_inner interpolants from a towards p, unit-norm if ``normalize``).

    With ``jacobian``, returns ``(W, J)``: J [G, 2, 2, 2, M] holds ∂W[g, i, m] / ∂Γ[k, l, m], the
    derivatives with respect to the pair's Gram matrix Γ = [[aa, ap], [p·a, pp]] (a·p counts as
    its upper entry, ∂/∂Γ[1, 0] = 0); None when W is constant (ee, not normalised).
    """
    check_method(method)
    one, zero = torch.ones_like(ap), torch.zeros_like(ap)
    planes = [one, zero, zero, one]  # a, p
    slopes = None if method == "none" or (method == "ee" and not normalize) else []
    constant = [zero] * 4  # ∂/∂(aa, ap, p·a, pp) of a constant
    if method == "symm":  # a' = sym(a; p) and p' = sym(p; a), both at once
        axes = torch.stack([pp, aa])  # ‖p‖² for a', ‖a‖² for p'
        c_x, c_a = reflection_coefficients(ap, axes, alpha, beta)
        ca_a, ca_p = c_a.unbind()
        c_x = torch.full_like(ap, c_x)  # β(1 − α), the same for both
        planes += [c_x, ca_a, ca_p, c_x]
        if jacobian:  # a' = c_x·a + ca_a(ap, pp)·p,  p' = ca_p(ap, aa)·a + c_x·p
            d_xa, d_axis = reflection_slopes(ap, axes, alpha, beta)
            slopes += [constant] * 4  # a, p
            slopes += [constant, [zero, d_xa[0], zero, d_axis[0]]]  # a'
            slopes += [[d_axis[1], d_xa[1], zero, zero], constant]  # p'
    elif method == "ee":
        if n_inner < 1:
            raise ValueError(f"n_inner must be at least 1, got {n_inner}")
        if slopes is not None and jacobian:
            slopes += [constant] * 4
        for k in range(1, n_inner + 1):
            t = k / (n_inner + 1)
            scale = one
            if normalize:  # (1 − t) a + t p, divided by its norm
                scale, d_scale, (s_aa, s_ap, s_pp) = interpolant_scale(aa, ap, pp, t)
                if jacobian:  # ∂/∂(aa, ap, p·a, pp) of the norm², through the scale
                    n2_slopes = (s_aa, s_ap, 0.0, s_pp)
                    slopes += [[c * n * d_scale for n in n2_slopes] for c in (1 - t, t)]
            planes += [(1 - t) * scale, t * scale]
    w = torch.stack(planes).view(-1, 2, *ap.shape)
    if not jacobian:
        return w
    if slopes is None:
        return w, None
    return w, torch.stack([d for row in slopes for d in row]).view(-1, 2, 2, 2, *ap.shape)


def coefficient_vjp(
    d_w: Tensor,
    aa: Tensor,
    ap: Tensor,
    pp: Tensor,
    method: str,
    alpha: float = 2.0,
    beta: float = 1.0,
    n_inner: int = 2,
    normalize: bool = False,
) -> tuple[Tensor, Tensor, Tensor] | None:
    """The vector-Jacobian product of :func:`coefficient_planes`: given d_w [G, 2, M], the
    gradient of W, returns (d_aa, d_ap, d_pp) [M], the gradient of the pairs' Gram entries
    (a·p counted once); None when W is constant (none, ee not normalised).

    symm, directly from the formulas, without building the Jacobian: only the two varying
    coefficients depend on Γ (c_x = β(1 − α) is a constant),

        a' = c_x·a + ca_a·p,   ca_a = αβ (a·p) / ‖p‖²
        p' = ca_p·a + c_x·p,   ca_p = αβ (a·p) / ‖a‖²
        ∂ca/∂(a·p) = αβ / ‖axis‖²,   ∂ca/∂‖axis‖² = −αβ (a·p) / ‖axis‖⁴  (0 where clamped)

    ee (normalised): through the Jacobian of ``coefficient_planes(..., jacobian=True)``.
    """
    if method == "symm":
        d_ca = d_w.reshape(-1, *ap.shape)[5:7]  # W[2, 1] = ca_a and W[3, 0] = ca_p, flattened
        axes = torch.stack([pp, aa])  # ‖p‖² for a', ‖a‖² for p'
        d_xa, d_axis = reflection_slopes(ap, axes, alpha, beta)
        d_axes = d_ca * d_axis
        return d_axes[1], (d_ca * d_xa).sum(0), d_axes[0]
    args = (method, alpha, beta, n_inner, normalize)
    jac = coefficient_planes(aa, ap, pp, *args, jacobian=True)[1]
    if jac is None:
        return None
    d_gram = (d_w[:, :, None, None] * jac).flatten(0, 1).sum(0)  # [2, 2, M]
    return d_gram[0, 0], d_gram[0, 1], d_gram[1, 1]


def group_size(method: str, n_inner: int = 2) -> int:
    """Members per group: the pair's two points and its synthetic ones."""
    check_method(method)
    return {"none": 2, "symm": 4, "ee": 2 + n_inner}[method]


def is_normalized(embeddings: Tensor) -> bool:
    """True when every row has unit L2 norm (to 1e-4): EE then normalises its points too."""
    norms = embeddings.detach().norm(dim=-1)
    return bool(((norms - 1).abs() < _NORMALISED_TOL).all())


def pair_grams(embeddings: Tensor) -> Tensor:
    """[M, 2, 2] Gram matrices of the consecutive pairs (rows 2m, 2m+1)."""
    pairs = embeddings.view(-1, 2, embeddings.shape[-1])
    return pairs @ pairs.transpose(1, 2)


@dataclass(frozen=True)
class Synthetic:
    """Synthetic points of a batch: ``points`` [S, D], ``labels`` [S], ``pair`` [S] (pair index m,
    whose originals are rows 2m and 2m+1), ``source`` [S] (the original row each point was made
    from: symm reflects that row about its partner; ee counts from the pair's first row)."""

    points: Tensor
    labels: Tensor
    pair: Tensor
    source: Tensor


def synthesize(
    embeddings: Tensor,
    labels: Tensor,
    method: str = "symm",
    alpha: float = 2.0,
    beta: float = 1.0,
    n_inner: int = 2,
) -> Synthetic:
    """Synthetic points of a batch whose rows 2m, 2m+1 are positive pairs.

    symm: for pair (a, p), ``sym(a; p)`` then ``sym(p; a)``, so synthetic row i is the reflection
    of original row i about its partner. ee: ``n_inner`` evenly spaced points from a towards p,
    L2-normalised when the embeddings are. ``method="none"`` gives an empty set.

    >>> import torch
    >>> e = torch.nn.functional.normalize(torch.randn(4, 3), dim=1)
    >>> s = synthesize(e, torch.tensor([0, 0, 1, 1]))
    >>> s.points.shape, s.labels.tolist(), s.pair.tolist()
    (torch.Size([4, 3]), [0, 0, 1, 1], [0, 0, 1, 1])
    """
    check_method(method)
    check_pairs(labels)
    if embeddings.dim() != 2 or embeddings.shape[0] != labels.numel():
        raise ValueError(
            f"embeddings must be [B, D] with B = len(labels) = {labels.numel()}; "
            f"got {tuple(embeddings.shape)}"
        )
    m = labels.numel() // 2
    if method == "none":
        empty = torch.empty(0, dtype=torch.long, device=labels.device)
        return Synthetic(embeddings[:0], labels[:0], empty, empty)
    g = pair_grams(embeddings)
    w = coefficient_planes(
        g[:, 0, 0],
        g[:, 0, 1],
        g[:, 1, 1],
        method,
        alpha,
        beta,
        n_inner,
        normalize=is_normalized(embeddings),
    )[2:]  # [S_per_pair, 2, M]: the synthetic members only
    pairs = embeddings.view(m, 2, -1)
    points = torch.einsum("sim,mid->msd", w, pairs).reshape(-1, embeddings.shape[1])
    per_pair = w.shape[0]
    pair = torch.arange(m, device=labels.device).repeat_interleave(per_pair)
    source = torch.arange(2 * m, device=labels.device) if method == "symm" else 2 * pair
    return Synthetic(points, labels[2 * pair], pair, source)
