"""Generated inputs (hypothesis): every public entry point returns something finite or raises
ValueError saying why — never a crash, never a silent NaN."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from symsynth.losses import LOSSES, build_loss
from symsynth.metrics import evaluate
from symsynth.synthesis import symmetric_points

FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, 1e-30, -1e-30, 1e30, -1e30, 1.0]),
)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def batches(draw, paired: bool):
    m = draw(st.integers(1, 5))
    d = draw(st.integers(1, 6))
    kind = draw(st.sampled_from(["random", "zeros", "duplicates", "huge", "tiny", "generated"]))
    if kind == "generated":
        e = draw(arrays(np.float32, (2 * m, d), elements=FLOATS))
    else:
        scale = {"random": 1.0, "zeros": 0.0, "duplicates": 1.0, "huge": 1e18, "tiny": 1e-20}
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        e = (rng.standard_normal((2 * m, d)) * scale[kind]).astype(np.float32)
        if kind == "duplicates":
            e[:] = e[0]
    n_classes = draw(st.integers(1, m))
    pair_labels = draw(st.lists(st.integers(0, n_classes - 1), min_size=m, max_size=m))
    labels = np.repeat(pair_labels, 2)
    if not paired:
        labels = draw(st.permutations(labels.tolist()))
    return torch.from_numpy(e), torch.tensor(labels)


def finite_or_value_error(fn):
    try:
        out = fn()
    except ValueError as err:
        assert str(err)  # a message, not a bare error
        return None
    values = out.values() if isinstance(out, dict) else [out]
    for v in values:
        v = v.detach() if isinstance(v, torch.Tensor) else v
        assert math.isfinite(float(v)), f"silent non-finite result {out}"
    return out


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("synthesis", ["none", "symm", "ee"])
@SETTINGS
@given(data=st.data())
def test_losses_are_finite_or_refuse(name, synthesis, data):
    e, y = data.draw(batches(paired=data.draw(st.booleans())))
    loss = build_loss(name, synthesis)
    e.requires_grad_()
    out = finite_or_value_error(lambda: loss(e, y))
    if out is not None:
        out.backward()
        assert torch.isfinite(e.grad).all()


@SETTINGS
@given(
    x=arrays(np.float64, (4, 3), elements=FLOATS),
    a=arrays(np.float64, (4, 3), elements=FLOATS),
    alpha=st.floats(-3, 3),
    beta=st.floats(-3, 3),
)
def test_reflection_is_finite_for_finite_input(x, a, alpha, beta):
    x, a = torch.from_numpy(x), torch.from_numpy(a)
    y = symmetric_points(x, a, alpha, beta)
    finite_rows = torch.isfinite(x).all(1) & torch.isfinite(a).all(1)
    small = (x.abs() < 1e100).all(1) & (a.abs() < 1e100).all(1)
    assert torch.isfinite(y[finite_rows & small]).all()


@SETTINGS
@given(
    emb=arrays(np.float32, st.tuples(st.integers(0, 12), st.integers(1, 4)), elements=FLOATS),
    n_classes=st.integers(1, 4),
)
def test_evaluate_is_finite_or_refuses(emb, n_classes):
    labels = np.arange(len(emb)) % n_classes
    out = finite_or_value_error(lambda: evaluate(emb, labels))
    if out is not None:
        assert all(0.0 <= v <= 1.0 for v in out.values())


@st.composite
def csv_bytes(draw):
    rows = draw(st.integers(0, 14))
    cols = draw(st.integers(1, 3))
    cell = st.one_of(FLOATS.map(repr), st.sampled_from(["", "x", "nan", "1e999", "-0"]))
    header = ",".join([f"f{i}" for i in range(cols)] + [draw(st.sampled_from(["label", "y"]))])
    lines = [header]
    for _ in range(rows):
        values = [draw(cell) for _ in range(cols)]
        lines.append(",".join([*values, str(draw(st.integers(0, 4)))]))
    return "\n".join(lines).encode()


@SETTINGS
@given(data=csv_bytes(), split=st.sampled_from(["class-disjoint", "stratified"]))
def test_csv_files_load_or_refuse(data, split):
    from symsynth.data import load_file

    try:
        ds = load_file(data, "upload.csv", split=split)
    except ValueError as err:
        assert str(err)
        return
    for part in (ds.train, ds.test):
        assert torch.isfinite(part.x).all() and len(part.x) == len(part.y)


@SETTINGS
@given(
    x=arrays(np.float64, st.tuples(st.integers(0, 12), st.integers(1, 3)), elements=FLOATS),
    y_kind=st.sampled_from(["int", "float", "short", "object"]),
)
def test_npz_files_load_or_refuse(x, y_kind):
    import io

    from symsynth.data import load_file

    y = np.arange(len(x)) % 4
    y = {"int": y, "float": y + 0.5, "short": y[:-1], "object": y.astype(object)}[y_kind]
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    try:
        ds = load_file(buffer.getvalue(), "upload.npz", split="stratified")
    except ValueError as err:
        assert str(err)
        return
    assert torch.isfinite(ds.train.x).all() and torch.isfinite(ds.test.x).all()


@SETTINGS
@given(
    name=st.sampled_from(["toy-circle", "toy-sphere", "blobs", "rings", "spirals"]),
    n_classes=st.one_of(st.integers(-2, 70), st.floats(allow_nan=True)),
    spread=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.0)),
    seed=st.one_of(st.integers(-5, 2**40), st.just(True)),
)
def test_datasets_load_or_refuse(name, n_classes, spread, seed):
    from symsynth.data import dataset_options, load_dataset

    options = {"n_classes": n_classes}
    if "spread" in dataset_options(name):
        options["spread"] = spread
    try:
        ds = load_dataset(name, seed=seed, **options)
    except ValueError as err:
        assert str(err)
        return
    assert torch.isfinite(ds.train.x).all() and set(ds.train.classes).isdisjoint(ds.test.classes)
