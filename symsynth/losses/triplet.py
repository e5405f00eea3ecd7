"""Triplet margin loss (Weinberger & Saul 2009; Schroff et al. 2015), L2-normalised embeddings.

    L = mean_{(a,p,n)} [d_ap − d_an + m]_+

over every triplet of the batch: a and p share a label (a ≠ p), n has another label. With
synthesis, d_an is the distance from the anchor to the closest original or synthetic point of
n's group (anchor mining). Equals pytorch-metric-learning's TripletMarginLoss with a MeanReducer.
"""

from torch import Tensor

from symsynth.losses.base import MetricLoss, distance, masked_mean, positive_pairs


def triplets(score: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Over (positive pair, n): d_ap [P, 1], d_an [P, B] and the mask of valid negatives."""
    d = distance(score)
    a, p = positive_pairs(labels)
    return d[a, p][:, None], d[a], labels[a][:, None] != labels[None, :]


class TripletLoss(MetricLoss):
    mode, metric = "anchor", "euclidean"

    def __init__(self, synthesis: str = "none", margin: float = 0.2, **kw) -> None:
        super().__init__(synthesis, **kw)
        self.margin = margin

    def compute(self, score: Tensor, labels: Tensor, embeddings: Tensor) -> Tensor:
        d_ap, d_an, valid = triplets(score, labels)
        return masked_mean((d_ap - d_an + self.margin).relu(), valid)
