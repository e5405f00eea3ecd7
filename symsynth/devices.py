"""Device choice, mixed precision and torch.compile — each a no-op with a message where unavailable.

Three switches of the command line (``--device``, ``--amp``, ``--compile``) in one place:

* :func:`resolve_device` turns ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"`` into a
  ``torch.device``. Asking for CUDA on a machine without it runs on the CPU and says so once.
* :func:`autocast` is bf16 autocast on a CUDA GPU that supports bf16, and a plain
  ``nullcontext`` everywhere else (with a one-time message when ``amp=True`` had no effect).
  bf16 has float32's exponent range, so no gradient scaler is needed. Wrap the model's forward
  only and give the loss ``raw.float()``: the losses and the mining stay in float32.
* :func:`maybe_compile` compiles the model's ``forward_raw`` (or ``forward``) with
  ``torch.compile``, in place, so ``state_dict`` keys and the ``forward``/``forward_raw``
  interface are unchanged. If compiling is unavailable or fails (at the call, or on the first
  batch, where torch.compile really compiles), the model runs eagerly and a message says why.

Measured on the CPU-only development machine (torch 2.13, gcc present): ``torch.compile`` with
the default inductor backend works but its first call took about 50 s for a 3-layer MLP (it
compiles C++), so it only pays off for long runs. The messages go to the ``symsynth`` logger
(printed on stderr when logging is not configured) and each distinct message appears once.

>>> resolve_device("cpu")
device(type='cpu')
>>> with autocast(torch.device("cpu"), amp=False):
...     pass
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = ["DEVICES", "resolve_device", "autocast", "maybe_compile", "notice"]

DEVICES = ("auto", "cpu", "cuda")
logger = logging.getLogger("symsynth")
_said: set[str] = set()


def notice(message: str) -> None:
    """Log ``message`` as a warning on the ``symsynth`` logger, the first time only.

    >>> notice("hello from the docs")  # doctest: +SKIP
    """
    if message not in _said:
        _said.add(message)
        logger.warning(message)


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """The device to run on: ``"auto"`` (CUDA if there is one, else CPU), ``"cpu"``, ``"cuda[:N]"``.

    ``"cuda"`` without a usable GPU falls back to the CPU with a one-time message; an unknown
    name raises ValueError listing the valid ones.

    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
    >>> resolve_device(torch.device("cpu"))
    device(type='cpu')
    """
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise ValueError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {name!r}")
    text = name.strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        index_text = text.partition(":")[2]
        if index_text and not index_text.isdigit():
            raise ValueError(f"device {name!r}: the GPU index must be a number, e.g. cuda:0")
        if not torch.cuda.is_available():
            notice(
                f"--device {name}: CUDA is not available here (torch {torch.__version__}); "
                "running on the CPU instead. Install a CUDA build of torch to use a GPU."
            )
            return torch.device("cpu")
        index = int(index_text) if index_text else None
        if index is not None and index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r}: this machine has {torch.cuda.device_count()} GPU(s), "
                f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
        return torch.device("cuda", index) if index is not None else torch.device("cuda")
    raise ValueError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)} (or cuda:N)")


def autocast(device: torch.device | str, amp: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on a CUDA GPU when ``amp`` is True; a no-op context otherwise.

    Use it around the model's forward pass only; compute the loss on ``raw.float()``.

    >>> import torch
    >>> with autocast("cpu", amp=False):
    ...     y = torch.ones(2, 2) @ torch.ones(2, 2)
    >>> y.dtype
    torch.float32
    """
    device = torch.device(device)
    if not amp:
        return contextlib.nullcontext()
    if device.type != "cuda":
        notice(
            f"--amp: bf16 autocast is used on CUDA only; on {device.type} training runs in "
            "float32 (amp has no effect)."
        )
        return contextlib.nullcontext()
    if not torch.cuda.is_bf16_supported():
        notice(
            "--amp: this GPU does not support bf16 (it needs compute capability 8.0 or newer, "
            "e.g. A100, RTX 30xx); training runs in float32."
        )
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)


class _CompiledOrEager:
    """Call the compiled function; if it raises where the eager one does not, say why and run
    eagerly from then on. (An error the eager function raises too is the caller's: it
    propagates and compilation stays on.)"""

    def __init__(self, model: nn.Module, name: str, compiled: Callable, eager: Callable) -> None:
        self.model, self.name, self.compiled, self.eager = model, name, compiled, eager

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is None:
            return self.eager(*args, **kwargs)
        try:
            return self.compiled(*args, **kwargs)
        except Exception as err:  # compile errors surface on the first call
            result = self.eager(*args, **kwargs)  # raises if the inputs were the problem
            self.compiled = None
            self.model.__dict__.pop(self.name, None)  # back to the class's own method
            notice(f"--compile: torch.compile failed ({_reason(err)}); running without it.")
            return result


def _reason(err: BaseException) -> str:
    """The innermost cause of a (possibly wrapped) compile error, on one short line."""
    while True:
        inner = getattr(err, "inner_exception", None) or err.__cause__
        if inner is None or inner is err:
            break
        err = inner
    first_line = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first_line[:200]}"


def maybe_compile(model: nn.Module, enabled: bool, **compile_kwargs: Any) -> nn.Module:
    """Compile ``model`` in place with ``torch.compile`` when ``enabled``; return the model.

    The method that does the work is compiled — ``forward_raw`` for symsynth's embedders
    (``forward`` calls it), ``forward`` otherwise — and set on the instance, so the model keeps
    its class, its ``state_dict`` keys and its interface (and DDP can wrap it as usual).
    ``compile_kwargs`` go to ``torch.compile`` (e.g. ``backend="eager"``, ``mode=...``).
    Failure at any call falls back to eager execution with a one-time message.

    >>> import torch
    >>> m = torch.nn.Linear(2, 2)
    >>> maybe_compile(m, enabled=False) is m
    True
    """
    if not enabled:
        return model
    compile_fn = getattr(torch, "compile", None)
    if compile_fn is None:
        notice(f"--compile: torch {torch.__version__} has no torch.compile; running eagerly.")
        return model
    name = "forward_raw" if callable(getattr(model, "forward_raw", None)) else "forward"
    eager = getattr(model, name)
    try:
        compiled = compile_fn(eager, **compile_kwargs)
    except Exception as err:
        notice(f"--compile: torch.compile is unavailable here ({err}); running eagerly.")
        return model
    setattr(model, name, _CompiledOrEager(model, name, compiled, eager))
    return model
