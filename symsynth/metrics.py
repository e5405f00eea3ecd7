"""Retrieval and clustering metrics of the deep-metric-learning protocol.

Every item of the (held-out) set is a query; the rest of the set is its database.

* ``recall@K``: share of queries with at least one same-class item among their K nearest
  neighbours, the query itself excluded (the paper's Recall@K).
* ``precision@1``: share of queries whose nearest neighbour is of their class
  (Musgrave et al.). With the query excluded this equals ``recall@1`` by definition; both
  keys are reported because both names are in use.
* ``map@r``: mean average precision at R (Musgrave et al., "A Metric Learning Reality
  Check"): R is the number of *other* items of the query's class, and
  ``AP@R = (1/R) Σ_{i<=R} P(i)·rel(i)`` over the query's R nearest neighbours.
* ``nmi``: normalised mutual information (scikit-learn, arithmetic mean) between the
  classes and a K-means clustering with K = number of classes.
* ``f1``: pairwise F-measure of that clustering, as in the papers' protocol: over all pairs
  of items, precision = same-class pairs among same-cluster pairs and recall = same-cluster
  pairs among same-class pairs; computed from the contingency table in O(n).

Conventions. Embeddings are L2-normalised before anything is measured: neighbours are by
cosine similarity, and K-means runs on the unit sphere's points (an all-zero vector stays
zero, with cosine 0 to everything). K-means is scikit-learn's ``KMeans`` with k-means++
initialisation, ``n_init=1`` and ``random_state=0`` by default, so results are
deterministic; a larger ``kmeans_n_init`` gives steadier NMI/F1 at proportional cost.
A query whose class has no other item has no correct answer: it is skipped by the retrieval
metrics (as pytorch-metric-learning does) but still clustered. If fewer than K other items
exist, recall@K uses all of them.

Memory. Similarities are computed one block of query rows at a time (``chunk_size`` rows,
by default about 4 million similarities per block), so the N × N matrix never exists;
each block keeps only its top ``max(K, R_max)`` neighbours, R_max = largest class size − 1.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix
from torch import Tensor

__all__ = ["evaluate", "retrieval_metrics", "clustering_metrics", "pairwise_f1"]

DEFAULT_KS = (1, 2, 4, 8)
_CHUNK_ELEMENTS = 1 << 22  # similarities per block when chunk_size is None (16 MB in float32)


def _prepare(embeddings: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> tuple[Tensor, Tensor]:
    """Validate; return (unit-length embeddings [N, D], class codes 0..C-1 as LongTensor [N])."""
    if isinstance(embeddings, np.ndarray):
        embeddings = torch.from_numpy(embeddings)
    if not isinstance(embeddings, Tensor):
        raise TypeError(f"embeddings must be a torch tensor or numpy array, got {type(embeddings)}")
    x = embeddings.detach()
    if x.dim() != 2:
        raise ValueError(f"embeddings must be 2-D [N, D], got shape {tuple(x.shape)}")
    if x.dtype != torch.float64:
        x = x.float()
    y = labels.detach().cpu().numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-D (one class id per item), got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(
            f"labels must be integer class ids, got dtype {y.dtype}; "
            "map class names to ids with np.unique(names, return_inverse=True)"
        )
    if len(y) != len(x):
        raise ValueError(f"got {len(x)} embeddings but {len(y)} labels; they must match")
    if len(x) < 2:
        raise ValueError(f"need at least 2 items to evaluate, got {len(x)}")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).any(dim=1).sum())
        raise ValueError(
            f"{bad} embedding(s) contain NaN or inf; the model diverged — "
            "lower the learning rate or check the inputs"
        )
    codes = np.unique(y, return_inverse=True)[1].reshape(-1)
    return F.normalize(x, dim=1), torch.as_tensor(codes, dtype=torch.long, device=x.device)


def _check_ks(ks: Sequence[int]) -> list[int]:
    ks = [ks] if isinstance(ks, int) else list(ks)
    if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in ks):
        raise ValueError(f"ks must be a non-empty sequence of positive ints, got {ks!r}")
    return sorted(set(ks))


def _chunk_size(n: int, chunk_size: int | None) -> int:
    if chunk_size is None:
        return max(1, _CHUNK_ELEMENTS // max(n, 1))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    return chunk_size


def _top_neighbours(x: Tensor, k: int, chunk_size: int | None):
    """Yield (start, stop, top) per block of queries: the k most similar *other* rows of each
    (``torch.topk`` values and indices, nearest first); never the whole N × N matrix."""
    n = len(x)
    step = _chunk_size(n, chunk_size)
    for start in range(0, n, step):
        stop = min(n, start + step)
        rows = torch.arange(stop - start, device=x.device)
        sim = x[start:stop] @ x.T
        sim[rows, rows + start] = -torch.inf  # a query is not its own neighbour
        yield start, stop, torch.topk(sim, k, dim=1)


def _n_top(codes: Tensor, ks) -> int:
    """Neighbours a retrieval pass ranks: enough for the largest K and for R (MAP@R)."""
    r_max = int(torch.bincount(codes).max()) - 1
    return min(len(codes) - 1, max(max(ks), r_max))


def _retrieval(x: Tensor, codes: Tensor, ks: list[int], chunk_size: int | None) -> dict[str, float]:
    n = len(x)
    _chunk_size(n, chunk_size)
    r = torch.bincount(codes)[codes] - 1  # R: the other items of each query's class
    valid = r > 0
    n_valid = int(valid.sum())
    if n_valid == 0:
        raise ValueError(
            "every class has a single item, so no query has a correct answer; "
            "retrieval metrics need at least one class with two or more items"
        )
    r_max = int(r.max())
    n_top = _n_top(codes, ks)
    ranks = torch.arange(1, r_max + 1, device=x.device, dtype=torch.float64)
    hits = dict.fromkeys({1, *ks}, 0)  # K = 1 always, for precision@1
    ap_sum = 0.0
    for start, stop, top in _top_neighbours(x, n_top, chunk_size):
        match = codes[top.indices] == codes[start:stop, None]  # [rows, n_top], nearest first
        keep = valid[start:stop]
        for k in hits:
            hits[k] += int(match[:, :k].any(dim=1)[keep].sum())
        rq = r[start:stop]
        rel = match[:, :r_max] & (ranks <= rq[:, None])  # relevant and within the first R
        precision = rel.cumsum(dim=1) / ranks
        ap = (precision * rel).sum(dim=1) / rq.clamp_min(1)
        ap_sum += float(ap[keep].sum())
    out = {f"recall@{k}": hits[k] / n_valid for k in ks}
    out["precision@1"] = hits[1] / n_valid
    out["map@r"] = ap_sum / n_valid
    return out


def nearest_neighbours(
    embeddings: Tensor | np.ndarray, k: int = 10, chunk_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's ``k`` nearest other items by cosine similarity, nearest first:
    ``(indices [N, k], similarities [N, k])`` (k is capped at N − 1).

    >>> import numpy as np
    >>> idx, sim = nearest_neighbours(np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), k=1)
    >>> idx.ravel().tolist()
    [1, 0, 1]
    """
    x, _ = _prepare(embeddings, np.zeros(len(embeddings), dtype=np.int64))
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    k = min(k, len(x) - 1)
    blocks = list(_top_neighbours(x, k, chunk_size))
    indices = torch.cat([top.indices for *_, top in blocks])
    values = torch.cat([top.values for *_, top in blocks])
    return indices.numpy(), values.numpy()


