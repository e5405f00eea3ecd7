"""Multi-class N-pair loss (Sohn 2016) with the reference code's L2 penalty, raw embeddings.

For the batch's pairs (a_m, p_m) = rows (2m, 2m+1), logits s_mn = a_m · p_n and

    L = mean_m  CE( softmax_n s_mn , y_m )  +  λ · ¼ (mean_m ‖a_m‖² + mean_m ‖p_m‖²)

where y_m spreads its mass evenly over the pairs with a_m's label (one-hot when every pair
has its own class, as in N-pair batches). λ = 0.002 as in the reference code. Embeddings are
used un-normalised, so the penalty keeps their norm in check. With synthesis, every logit of
a pair of another class is the most similar pair between the two groups (pair mining).
For one pair per class it equals pytorch-metric-learning's NPairsLoss on dot products plus
an LpRegularizer(power=2) of weight λ/2 (the mean over all rows is half the sum of the two
means above).
"""

from torch import Tensor

from symsynth.losses.base import MetricLoss
from symsynth.mining import mined_pair_scores
from symsynth.synthesis import check_pairs


class NPairLoss(MetricLoss):
    mode, metric, normalize = "pair", "dot", False

    def __init__(self, synthesis: str = "none", l2_reg: float = 0.002, **kw) -> None:
        super().__init__(synthesis, **kw)
        self.l2_reg = l2_reg

    def prepare(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        embeddings = super().prepare(embeddings, labels)
        check_pairs(labels)  # N-pair is defined on pairs, with or without synthesis
        return embeddings

    def scores(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Logits [M, M], anchors × positives; without synthesis just a·pᵀ (a quarter of E·Eᵀ),
        with it only the pair-mode [M, M] (the full [B, B] score matrix is never built)."""
        if self.synthesis == "none":
            return embeddings[0::2] @ embeddings[1::2].T
        return mined_pair_scores(
            embeddings, labels, self.synthesis, self.metric, self.alpha, self.beta, self.n_inner
        )

    def compute(self, logits: Tensor, labels: Tensor, embeddings: Tensor) -> Tensor:
        y = labels[0::2]
        target = (y[:, None] == y[None, :]).to(logits.dtype)
        target = target / target.sum(1, keepdim=True)
        xent = -(target * logits.log_softmax(1)).sum(1).mean()
        sq = (embeddings**2).sum(1)
        return xent + self.l2_reg * 0.25 * (sq[0::2].mean() + sq[1::2].mean())
