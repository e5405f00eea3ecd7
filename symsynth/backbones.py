"""ImageNet CNN trunks with a linear embedding head, for the real benchmarks (needs torchvision).

The paper trains GoogLeNet (Inception v1) with a 512-D linear embedding on top of its pooled
1024-D features, starting from ImageNet weights. ``build_backbone("googlenet", 512, weights=PATH)``
builds that from ``torchvision.models.googlenet``; ``"resnet18"`` (512-D features) is the
documented fallback, a common and cheaper modern trunk. BN-Inception, used by many later
papers, is not part of torchvision and is not offered.

torchvision is optional. It is imported only when a backbone is built; without it
:func:`build_backbone` raises :class:`BackboneUnavailable` (an ImportError) that says which
``pip install torchvision==...`` matches the installed torch. Nothing is downloaded: ImageNet
weights come from a local file you give, torchvision's own release files

* googlenet: ``googlenet-1378be20.pth`` (https://download.pytorch.org/models/googlenet-1378be20.pth)
* resnet18:  ``resnet18-f37072fd.pth`` (https://download.pytorch.org/models/resnet18-f37072fd.pth)

loaded with ``torch.load(..., weights_only=True)``. Without weights the trunk starts from
random initialisation (useful for tests; far from the paper's numbers).

Choices, each for a reason:

* The classifier (and GoogLeNet's auxiliary heads and its dropout) are removed: the embedding
  is a linear map of the pooled features, as in the paper.
* With ImageNet weights, BatchNorm layers stay in eval mode (``freeze_bn``, by default True
  when ``weights`` is given): they keep ImageNet's running statistics, their scale and shift
  still train. This is the usual practice in deep metric learning with small class-structured
  batches, and it makes an image's embedding independent of the rest of its batch — which the
  exact equivalence of N ranks and one process (:mod:`symsynth.distributed`) relies on.
  Without weights the default is False: freshly initialised statistics (mean 0, variance 1)
  would not normalise anything, and GoogLeNet's activations then vanish (its features come out
  around 1e-13). BatchNorm in training mode uses per-rank batch statistics, so N ranks match
  one process only approximately then.
* GoogLeNet gets ``transform_input=True``, as torchvision sets for its ImageNet weights: the
  inputs are normalised with ImageNet's mean and std (as :mod:`symsynth.data.benchmarks`
  does) and the model converts them to the normalisation its weights were trained with.

The interface is that of :mod:`symsynth.models`: ``forward(x)`` gives L2-normalised
embeddings, ``forward_raw(x)`` (or ``forward(x, normalize=False)``) the raw ones.

>>> "googlenet" in BACKBONES
True
>>> torchvision_available() in (True, False)
True
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BACKBONES",
    "BackboneEmbedder",
    "BackboneUnavailable",
    "build_backbone",
    "torchvision_available",
]

BACKBONES = ("googlenet", "resnet18")
FEATURE_DIMS = {"googlenet": 1024, "resnet18": 512}
WEIGHT_FILES = {"googlenet": "googlenet-1378be20.pth", "resnet18": "resnet18-f37072fd.pth"}
MAX_EMBEDDING_DIM = 4096


class BackboneUnavailable(ImportError):
    """torchvision is missing (or broken), so the ImageNet backbones cannot be built."""


def _matching_torchvision() -> str:
    """``pip install`` argument for the torchvision release that matches the installed torch."""
    parts = torch.__version__.split("+")[0].split(".")
    if len(parts) >= 3 and parts[0] == "2" and parts[1].isdigit() and parts[2].isdigit():
        return f"torchvision==0.{int(parts[1]) + 15}.{parts[2]}"
    return "torchvision"


def _torchvision_models(name: str) -> ModuleType:
    """``torchvision.models``, or a BackboneUnavailable that says how to install it."""
    pip = _matching_torchvision()
    cpu = "+cpu" in torch.__version__
    index = " --index-url https://download.pytorch.org/whl/cpu" if cpu else ""
    try:
        return importlib.import_module("torchvision.models")
    except ImportError as err:
        if "torchvision" not in str(err) and getattr(err, "name", "") != "torchvision":
            raise BackboneUnavailable(
                f"the {name!r} backbone needs torchvision, whose import failed ({err}); "
                f"reinstall it to match torch {torch.__version__}: pip install {pip}{index}"
            ) from err
        raise BackboneUnavailable(
            f"the {name!r} backbone needs torchvision, which is not installed. Install the "
            f"release that matches torch {torch.__version__}: pip install {pip}{index}  "
            "(the rest of symsynth works without it; --model mlp/cnn need no torchvision)"
        ) from err
    except (RuntimeError, OSError) as err:  # e.g. a CUDA build of torchvision on a CPU torch
        raise BackboneUnavailable(
            f"the {name!r} backbone needs torchvision, which is installed but failed to import "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). It must "
            f"match torch {torch.__version__}: pip install --force-reinstall {pip}{index}"
        ) from err


def torchvision_available() -> bool:
    """True when torchvision imports (the ImageNet backbones can be built).

    >>> isinstance(torchvision_available(), bool)
    True
    """
    try:
        _torchvision_models("googlenet")
    except BackboneUnavailable:
        return False
    return True


def _trunk(name: str, models: ModuleType) -> nn.Module:
    """The torchvision network without its classifier (and, for GoogLeNet, aux heads, dropout)."""
    if name == "googlenet":
        net = models.googlenet(
            weights=None, aux_logits=False, transform_input=True, init_weights=True
        )
        net.dropout = nn.Identity()
    else:
        net = models.resnet18(weights=None)
    net.fc = nn.Identity()
    return net


def _short(err: Exception) -> str:
    """The telling line of a (long, multi-line) torch.load error."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(err).splitlines()]
    lines = [line for line in lines if line] or [type(err).__name__]
    telling = next((line for line in lines if "Unsupported global" in line), lines[0])
    return telling.removeprefix("WeightsUnpickler error: ")[:200]


