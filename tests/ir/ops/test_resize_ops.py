"""Resize against onnxruntime (opset 13 Resize with a `sizes` initializer; roi and scales
absent): nearest with every nearest_mode, linear (bilinear), every coordinate transformation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.ir.ops.resize import COORDINATE_MODES, NEAREST_MODES
from tests.ir.ops.onnx_oracle import check_against_onnx
from tests.ir.ops.strategies import random_array, seeds


@settings(deadline=None, max_examples=40)
@given(st.lists(st.integers(1, 7), min_size=2, max_size=2),
       st.lists(st.integers(1, 13), min_size=2, max_size=2),
       st.sampled_from(["nearest", "linear"]), st.sampled_from(COORDINATE_MODES),
       st.sampled_from(NEAREST_MODES), st.sampled_from([np.float32] * 3 + [np.float16, np.uint8]),
       seeds)
def test_resize_matches_onnxruntime(in_hw, out_hw, mode, ctm, nearest_mode, dtype, seed):
    if mode == "linear" and dtype == np.uint8:
        dtype = np.float32
    rng = np.random.default_rng(seed)
    x = random_array(rng, [rng.integers(1, 3), rng.integers(1, 3)] + in_hw, dtype, high=255)
    sizes = list(x.shape[:2]) + out_hw
    attrs = dict(sizes=sizes, mode=mode, coordinate_transformation_mode=ctm,
                 nearest_mode=nearest_mode)
    onnx_attrs = {k: v for k, v in attrs.items() if k != "sizes"}
    check_against_onnx("Resize", [x], attrs, onnx_attrs=onnx_attrs,
                       onnx_inputs=[x, None, None, np.asarray(sizes, np.int64)], opset=13)


def test_nearest_round_prefer_modes_differ_exactly_at_half():
    # 2 -> 4 asymmetric: source coordinates 0, 0.5, 1, 1.5: the halves pick floor or ceil
    x = np.array([[[[10.0, 20.0]]]], np.float32)
    got = {}
    for nm in ("round_prefer_floor", "round_prefer_ceil"):
        got[nm] = check_against_onnx(
            "Resize", [x], dict(sizes=[1, 1, 1, 4], coordinate_transformation_mode="asymmetric",
                                nearest_mode=nm),
            onnx_attrs=dict(coordinate_transformation_mode="asymmetric", nearest_mode=nm),
            onnx_inputs=[x, None, None, np.array([1, 1, 1, 4], np.int64)], opset=13)[0]
    assert got["round_prefer_floor"].ravel().tolist() == [10, 10, 20, 20]
    assert got["round_prefer_ceil"].ravel().tolist() == [10, 20, 20, 20]


@pytest.mark.parametrize("ctm", COORDINATE_MODES)
def test_nearest_index_mapping_matches_onnxruntime_on_every_small_size(ctm):
    # rounding ties (x.5 source coordinates) decide nearest indices: sweep sizes exhaustively
    for nm in NEAREST_MODES:
        for n_in in range(1, 8):
            x = np.arange(n_in, dtype=np.int32).reshape(1, 1, 1, n_in)
            for n_out in range(1, 14):
                sizes = [1, 1, 1, n_out]
                attrs = dict(coordinate_transformation_mode=ctm, nearest_mode=nm)
                check_against_onnx("Resize", [x], dict(attrs, sizes=sizes), onnx_attrs=attrs,
                                   onnx_inputs=[x, None, None, np.asarray(sizes, np.int64)],
                                   opset=13)
