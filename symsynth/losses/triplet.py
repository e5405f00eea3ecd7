"""Triplet margin loss (Weinberger & Saul 2009; Schroff et al. 2015), L2-normalised embeddings.

    L = mean_{(a,p,n)} [d_ap − d_an + m]_+

over every triplet of the batch: a and p share a label (a ≠ p), n has another label. With
synthesis, d_an is the distance from the anchor to the closest original or synthetic point of
n's group (anchor mining). Equals pytorch-metric-learning's TripletMarginLoss with a MeanReducer.
"""

from torch import Tensor

from symsynth.losses.base import MetricLoss, distance, masked_mean, positive_mask


def triplets(score: Tensor, labels: Tensor, margin: float) -> tuple[Tensor, Tensor, Tensor]:
    """[B, B, B] tensors over (a, p, n): d_ap, d_an and the mask of valid triplets."""
    d = distance(score)
    valid = positive_mask(labels)[:, :, None] & (labels[:, None] != labels[None, :])[:, None, :]
    return d[:, :, None], d[:, None, :], valid


class TripletLoss(MetricLoss):
    mode, metric = "anchor", "euclidean"

    def __init__(self, synthesis: str = "none", margin: float = 0.2, **kw) -> None:
        super().__init__(synthesis, **kw)
        self.margin = margin

    def compute(self, score: Tensor, labels: Tensor, embeddings: Tensor) -> Tensor:
        d_ap, d_an, valid = triplets(score, labels, self.margin)
        return masked_mean((d_ap - d_an + self.margin).relu(), valid)
