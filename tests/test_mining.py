"""Hard negative pair mining: the fast Gram path equals the explicit one and chooses right.

Every test runs twice: with the fast path's compiled loops (CPU float32/float64) and with its
batched torch ops (other devices and dtypes)."""

import pytest
import torch
import torch.nn.functional as F

from symsynth import mining
from symsynth.mining import (
    group_similarities,
    hardest_negatives,
    mine,
    mined_pair_scores,
    mined_scores,
    points_table,
)
from tests.helpers import pair_batch


@pytest.fixture(autouse=True, params=["loops", "batched"])
def backend(request, monkeypatch):
    monkeypatch.setattr(mining, "USE_LOOPS", request.param == "loops")
    return request.param


CASES = [(s, mode, metric) for s in ("symm", "ee") for mode in ("pair", "anchor")
         for metric in ("dot", "euclidean")]  # fmt: skip


@pytest.mark.parametrize("synthesis,mode,metric", CASES)
def test_fast_path_equals_explicit_points(synthesis, mode, metric):
    e, y = pair_batch(10, 6, seed=1, classes=[0, 1, 2, 0, 3, 4, 1, 5, 6, 7])
    e = e * torch.linspace(0.5, 2.0, 20, dtype=e.dtype)[:, None]  # unequal norms too
    fast = mine(e, y, synthesis, mode, metric)
    slow = mine(e, y, synthesis, mode, metric, explicit=True)
    torch.testing.assert_close(fast.score, slow.score)
    assert torch.equal(fast.first, slow.first) and torch.equal(fast.second, slow.second)
    lean = mined_scores(e, y, synthesis, mode, metric)  # the training path, without indices
    torch.testing.assert_close(lean, fast.score)


