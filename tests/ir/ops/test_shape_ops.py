"""Data-movement ops against onnxruntime. Attributes that ONNX takes as tensors (Reshape shape,
Slice starts/ends/axes/steps, Pad pads and value, Split sizes, Squeeze/Unsqueeze axes) become
initializer inputs of the ONNX node."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ir.ops.onnx_oracle import check_against_onnx
from tests.ir.ops.strategies import random_array, seeds

DTYPES = st.sampled_from([np.float32, np.float32, np.float16, np.int32, np.uint8])
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4)


def i64(values):
    return np.asarray(values, dtype=np.int64)


@settings(deadline=None, max_examples=30)
@given(shapes, st.data(), DTYPES, seeds)
def test_concat_matches_onnxruntime(shape, data, dtype, seed):
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = data.draw(st.integers(1, 4))
    xs = []
    for _ in range(n):
        s = list(shape)
        s[axis] = data.draw(st.integers(1, 3))
        xs.append(random_array(rng, s, dtype))
    check_against_onnx("Concat", xs, {"axis": axis})


@settings(deadline=None, max_examples=30)
@given(shapes, st.data(), DTYPES, seeds)
def test_split_matches_onnxruntime(shape, data, dtype, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    shape[axis] = sum(sizes)
    x = random_array(np.random.default_rng(seed), shape, dtype)
    outs = check_against_onnx("Split", [x], {"axis": axis, "split": sizes},
                              onnx_attrs={"axis": axis}, onnx_inputs=[x, i64(sizes)], opset=13)
    assert len(outs) == len(sizes)


@settings(deadline=None, max_examples=40)
@given(shapes, st.data(), DTYPES, seeds)
def test_slice_matches_onnxruntime(shape, data, dtype, seed):
    rank = len(shape)
    use_axes = data.draw(st.booleans())
    if use_axes:
        axes = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank,
                                  unique_by=lambda a: a % rank))
    else:
        axes = list(range(data.draw(st.integers(1, rank))))
    index = st.integers(-8, 8) | st.sampled_from([-(2**62), 2**62])  # incl. far out of range
    starts = [data.draw(index) for _ in axes]
    ends = [data.draw(index) for _ in axes]
    steps = [data.draw(st.sampled_from([1, 2, 3, -1, -2])) for _ in axes]
    x = random_array(np.random.default_rng(seed), shape, dtype)
    attrs = {"starts": starts, "ends": ends, "steps": steps}
    if use_axes:
        attrs["axes"] = axes
    check_against_onnx("Slice", [x], attrs, onnx_attrs={},
                       onnx_inputs=[x, i64(starts), i64(ends), i64(axes), i64(steps)], opset=13)


@settings(deadline=None, max_examples=30)
@given(shapes, st.data(), DTYPES, seeds)
def test_reshape_matches_onnxruntime(shape, data, dtype, seed):
    # the new shape: the prime factors of the size, shuffled and regrouped
    size = math.prod(shape)
    factors = [p for p in range(2, size + 1) for _ in range(_multiplicity(size, p))]
    factors = data.draw(st.permutations(factors))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(factors)), max_size=3)))
    bounds = [0] + cuts + [len(factors)]
    new = [math.prod(factors[a:b]) for a, b in zip(bounds, bounds[1:])]
    x = random_array(np.random.default_rng(seed), shape, dtype)
    check_against_onnx("Reshape", [x], {"shape": new}, onnx_attrs={},
                       onnx_inputs=[x, i64(new)], opset=14)


def _multiplicity(n, p):
    if any(p % q == 0 for q in range(2, p)):
        return 0
    k = 0
    while n % p == 0:
        n //= p
        k += 1
    return k


@settings(deadline=None, max_examples=25)
@given(shapes, st.data(), DTYPES, seeds)
def test_flatten_matches_onnxruntime(shape, data, dtype, seed):
    axis = data.draw(st.integers(-len(shape), len(shape)))
    x = random_array(np.random.default_rng(seed), shape, dtype)
    check_against_onnx("Flatten", [x], {"axis": axis}, opset=13)


@settings(deadline=None, max_examples=25)
@given(shapes, st.data(), DTYPES, seeds)
def test_transpose_matches_onnxruntime(shape, data, dtype, seed):
    perm = data.draw(st.permutations(range(len(shape))))
    x = random_array(np.random.default_rng(seed), shape, dtype)
    check_against_onnx("Transpose", [x], {"perm": list(perm)})


@settings(deadline=None, max_examples=40)
@given(shapes, st.data(), st.sampled_from(["constant", "reflect", "edge"]), DTYPES, seeds)
def test_pad_matches_onnxruntime(shape, data, mode, dtype, seed):
    rank = len(shape)
    limit = [d - 1 if mode == "reflect" else 3 for d in shape]
    pads = [data.draw(st.integers(0, min(3, limit[i % rank]))) for i in range(2 * rank)]
    value = float(data.draw(st.integers(0, 9))) if mode == "constant" else 0.0
    x = random_array(np.random.default_rng(seed), shape, dtype)
    onnx_inputs = [x, i64(pads)]
    if mode == "constant":
        onnx_inputs.append(np.asarray(value, dtype))
    check_against_onnx("Pad", [x], {"pads": pads, "mode": mode, "value": value},
                       onnx_attrs={"mode": mode}, onnx_inputs=onnx_inputs, opset=13)


@settings(deadline=None, max_examples=25)
@given(shapes, st.data(), DTYPES, seeds)
def test_squeeze_matches_onnxruntime(shape, data, dtype, seed):
    rank = len(shape)
    ones = data.draw(st.lists(st.integers(0, rank - 1), min_size=1, unique=True))
    for a in ones:
        shape[a] = 1
    axes = [a - rank if data.draw(st.booleans()) else a for a in ones]
    x = random_array(np.random.default_rng(seed), shape, dtype)
    check_against_onnx("Squeeze", [x], {"axes": axes}, onnx_attrs={},
                       onnx_inputs=[x, i64(axes)], opset=13)


@settings(deadline=None, max_examples=25)
@given(shapes, st.data(), DTYPES, seeds)
def test_unsqueeze_matches_onnxruntime(shape, data, dtype, seed):
    out_rank = len(shape) + data.draw(st.integers(1, 2))
    axes = data.draw(st.lists(st.integers(-out_rank, out_rank - 1), min_size=out_rank - len(shape),
                              max_size=out_rank - len(shape), unique_by=lambda a: a % out_rank))
    x = random_array(np.random.default_rng(seed), shape, dtype)
    check_against_onnx("Unsqueeze", [x], {"axes": axes}, onnx_attrs={},
                       onnx_inputs=[x, i64(axes)], opset=13)


@settings(deadline=None, max_examples=10)
@given(shapes, DTYPES, seeds)
def test_identity_matches_onnxruntime(shape, dtype, seed):
    x = random_array(np.random.default_rng(seed), shape, dtype)
    check_against_onnx("Identity", [x], {})
