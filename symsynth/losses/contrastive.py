"""Contrastive loss (Hadsell, Chopra & LeCun 2006), on L2-normalised embeddings.

    L = mean_{(i,j) positive} [d_ij − m_pos]_+  +  mean_{(i,k) negative} [m_neg − d_ik]_+

Positive pairs are all same-label pairs, negatives all different-label pairs. With synthesis,
d_ik is the distance of the closest pair between the groups of i and k (pair mining), so the
loss can only grow. Equals pytorch-metric-learning's ContrastiveLoss with a MeanReducer.
"""

from torch import Tensor

from symsynth.losses.base import MarginPairLoss, distance, masked_mean, positive_mask


class ContrastiveLoss(MarginPairLoss):
    def compute(self, score: Tensor, labels: Tensor, embeddings: Tensor) -> Tensor:
        d = distance(score)
        negative = labels[:, None] != labels[None, :]
        pos = masked_mean((d - self.pos_margin).relu(), positive_mask(labels))
        neg = masked_mean((self.neg_margin - d).relu(), negative)
        return pos + neg
