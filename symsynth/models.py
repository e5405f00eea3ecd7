"""Embedding networks: an MLP for feature vectors and a small CNN for small images.

Both map a batch to ``[B, embedding_dim]``. ``forward(x)`` returns L2-normalised embeddings
(points on the unit sphere, where the losses, the metrics and the app's circle/sphere views
live); ``forward_raw(x)`` — or ``forward(x, normalize=False)`` — returns the raw output,
which the N-pair loss needs for its L2 penalty on the embeddings.

The CNN uses GroupNorm rather than BatchNorm: an image's embedding then never depends on
the other images in its batch or on train/eval mode, so the probe-set embeddings the app
shows mid-training are exactly what the model computes for each image alone.

Weights are initialised from PyTorch's global generator: call ``torch.manual_seed`` first
for a reproducible model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MLPEmbedder", "ConvEmbedder", "build_model", "MODELS", "MAX_EMBEDDING_DIM"]

MODELS = ("mlp", "cnn")
MAX_EMBEDDING_DIM = 4096


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_embedding_dim(embedding_dim: Any) -> int:
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int):
        raise ValueError(f"embedding_dim must be an integer, got {embedding_dim!r}")
    if not 2 <= embedding_dim <= MAX_EMBEDDING_DIM:
        raise ValueError(
            f"embedding_dim must be between 2 and {MAX_EMBEDDING_DIM}, got {embedding_dim}; "
            "2 or 3 to watch the embeddings on a circle or sphere, 64-512 for real data"
        )
    return embedding_dim


class _Embedder(nn.Module):
    """Shared ``forward``: the subclass's raw embedding, L2-normalised unless told not to."""

    embedding_dim: int

    def forward_raw(self, x: Tensor) -> Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, x: Tensor, normalize: bool = True) -> Tensor:
        raw = self.forward_raw(x)
        return F.normalize(raw, dim=1) if normalize else raw


class MLPEmbedder(_Embedder):
    """Multi-layer perceptron: flatten, (Linear, ReLU) per hidden width, then Linear.

    Args:
        in_dim: number of input features (inputs of any shape are flattened to this).
        embedding_dim: output dimension, 2 to 4096.
        hidden: widths of the hidden layers; ``()`` gives a linear embedder.

    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = MLPEmbedder(in_dim=64, embedding_dim=2)
    >>> z = model(torch.randn(5, 64))
    >>> z.shape, bool(torch.allclose(z.norm(dim=1), torch.ones(5)))
    (torch.Size([5, 2]), True)
    """

    def __init__(self, in_dim: int, embedding_dim: int, hidden: Sequence[int] = (64, 64)) -> None:
        super().__init__()
        self.in_dim = _check_positive_int("in_dim", in_dim)
        self.embedding_dim = _check_embedding_dim(embedding_dim)
        if isinstance(hidden, int) or not all(isinstance(h, int) for h in hidden):
            raise ValueError(f"hidden must be a sequence of layer widths, got {hidden!r}")
        widths = [self.in_dim, *(_check_positive_int("hidden width", h) for h in hidden)]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], self.embedding_dim))
        self.net = nn.Sequential(*layers)

    def forward_raw(self, x: Tensor) -> Tensor:
        """Un-normalised embeddings ``[B, embedding_dim]`` of a batch ``[B, ...]``."""
        if x.dim() < 2 or math.prod(x.shape[1:]) != self.in_dim:
            raise ValueError(
                f"MLPEmbedder(in_dim={self.in_dim}) needs a batch [B, ...] with {self.in_dim} "
                f"features per item, got shape {tuple(x.shape)}"
            )
        return self.net(x.flatten(1))


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.GroupNorm(min(8, c_out), c_out),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class ConvEmbedder(_Embedder):
    """Small CNN: up to ``len(channels)`` blocks of (3×3 conv, GroupNorm, ReLU, 2×2 max-pool),
    adaptive average pooling to 2×2, then a linear head.

    Pooling blocks are added while the feature map stays at least 2×2 (8×8 digits get two
    blocks, 16×16 to 32×32 images three), so it stays fast on a laptop CPU.

    Args:
        in_channels: image channels (1 for grey, 3 for RGB).
        embedding_dim: output dimension, 2 to 4096.
        image_size: ``H`` for square images or ``(H, W)``; at least 4.
        channels: output channels of the conv blocks.

    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = ConvEmbedder(in_channels=1, embedding_dim=3, image_size=8)
    >>> model(torch.randn(4, 1, 8, 8)).shape
    torch.Size([4, 3])
    >>> len(model.blocks)
    2
    """

    def __init__(
        self,
        in_channels: int,
        embedding_dim: int,
        image_size: int | Sequence[int],
        channels: Sequence[int] = (16, 32, 64),
    ) -> None:
        super().__init__()
        self.in_channels = _check_positive_int("in_channels", in_channels)
        self.embedding_dim = _check_embedding_dim(embedding_dim)
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        if len(size) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) for s in size):
            raise ValueError(f"image_size must be an int or (H, W), got {image_size!r}")
        if min(size) < 4:
            raise ValueError(
                f"ConvEmbedder needs images of at least 4x4, got {size[0]}x{size[1]}; "
                "use MLPEmbedder (build_model('mlp', ...)) for smaller inputs"
            )
        self.image_size: tuple[int, int] = size
        if isinstance(channels, int) or not channels:
            raise ValueError(f"channels must be a non-empty sequence of ints, got {channels!r}")
        channels = [_check_positive_int("channels", c) for c in channels]
        n_blocks = min(len(channels), int(math.log2(min(size) / 2)))
        widths = [self.in_channels, *channels[:n_blocks]]
        self.blocks = nn.Sequential(
            *(_conv_block(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        )
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Linear(widths[-1] * 4, self.embedding_dim)

    def forward_raw(self, x: Tensor) -> Tensor:
        """Un-normalised embeddings ``[B, embedding_dim]`` of images ``[B, C, H, W]``."""
        expected = (self.in_channels, *self.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"ConvEmbedder expects images [B, {expected[0]}, {expected[1]}, {expected[2]}], "
                f"got shape {tuple(x.shape)}"
            )
        return self.head(self.pool(self.blocks(x)).flatten(1))


def build_model(name: str, input_shape: Sequence[int], embedding_dim: int, **kw: Any) -> nn.Module:
    """Build an embedder by name for inputs of shape ``input_shape`` (one item, no batch dim).

    ``"mlp"`` flattens any shape (extra keyword: ``hidden``); ``"cnn"`` needs
    ``(C, H, W)`` (extra keyword: ``channels``).

    >>> build_model("cnn", (1, 8, 8), embedding_dim=2).image_size
    (8, 8)
    >>> build_model("mlp", (1, 8, 8), embedding_dim=2).in_dim
    64
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    shape = tuple(input_shape)
    if not shape or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise ValueError(f"input_shape must be a tuple of positive ints, got {input_shape!r}")
    allowed = {"mlp": {"hidden"}, "cnn": {"channels"}}[name]
    unknown = set(kw) - allowed
    if unknown:
        raise ValueError(
            f"unknown option(s) {sorted(unknown)} for model {name!r}; valid: {sorted(allowed)}"
        )
    if name == "mlp":
        return MLPEmbedder(math.prod(shape), embedding_dim, **kw)
    if len(shape) != 3:
        raise ValueError(
            f"model 'cnn' needs input_shape (C, H, W), got {shape}; use 'mlp' for vectors"
        )
    return ConvEmbedder(shape[0], embedding_dim, image_size=shape[1:], **kw)
