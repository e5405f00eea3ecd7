"""Lifted structured loss (Song et al. 2016), L2-normalised embeddings.

    J_ij = log( Σ_{k ∈ N(i)} exp(m_neg − d_ik) + Σ_{l ∈ N(j)} exp(m_neg − d_jl) ) + d_ij − m_pos
    L = mean_{(i,j) positive} ½ [J_ij]_+²

over ordered same-label pairs, N(i) the points of other labels. With synthesis, every d_ik is
the closest pair between the groups of i and k. Equals pytorch-metric-learning's
LiftedStructureLoss with a MeanReducer (it also halves each term, counting both orders).
"""

import torch
from torch import Tensor

from symsynth.losses.base import MarginPairLoss, distance, masked_mean, positive_mask


class LiftedStructureLoss(MarginPairLoss):
    def compute(self, score: Tensor, labels: Tensor, embeddings: Tensor) -> Tensor:
        d = distance(score)
        negative = labels[:, None] != labels[None, :]
        # log Σ_k exp(m − d_ik) per row; a row with no negative contributes nothing
        per_row = (self.neg_margin - d).masked_fill(~negative, float("-inf"))
        lse = torch.logsumexp(per_row, dim=1)
        pair = torch.logaddexp(lse[:, None], lse[None, :])  # both rows' negatives, [B, B]
        has_neg = negative.any(1)
        pair = torch.where(has_neg[:, None] | has_neg[None, :], pair, torch.zeros_like(pair))
        j = pair + d - self.pos_margin
        return masked_mean(0.5 * j.relu() ** 2, positive_mask(labels))
