"""PKSampler: batch layout, epoch semantics, small classes, determinism, resuming, errors."""

import numpy as np
import pytest
import torch

from symsynth.samplers import PKSampler


def _labels(sizes):
    """Labels with class j repeated sizes[j] times, shuffled so classes are not contiguous."""
    labels = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]


def _check_batch(batch, labels, p, k):
    assert batch.dtype == torch.long and batch.shape == (p * k,)
    assert int(batch.min()) >= 0 and int(batch.max()) < len(labels)
    blocks = labels[batch].view(p, k)
    assert (blocks == blocks[:, :1]).all(), "each block of K rows must be one class"
    assert len(set(blocks[:, 0].tolist())) == p, "the P classes of a batch must be distinct"
    pairs = batch.view(-1, 2)
    assert (labels[pairs[:, 0]] == labels[pairs[:, 1]]).all()
    assert (pairs[:, 0] != pairs[:, 1]).all(), "a pair must be two different samples"


@pytest.mark.parametrize(
    "sizes, p, k",
    [
        ([8] * 6, 3, 4),
        ([5, 9, 2, 13, 4, 7, 3], 3, 4),  # uneven classes, some smaller than K
        ([40, 3, 3, 3, 3], 2, 2),  # one dominant class
        ([6, 6, 2, 6], 4, 6),
    ],
)
def test_layout_and_epoch_length(sizes, p, k):
    labels = _labels(sizes)
    sampler = PKSampler(labels, p=p, k=k, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        _check_batch(batch, labels, p, k)
    # The epoch ran until fewer than P classes had a chunk left (greedy used every batch
    # it could), and len() is the same number for the next epoch.
    chunks = -(-torch.tensor(sizes) // k)
    used = torch.bincount(labels[torch.stack(batches)[:, ::k].reshape(-1)], minlength=len(sizes))
    assert (used <= chunks).all()
    assert int(((chunks - used) > 0).sum()) < p
    assert len(list(sampler)) == len(sampler)


def test_random_class_sizes_give_the_promised_number_of_batches():
    rng = np.random.default_rng(0)
    for _ in range(30):
        sizes = rng.integers(2, 30, size=rng.integers(3, 12)).tolist()
        p = int(rng.integers(2, len(sizes) + 1))
        k = int(rng.choice([2, 4, 6]))
        labels = _labels(sizes)
        sampler = PKSampler(labels, p=p, k=k, seed=int(rng.integers(100)))
        batches = sampler.epoch_batches(0)
        assert batches.shape == (len(sampler), p * k)
        # No schedule of batches of P distinct classes can beat b*: each class fills at
        # most min(chunks, b) of b batches. Check len() is that bound, found by brute force.
        chunks = -(-np.array(sizes) // k)
        best = max(b for b in range(chunks.sum() // p + 1) if np.minimum(chunks, b).sum() >= p * b)
        assert len(sampler) == best


def test_balanced_classes_see_every_sample_exactly_once():
    labels = _labels([12] * 6)
    sampler = PKSampler(labels, p=3, k=4, seed=5)
    seen = torch.cat(list(sampler))
    assert torch.equal(torch.sort(seen).values, torch.arange(len(labels)))


def test_every_sample_of_a_class_appears_when_its_chunks_are_used():
    # 10 samples, K = 4: three chunks, the last topped up with two of the class's own
    # samples that are not already in that chunk.
    labels = _labels([10, 10, 10])
    batches = PKSampler(labels, p=3, k=4, seed=2).epoch_batches(0)
    for c in range(3):
        rows = batches.view(-1, 4)[labels[batches.view(-1, 4)[:, 0]] == c]
        assert rows.shape == (3, 4)
        assert set(rows.reshape(-1).tolist()) == set(torch.where(labels == c)[0].tolist())
        assert all(len(set(r.tolist())) == 4 for r in rows), "no repeat inside a chunk"


def test_class_smaller_than_k_is_padded_with_distinct_pairs():
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 7, 7])  # class 7: 2
    sampler = PKSampler(labels, p=4, k=6, seed=0)
    batch = next(iter(sampler))
    _check_batch(batch, labels, 4, 6)
    small = batch.view(4, 6)[labels[batch.view(4, 6)[:, 0]] == 7][0]
    assert set(small.tolist()) == {15, 16}  # both samples used, cyclically


def test_deterministic_from_seed_and_epoch():
    labels = _labels([7, 9, 11, 5, 8])
    a, b = PKSampler(labels, 3, 2, seed=4), PKSampler(labels, 3, 2, seed=4)
    assert torch.equal(a.epoch_batches(3), b.epoch_batches(3))
    assert not torch.equal(a.epoch_batches(0), a.epoch_batches(1))
    assert not torch.equal(a.epoch_batches(0), PKSampler(labels, 3, 2, seed=5).epoch_batches(0))
    # Global RNG state plays no part.
    torch.manual_seed(123)
    np.random.seed(123)
    assert torch.equal(a.epoch_batches(3), b.epoch_batches(3))


def test_iteration_advances_epochs_and_set_epoch_jumps():
    labels = _labels([6, 6, 6, 6])
    sampler = PKSampler(labels, 2, 2, seed=0)
    assert torch.equal(torch.stack(list(sampler)), sampler.epoch_batches(0))
    assert torch.equal(torch.stack(list(sampler)), sampler.epoch_batches(1))
    assert sampler.epoch == 2
    sampler.set_epoch(7)
    assert torch.equal(torch.stack(list(sampler)), sampler.epoch_batches(7))


@pytest.mark.parametrize("stop_after", [1, 6, 7, 8, 13])
def test_resume_reproduces_the_uninterrupted_sequence(stop_after):
    labels = _labels([9, 7, 12, 6, 8])
    reference = PKSampler(labels, 3, 2, seed=9)
    expected = [b for _ in range(3) for b in reference]  # three uninterrupted epochs
    assert len(reference) == 7

    first = PKSampler(labels, 3, 2, seed=9)
    got = []
    while len(got) < stop_after:  # consume stop_after batches, possibly across an epoch
        for batch in first:
            got.append(batch)
            if len(got) == stop_after:
                break
    state = first.state_dict()

    resumed = PKSampler(labels, 3, 2, seed=9)
    resumed.load_state_dict(state)
    while len(got) < len(expected):
        got.extend(resumed)
    assert len(got) == len(expected)
    assert all(torch.equal(g, e) for g, e in zip(got, expected, strict=True))


def test_iter_from_is_the_tail_of_the_epoch():
    sampler = PKSampler(_labels([6] * 5), 2, 2, seed=3)
    tail = list(sampler.iter_from(epoch=2, batch_index=3))
    assert torch.equal(torch.stack(tail), sampler.epoch_batches(2)[3:])
    assert list(sampler.iter_from(2, len(sampler))) == []
    with pytest.raises(ValueError, match="past the end"):
        list(sampler.iter_from(2, len(sampler) + 1))


def test_numpy_labels_and_arbitrary_class_ids():
    labels = np.array([10, 10, 35, 35, 35, 35, -4, -4])
    batches = PKSampler(labels, p=3, k=2, seed=0).epoch_batches(0)
    for batch in batches:
        _check_batch(batch, torch.as_tensor(labels), 3, 2)


def test_errors_say_what_to_change():
    labels = _labels([4, 4, 4])
    with pytest.raises(ValueError, match="even.*use k=4"):
        PKSampler(labels, p=2, k=3)
    with pytest.raises(ValueError, match="k .*>= 2"):
        PKSampler(labels, p=2, k=0)
    with pytest.raises(ValueError, match="only 3 classes; use p <= 3"):
        PKSampler(labels, p=4, k=2)
    with pytest.raises(ValueError, match="p .*>= 2"):
        PKSampler(labels, p=1, k=2)
    with pytest.raises(ValueError, match="single sample.*: 5, 9"):
        PKSampler(torch.tensor([0, 0, 5, 1, 1, 9]), p=2, k=2)
    with pytest.raises(TypeError, match="integer class ids"):
        PKSampler(torch.tensor([0.0, 0.0, 1.0, 1.0]), p=2, k=2)
    with pytest.raises(ValueError, match="1-D"):
        PKSampler(torch.zeros(4, 2, dtype=torch.long), p=2, k=2)
    with pytest.raises(TypeError, match="seed"):
        PKSampler(labels, p=2, k=2, seed=1.5)
    state = PKSampler(labels, 2, 2, seed=0).state_dict()
    with pytest.raises(ValueError, match="seed=0 but this sampler has seed=1"):
        PKSampler(labels, 2, 2, seed=1).load_state_dict(state)
