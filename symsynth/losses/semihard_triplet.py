"""Semi-hard triplet loss (Schroff et al. 2015, FaceNet), L2-normalised embeddings.

    L = mean_{(a,p,n) semi-hard} [d_ap − d_an + m]_+,   semi-hard:  d_ap < d_an ≤ d_ap + m

Only triplets whose negative is farther than the positive but still inside the margin count
(0 when there are none). With synthesis, d_an is the anchor-mined distance, so a synthetic
point can make a triplet semi-hard (or push it past, into "hard"); unlike the other losses this
one is therefore not monotone in the mined distances. Equals pytorch-metric-learning's
TripletMarginLoss (MeanReducer) fed by TripletMarginMiner(type_of_triplets="semihard").
"""

from torch import Tensor

from symsynth.losses.base import masked_mean
from symsynth.losses.triplet import TripletLoss, triplets


class SemihardTripletLoss(TripletLoss):
    def compute(self, score: Tensor, labels: Tensor, embeddings: Tensor) -> Tensor:
        d_ap, d_an, valid = triplets(score, labels)
        gap = d_an - d_ap
        semihard = valid & (gap > 0) & (gap <= self.margin)
        return masked_mean((self.margin - gap).relu(), semihard)