@pytest.mark.parametrize("synthesis,mode,metric", CASES)
def test_chosen_points_give_the_score_and_are_the_hardest(synthesis, mode, metric):
    e, y = pair_batch(6, 3, seed=2)
    mined = mine(e, y, synthesis, mode, metric)
    table = points_table(e, y, synthesis)
    u, v = table.points[mined.first], table.points[mined.second]
    score = (u * v).sum(-1) if metric == "dot" else -((u - v) ** 2).sum(-1)
    torch.testing.assert_close(score, mined.score)
    # brute force over the groups for one negative entry
    i, k = 0, 5
    gi = table.points[table.pair == i // 2] if mode == "pair" else e[i : i + 1]
    gk = table.points[table.pair == k // 2]
    sims = gi @ gk.T if metric == "dot" else -(torch.cdist(gi, gk) ** 2)
    torch.testing.assert_close(mined.score[i, k], sims.max())


def test_positive_entries_keep_the_original_similarity():
    e, y = pair_batch(5, 4, seed=3, classes=[0, 0, 1, 2, 2])
    mined = mine(e, y, "symm")
    same = ~mined.negative
    torch.testing.assert_close(mined.score[same], (e @ e.T)[same])
    assert not mined.synthetic[mined.first[same]].any()


def test_none_is_the_plain_similarity_on_any_batch():
    e = F.normalize(torch.randn(5, 3, dtype=torch.float64), dim=1)
    mined = mine(e, torch.tensor([0, 1, 1, 2, 0]), "none")  # not paired: fine without synthesis
    torch.testing.assert_close(mined.score, e @ e.T)
    assert mined.synthetic.numel() == 5 and not mined.synthetic.any()


def test_identical_pairs_mine_the_original_similarity():
    a = F.normalize(torch.randn(4, 3, dtype=torch.float64), dim=1)
    e = a.repeat_interleave(2, 0)
    y = torch.arange(4).repeat_interleave(2)
    for synthesis in ("symm", "ee"):
        torch.testing.assert_close(mine(e, y, synthesis).score, e @ e.T)


def test_group_similarities_shape_and_order():
    e, y = pair_batch(3, 4, seed=4)
    s = group_similarities(e, y, "symm")
    assert s.shape == (3, 4, 3, 4)
    table = points_table(e, y, "symm")
    # member 2 of pair 1 is synthetic row 2*1 (sym(a; p)), member 0 of pair 2 is row 4
    torch.testing.assert_close(s[1, 2, 2, 0], table.points[6 + 2] @ e[4])


def test_hardest_negatives_flags_synthetic_choices():
    e, y = pair_batch(8, 2, max_angle=60, seed=5)
    pairs = hardest_negatives(mine(e, y, "symm"))
    assert pairs.anchor.tolist() == list(range(16))
    table = points_table(e, y, "symm")
    assert torch.equal(pairs.first_synthetic, table.synthetic[pairs.first])
    assert (table.labels[pairs.first] != table.labels[pairs.second]).all()
    # on a crowded circle, some chosen pairs involve a synthetic point
    assert (pairs.first_synthetic | pairs.second_synthetic).any()


def test_bad_arguments_raise():
    e, y = pair_batch(2, 3)
    with pytest.raises(ValueError, match="pair, anchor"):
        mine(e, y, "symm", mode="row")
    with pytest.raises(ValueError, match="dot, euclidean"):
        mine(e, y, "symm", metric="cos")
    with pytest.raises(ValueError, match="rows 0 and 1"):
        mine(e, torch.tensor([0, 1, 1, 1]), "symm")


def test_gradients_flow_through_synthetic_points():
    e, y = pair_batch(4, 3, seed=6)
    e.requires_grad_()
    mine(e, y, "symm").score.sum().backward()
    assert torch.isfinite(e.grad).all() and e.grad.abs().sum() > 0


@pytest.mark.parametrize("synthesis,mode,metric", CASES)
def test_gradients_of_both_paths_agree(synthesis, mode, metric):
    e, y = pair_batch(6, 4, seed=10, classes=[0, 1, 2, 0, 3, 4])
    grads = []
    for explicit in (False, True):
        x = e.clone().requires_grad_()
        weights = torch.linspace(0.1, 1.0, 144, dtype=x.dtype).view(12, 12)
        (mine(x, y, synthesis, mode, metric, explicit=explicit).score * weights).sum().backward()
        grads.append(x.grad)
    torch.testing.assert_close(grads[0], grads[1])
    x = e.clone().requires_grad_()
    (mined_scores(x, y, synthesis, mode, metric) * weights).sum().backward()
    torch.testing.assert_close(x.grad, grads[0])


@pytest.mark.parametrize("synthesis,mode,metric", CASES)
def test_fast_path_gradient_passes_gradcheck(synthesis, mode, metric):
    """The chosen scores' hand-written backward against finite differences (float64)."""
    e, y = pair_batch(4, 3, seed=11, classes=[0, 1, 0, 2])
    e = (e * torch.linspace(0.7, 1.3, 8, dtype=e.dtype)[:, None]).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: mined_scores(x, y, synthesis, mode, metric), (e,))


@pytest.mark.parametrize("synthesis", ["symm", "ee"])
@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_pair_scores_are_the_anchor_positive_block(synthesis, metric):
    e, y = pair_batch(6, 4, seed=12, classes=[0, 1, 2, 0, 3, 1])
    x = e.clone().requires_grad_()
    block = mined_pair_scores(x, y, synthesis, metric)
    full = mined_scores(e, y, synthesis, "pair", metric)[0::2, 1::2]
    torch.testing.assert_close(block, full)
    block.sum().backward()
    assert torch.isfinite(x.grad).all()
    none = mined_pair_scores(e, y, "none", metric)
    torch.testing.assert_close(none, mined_scores(e, y, "none", "pair", metric)[0::2, 1::2])


def test_ties_choose_the_first_member_pair():
    # a pair of identical points reflects onto itself, exactly: all member pairs tie, and the
    # original (first) members win
    g = torch.Generator().manual_seed(13)
    a = F.normalize(torch.randn(3, 4, generator=g, dtype=torch.float64), dim=1)
    e, y = a.repeat_interleave(2, 0), torch.arange(3).repeat_interleave(2)
    for mode in ("pair", "anchor"):
        mined = mine(e, y, "symm", mode)
        assert not mined.synthetic[mined.first].any()
        assert not mined.synthetic[mined.second].any()


@pytest.mark.parametrize("synthesis,mode,metric", CASES)
def test_fast_path_gradcheck_with_unnormalised_embeddings_and_other_alpha_beta(
    synthesis, mode, metric
):
    """The one-node backward, through the coefficients' derivatives (α, β ≠ 2, 1; EE's
    normalised interpolants on unit rows, its constant ones on raw rows), against finite
    differences, for the full matrix and for N-pair's a×p block."""
    e, y = pair_batch(4, 3, seed=14, classes=[0, 1, 0, 2])
    if synthesis == "symm":
        e = e * torch.linspace(0.6, 1.8, 8, dtype=e.dtype)[:, None]  # unequal norms
    elif mode == "anchor":
        e = e * 1.3  # raw rows: EE's interpolants are not normalised
    e.requires_grad_()
    hp = {"alpha": 1.5, "beta": 0.8, "n_inner": 3}
    assert torch.autograd.gradcheck(
        lambda x: mined_scores(x, y, synthesis, mode, metric, **hp), (e,)
    )
    if mode == "pair":
        pairs = lambda x: mined_pair_scores(x, y, synthesis, metric, **hp)  # noqa: E731
        assert torch.autograd.gradcheck(pairs, (e,))


@pytest.mark.parametrize("synthesis", ["symm", "ee"])
@pytest.mark.parametrize("metric", ["dot", "euclidean"])
def test_fast_path_equals_explicit_with_other_alpha_beta(synthesis, metric):
    e, y = pair_batch(6, 4, seed=15, classes=[0, 1, 2, 0, 3, 1])
    e = e * torch.linspace(0.5, 1.5, 12, dtype=e.dtype)[:, None]
    hp = {"alpha": 1.3, "beta": 1.2, "n_inner": 3}
    weights = torch.linspace(0.1, 1.0, 144, dtype=e.dtype).view(12, 12)
    for mode in ("pair", "anchor"):
        grads, scores = [], []
        for explicit in (False, True):
            x = e.clone().requires_grad_()
            mined = mine(x, y, synthesis, mode, metric, explicit=explicit, **hp)
            (mined.score * weights).sum().backward()
            grads.append(x.grad)
            scores.append(mined.score.detach())
        torch.testing.assert_close(scores[0], scores[1])
        torch.testing.assert_close(grads[0], grads[1])
