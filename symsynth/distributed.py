"""Data-parallel training over several processes with PyTorch's own DistributedDataParallel.

Launch::

    torchrun --nproc-per-node 4 -m symsynth train --dataset cub200 --data-root DIR ...

Each process (a *rank*) reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` from the environment
torchrun sets (:func:`init_from_env`), builds the same model, wraps it in DDP
(:func:`wrap_model`) and trains on its share of every global batch.

Why gather. Symm's hard negative pair mining compares every pair of the *whole* batch, so a
rank cannot compute its loss from its own rows. So every step:

1. the sampler makes the global batch of P·K indices (the same on every rank: it is a pure
   function of the seed and the step); rank r keeps its contiguous slice of whole pairs
   (:func:`rank_slice`);
2. each rank embeds its rows, then :func:`all_gather_with_grad` concatenates all ranks' rows in
   rank order — which is exactly the global batch — and the labels likewise;
3. every rank computes the same loss on the whole gathered batch and calls ``backward()``.

Gradient scaling, worked out. Let L be the loss of the global batch and z_r rank r's rows.
Every rank computes the same L, so the backward of the gather receives ∂L/∂z for all rows on
every rank; it *sums* these over the N ranks (an all-reduce) and keeps the own rows:
N·∂L/∂z_r. Rank r's parameter gradient is then N·(∂L/∂z_r)(∂z_r/∂θ). DDP *averages* parameter
gradients over the ranks, giving (1/N)·Σ_r N·(∂L/∂z_r)(∂z_r/∂θ) = ∂L/∂θ: exactly the gradient
of one process on all N·B rows. No loss scaling is needed anywhere (do not multiply or divide
the loss by the world size). The exactness needs a per-row forward that does not depend on
the other rows of the rank's slice: true for the MLP/CNN embedders (no BatchNorm) and for
:mod:`symsynth.backbones`, whose BatchNorm layers stay in eval mode by default; a model with
BatchNorm in training mode would see per-rank batch statistics (use SyncBatchNorm for that).

Checkpoints are written by rank 0 only (:func:`save_on_main`), from the unwrapped model
(:func:`unwrap_model`), so their keys carry no ``module.`` prefix and they load on any world
size: the global batch of a step does not depend on the number of ranks.

Without torchrun (no ``WORLD_SIZE`` in the environment, or ``WORLD_SIZE=1``) everything here is
a no-op: one process, ``all_gather_*`` return their input, ``rank_slice`` the whole batch.

>>> info = init_from_env("cpu")  # no torchrun: a single process
>>> info.world_size, info.rank, info.is_main
(1, 0, True)
>>> rank_slice(torch.arange(8), rank=1, world_size=2).tolist()
[4, 5, 6, 7]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from symsynth.devices import resolve_device

__all__ = [
    "DistInfo",
    "init_from_env",
    "cleanup",
    "get_rank",
    "get_world_size",
    "is_main",
    "barrier",
    "all_gather_with_grad",
    "all_gather_no_grad",
    "rank_slice",
    "shard_indices",
    "wrap_model",
    "unwrap_model",
    "save_on_main",
]

_MAX_DIMS = 8  # tensors of up to this many dimensions can be gathered


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: its rank, the number of ranks, its device and backend.

    ``backend`` is None for a single process (no process group), else "gloo" or "nccl".
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        """True on rank 0: the rank that logs, evaluates and writes files."""
        return self.rank == 0


def _env_int(name: str, default: int | None = None) -> int:
    text = os.environ.get(name)
    if text is None:
        if default is None:
            raise RuntimeError(
                f"environment variable {name} is not set; launch with "
                "`torchrun --nproc-per-node N -m symsynth train ...`, which sets RANK, "
                "WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT"
            )
        return default
    try:
        return int(text)
    except ValueError:
        raise RuntimeError(f"environment variable {name}={text!r} is not an integer") from None


def init_from_env(device: str | torch.device = "auto", timeout_minutes: float = 120) -> DistInfo:
    """Join the process group torchrun described in the environment; a no-op for one process.

    ``device`` is resolved with :func:`symsynth.devices.resolve_device`. On CUDA rank r uses
    GPU ``LOCAL_RANK`` and the ``nccl`` backend; on the CPU the ``gloo`` backend.
    ``timeout_minutes`` bounds how long a rank waits for the others (rank 0 evaluating a large
    test set while the others wait counts against it).

    >>> init_from_env("cpu").backend is None  # not launched by torchrun
    True
    """
    if "WORLD_SIZE" not in os.environ:
        return DistInfo(0, 1, 0, resolve_device(device), None)
    world_size = _env_int("WORLD_SIZE")
    rank = _env_int("RANK")
    local_rank = _env_int("LOCAL_RANK", default=rank)
    if world_size < 1 or not 0 <= rank < world_size:
        raise RuntimeError(f"RANK={rank} must be in [0, WORLD_SIZE={world_size})")
    dev = resolve_device(device)
    if world_size == 1:
        return DistInfo(0, 1, local_rank, dev, None)
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise RuntimeError(
                f"WORLD_SIZE={world_size} is set but {name} is not; launch with torchrun, or set "
                "MASTER_ADDR and MASTER_PORT (e.g. 127.0.0.1 and a free port)"
            )
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK={local_rank} but this node has {torch.cuda.device_count()} GPU(s); "
                "use --nproc-per-node <= the number of GPUs"
            )
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(
            backend,
            rank=rank,
            world_size=world_size,
            timeout=timedelta(minutes=timeout_minutes),
        )
    return DistInfo(rank, world_size, local_rank, dev, backend)


def cleanup() -> None:
    """Leave the process group (call once at the end of a torchrun run; safe otherwise)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if _active() else 0


