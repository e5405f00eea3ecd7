"""Device choice, autocast and torch.compile: the CPU paths and their one-time messages."""

import logging

import pytest
import torch

from symsynth import devices
from symsynth.devices import autocast, maybe_compile, resolve_device
from symsynth.models import MLPEmbedder


@pytest.fixture(autouse=True)
def fresh_messages(monkeypatch):
    """Each test sees every message as new."""
    monkeypatch.setattr(devices, "_said", set())


def messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "symsynth"]


def test_resolve_device_names():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    for bad in ("gpu", "cuda:x", "", 3):
        with pytest.raises(ValueError, match="auto, cpu, cuda|GPU index"):
            resolve_device(bad)


def test_cuda_without_cuda_falls_back_to_cpu_once(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="symsynth"):
        assert resolve_device("cuda") == torch.device("cpu")
        assert resolve_device("cuda") == torch.device("cpu")
        assert resolve_device("auto") == torch.device("cpu")
    said = messages(caplog)
    assert len(said) == 1 and "CUDA is not available" in said[0] and "CPU" in said[0]


def test_autocast_on_cpu_is_a_no_op_with_one_message(caplog):
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with caplog.at_level(logging.WARNING, logger="symsynth"):
        with autocast("cpu", amp=False):
            assert (a @ b).dtype == torch.float32
        assert messages(caplog) == []  # amp off: nothing to say
        for _ in range(2):
            with autocast(torch.device("cpu"), amp=True):
                out = a @ b
            assert out.dtype == torch.float32 and torch.equal(out, a @ b)
    said = messages(caplog)
    assert len(said) == 1 and "CUDA only" in said[0] and "float32" in said[0]


def test_autocast_on_cuda_without_bf16_is_a_no_op(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with caplog.at_level(logging.WARNING, logger="symsynth"):
        ctx = autocast("cuda", amp=True)
    assert not isinstance(ctx, torch.autocast)
    assert "does not support bf16" in messages(caplog)[0]


def test_compile_disabled_returns_the_model_untouched():
    model = MLPEmbedder(6, 3)
    assert maybe_compile(model, enabled=False) is model
    assert "forward_raw" not in model.__dict__


def test_compile_keeps_interface_state_dict_and_results():
    """torch.compile with the 'eager' backend (dynamo tracing, no C++ build: fast on CPU)."""
    torch.manual_seed(0)
    model = MLPEmbedder(6, 3)
    reference = MLPEmbedder(6, 3)
    reference.load_state_dict(model.state_dict())
    keys = list(model.state_dict())
    assert maybe_compile(model, enabled=True, backend="eager") is model
    assert "forward_raw" in model.__dict__ and list(model.state_dict()) == keys
    x = torch.randn(5, 6)
    out = model(x)  # forward calls the compiled forward_raw
    torch.testing.assert_close(out, reference(x))
    torch.testing.assert_close(model(x, normalize=False), reference.forward_raw(x))
    out.sum().backward()
    reference(x).sum().backward()
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad)


def test_compile_failure_at_first_call_falls_back_to_eager(caplog):
    def broken_backend(graph_module, example_inputs):
        raise RuntimeError("no C compiler found\nsecond line")

    torch.manual_seed(0)
    model = MLPEmbedder(6, 3)
    x = torch.randn(4, 6)
    expected = model(x)
    with caplog.at_level(logging.WARNING, logger="symsynth"):
        maybe_compile(model, enabled=True, backend=broken_backend)
        torch.testing.assert_close(model(x), expected)
        torch.testing.assert_close(model(x), expected)
    assert "forward_raw" not in model.__dict__  # eager from now on
    said = messages(caplog)
    assert len(said) == 1 and "no C compiler found" in said[0] and "second line" not in said[0]


def test_compile_keeps_callers_errors_and_stays_on():
    model = maybe_compile(MLPEmbedder(6, 3), enabled=True, backend="eager")
    with pytest.raises(ValueError, match="6 features per item"):
        model(torch.randn(2, 5))
    assert "forward_raw" in model.__dict__  # the error was the input's, not the compiler's


def test_compile_unavailable_is_a_no_op(monkeypatch, caplog):
    def no_compile(*args, **kwargs):
        raise RuntimeError("Python 3.99 is not supported")

    monkeypatch.setattr(torch, "compile", no_compile)
    model = MLPEmbedder(6, 3)
    with caplog.at_level(logging.WARNING, logger="symsynth"):
        assert maybe_compile(model, enabled=True) is model
    assert "forward_raw" not in model.__dict__
    assert "unavailable" in messages(caplog)[0] and "3.99" in messages(caplog)[0]


def test_compile_of_a_plain_module_compiles_forward():
    model = torch.nn.Linear(3, 2)
    x = torch.randn(4, 3)
    expected = model(x)
    maybe_compile(model, enabled=True, backend="eager")
    assert "forward" in model.__dict__
    torch.testing.assert_close(model(x), expected)
