"""Metrics against pytorch-metric-learning, scikit-learn and brute-force definitions."""

import numpy as np
import pytest
import torch
from pytorch_metric_learning.distances import CosineSimilarity
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score

from symsynth.metrics import clustering_metrics, evaluate, pairwise_f1, retrieval_metrics

KEYS = {"recall@1", "recall@2", "recall@4", "recall@8", "nmi", "f1", "map@r", "precision@1"}


def _data(seed, n=240, dim=16, n_classes=9, spread=1.5):
    """Clustered data with uneven classes, hard enough that no metric is 0 or 1."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    labels[:2] = n_classes  # one more class with exactly two items
    centers = rng.normal(size=(n_classes + 1, dim))
    x = centers[labels] + spread * rng.normal(size=(n, dim))
    return x.astype(np.float32), labels


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute_force_recall(x, labels, k):
    sim = _unit(x.astype(np.float64)) @ _unit(x.astype(np.float64)).T
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1)[:, :k]
    has_positive = np.bincount(labels)[labels] > 1
    hit = (labels[order] == labels[:, None]).any(axis=1)
    return hit[has_positive].mean()


def _brute_force_f1(labels, clusters):
    same_class = labels[:, None] == labels[None, :]
    same_cluster = clusters[:, None] == clusters[None, :]
    upper = np.triu(np.ones_like(same_class), k=1)
    tp = (same_class & same_cluster & upper).sum()
    if tp == 0:
        return 0.0
    precision = tp / (same_cluster & upper).sum()
    recall = tp / (same_class & upper).sum()
    return 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_precision_at_1_and_map_at_r_match_pytorch_metric_learning(seed):
    x, labels = _data(seed)
    labels[-1] = labels.max() + 1  # a class with a single item: skipped by both
    calc = AccuracyCalculator(
        include=("precision_at_1", "mean_average_precision_at_r"),
        k="max_bin_count",
        knn_func=CustomKNN(CosineSimilarity()),
        device=torch.device("cpu"),
    )
    ref = calc.get_accuracy(torch.from_numpy(x), torch.from_numpy(labels))
    ours = retrieval_metrics(x, labels)
    assert 0.05 < ours["map@r"] < 0.95 and 0.05 < ours["precision@1"] < 0.95
    assert ours["precision@1"] == pytest.approx(ref["precision_at_1"], abs=1e-6)
    assert ours["map@r"] == pytest.approx(ref["mean_average_precision_at_r"], abs=1e-6)


@pytest.mark.parametrize("seed", [0, 3])
def test_recall_at_k_matches_brute_force(seed):
    x, labels = _data(seed)
    ours = retrieval_metrics(torch.from_numpy(x), torch.from_numpy(labels), ks=(1, 2, 3, 4, 8, 16))
    for k in (1, 2, 3, 4, 8, 16):
        assert ours[f"recall@{k}"] == pytest.approx(_brute_force_recall(x, labels, k), abs=1e-12)
    assert ours["precision@1"] == ours["recall@1"]


def test_hand_computed_example():
    # Points on the unit circle at these angles (degrees); classes a = 0, b = 1, c = 2.
    angles = np.radians([0, 10, 30, 45, 100, 200])
    labels = np.array([0, 1, 0, 0, 1, 2])  # class 2 has a single item: skipped
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    out = retrieval_metrics(x, labels, ks=(1, 2))
    # Nearest first: 0 -> 10, 30, 45 | 10 -> 0, 30 | 30 -> 45, 10, 0 | 45 -> 30, 10, 0
    # 100 -> 45, 30, 10, ...
    # recall@1: 0 no, 10 no, 30 yes, 45 yes, 100 no -> 2/5; recall@2: 0, 30, 45 -> 3/5.
    assert out["recall@1"] == pytest.approx(2 / 5) and out["recall@2"] == pytest.approx(3 / 5)
    # AP@R: point 0 (R=2): [b, a] -> (1/2)(1/2) = 1/4; point 10 (R=1): [a] -> 0;
    # 30 (R=2): [a, b] -> 1/2; 45 (R=2): [a, b] -> 1/2; 100 (R=1): [a] -> 0.
    assert out["map@r"] == pytest.approx((1 / 4 + 0 + 1 / 2 + 1 / 2 + 0) / 5)


def test_chunking_does_not_change_results():
    x, labels = _data(4, n=150)
    whole = retrieval_metrics(x, labels, chunk_size=len(x))
    for chunk_size in (1, 7, 64, None):
        part = retrieval_metrics(x, labels, chunk_size=chunk_size)
        assert part == pytest.approx(whole, abs=1e-12)


def test_nmi_matches_scikit_learn_and_pytorch_metric_learning():
    x, labels = _data(5)
    unit = _unit(x)
    clusters = KMeans(n_clusters=10, n_init=1, random_state=0).fit_predict(unit)
    expected = normalized_mutual_info_score(labels, clusters)
    assert 0.05 < expected < 0.95
    assert evaluate(x, labels)["nmi"] == pytest.approx(expected, abs=1e-12)

    def sklearn_kmeans(query, num_clusters):
        km = KMeans(n_clusters=num_clusters, n_init=1, random_state=0)
        return torch.from_numpy(km.fit_predict(_unit(query.numpy())))

    calc = AccuracyCalculator(
        include=("NMI",), knn_func=CustomKNN(CosineSimilarity()), kmeans_func=sklearn_kmeans
    )
    ref = calc.get_accuracy(torch.from_numpy(x), torch.from_numpy(labels))
    assert clustering_metrics(x, labels)["nmi"] == pytest.approx(ref["NMI"], abs=1e-6)


def test_f1_matches_brute_force_pair_count():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 120))
        labels = rng.integers(0, rng.integers(1, 10), size=n)
        clusters = rng.integers(0, rng.integers(1, 10), size=n)
        assert pairwise_f1(labels, clusters) == pytest.approx(_brute_force_f1(labels, clusters))
    # And the F1 that evaluate() reports is that of the K-means clustering.
    x, labels = _data(6)
    clusters = KMeans(n_clusters=10, n_init=1, random_state=0).fit_predict(_unit(x))
    expected = _brute_force_f1(labels, clusters)
    assert 0.05 < expected < 0.95
    assert evaluate(x, labels)["f1"] == pytest.approx(expected, abs=1e-12)


def test_keys_ranges_and_perfect_embeddings():
    x, labels = _data(7)
    out = evaluate(torch.from_numpy(x), torch.from_numpy(labels))
    assert set(out) == KEYS
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in out.values())
    assert out["recall@1"] <= out["recall@2"] <= out["recall@4"] <= out["recall@8"]
    # Tight, well-separated classes score 1 everywhere.
    perfect = torch.eye(10)[torch.from_numpy(labels)] + 1e-3 * torch.randn(len(labels), 10)
    assert evaluate(perfect, labels) == pytest.approx(dict.fromkeys(KEYS, 1.0))


def test_input_types_scale_and_dtype_do_not_matter():
    x, labels = _data(8, n=120)
    base = evaluate(x, labels)
    scale = np.random.default_rng(0).uniform(0.1, 10.0, size=(len(x), 1)).astype(np.float32)
    assert evaluate(x * scale, labels) == pytest.approx(base, abs=1e-6)  # cosine only
    assert evaluate(torch.from_numpy(x).double(), torch.from_numpy(labels)) == pytest.approx(
        base, abs=1e-6
    )
    assert evaluate(torch.from_numpy(x).requires_grad_(), labels + 100) == pytest.approx(base)


def test_k_larger_than_the_database_uses_every_other_item():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.1], [0.9, 0.2]])
    labels = np.array([0, 1, 1, 0])
    out = retrieval_metrics(x, labels, ks=(3, 8))
    assert out["recall@8"] == out["recall@3"] == 1.0


def test_validation_errors():
    x, labels = _data(9, n=20)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 embedding.*NaN or inf.*lower the learning rate"):
        evaluate(bad, labels)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        retrieval_metrics(bad, labels)
    with pytest.raises(ValueError, match="20 embeddings but 19 labels"):
        evaluate(x, labels[:-1])
    with pytest.raises(ValueError, match="at least 2 items to evaluate, got 1"):
        evaluate(x[:1], labels[:1])
    with pytest.raises(ValueError, match="every class has a single item"):
        evaluate(x[:5], np.arange(5))
    with pytest.raises(ValueError, match=r"2-D \[N, D\]"):
        evaluate(x[0], labels[:1])
    with pytest.raises(TypeError, match="integer class ids"):
        evaluate(x, labels.astype(float))
    with pytest.raises(ValueError, match="ks must be"):
        evaluate(x, labels, ks=(0, 1))
    with pytest.raises(ValueError, match="chunk_size must be a positive int or None, got 0"):
        retrieval_metrics(x, labels, chunk_size=0)
    with pytest.raises(ValueError, match="kmeans_n_init"):
        clustering_metrics(x, labels, kmeans_n_init=0)
    with pytest.raises(ValueError, match="3 labels but 2 cluster ids"):
        pairwise_f1([0, 1, 1], [0, 1])


def test_nearest_neighbours_match_brute_force_and_exclude_the_query():
    from symsynth.metrics import nearest_neighbours, recall_at_1_per_class

    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 5))
    idx, sim = nearest_neighbours(x, k=4, chunk_size=6)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    full = unit @ unit.T
    np.fill_diagonal(full, -np.inf)
    expected = np.argsort(-full, axis=1)[:, :4]
    assert np.array_equal(idx, expected)
    np.testing.assert_allclose(sim, np.take_along_axis(full, expected, 1), rtol=1e-5)
    labels = rng.integers(0, 3, 37)
    per_class = recall_at_1_per_class(x, labels)
    hit = labels[expected[:, 0]] == labels
    assert per_class == {c: pytest.approx(hit[labels == c].mean()) for c in range(3)}
    # the per-class figures average back to recall@1 when weighted by class size
    weights = np.bincount(labels) / len(labels)
    total = sum(weights[c] * v for c, v in per_class.items())
    assert total == pytest.approx(evaluate(x, labels)["recall@1"])
