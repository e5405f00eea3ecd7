"""pytorch-metric-learning's counterpart of each baseline loss, configured like ours
(MeanReducer, same margins); used by the agreement tests and by bench/overhead.py."""

from pytorch_metric_learning import distances, miners, reducers, regularizers
from pytorch_metric_learning import losses as pml


def pml_loss(name: str, embeddings, labels):
    """PML's loss (and miner, for semi-hard) of ``name`` on one batch."""
    mean = reducers.MeanReducer()
    if name == "contrastive":
        return pml.ContrastiveLoss(pos_margin=0.0, neg_margin=1.0, reducer=mean)(embeddings, labels)
    if name == "triplet":
        return pml.TripletMarginLoss(margin=0.2, reducer=mean)(embeddings, labels)
    if name == "semihard_triplet":
        miner = miners.TripletMarginMiner(margin=0.2, type_of_triplets="semihard")
        tuples = miner(embeddings, labels)
        return pml.TripletMarginLoss(margin=0.2, reducer=mean)(embeddings, labels, tuples)
    if name == "lifted":
        return pml.LiftedStructureLoss(neg_margin=1.0, pos_margin=0.0, reducer=mean)(
            embeddings, labels
        )
    if name == "angular":
        return pml.AngularLoss(alpha=45, reducer=mean)(embeddings, labels)
    if name == "npair":
        loss = pml.NPairsLoss(
            distance=distances.DotProductSimilarity(normalize_embeddings=False),
            embedding_regularizer=regularizers.LpRegularizer(power=2),
            embedding_reg_weight=0.002 / 2,
        )
        return loss(embeddings, labels)
    raise KeyError(name)
