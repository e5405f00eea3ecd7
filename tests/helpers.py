"""Small batch builders shared by the core tests."""

import math

import torch
import torch.nn.functional as F


def pair_batch(m: int, d: int, max_angle: float = 180.0, seed: int = 0, classes=None):
    """m positive pairs on the unit sphere, pair m's angle uniform in [0, max_angle] degrees.

    Rows 2m, 2m+1 are a pair; labels are ``classes`` (default: one class per pair).
    """
    g = torch.Generator().manual_seed(seed)
    a = F.normalize(torch.randn(m, d, generator=g, dtype=torch.float64), dim=1)
    r = torch.randn(m, d, generator=g, dtype=torch.float64)
    r = F.normalize(r - (r * a).sum(1, keepdim=True) * a, dim=1)
    theta = torch.rand(m, 1, generator=g, dtype=torch.float64) * math.radians(max_angle)
    p = theta.cos() * a + theta.sin() * r
    e = torch.stack([a, p], 1).reshape(2 * m, d)
    labels = torch.arange(m) if classes is None else torch.as_tensor(classes)
    return e, labels.repeat_interleave(2)
