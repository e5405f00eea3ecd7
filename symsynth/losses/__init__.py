"""Six pair-based losses, each with optional synthesis (none / symm / ee) and hard negative
pair mining. One calling convention: ``loss(embeddings [B, D], labels [B]) -> scalar``.

>>> import torch
>>> loss = build_loss("triplet", synthesis="symm", margin=0.2)
>>> e, y = torch.randn(8, 16), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
>>> bool(loss(e, y) >= build_loss("triplet", margin=0.2)(e, y))
True
"""

from __future__ import annotations

import inspect

from symsynth.losses.angular import AngularLoss
from symsynth.losses.base import LossOverflow, MetricLoss
from symsynth.losses.contrastive import ContrastiveLoss
from symsynth.losses.lifted import LiftedStructureLoss
from symsynth.losses.npair import NPairLoss
from symsynth.losses.semihard_triplet import SemihardTripletLoss
from symsynth.losses.triplet import TripletLoss
from symsynth.synthesis import METHODS, check_method

LOSSES: dict[str, type[MetricLoss]] = {
    "contrastive": ContrastiveLoss,
    "triplet": TripletLoss,
    "semihard_triplet": SemihardTripletLoss,
    "lifted": LiftedStructureLoss,
    "npair": NPairLoss,
    "angular": AngularLoss,
}
SYNTHESIS = METHODS


def hyperparameters(name: str) -> dict[str, object]:
    """The loss's own hyper-parameters and their defaults (plus alpha, beta, n_inner)."""
    params = {}
    for cls in LOSSES[name].__mro__:
        if cls in (MetricLoss.__mro__[1:]):
            break
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.default is not inspect.Parameter.empty and p.name != "synthesis":
                params.setdefault(p.name, p.default)
    return params


def build_loss(name: str, synthesis: str = "none", **hparams: float) -> MetricLoss:
    """A loss module by name; ``synthesis`` in none / symm / ee.

    Unknown names, synthesis methods or hyper-parameters raise ValueError listing the valid ones.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    check_method(synthesis)
    valid = hyperparameters(name)
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown hyper-parameter(s) {', '.join(unknown)} for loss {name!r}; "
            f"valid: {', '.join(sorted(valid))}"
        )
    return LOSSES[name](synthesis=synthesis, **hparams)


__all__ = ["LOSSES", "SYNTHESIS", "LossOverflow", "MetricLoss", "build_loss", "hyperparameters"]
