"""The six losses: agreement with pytorch-metric-learning, Symm's properties, errors."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from symsynth.losses import LOSSES, build_loss, hyperparameters
from symsynth.synthesis import symmetric_points
from tests.helpers import pair_batch
from tests.pml_reference import pml_loss

MONOTONE = ["contrastive", "triplet", "lifted", "npair", "angular"]


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_baselines_match_pytorch_metric_learning(name, seed):
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(24, 16, generator=g)
    if name == "npair":  # one pair per class, raw embeddings
        embeddings, labels = raw, torch.arange(12).repeat_interleave(2)
    else:  # several pairs per class; PML's angular/contrastive want normalised input
        embeddings = F.normalize(raw, dim=1)
        labels = torch.randint(0, 5, (12,), generator=g).repeat_interleave(2)
    ours = build_loss(name)(embeddings, labels)
    theirs = pml_loss(name, embeddings, labels)
    torch.testing.assert_close(ours, theirs.to(ours.dtype), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", MONOTONE)
@pytest.mark.parametrize("synthesis", ["symm", "ee"])
@pytest.mark.parametrize("max_angle", [30, 60, 120, 180])
def test_synthesis_never_lowers_the_loss(name, synthesis, max_angle):
    for seed in range(5):
        e, y = pair_batch(8, 3, max_angle=max_angle, seed=seed, classes=[0, 1, 2, 3, 0, 1, 4, 5])
        if name == "npair":
            e = e * 1.5
        base = build_loss(name)(e, y)
        assert build_loss(name, synthesis)(e, y) >= base - 1e-12


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("synthesis", ["symm", "ee"])
def test_identical_pairs_reproduce_the_baseline(name, synthesis):
    a = F.normalize(torch.randn(6, 4, dtype=torch.float64), dim=1)
    e, y = a.repeat_interleave(2, 0), torch.tensor([0, 1, 2, 0, 3, 4]).repeat_interleave(2)
    e = e + 0.0 * e  # synthetic == original exactly
    torch.testing.assert_close(build_loss(name, synthesis)(e, y), build_loss(name)(e, y))


@pytest.mark.parametrize("name", list(LOSSES))
def test_symm_usually_raises_the_loss_on_a_crowded_sphere(name):
    # classes packed on S^2: reflections land near other classes and mining finds them
    e, y = pair_batch(16, 3, max_angle=60, seed=7)
    assert build_loss(name, "symm")(e, y) > build_loss(name)(e, y) or name == "semihard_triplet"


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("synthesis", ["none", "symm", "ee"])
def test_gradients_are_finite(name, synthesis):
    e, y = pair_batch(6, 5, max_angle=90, seed=8, classes=[0, 1, 2, 0, 1, 3])
    e = (e * 2).float().requires_grad_()
    build_loss(name, synthesis)(e, y).backward()
    assert torch.isfinite(e.grad).all()
    assert e.grad.abs().sum() > 0


def test_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="contrastive, triplet, semihard_triplet"):
        build_loss("arcface")
    with pytest.raises(ValueError, match="none, symm, ee"):
        build_loss("triplet", synthesis="mirror")
    with pytest.raises(ValueError, match="unknown hyper-parameter.*valid: .*margin"):
        build_loss("triplet", marginn=0.1)
    loss = build_loss("triplet", "symm")
    with pytest.raises(ValueError, match="rows 2 and 3"):
        loss(torch.randn(4, 3), torch.tensor([0, 0, 1, 2]))
    with pytest.raises(ValueError, match="even batch"):
        loss(torch.randn(5, 3), torch.tensor([0, 0, 1, 1, 2]))
    with pytest.raises(ValueError, match="NaN or inf"):
        loss(torch.full((4, 3), float("nan")), torch.tensor([0, 0, 1, 1]))
    with pytest.raises(ValueError, match=r"\[B\] tensor"):
        loss(torch.randn(4, 3), torch.tensor([0, 0, 1]))
    # the baseline accepts any batch (all same-label pairs are positives)
    assert torch.isfinite(build_loss("triplet")(torch.randn(5, 3), torch.tensor([0, 1, 0, 2, 1])))


def test_hyperparameters_are_listed_and_used():
    assert hyperparameters("angular")["angle"] == 45.0
    assert hyperparameters("npair")["l2_reg"] == 0.002
    e, y = pair_batch(4, 3, seed=9)
    assert build_loss("triplet", margin=1.0)(e, y) > build_loss("triplet", margin=0.1)(e, y)


# --- the reference code's formulation (PAPER.md): element-wise max over set combinations ----


def reference_sets(e):
    a, p = e[0::2], e[1::2]
    return {"A": a, "P": p, "P'": symmetric_points(p, a), "A'": symmetric_points(a, p)}


def reference_npair_logits(e):
    """Element-wise max over the six unordered combinations of the four point sets."""
    s = reference_sets(e)
    return torch.stack([s[x] @ s[z].T for x, z in itertools.combinations(s, 2)]).amax(0)


def npair_xent(logits):
    return F.cross_entropy(logits, torch.arange(logits.shape[0]))


@pytest.mark.parametrize("max_angle", [30, 60, 89])
def test_reference_npair_positive_logits_agree_within_90_degrees(max_angle):
    """Diagonal: max(cos θ, cos 2θ, cos 3θ) = cos θ while θ < 90°, so both keep the original
    positive similarity; off the diagonal ours takes the hardest of all 16 group pairs, the
    reference the hardest of six of them, so ours is never smaller."""
    for seed in range(10):
        e, y = pair_batch(6, 3, max_angle=max_angle, seed=seed)
        ref = reference_npair_logits(e)
        ours = build_loss("npair", "symm").mine(e, y).score[0::2, 1::2]
        torch.testing.assert_close(ours.diagonal(), ref.diagonal())
        off = ~torch.eye(6, dtype=torch.bool)
        assert (ours[off] >= ref[off] - 1e-12).all()
        assert npair_xent(ours) >= npair_xent(ref) - 1e-12


def member_type(rows, batch):
    """A, P, A' or P' for point-table rows (synthetic row B + i reflects original row i)."""
    names = ["A", "P", "A'", "P'"]
    return [names[(r % 2) + 2 * (r >= batch)] for r in rows.tolist()]


def test_reference_npair_equals_ours_exactly_when_the_hardest_pair_is_one_of_its_six():
    six = set(itertools.combinations(["A", "P", "P'", "A'"], 2))
    seen = {True: 0, False: 0}
    for seed in range(20):
        e, y = pair_batch(6, 2, max_angle=60, seed=seed)
        mined = build_loss("npair", "symm").mine(e, y)
        ours, ref = mined.score[0::2, 1::2], reference_npair_logits(e)
        first, second = mined.first[0::2, 1::2], mined.second[0::2, 1::2]
        for m, n in itertools.permutations(range(6), 2):
            kind = tuple(member_type(torch.stack([first[m, n], second[m, n]]), 12))
            inside = kind in six
            seen[inside] += 1
            if inside:
                assert ours[m, n] == pytest.approx(ref[m, n].item(), abs=1e-12)
            else:
                assert ours[m, n] >= ref[m, n] - 1e-12
    assert seen[True] > 0 and seen[False] > 0  # both cases really occur on a crowded circle


def test_reference_npair_positive_logit_changes_beyond_120_degrees():
    # beyond 120° cos 2θ > cos θ: the reference's max replaces the positive logit itself
    ang = torch.tensor([0.0, 150.0, 10.0, 30.0]).deg2rad().double()
    e = torch.stack([ang.cos(), ang.sin()], 1)
    ref = reference_npair_logits(e)
    assert ref[0, 0] == pytest.approx(math.cos(math.radians(300)))
    ours = build_loss("npair", "symm").mine(e, torch.tensor([0, 0, 1, 1])).score[0::2, 1::2]
    assert ours[0, 0] == pytest.approx(math.cos(math.radians(150)))


def test_reference_angular_agrees_on_identical_pairs():
    """The reference angular loss maxes its logit f(x, y; n) over twelve ordered set
    combinations. Only on identical pairs does that agree with ours exactly (all sets are the
    same); otherwise its anchor-positive term x·y also changes with the combination (e.g. a·a'
    = cos 2θ), so the two are not ordered either way: ours changes only the negative terms."""
    a = F.normalize(torch.randn(5, 3, dtype=torch.float64), dim=1)
    e, y = a.repeat_interleave(2, 0), torch.arange(5).repeat_interleave(2)
    tan2 = math.tan(math.radians(45)) ** 2
    s = reference_sets(e)
    f = torch.stack(
        [
            4 * tan2 * (s[x] + s[z]) @ s[z].T - 2 * (1 + tan2) * (s[x] * s[z]).sum(1, keepdim=True)
            for x, z in itertools.permutations(s, 2)
        ]  # fmt: skip
    ).amax(0)
    f = f.masked_fill(torch.eye(5, dtype=torch.bool), float("-inf"))
    # the reference's N-pair form has one negative per other pair (its positive), ours both
    # points of every other pair, so on identical pairs each negative counts twice: + log 2
    ref = F.softplus(torch.logsumexp(f, 1) + math.log(2)).mean()
    torch.testing.assert_close(build_loss("angular", "symm")(e, y), ref)