def _load_weights(trunk: nn.Module, name: str, path: str | os.PathLike) -> None:
    """Copy ImageNet weights from ``path`` into ``trunk`` (classifier and aux heads ignored)."""
    path = Path(path).expanduser()
    expected = WEIGHT_FILES[name]
    if not path.is_file():
        raise FileNotFoundError(
            f"weights file {str(path)!r} does not exist; give the path of torchvision's "
            f"ImageNet weights for {name} ({expected}; see docs/REPRODUCE.md)"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(
            f"cannot load {str(path)!r} with torch.load(weights_only=True) ({_short(err)}); it "
            f"must be a state_dict saved with torch.save(model.state_dict(), path), such as "
            f"{expected}"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{str(path)!r} does not hold a state_dict of tensors (like {expected})")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "aux1.", "aux2."))}
    own = trunk.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        problems = []
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong),
        ):
            if keys:
                problems.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise ValueError(
            f"{str(path)!r} does not hold {name} weights: {'; '.join(problems)} keys. Use "
            f"torchvision's ImageNet weights for {name} ({expected})."
        )
    trunk.load_state_dict(state)


class BackboneEmbedder(nn.Module):
    """An ImageNet trunk, then ``Linear(feature_dim, embedding_dim)``.

    ``forward(x)`` is L2-normalised, ``forward_raw(x)`` raw; ``x`` is ``[B, 3, H, W]``,
    normalised with ImageNet's mean and std. With ``freeze_bn`` the BatchNorm layers stay in
    eval mode whatever ``train()`` says. Build it with :func:`build_backbone`.
    """

    def __init__(
        self, name: str, trunk: nn.Module, feature_dim: int, embedding_dim: int, freeze_bn: bool
    ) -> None:
        super().__init__()
        self.name, self.feature_dim, self.embedding_dim = name, feature_dim, embedding_dim
        self.freeze_bn = freeze_bn
        self.trunk = trunk
        self.head = nn.Linear(feature_dim, embedding_dim)
        self.train()

    def train(self, mode: bool = True) -> BackboneEmbedder:
        super().train(mode)
        if self.freeze_bn:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward_raw(self, x: Tensor) -> Tensor:
        """Un-normalised embeddings ``[B, embedding_dim]`` of images ``[B, 3, H, W]``."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(
                f"the {self.name} backbone expects RGB images [B, 3, H, W], got shape "
                f"{tuple(x.shape)}"
            )
        return self.head(self.trunk(x))

    def forward(self, x: Tensor, normalize: bool = True) -> Tensor:
        raw = self.forward_raw(x)
        return F.normalize(raw, dim=1) if normalize else raw

    def extra_repr(self) -> str:
        return f"name={self.name!r}, embedding_dim={self.embedding_dim}, freeze_bn={self.freeze_bn}"


def build_backbone(
    name: str,
    embedding_dim: int = 512,
    weights: str | os.PathLike | None = None,
    freeze_bn: bool | None = None,
) -> BackboneEmbedder:
    """An ImageNet trunk (``"googlenet"`` as in the paper, or ``"resnet18"``) + linear embedding.

    ``weights`` is the path of torchvision's ImageNet weights file for that trunk (see the
    module docstring); None starts from random weights. ``freeze_bn`` keeps BatchNorm in eval
    mode; None means: when ``weights`` are given. Raises :class:`BackboneUnavailable`
    without torchvision, ValueError for an unknown name or a weights file that does not fit.

    >>> try:
    ...     model = build_backbone("resnet18", embedding_dim=64)
    ... except BackboneUnavailable as err:  # torchvision not installed
    ...     model = None
    >>> model is None or model(torch.randn(2, 3, 64, 64)).shape == (2, 64)
    True
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int):
        raise ValueError(f"embedding_dim must be an integer, got {embedding_dim!r}")
    if not 2 <= embedding_dim <= MAX_EMBEDDING_DIM:
        raise ValueError(
            f"embedding_dim must be between 2 and {MAX_EMBEDDING_DIM}, got {embedding_dim} "
            "(the paper uses 512)"
        )
    models = _torchvision_models(name)
    trunk = _trunk(name, models)
    if weights is not None:
        _load_weights(trunk, name, weights)
    if freeze_bn is None:
        freeze_bn = weights is not None
    return BackboneEmbedder(name, trunk, FEATURE_DIMS[name], embedding_dim, bool(freeze_bn))
