"""ReduceMean/Max/Sum (opset 18: axes as an initializer input) and Softmax/LogSoftmax (opset 13)
against onnxruntime."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ir.ops.onnx_oracle import check_against_onnx
from tests.ir.ops.strategies import random_array, seeds

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4)


@settings(deadline=None, max_examples=40)
@given(st.sampled_from(["ReduceMean", "ReduceMax", "ReduceSum"]), shapes, st.data(),
       st.booleans(), st.sampled_from([np.float32] * 3 + [np.float16, np.int32]), seeds)
def test_reductions_match_onnxruntime(op, shape, data, keepdims, dtype, seed):
    if op == "ReduceMean" and dtype == np.int32:
        dtype = np.float32
    rank = len(shape)
    axes = data.draw(st.none() | st.lists(st.integers(-rank, rank - 1), min_size=1,
                                          unique_by=lambda a: a % rank))
    x = random_array(np.random.default_rng(seed), shape, dtype)
    onnx_inputs = [x] if axes is None else [x, np.asarray(axes, np.int64)]
    check_against_onnx(op, [x], {"axes": axes, "keepdims": keepdims},
                       onnx_attrs={"keepdims": int(keepdims)}, onnx_inputs=onnx_inputs, opset=18,
                       tolerance=(1e-2, 1e-2) if dtype == np.float16 else None)


@settings(deadline=None, max_examples=30)
@given(st.sampled_from(["Softmax", "LogSoftmax"]), shapes, st.data(),
       st.sampled_from([np.float32] * 3 + [np.float16]), seeds)
def test_softmax_matches_onnxruntime(op, shape, data, dtype, seed):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = random_array(np.random.default_rng(seed), shape, dtype) * dtype(4)
    check_against_onnx(op, [x], {"axis": axis}, opset=13,
                       tolerance=(1e-2, 1e-2) if dtype == np.float16 else None)
