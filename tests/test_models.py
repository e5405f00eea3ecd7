"""Embedders: shapes, normalisation, raw output, determinism, gradients, validation."""

import pytest
import torch
import torch.nn.functional as F

from symsynth.models import ConvEmbedder, MLPEmbedder, build_model


def _models():
    torch.manual_seed(0)
    return [
        (MLPEmbedder(in_dim=12, embedding_dim=3), torch.randn(6, 12)),
        (MLPEmbedder(in_dim=64, embedding_dim=2, hidden=()), torch.randn(6, 1, 8, 8)),
        (ConvEmbedder(in_channels=1, embedding_dim=16, image_size=8), torch.randn(6, 1, 8, 8)),
        (ConvEmbedder(3, 5, image_size=(12, 20)), 3.0 * torch.randn(6, 3, 12, 20)),
    ]


@pytest.mark.parametrize("index", range(4))
def test_forward_is_normalised_raw(index):
    model, x = _models()[index]
    raw = model.forward_raw(x)
    z = model(x)
    assert z.shape == raw.shape == (6, model.embedding_dim)
    assert torch.allclose(z.norm(dim=1), torch.ones(6), atol=1e-6)
    assert torch.allclose(z, raw / raw.norm(dim=1, keepdim=True), atol=1e-6)
    assert torch.equal(model(x, normalize=False), raw)
    assert not torch.allclose(raw.norm(dim=1), torch.ones(6))  # raw really is un-normalised


@pytest.mark.parametrize("name, shape", [("mlp", (10,)), ("mlp", (1, 8, 8)), ("cnn", (1, 8, 8))])
def test_deterministic_given_manual_seed(name, shape):
    x = torch.randn(4, *shape)
    torch.manual_seed(42)
    a = build_model(name, shape, embedding_dim=8)
    torch.manual_seed(42)
    b = build_model(name, shape, embedding_dim=8)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    assert torch.equal(a(x), b(x))
    torch.manual_seed(43)
    c = build_model(name, shape, embedding_dim=8)
    assert not torch.equal(a(x), c(x))


@pytest.mark.parametrize("index", range(4))
def test_every_parameter_gets_a_gradient_and_a_step_moves_the_output(index):
    model, x = _models()[index]
    before = model(x).detach()
    target = F.normalize(torch.randn_like(before), dim=1)
    loss = (model(x) - target).pow(2).sum()
    loss.backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    assert (model(x) - target).pow(2).sum() < loss


def test_cnn_embedding_does_not_depend_on_the_rest_of_the_batch():
    # GroupNorm, not BatchNorm: one image alone gets the same embedding as in a batch,
    # in training mode as in eval mode.
    torch.manual_seed(0)
    model = ConvEmbedder(1, 4, image_size=8)
    x = torch.randn(10, 1, 8, 8)
    alone = model(x[:1])
    assert torch.allclose(model(x)[:1], alone, atol=1e-6)
    model.eval()
    assert torch.allclose(model(x)[:1], alone, atol=1e-6)


@pytest.mark.parametrize("size, blocks", [(4, 1), (8, 2), (16, 3), (28, 3), (32, 3), (64, 3)])
def test_cnn_depth_follows_image_size(size, blocks):
    model = build_model("cnn", (1, size, size), embedding_dim=2)
    assert len(model.blocks) == blocks
    assert model(torch.randn(2, 1, size, size)).shape == (2, 2)


def test_build_model_shapes_and_options():
    mlp = build_model("mlp", (3, 4, 5), embedding_dim=7, hidden=(32,))
    assert isinstance(mlp, MLPEmbedder) and mlp.in_dim == 60
    assert mlp(torch.randn(2, 3, 4, 5)).shape == (2, 7)
    cnn = build_model("cnn", (3, 16, 16), embedding_dim=512, channels=(8, 8))
    assert isinstance(cnn, ConvEmbedder) and len(cnn.blocks) == 2
    assert cnn(torch.randn(2, 3, 16, 16)).shape == (2, 512)


def test_validation_errors_name_the_value():
    with pytest.raises(ValueError, match="between 2 and 4096, got 1"):
        MLPEmbedder(4, 1)
    with pytest.raises(ValueError, match="between 2 and 4096, got 5000"):
        ConvEmbedder(1, 5000, image_size=8)
    with pytest.raises(ValueError, match="unknown model 'resnet'; choose one of mlp, cnn"):
        build_model("resnet", (1, 8, 8), 2)
    with pytest.raises(ValueError, match=r"'cnn' needs input_shape \(C, H, W\), got \(64,\)"):
        build_model("cnn", (64,), 2)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['hidden'\].*\['channels'\]"):
        build_model("cnn", (1, 8, 8), 2, hidden=(3,))
    with pytest.raises(ValueError, match="positive ints"):
        build_model("mlp", (0, 3), 2)
    with pytest.raises(ValueError, match="at least 4x4, got 3x8"):
        ConvEmbedder(1, 2, image_size=(3, 8))
    with pytest.raises(ValueError, match="hidden width"):
        MLPEmbedder(4, 2, hidden=(8, 0))
    with pytest.raises(ValueError, match=r"64 features per item, got shape \(2, 63\)"):
        MLPEmbedder(64, 2)(torch.randn(2, 63))
    with pytest.raises(
        ValueError, match=r"expects images \[B, 1, 8, 8\], got shape \(2, 3, 8, 8\)"
    ):
        ConvEmbedder(1, 2, image_size=8)(torch.randn(2, 3, 8, 8))
