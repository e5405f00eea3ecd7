"""DistributedDataParallel over 2 CPU processes (gloo) equals one process on the whole batch.

The key test spawns 2 ranks. Each takes its slice of a P×K batch from the sampler, embeds it
through a DDP-wrapped model, all-gathers embeddings (with gradients) and labels, computes the
loss and calls backward. Loss and parameter gradients must equal those of a single process
on the concatenated batch, for every loss and every synthesis method.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from symsynth import distributed as D
from symsynth.losses import LOSSES, build_loss
from symsynth.models import MLPEmbedder
from symsynth.samplers import PKSampler

WORLD_SIZE = 2
CASES = [(loss, synthesis) for loss in LOSSES for synthesis in ("none", "symm", "ee")]


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """40 points of 8 classes and one global batch of 4 classes × 4 samples from the sampler."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(40) // 5
    x = torch.randn(40, 6, generator=g) + labels[:, None].float().sin()
    batch = PKSampler(labels, p=4, k=4, seed=1).epoch_batches(0)[0]
    return x, labels, batch


def _model() -> MLPEmbedder:
    torch.manual_seed(0)
    return MLPEmbedder(6, 4, hidden=(8,))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    info = D.init_from_env("cpu", timeout_minutes=2)
    try:
        assert (info.rank, info.world_size, info.backend) == (rank, world_size, "gloo")
        assert D.get_rank() == rank and D.get_world_size() == world_size
        x, y, batch = _data()
        local = D.rank_slice(batch)
        results: dict[str, dict] = {}
        for name, synthesis in CASES:
            model = D.wrap_model(_model(), info)
            assert isinstance(model, torch.nn.parallel.DistributedDataParallel)
            raw = model(x[local], normalize=False)
            embeddings = D.all_gather_with_grad(raw)
            labels = D.all_gather_with_grad(y[local])
            loss = build_loss(name, synthesis)(embeddings, labels)
            loss.backward()
            params = D.unwrap_model(model).parameters()
            results[f"{name}/{synthesis}"] = {
                "loss": loss.detach(),
                "labels": labels,
                "grads": [p.grad.clone() for p in params],
            }
        # Uneven shards gather without gradients; unequal shapes with gradients are refused.
        results["uneven"] = {"gathered": D.all_gather_no_grad(torch.arange(rank + 2))}
        try:
            D.all_gather_with_grad(torch.zeros(rank + 1, 2, requires_grad=True))
        except ValueError as err:
            results["unequal_error"] = {"message": str(err)}
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
        # Checkpoints: rank 0 writes, from the unwrapped model.
        D.save_on_main({"rank": rank, "model": D.unwrap_model(model).state_dict()},
                       Path(out_dir) / "checkpoint.pt")  # fmt: skip
    finally:
        D.cleanup()


@pytest.mark.timeout(180)
def test_two_gloo_ranks_equal_one_process_for_every_loss_and_synthesis(tmp_path):
    mp.spawn(_worker, args=(WORLD_SIZE, _free_port(), str(tmp_path)), nprocs=WORLD_SIZE)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]
    x, y, batch = _data()
    nonzero = 0
    for name, synthesis in CASES:
        model = _model()
        loss = build_loss(name, synthesis)(model(x[batch], normalize=False), y[batch])
        loss.backward()
        for r, result in enumerate(ranks):
            got = result[f"{name}/{synthesis}"]
            where = f"{name}/{synthesis} on rank {r}"
            assert torch.equal(got["labels"], y[batch]), where
            torch.testing.assert_close(got["loss"], loss.detach(), atol=1e-5, rtol=0, msg=where)
            for g, p in zip(got["grads"], model.parameters(), strict=True):
                torch.testing.assert_close(g, p.grad, atol=1e-5, rtol=0, msg=where)
        if max(p.grad.abs().max() for p in model.parameters()) > 1e-3:
            nonzero += 1  # large enough that a missing or doubled scale would fail above
    assert nonzero >= len(CASES) - 2  # (a loss may be 0 on a batch, e.g. semi-hard triplets)
    for result in ranks:
        assert result["uneven"]["gathered"].tolist() == [0, 1, 0, 1, 2]
        assert "same shape on every rank" in result["unequal_error"]["message"]
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert checkpoint["rank"] == 0
    fresh = MLPEmbedder(6, 4, hidden=(8,))
    fresh.load_state_dict(checkpoint["model"])  # no "module." prefix: loads on any world size


def test_rank_slices_of_an_epoch_are_whole_disjoint_pairs():
    labels = torch.arange(60) // 5  # 12 classes of 5
    sampler = PKSampler(labels, p=4, k=4, seed=3)
    epoch = sampler.epoch_batches(0)  # [n_batches, 16]
    for world_size in (1, 2, 4, 8):
        slices = [D.rank_slice(epoch, r, world_size) for r in range(world_size)]
        assert torch.equal(torch.cat(slices, dim=1), epoch)  # rank order gives the batch back
        for part in slices:
            assert part.shape == (len(epoch), 16 // world_size)
            assert torch.equal(labels[part[:, 0::2]], labels[part[:, 1::2]])  # whole pairs
        for step in range(len(epoch)):  # each row of a global batch goes to one rank
            for r in range(world_size):
                assert torch.equal(D.rank_slice(epoch[step], r, world_size), slices[r][step])


def test_rank_slice_refuses_batches_that_split_pairs():
    with pytest.raises(ValueError, match="multiple of 2\\*world_size = 8 \\(e.g. 16 rows\\)"):
        D.rank_slice(torch.arange(12), rank=0, world_size=4)
    with pytest.raises(ValueError, match="rank=2 must be in"):
        D.rank_slice(torch.arange(8), rank=2, world_size=2)


def test_shard_indices_cover_the_range_once():
    for n, world_size in ((10, 3), (2, 4), (0, 2), (7, 1)):
        shards = [D.shard_indices(n, r, world_size) for r in range(world_size)]
        assert torch.equal(torch.cat(shards), torch.arange(n))
        assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_single_process_is_a_no_op(monkeypatch, tmp_path):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    info = D.init_from_env("cpu")
    assert (info.rank, info.world_size, info.backend, info.is_main) == (0, 1, None, True)
    x = torch.randn(4, 3, requires_grad=True)
    assert D.all_gather_with_grad(x) is x and D.all_gather_no_grad(x) is x
    assert torch.equal(D.rank_slice(torch.arange(6)), torch.arange(6))
    model = torch.nn.Linear(3, 2)
    assert D.wrap_model(model, info) is model and D.unwrap_model(model) is model
    D.save_on_main({"w": model.weight.detach()}, tmp_path / "c.pt")
    assert torch.equal(torch.load(tmp_path / "c.pt", weights_only=True)["w"], model.weight)
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert D.init_from_env("cpu").backend is None  # torchrun --nproc-per-node 1: no group


def test_init_from_env_explains_a_bad_environment(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(RuntimeError, match="RANK is not set; launch with `torchrun"):
        D.init_from_env("cpu")
    monkeypatch.setenv("RANK", "two")
    with pytest.raises(RuntimeError, match="RANK='two' is not an integer"):
        D.init_from_env("cpu")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(RuntimeError, match=r"RANK=2 must be in \[0, WORLD_SIZE=2\)"):
        D.init_from_env("cpu")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(RuntimeError, match="MASTER_ADDR is not"):
        D.init_from_env("cpu")
