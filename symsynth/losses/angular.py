"""Angular loss (Wang et al. 2017), N-pair form, L2-normalised embeddings.

For every ordered same-label pair (a, p) and every point n of another label,

    f_apn = 4 tan²α (x_a + x_p)·x_n − 2 (1 + tan²α) x_a·x_p
    L = mean_{(a,p)} log(1 + Σ_n exp f_apn)

α = 45° as in the Symm reference code. With synthesis, x_a·x_n and x_p·x_n are each replaced
by the similarity of the hardest pair between the groups (pair mining), so f only grows.
Equals pytorch-metric-learning's AngularLoss(alpha) with a MeanReducer.
"""

import math

import torch
from torch import Tensor

from symsynth.losses.base import MetricLoss, positive_pairs


class AngularLoss(MetricLoss):
    mode, metric = "pair", "dot"

    def __init__(self, synthesis: str = "none", angle: float = 45.0, **kw) -> None:
        super().__init__(synthesis, **kw)
        if not 0 < angle < 90:
            raise ValueError(f"angle must be in (0, 90) degrees, got {angle}")
        self.angle = angle

    def compute(self, score: Tensor, labels: Tensor, embeddings: Tensor) -> Tensor:
        tan2 = math.tan(math.radians(self.angle)) ** 2
        a, p = positive_pairs(labels)
        # f[(a, p), n] = 4 tan² (s_an + s_pn) − 2 (1 + tan²) s_ap, over negatives n of a
        f = 4 * tan2 * (score[a] + score[p]) - 2 * (1 + tan2) * score[a, p][:, None]
        f = f.masked_fill(labels[a][:, None] == labels[None, :], float("-inf"))
        lse = torch.logsumexp(torch.cat([f, torch.zeros_like(f[:, :1])], 1), dim=1)
        return lse.mean() if len(a) else score.sum() * 0