def recall_at_1_per_class(
    embeddings: Tensor | np.ndarray, labels: Tensor | np.ndarray
) -> dict[int, float]:
    """Recall@1 of each class's queries (classes with a single item are left out).

    >>> import numpy as np
    >>> recall_at_1_per_class(np.array([[1.0, 0], [1, 0.1], [0, 1], [0.1, 1]]), [0, 0, 1, 1])
    {0: 1.0, 1: 1.0}
    """
    x, codes = _prepare(embeddings, labels)
    # the very top-k call of retrieval_metrics(..., ks=(1,)), so that exact ties between
    # neighbours resolve alike and these average (weighted by class size) to its Recall@1
    n_top = _n_top(codes, (1,))
    hit = torch.cat(
        [codes[top.indices[:, 0]] == codes[a:b] for a, b, top in _top_neighbours(x, n_top, None)]
    ).numpy()
    y = np.asarray(labels.cpu() if isinstance(labels, Tensor) else labels)
    return {int(c): float(hit[y == c].mean()) for c in np.unique(y) if (y == c).sum() > 1}


def retrieval_metrics(
    embeddings: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
    chunk_size: int | None = None,
) -> dict[str, float]:
    """Recall@K for each K in ``ks``, precision@1 and MAP@R.

    Cheaper than :func:`evaluate` (no K-means), for tracking Recall@1 during training.

    >>> import torch
    >>> emb = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> retrieval_metrics(emb, torch.tensor([0, 0, 1, 1]), ks=(1,))
    {'recall@1': 1.0, 'precision@1': 1.0, 'map@r': 1.0}
    """
    x, codes = _prepare(embeddings, labels)
    with torch.no_grad():
        return _retrieval(x, codes, _check_ks(ks), chunk_size)


