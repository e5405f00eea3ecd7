"""The fast mining path's two backends: compiled loops (CPU float32/float64) and batched torch
ops (everywhere else) choose the same pairs and give the same scores and gradients."""

import hashlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from symsynth import mining, mining_loops, synthesis
from symsynth.mining import mine, mined_pair_scores, mined_scores
from tests.helpers import pair_batch
from tests.test_mining import CASES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("synthesis,mode,metric", CASES)
def test_loops_and_batched_ops_agree(synthesis, mode, metric, dtype, monkeypatch):
    """On a larger batch with several pairs per class: the same choices, scores and gradients,
    for the full matrix and for N-pair's a×p block."""
    e, y = pair_batch(24, 16, seed=16, classes=[c % 7 for c in range(24)])
    e = (e * torch.linspace(0.5, 1.5, 48, dtype=e.dtype)[:, None]).to(dtype)
    weights = torch.rand(48, 48, generator=torch.Generator().manual_seed(17), dtype=dtype)
    results = []
    for loops in (True, False):
        monkeypatch.setattr(mining, "USE_LOOPS", loops)
        x = e.clone().requires_grad_()
        mined = mine(x, y, synthesis, mode, metric)
        (mined.score * weights).sum().backward()
        block = (None, None)
        if mode == "pair":
            xb = e.clone().requires_grad_()
            pairs = mined_pair_scores(xb, y, synthesis, metric)
            (pairs * weights[0::2, 1::2]).sum().backward()
            block = (pairs.detach(), xb.grad)
        results.append((mined, x.grad, *block))
    (loops, grad_l, block_l, bgrad_l), (batched, grad_b, block_b, bgrad_b) = results
    assert torch.equal(loops.first, batched.first) and torch.equal(loops.second, batched.second)
    torch.testing.assert_close(loops.score, batched.score)
    tol = {} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-4}  # summed in other orders
    torch.testing.assert_close(grad_l, grad_b, **tol)
    if mode == "pair":
        torch.testing.assert_close(block_l, block_b)
        torch.testing.assert_close(bgrad_l, bgrad_b, **tol)


def test_loops_run_on_cpu_float32_and_float64_only(monkeypatch):
    monkeypatch.setattr(mining, "USE_LOOPS", True)
    assert mining._use_loops(torch.zeros(2, 2)) and mining._use_loops(torch.zeros(2, 2).double())
    assert not mining._use_loops(torch.zeros(2, 2, dtype=torch.bfloat16))
    e, y = pair_batch(6, 4, seed=18, classes=[0, 1, 2, 0, 3, 1])
    low = mined_scores(e.to(torch.bfloat16), y, "symm")  # the batched ops
    torch.testing.assert_close(low.float(), mined_scores(e.float(), y, "symm"), atol=0.05, rtol=0)


def test_warm_up_compiles_the_float32_loops():
    """In a fresh process: nothing compiled before ``warm_up``, both loops for float32 after."""
    code = (
        "from symsynth import mining, mining_loops as ml\n"
        "kernels = (ml.forward, ml.backward)\n"
        "assert not any(k.signatures for k in kernels)\n"
        "mining.warm_up()\n"
        "print([sorted({s[0].dtype.name for s in k.signatures}) for k in kernels])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[['float32'], ['float32']]"


def test_the_loops_fingerprint_follows_synthesis_formulas():
    """numba keys its disk cache on mining_loops.py alone; the loops compile in formulas from
    synthesis.py, so ``FORMULAS`` (a line of mining_loops.py) has to change with them."""
    assert all(inspect.getmodule(f) is synthesis for f in mining_loops.SHARED)
    text = repr(synthesis._EPS) + "".join(inspect.getsource(f) for f in mining_loops.SHARED)
    fingerprint = hashlib.sha256(text.encode()).hexdigest()[:8]
    assert fingerprint == mining_loops.FORMULAS, (
        f"synthesis.py's formulas changed: set FORMULAS = {fingerprint!r} in "
        "symsynth/mining_loops.py, so that numba compiles the loops afresh"
    )
