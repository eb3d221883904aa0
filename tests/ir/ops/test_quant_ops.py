"""QuantizeLinear, DequantizeLinear (opset 13: scale and zero point as initializers, per tensor or
per axis) and Cast against onnxruntime; exact comparison for integer outputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.errors import IRError
from npucc.ir import DType, Graph, QuantParams, TensorType, run_graph
from tests.ir.ops.onnx_oracle import ONNX_DTYPE, check_against_onnx
from tests.ir.ops.strategies import seeds

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4)


@st.composite
def quant_params(draw, shape, dtype):
    """(scale, zero_point, axis) for a tensor of `shape` stored as `dtype` (u8 or i8)."""
    axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
    n = 1 if axis is None else shape[axis]
    lo, hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    # scales that are exact in float32, and arbitrary ones
    scale = draw(st.lists(st.sampled_from([0.5, 0.25, 1.0, 2.0, 0.125]) | st.floats(1e-3, 2.0),
                          min_size=n, max_size=n))
    zp = draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))
    return scale, zp, axis


def _onnx_params(scale, zp, axis, dtype):
    # ONNX takes a scalar scale/zero point for per-tensor, 1-D for per-axis
    shape = () if axis is None else (len(scale),)
    return (np.asarray(scale, np.float32).reshape(shape), np.asarray(zp, dtype).reshape(shape),
            {} if axis is None else {"axis": axis})


@settings(deadline=None, max_examples=40)
@given(shapes, st.sampled_from([np.uint8, np.int8]), st.data(), seeds)
def test_quantize_linear_matches_onnxruntime(shape, dtype, data, seed):
    scale, zp, axis = data.draw(quant_params(shape, dtype))
    rng = np.random.default_rng(seed)
    # multiples of scale/2 hit the round-half-to-even ties; big values hit saturation
    q = rng.integers(-600, 600, shape) / 2
    s_b = np.asarray(scale, np.float32).reshape([-1 if i == axis or (axis is not None and
                                                 i == axis % len(shape)) else 1
                                                 for i in range(len(shape))])
    x = np.where(rng.random(shape) < 0.5, q * s_b, rng.standard_normal(shape) * 100)
    x = x.astype(np.float32)
    s, z, onnx_attrs = _onnx_params(scale, zp, axis, dtype)
    npucc_dtype = DType.from_numpy(dtype)
    check_against_onnx("QuantizeLinear", [x],
                       {"scale": scale, "zero_point": zp, "axis": axis, "dtype": npucc_dtype},
                       onnx_attrs=onnx_attrs, onnx_inputs=[x, s, z], opset=13)


@settings(deadline=None, max_examples=40)
@given(shapes, st.sampled_from([np.uint8, np.int8, np.int32]), st.data(), seeds)
def test_dequantize_linear_matches_onnxruntime(shape, dtype, data, seed):
    store = np.int8 if dtype == np.int32 else dtype  # int32 input: zero point 0 (ONNX rule)
    scale, zp, axis = data.draw(quant_params(shape, store))
    if dtype == np.int32:
        zp = [0] * len(zp)
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    x = rng.integers(max(info.min, -10**6), min(info.max, 10**6) + 1, shape).astype(dtype)
    s, z, onnx_attrs = _onnx_params(scale, zp, axis, dtype)
    check_against_onnx("DequantizeLinear", [x], {"scale": scale, "zero_point": zp, "axis": axis},
                       onnx_attrs=onnx_attrs, onnx_inputs=[x, s, z], opset=13)


CAST_TYPES = [np.float32, np.float16, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_]


@settings(deadline=None, max_examples=40)
@given(shapes, st.sampled_from(CAST_TYPES), st.sampled_from(CAST_TYPES), seeds)
def test_cast_matches_onnxruntime(shape, src, dst, seed):
    rng = np.random.default_rng(seed)
    # values representable in every type (ONNX leaves out-of-range float->int undefined)
    x = rng.uniform(0 if dst in (np.uint8, np.bool_) else -100, 100, shape)
    x = np.where(rng.random(shape) < 0.2, 0, x).astype(src)
    to = DType.from_numpy(dst)
    check_against_onnx("Cast", [x], {"to": to}, onnx_attrs={"to": ONNX_DTYPE[to]}, opset=13)


def test_cast_to_bf16_rounds_to_nearest_even():
    # bf16 keeps the top 16 bits of a float32; the low half decides the rounding
    bits = np.array([0x3F800000, 0x3F808000, 0x3F818000, 0x3F80FFFF, 0x7F7FFFFF], np.uint32)
    x = bits.view(np.float32)
    g = Graph()
    g.set_outputs([g.op("Cast", g.add_input("x", TensorType.of(x)), to="bf16")])
    y = run_graph(g, [x])[0]
    want = np.array([0x3F800000, 0x3F800000, 0x3F820000, 0x3F810000, 0x7F800000], np.uint32)
    np.testing.assert_array_equal(y.view(np.uint32), want)


def test_quantize_output_type_carries_the_quant_params():
    g = Graph()
    x = g.add_input("x", TensorType((2, 3), "f32"))
    q = g.op("QuantizeLinear", x, scale=[0.5, 0.25, 1.0], zero_point=[1, 2, 3], axis=-1,
             dtype="i8")
    assert q.type == TensorType((2, 3), "i8", QuantParams.affine([0.5, 0.25, 1.0], [1, 2, 3],
                                                                  axis=1))
    y = g.op("DequantizeLinear", q, scale=[0.5, 0.25, 1.0], zero_point=[1, 2, 3], axis=1)
    assert y.type == TensorType((2, 3), "f32")


def test_dequantize_rejects_attributes_that_disagree_with_the_input_quant_params():
    g = Graph()
    x = g.add_input("x", TensorType((4,), "u8", QuantParams.affine(0.5, 10)))
    g.op("DequantizeLinear", x, scale=[0.5], zero_point=[10])  # agrees
    with pytest.raises(IRError, match=r"quantized as u8\[4\]<affine scale=0.5 zp=10>.*"
                                      r"scale=\(0.25,\) zero_point=\(10,\)"):
        g.op("DequantizeLinear", x, scale=[0.25], zero_point=[10])


@pytest.mark.parametrize("attrs, message", [
    ({"scale": [0.5, 0.5]}, "per-tensor quantization .* takes one scale"),
    ({"scale": [0.5, 0.5], "axis": 1}, "axis 1 of size 3 takes 3 scales, got 2"),
    ({"scale": [0.0]}, "must be finite and > 0"),
    ({"scale": [1.0], "zero_point": [300]}, "zero point 300 is outside the u8 range 0..255"),
    ({"scale": [1.0], "axis": 2}, "axis 2 is out of range for rank 2"),
    ({"scale": [1.0], "dtype": "i32"}, r"'dtype'=DType.i32 is not one of"),
])
def test_quantize_attribute_errors(attrs, message):
    g = Graph()
    x = g.add_input("x", TensorType((2, 3), "f32"))
    with pytest.raises(IRError, match=message):
        g.op("QuantizeLinear", x, **attrs)