def pairwise_f1(labels: np.ndarray | Tensor, clusters: np.ndarray | Tensor) -> float:
    """Pairwise F-measure of a clustering against the classes, from the contingency table.

    With n_ij items of class i in cluster j, a_i = Σ_j n_ij and b_j = Σ_i n_ij:
    TP = Σ C(n_ij, 2), precision = TP / Σ C(b_j, 2), recall = TP / Σ C(a_i, 2),
    F1 = 2·P·R / (P + R) (0 when there are no true-positive pairs).

    >>> pairwise_f1([0, 0, 1, 1], [5, 5, 7, 7])
    1.0
    >>> round(pairwise_f1([0, 0, 1, 1], [0, 0, 0, 1]), 4)  # P = 1/3, R = 1/2
    0.4
    """
    y = np.asarray(labels.cpu() if isinstance(labels, Tensor) else labels).reshape(-1)
    c = np.asarray(clusters.cpu() if isinstance(clusters, Tensor) else clusters).reshape(-1)
    if len(y) != len(c):
        raise ValueError(f"got {len(y)} labels but {len(c)} cluster ids; they must match")

    def pairs(counts: np.ndarray) -> float:
        counts = counts.astype(np.int64)
        return float((counts * (counts - 1) // 2).sum())

    table = contingency_matrix(y, c, sparse=True)
    tp = pairs(table.data)
    same_cluster = pairs(np.asarray(table.sum(axis=0)).ravel())
    same_class = pairs(np.asarray(table.sum(axis=1)).ravel())
    if tp == 0:
        return 0.0
    precision, recall = tp / same_cluster, tp / same_class
    return 2 * precision * recall / (precision + recall)


def _clustering(x: Tensor, codes: Tensor, seed: int, n_init: int) -> dict[str, float]:
    if isinstance(n_init, bool) or not isinstance(n_init, int) or n_init < 1:
        raise ValueError(f"kmeans_n_init must be a positive int, got {n_init!r}")
    y = codes.cpu().numpy()
    n_classes = int(y.max()) + 1
    kmeans = KMeans(n_clusters=n_classes, n_init=n_init, random_state=seed)
    with warnings.catch_warnings():
        # Collapsed embeddings (early in training) give fewer distinct clusters than classes;
        # that is what low NMI/F1 report, so the warning would only add noise.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clusters = kmeans.fit_predict(x.cpu().numpy())
    nmi = float(normalized_mutual_info_score(y, clusters))
    return {"nmi": min(max(nmi, 0.0), 1.0), "f1": pairwise_f1(y, clusters)}  # clip rounding


def clustering_metrics(
    embeddings: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    kmeans_seed: int = 0,
    kmeans_n_init: int = 1,
) -> dict[str, float]:
    """NMI and pairwise F1 of K-means (K = number of classes) on the L2-normalised embeddings.

    >>> import torch
    >>> emb = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> clustering_metrics(emb, torch.tensor([0, 0, 1, 1]))
    {'nmi': 1.0, 'f1': 1.0}
    """
    x, codes = _prepare(embeddings, labels)
    return _clustering(x, codes, kmeans_seed, kmeans_n_init)


def evaluate(
    embeddings: Tensor | np.ndarray,
    labels: Tensor | np.ndarray,
    ks: Sequence[int] = DEFAULT_KS,
    chunk_size: int | None = None,
    kmeans_seed: int = 0,
    kmeans_n_init: int = 1,
) -> dict[str, float]:
    """All metrics of the protocol: ``recall@K`` for K in ``ks``, ``precision@1``, ``map@r``,
    ``nmi`` and ``f1``, each a float in [0, 1]. See the module docstring for definitions.

    Args:
        embeddings: ``[N, D]`` tensor or array (normalised here; need not be already).
        labels: ``[N]`` integer class ids.
        ks: the K of recall@K.
        chunk_size: query rows per similarity block; ``None`` picks one for ~16 MB blocks.
        kmeans_seed, kmeans_n_init: ``random_state`` and ``n_init`` of scikit-learn's KMeans.

    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> labels = torch.arange(40) % 4
    >>> emb = torch.eye(4)[labels] + 0.1 * torch.randn(40, 4)
    >>> scores = evaluate(emb, labels)
    >>> sorted(scores)
    ['f1', 'map@r', 'nmi', 'precision@1', 'recall@1', 'recall@2', 'recall@4', 'recall@8']
    >>> scores["recall@1"], scores["nmi"]
    (1.0, 1.0)
    """
    x, codes = _prepare(embeddings, labels)
    with torch.no_grad():
        out = _retrieval(x, codes, _check_ks(ks), chunk_size)
    out.update(_clustering(x, codes, kmeans_seed, kmeans_n_init))
    return out
