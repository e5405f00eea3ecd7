"""Properties of the reflection (PAPER.md, step 1) and of the synthetic point sets."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from symsynth.synthesis import (
    coefficient_planes,
    coefficient_vjp,
    pair_grams,
    symmetric_points,
    synthesize,
)


def rand(n, d, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("d", [2, 3, 17, 512])
def test_mirror_preserves_norm_and_similarity_to_axis(d):
    x, a = rand(64, d, 1), rand(64, d, 2)
    y = symmetric_points(x, a)
    torch.testing.assert_close(y.norm(dim=1), x.norm(dim=1))
    torch.testing.assert_close((y * a).sum(1), (x * a).sum(1))


def test_mirror_lies_in_the_plane_of_x_and_axis():
    x, a = rand(32, 9, 3), rand(32, 9, 4)
    y = symmetric_points(x, a)
    basis = torch.stack([x, a], 2)  # [N, D, 2]
    coef = torch.linalg.lstsq(basis, y.unsqueeze(2)).solution
    torch.testing.assert_close((basis @ coef).squeeze(2), y)


def test_two_dimensional_example_is_the_mirror_image():
    # x at angle 10°, axis at 40° -> the mirror image is at 70°, same radius
    ang = torch.tensor([math.radians(10), math.radians(40)])
    x = 2 * torch.stack([ang[0].cos(), ang[0].sin()]).double()
    a = 0.5 * torch.stack([ang[1].cos(), ang[1].sin()]).double()
    expected = 2 * torch.tensor([math.cos(math.radians(70)), math.sin(math.radians(70))]).double()
    torch.testing.assert_close(symmetric_points(x, a), expected)


def test_alpha_and_beta_meaning():
    x, a = rand(16, 5, 5), rand(16, 5, 6)
    proj = (x * a).sum(1, keepdim=True) / (a * a).sum(1, keepdim=True) * a
    torch.testing.assert_close(symmetric_points(x, a, alpha=0.0), x)  # alpha 0: x itself
    torch.testing.assert_close(symmetric_points(x, a, alpha=1.0), proj)  # foot of perpendicular
    torch.testing.assert_close(symmetric_points(x, a, alpha=2.0), 2 * proj - x)  # reflection
    torch.testing.assert_close(symmetric_points(x, a, beta=0.5), 0.5 * (2 * proj - x))  # radial
    # alpha moves the point linearly along the chord through x and its foot
    mid = symmetric_points(x, a, alpha=1.5)
    torch.testing.assert_close(mid, x + 1.5 * (proj - x))


def test_reflection_is_an_involution_and_axis_invariant_to_scale():
    x, a = rand(20, 7, 7), rand(20, 7, 8)
    y = symmetric_points(x, a)
    torch.testing.assert_close(symmetric_points(y, a), x)
    torch.testing.assert_close(symmetric_points(x, 3.0 * a), y)


def test_one_dimensional_input_and_float32():
    x, a = torch.tensor([1.0, 0.0], dtype=torch.float32), torch.tensor([1.0, 1.0])
    y = symmetric_points(x, a.float())
    assert y.dtype == torch.float32 and y.shape == (2,)
    torch.testing.assert_close(y, torch.tensor([0.0, 1.0], dtype=torch.float32))


def test_gradients_flow_to_both_arguments():
    x, a = rand(6, 4, 9).requires_grad_(), rand(6, 4, 10).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, a: symmetric_points(x, a, 1.7, 0.9), (x, a))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="same shape"):
        symmetric_points(torch.zeros(3, 2), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="floating point"):
        symmetric_points(torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long))


def test_zero_axis_is_finite():
    y = symmetric_points(torch.ones(3), torch.zeros(3))
    torch.testing.assert_close(y, -torch.ones(3))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 8),
    st.floats(0.0, 3.0),
    st.floats(0.1, 2.0),
    st.floats(-1e3, 1e3).filter(lambda v: abs(v) > 1e-3),
)
def test_coefficients_reproduce_the_points(d, alpha, beta, scale):
    x, a = scale * rand(10, d, d), rand(10, d, d + 1)
    pair = torch.stack([x, a], 1)  # pairs (x, a)
    g = pair @ pair.transpose(1, 2)
    w = coefficient_planes(g[:, 0, 0], g[:, 0, 1], g[:, 1, 1], "symm", alpha, beta)
    members = torch.einsum("gim,mid->mgd", w, pair)
    torch.testing.assert_close(members[:, 2], symmetric_points(x, a, alpha, beta))
    torch.testing.assert_close(members[:, 3], symmetric_points(a, x, alpha, beta))


def test_synthesize_symm_reflects_each_row_about_its_partner():
    e = F.normalize(rand(8, 5, 11), dim=1)
    y = torch.tensor([3, 3, 1, 1, 3, 3, 0, 0])
    s = synthesize(e, y, "symm")
    partner = torch.arange(8) ^ 1
    torch.testing.assert_close(s.points, symmetric_points(e, e[partner]))
    assert s.labels.tolist() == y.tolist()
    assert s.pair.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert s.source.tolist() == list(range(8))


@pytest.mark.parametrize("normalised", [True, False])
def test_synthesize_ee_interpolates_evenly(normalised):
    e = rand(6, 4, 12)
    if normalised:
        e = F.normalize(e, dim=1)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    s = synthesize(e, y, "ee", n_inner=3)
    assert s.points.shape == (9, 4) and s.pair.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    a, p = e[0], e[1]
    raw = [(1 - t) * a + t * p for t in (0.25, 0.5, 0.75)]
    expected = torch.stack([F.normalize(r, dim=0) if normalised else r for r in raw])
    torch.testing.assert_close(s.points[:3], expected)


def test_synthesize_rejects_unpaired_batches_and_unknown_methods():
    e = rand(4, 3)
    with pytest.raises(ValueError, match="rows 2 and 3"):
        synthesize(e, torch.tensor([0, 0, 1, 2]))
    with pytest.raises(ValueError, match="even batch"):
        synthesize(rand(3, 3), torch.tensor([0, 0, 1]))
    with pytest.raises(ValueError, match="none, symm, ee"):
        synthesize(e, torch.tensor([0, 0, 1, 1]), "mirror")


# The settings whose coefficients depend on the pair's Gram entries (α, β off the paper's too).
VARYING_COEFFICIENTS = [
    ("symm", False, 2.0, 1.0),
    ("symm", False, 1.4, 0.7),
    ("ee", True, 2.0, 1.0),
]


def pair_gram_entries(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """a·a, a·p, p·p of five pairs, positive norms, some negative similarities."""
    g = rand(5, 2, seed).abs() + 0.2
    return g[:, 0], g[:, 1] - 0.5, g[:, 0] * g[:, 1] + 0.3


def test_pair_grams():
    e = rand(6, 3)
    g = pair_grams(e)
    torch.testing.assert_close(g[1], e[2:4] @ e[2:4].T)


@pytest.mark.parametrize("method,normalize,alpha,beta", VARYING_COEFFICIENTS)
def test_coefficient_jacobian_matches_autograd(method, normalize, alpha, beta):
    """The hand-written ∂W/∂Γ next to the formulas (used by mining's backward)."""
    aa, ap, pp = pair_gram_entries(20)
    w, jac = coefficient_planes(aa, ap, pp, method, alpha, beta, 3, normalize, jacobian=True)
    torch.testing.assert_close(w, coefficient_planes(aa, ap, pp, method, alpha, beta, 3, normalize))

    def planes(aa, ap, pp):
        return coefficient_planes(aa, ap, pp, method, alpha, beta, 3, normalize)

    d_aa, d_ap, d_pp = torch.autograd.functional.jacobian(planes, (aa, ap, pp))
    # [G, 2, M, M] per input, diagonal in the pair index
    expected = [d.diagonal(dim1=2, dim2=3) for d in (d_aa, d_ap, d_pp)]
    torch.testing.assert_close(jac[:, :, 0, 0], expected[0])
    torch.testing.assert_close(jac[:, :, 0, 1], expected[1])
    torch.testing.assert_close(jac[:, :, 1, 0], torch.zeros_like(expected[0]))
    torch.testing.assert_close(jac[:, :, 1, 1], expected[2])
    assert coefficient_planes(aa, ap, pp, "ee", jacobian=True)[1] is None  # constant


def test_coefficient_jacobian_is_zero_where_the_axis_norm_is_clamped():
    zero = torch.zeros(1, dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    _, jac = coefficient_planes(one, zero, zero, "symm", jacobian=True)  # p = 0
    assert torch.isfinite(jac).all() and jac[2, 1, 1, 1].item() == 0.0


@pytest.mark.parametrize("method,normalize,alpha,beta", VARYING_COEFFICIENTS)
def test_coefficient_vjp_matches_autograd(method, normalize, alpha, beta):
    """The hand-written vector-Jacobian product of the coefficients (mining's backward)."""
    aa, ap, pp = pair_gram_entries(21)
    gram = [t.clone().requires_grad_() for t in (aa, ap, pp)]
    w = coefficient_planes(*gram, method, alpha, beta, 3, normalize)
    d_w = rand(w.shape[0] * 2, w.shape[2], 22).view(w.shape)
    expected = torch.autograd.grad(w, gram, d_w)
    got = coefficient_vjp(d_w, aa, ap, pp, method, alpha, beta, 3, normalize)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
    assert coefficient_vjp(d_w, aa, ap, pp, "ee", n_inner=3) is None  # constant


def test_coefficient_vjp_is_zero_where_the_axis_norm_is_clamped():
    zero = torch.zeros(1, dtype=torch.float64)
    one = torch.ones(1, dtype=torch.float64)
    d_w = torch.ones(4, 2, 1, dtype=torch.float64)
    d_aa, d_ap, d_pp = coefficient_vjp(d_w, one, zero, zero, "symm")  # p = 0
    assert torch.isfinite(d_ap).all() and d_pp.item() == 0.0
