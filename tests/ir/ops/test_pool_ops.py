"""MaxPool, AveragePool and the global pools against onnxruntime (ceil_mode, pads,
count_include_pad, dilations, 1-D and 2-D)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ir.ops.onnx_oracle import check_against_onnx
from tests.ir.ops.strategies import random_array, seeds


@st.composite
def pool_cases(draw, dilated: bool):
    sr = draw(st.sampled_from([1, 2]))
    kernel = [draw(st.integers(1, 4)) for _ in range(sr)]
    strides = [draw(st.integers(1, 3)) for _ in range(sr)]
    dilations = [draw(st.integers(1, 2)) if dilated else 1 for _ in range(sr)]
    pads = [draw(st.integers(0, kernel[i % sr] - 1)) for i in range(2 * sr)]
    spatial = []
    for i in range(sr):
        eff = (kernel[i] - 1) * dilations[i] + 1
        lo = max(1, eff - pads[i] - pads[i + sr])
        spatial.append(draw(st.integers(lo, lo + 6)))
    shape = [draw(st.integers(1, 2)), draw(st.integers(1, 3))] + spatial
    attrs = dict(kernel_shape=kernel, strides=strides, pads=pads,
                 ceil_mode=int(draw(st.booleans())))
    if dilated:
        attrs["dilations"] = dilations
    return shape, attrs, draw(st.sampled_from([np.float32] * 3 + [np.float16])), draw(seeds)


@settings(deadline=None, max_examples=40)
@given(pool_cases(dilated=True))
def test_max_pool_matches_onnxruntime(case):
    shape, attrs, dtype, seed = case
    x = random_array(np.random.default_rng(seed), shape, dtype)
    check_against_onnx("MaxPool", [x], attrs)


@settings(deadline=None, max_examples=40)
@given(pool_cases(dilated=False), st.booleans())
def test_average_pool_matches_onnxruntime(case, include_pad):
    shape, attrs, dtype, seed = case
    attrs["count_include_pad"] = int(include_pad)
    x = random_array(np.random.default_rng(seed), shape, dtype)
    check_against_onnx("AveragePool", [x], attrs)


@settings(deadline=None, max_examples=25)
@given(st.sampled_from(["GlobalAveragePool", "GlobalMaxPool"]),
       st.lists(st.integers(1, 5), min_size=3, max_size=4),
       st.sampled_from([np.float32, np.float16]), seeds)
def test_global_pools_match_onnxruntime(op, shape, dtype, seed):
    x = random_array(np.random.default_rng(seed), shape, dtype)
    out = check_against_onnx(op, [x], {})
    assert out[0].shape == tuple(shape[:2]) + (1,) * (len(shape) - 2)


def test_ceil_mode_drops_a_window_that_starts_in_the_end_padding():
    # size 2, kernel 2, stride 3, end pad 1: ceil gives 2 windows, the 2nd starts at 3 (padding)
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)[..., :2]
    for op in ("MaxPool", "AveragePool"):
        out = check_against_onnx(op, [np.ascontiguousarray(x)],
                                 dict(kernel_shape=[1, 2], strides=[1, 3], pads=[0, 0, 0, 1],
                                      ceil_mode=1))
        assert out[0].shape == (1, 1, 1, 1)


def test_max_pool_window_that_covers_only_padding():
    # dilation 2 over a size-1 input padded by 1: both taps land in the padding
    for dtype in (np.float32, np.float16):
        x = np.ones((1, 1, 1), dtype)
        check_against_onnx("MaxPool", [x], dict(kernel_shape=[2], strides=[1], pads=[1, 1],
                                                dilations=[2]))
