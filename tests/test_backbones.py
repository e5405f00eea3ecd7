"""ImageNet backbones: cleanly unavailable without torchvision; correct when it is installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from symsynth import backbones
from symsynth.backbones import BackboneUnavailable, build_backbone, torchvision_available

ROOT = Path(__file__).resolve().parent.parent


class _BrokenTorchvision:
    """A meta path finder that makes ``import torchvision`` fail like a mismatched CUDA build."""

    def find_spec(self, name, path=None, target=None):
        if name == "torchvision" or name.startswith("torchvision."):
            raise RuntimeError("operator torchvision::nms does not exist")
        return None


@pytest.fixture
def no_torchvision(monkeypatch):
    """torchvision made unimportable for this test, whether or not it is installed."""
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.models", None)


# -- without torchvision -------------------------------------------------------------------------


def test_build_backbone_without_torchvision_says_how_to_install(no_torchvision):
    assert torchvision_available() is False
    with pytest.raises(BackboneUnavailable) as info:
        build_backbone("googlenet", 512)
    message = str(info.value)
    assert "needs torchvision, which is not installed" in message
    assert "pip install torchvision" in message and torch.__version__ in message
    assert isinstance(info.value, ImportError)


def test_matching_torchvision_release(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.13.0+cpu")
    assert backbones._matching_torchvision() == "torchvision==0.28.0"
    monkeypatch.setattr(torch, "__version__", "2.1.2")
    assert backbones._matching_torchvision() == "torchvision==0.16.2"
    monkeypatch.setattr(torch, "__version__", "3.0.0")
    assert backbones._matching_torchvision() == "torchvision"


def test_a_broken_torchvision_is_reported_as_such(monkeypatch):
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_BrokenTorchvision(), *sys.meta_path])
    with pytest.raises(BackboneUnavailable, match="installed but failed to import.*nms"):
        build_backbone("resnet18")
    assert torchvision_available() is False


def test_arguments_are_checked_before_torchvision_is_needed(no_torchvision):
    with pytest.raises(ValueError, match="unknown backbone 'vgg'; choose one of googlenet, resnet"):
        build_backbone("vgg")
    with pytest.raises(ValueError, match="embedding_dim must be between 2 and 4096, got 1"):
        build_backbone("googlenet", embedding_dim=1)


def test_the_package_never_imports_torchvision_at_import_time():
    """Import every symsynth module with torchvision blocked: all must import, none load it."""
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "torchvision":
                    raise ImportError("torchvision is blocked for this test")

        sys.meta_path.insert(0, Block())
        import symsynth
        names = [m.name for m in pkgutil.walk_packages(symsynth.__path__, "symsynth.")]
        names.remove("symsynth.__main__")  # runs the command line when imported
        for name in names:
            importlib.import_module(name)
        assert "torchvision" not in sys.modules
        from symsynth.backbones import BackboneUnavailable, build_backbone
        try:
            build_backbone("googlenet")
        except BackboneUnavailable as err:
            print("unavailable:", err)
        print(len(names), "modules")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "unavailable: the 'googlenet' backbone needs torchvision" in done.stdout
    assert "symsynth.backbones" not in done.stderr


# -- with torchvision ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tv_models():
    pytest.importorskip("torchvision")
    import torchvision.models

    return torchvision.models


@pytest.mark.parametrize("name", ["googlenet", "resnet18"])
def test_backbone_interface(tv_models, name):
    torch.manual_seed(0)
    model = build_backbone(name, embedding_dim=16)
    x = torch.randn(3, 3, 64, 64)
    z = model(x)
    assert z.shape == (3, 16)
    torch.testing.assert_close(z.norm(dim=1), torch.ones(3))
    raw = model.forward_raw(x)
    torch.testing.assert_close(model(x, normalize=False), raw)
    torch.testing.assert_close(z, torch.nn.functional.normalize(raw, dim=1))
    assert model.feature_dim == backbones.FEATURE_DIMS[name]
    with pytest.raises(ValueError, match=r"expects RGB images \[B, 3, H, W\], got shape"):
        model(torch.randn(2, 1, 64, 64))


def test_frozen_batchnorm_makes_rows_independent(tv_models):
    torch.manual_seed(0)
    model = build_backbone("resnet18", embedding_dim=8, freeze_bn=True).train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(bn.training for bn in bns) and model.head.training
    before = bns[0].running_mean.clone()
    x = torch.randn(4, 3, 64, 64)
    z = model(x)
    assert z.std(dim=0).mean() > 1e-3  # the rows differ: the check below means something
    torch.testing.assert_close(z[:2], model(x[:2]))  # a row ignores the other rows
    assert torch.equal(bns[0].running_mean, before)
    assert all(p.requires_grad for p in model.parameters())
    unfrozen = build_backbone("resnet18", embedding_dim=8, freeze_bn=False).train()
    assert all(m.training for m in unfrozen.modules())


def test_batchnorm_is_frozen_by_default_only_with_weights(tv_models, tmp_path):
    torch.manual_seed(0)
    random_init = build_backbone("googlenet", embedding_dim=8)
    assert not random_init.freeze_bn
    features = random_init.trunk(torch.randn(3, 3, 64, 64))
    assert features.std(dim=0).mean() > 1e-3  # BN in training mode: features do not vanish
    path = tmp_path / "w.pth"
    torch.save(random_init.trunk.state_dict(), path)
    assert build_backbone("googlenet", embedding_dim=8, weights=path).freeze_bn


@pytest.mark.parametrize("name", ["googlenet", "resnet18"])
def test_imagenet_weights_are_loaded_from_a_local_file(tv_models, tmp_path, name):
    torch.manual_seed(1)
    if name == "googlenet":  # torchvision's file holds the aux heads too
        source = tv_models.googlenet(weights=None, aux_logits=True, init_weights=True)
    else:
        source = tv_models.resnet18(weights=None)
    path = tmp_path / backbones.WEIGHT_FILES[name]
    torch.save(source.state_dict(), path)
    model = build_backbone(name, embedding_dim=8, weights=path)
    trunk = model.trunk.state_dict()
    for key, value in source.state_dict().items():
        if not key.startswith(("fc.", "aux1.", "aux2.")):
            assert torch.equal(trunk[key], value), key
    wrapped = tmp_path / "wrapped.pt"  # {"state_dict": ...} with DDP's "module." prefix
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, wrapped)
    again = build_backbone(name, embedding_dim=8, weights=wrapped)
    assert all(torch.equal(again.trunk.state_dict()[k], v) for k, v in trunk.items())


@dataclass
class _NotAStateDict:
    value: int


def test_weights_that_do_not_fit_are_refused_clearly(tv_models, tmp_path):
    resnet = tmp_path / "resnet18.pth"
    torch.save(tv_models.resnet18(weights=None).state_dict(), resnet)
    with pytest.raises(ValueError, match="does not hold googlenet weights: .* missing .*"
                       "unexpected .*googlenet-1378be20.pth"):  # fmt: skip
        build_backbone("googlenet", weights=resnet)
    with pytest.raises(FileNotFoundError, match="does not exist; give the path of torchvision"):
        build_backbone("resnet18", weights=tmp_path / "nope.pth")
    pickled = tmp_path / "object.pt"
    torch.save(_NotAStateDict(3), pickled)
    with pytest.raises(ValueError, match=r"weights_only=True.*torch.save\(model.state_dict"):
        build_backbone("resnet18", weights=pickled)