def get_world_size() -> int:
    """The number of ranks (1 without a process group)."""
    return dist.get_world_size() if _active() else 1


def is_main() -> bool:
    """True on rank 0 (and in a single process)."""
    return get_rank() == 0


def barrier() -> None:
    """Wait until every rank gets here (a no-op in a single process)."""
    if _active():
        dist.barrier()


def _shapes(tensor: Tensor) -> list[tuple[int, ...]]:
    """Every rank's ``tensor.shape``, in rank order."""
    if tensor.dim() > _MAX_DIMS:
        raise ValueError(f"can gather tensors of up to {_MAX_DIMS} dims, got {tensor.dim()}")
    mine = torch.full((_MAX_DIMS + 1,), -1, dtype=torch.long, device=tensor.device)
    mine[0] = tensor.dim()
    mine[1 : tensor.dim() + 1] = torch.tensor(tensor.shape, dtype=torch.long)
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    return [tuple(s[1 : int(s[0]) + 1].tolist()) for s in every]


class _AllGatherWithGrad(torch.autograd.Function):
    """Forward: concatenate every rank's rows. Backward: sum the gradient over the ranks and
    return this rank's rows (see the module docstring for why this makes DDP exact)."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        ctx.rank, ctx.rows = dist.get_rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def all_gather_with_grad(tensor: Tensor) -> Tensor:
    """Concatenate every rank's ``tensor`` (same shape on all ranks) along dim 0, in rank order,
    with gradients flowing back to each rank's own rows.

    Every rank must then compute the same loss on the result; with DDP's gradient averaging the
    parameter gradients equal those of one process on the concatenated batch (module docstring).
    Works for labels too (integer tensors carry no gradient). A single process gets ``tensor``.

    >>> x = torch.ones(2, 3, requires_grad=True)
    >>> all_gather_with_grad(x) is x  # one process
    True
    """
    if not _active():
        return tensor
    shapes = _shapes(tensor)
    if len(set(shapes)) != 1:
        raise ValueError(
            f"all_gather_with_grad needs the same shape on every rank, got {shapes} (rank order); "
            "split every global batch with rank_slice so that all ranks get equal slices"
        )
    return _AllGatherWithGrad.apply(tensor)


@torch.no_grad()
def all_gather_no_grad(tensor: Tensor) -> Tensor:
    """Concatenate every rank's ``tensor`` along dim 0, in rank order, without gradients.

    The ranks may hold different numbers of rows (e.g. embeddings of uneven shards of a test
    set from :func:`shard_indices`); the other dimensions must agree.

    >>> all_gather_no_grad(torch.arange(3)).tolist()  # one process
    [0, 1, 2]
    """
    if not _active():
        return tensor
    shapes = _shapes(tensor)
    if len({s[1:] for s in shapes}) != 1:
        raise ValueError(
            f"all_gather_no_grad needs the same shape apart from dim 0 on every rank, got {shapes}"
        )
    most = max(s[0] for s in shapes)
    padded = tensor.new_zeros((most, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in shapes]
    dist.all_gather(parts, padded)
    return torch.cat([p[: s[0]] for p, s in zip(parts, shapes, strict=True)])


def rank_slice(batch: Tensor, rank: int | None = None, world_size: int | None = None) -> Tensor:
    """Rank ``rank``'s contiguous share of a global batch of sample indices: whole pairs only.

    ``batch`` is ``[B]`` (one batch from :class:`symsynth.samplers.PKSampler`) or
    ``[n_batches, B]`` (``sampler.epoch_batches(epoch)``); the last dimension is split. The
    slices of the ranks are disjoint and, concatenated in rank order, give the batch back, so
    within an epoch every row of every global batch goes to exactly one rank. Rows ``2m`` and
    ``2m + 1`` (a positive pair) always land on the same rank, since each slice has an even
    length. B must therefore be a multiple of ``2 * world_size``. ``rank`` and ``world_size``
    default to this process's.

    >>> batch = torch.tensor([10, 11, 20, 21, 30, 31, 40, 41])
    >>> [rank_slice(batch, r, 2).tolist() for r in range(2)]
    [[10, 11, 20, 21], [30, 31, 40, 41]]
    """
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank={rank} must be in [0, world_size={world_size})")
    size = batch.shape[-1]
    if size % (2 * world_size):
        raise ValueError(
            f"a global batch of {size} rows cannot be split into whole pairs over {world_size} "
            f"ranks: the batch size p*k must be a multiple of 2*world_size = {2 * world_size} "
            f"(e.g. {size + (-size) % (2 * world_size)} rows)"
        )
    share = size // world_size
    return batch[..., rank * share : (rank + 1) * share]


def shard_indices(n: int, rank: int | None = None, world_size: int | None = None) -> Tensor:
    """Rank ``rank``'s contiguous share of ``range(n)`` (sizes differ by at most one), e.g. to
    embed a large test set on all ranks and gather it with :func:`all_gather_no_grad`.

    >>> [shard_indices(5, r, 2).tolist() for r in range(2)]
    [[0, 1, 2], [3, 4]]
    """
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"rank={rank} must be in [0, world_size={world_size})")
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return torch.arange(start, start + base + (rank < extra))


def wrap_model(model: nn.Module, info: DistInfo) -> nn.Module:
    """Move ``model`` to ``info.device`` and wrap it in DDP when there are several ranks.

    Call the wrapper, never ``wrapper.module``, in the training step — ``wrapper(x,
    normalize=False)`` gives the raw embeddings of symsynth's embedders — because DDP
    synchronises gradients only for forward passes through the wrapper. DDP copies rank 0's
    parameters to every rank when it wraps.

    >>> m = wrap_model(nn.Linear(2, 2), init_from_env("cpu"))  # one process: not wrapped
    >>> type(m).__name__
    'Linear'
    """
    model = model.to(info.device)
    if info.world_size == 1:
        return model
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper (its ``state_dict`` has no ``module.`` prefix).

    >>> m = nn.Linear(2, 2)
    >>> unwrap_model(m) is m
    True
    """
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_on_main(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` atomically to ``path`` on rank 0 only, then wait for every rank.

    Give it state dicts of :func:`unwrap_model` (and plain Python values) so the file loads
    with ``torch.load(path, weights_only=True)`` on any number of ranks.
    """
    from symsynth.train import save_atomic  # imported here: train may import this module

    if is_main():
        save_atomic(obj, path)
    barrier()
