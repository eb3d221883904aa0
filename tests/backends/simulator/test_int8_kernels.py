"""The fast integer kernels of the tflite numerics profile against plain integer formulas.

The conv / fully-connected kernels accumulate in float32 or float64 BLAS on raw int8 values and
requantize in float64 (`_requantizer`); here they must equal, element for element, an int64
correlation written tap by tap followed by the gemmlowp primitives (multiply_by_quantized_
multiplier, whose bit-exactness with LiteRT the model tests in tests/frontends/tflite establish),
on hypothesis-drawn quantized convs: random geometry (grouped, depthwise, strided, dilated,
padded, 1-D), scales, zero points, per-channel weights, biases, fused activations, int8 and
uint8. Both the kernel `select_kernel` prepares and the simulator plan are checked.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.backends.simulator import compile_plan
from npucc.ir.graph import Graph
from npucc.ir.types import DType, QuantParams, TensorType
from npucc.numerics import QuantizedExecutionError, select_kernel
from npucc.numerics.fixed_point import (
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_single_round,
    quantize_multiplier,
)
from npucc.numerics.tflite.linear import activation_range
from npucc.numerics.tflite.requantize import requantizer as _requantizer

ACTIVATIONS = [{}, {"activation": "relu"},
               {"activation": "clip", "activation_params": (0.0, 6.0)}]


def _scales(draw, n):
    return [2.0 ** draw(st.floats(-12, -2)) for _ in range(n)]


@st.composite
def quantized_convs(draw):
    """(graph, conv node, input array, attrs) of one quantized Conv."""
    unsigned = draw(st.booleans())
    rank = draw(st.sampled_from([3, 4]))
    kind = draw(st.sampled_from(["dense", "grouped", "depthwise"]))
    if kind == "depthwise":
        groups = c = m = draw(st.integers(1, 6))
    else:
        groups = 1 if kind == "dense" else draw(st.integers(2, 3))
        c = groups * draw(st.integers(1, 4))
        m = groups * draw(st.integers(1, 4))
    sr = rank - 2
    kernel = [draw(st.integers(1, 3)) for _ in range(sr)]
    strides = [draw(st.integers(1, 2)) for _ in range(sr)]
    dilations = [draw(st.integers(1, 2)) for _ in range(sr)]
    pads = [draw(st.integers(0, 2)) for _ in range(2 * sr)]
    spatial = [draw(st.integers(max(1, (k - 1) * d + 1 - pads[i] - pads[i + sr]), 9))
               for i, (k, d) in enumerate(zip(kernel, dilations))]
    n = draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    act = draw(st.sampled_from(ACTIVATIONS))

    storage = DType.u8 if unsigned else DType.i8
    lo, hi = storage.int_range
    zx, zy = (draw(st.integers(lo, hi)) for _ in range(2))
    per_channel = not unsigned and draw(st.booleans())
    sw = _scales(draw, m if per_channel else 1)
    sx, sy = _scales(draw, 2)
    if unsigned:
        zw = draw(st.integers(0, 255))
        wq = QuantParams.affine(sw[0], zw)
        w = rng.integers(0, 256, (m, c // groups, *kernel)).astype(np.uint8)
    else:
        wq = QuantParams.affine(sw, [0] * m, axis=0) if per_channel else QuantParams.affine(sw[0])
        w = rng.integers(-127, 128, (m, c // groups, *kernel)).astype(np.int8)
    big_bias = draw(st.booleans())
    b = rng.integers(-(2 ** 30) if big_bias else -(2 ** 14), 2 ** 14, m).astype(np.int32)
    bias_scale = [sx * s for s in sw]
    bq = QuantParams.affine(bias_scale, [0] * m, axis=0, bits=32) if per_channel else \
        QuantParams.affine(bias_scale[0], 0, bits=32)

    g = Graph("qconv")
    xv = g.add_input("x", TensorType((n, c, *spatial), storage, QuantParams.affine(sx, zx)))
    wv = g.add_constant(w, "w", quant=wq)
    bv = g.add_constant(b, "b", quant=bq)
    attrs = {"strides": strides, "dilations": dilations, "pads": pads, "group": groups, **act}
    out_spatial = [(spatial[i] + pads[i] + pads[i + sr] - (kernel[i] - 1) * dilations[i] - 1)
                   // strides[i] + 1 for i in range(sr)]
    node = g.add_node("Conv", [xv, wv, bv], attrs, output_types=[
        TensorType((n, m, *out_spatial), storage, QuantParams.affine(sy, zy))])
    g.set_outputs(node.outputs)
    x = rng.integers(lo, hi + 1, (n, c, *spatial)).astype(storage.numpy)
    return g, node, x


def reference_conv(node, x) -> np.ndarray:
    """int64 correlation, one kernel tap at a time, then the gemmlowp requantization."""
    xv, wv, bv = node.inputs
    y = node.outputs[0]
    at = node.attrs
    sr = x.ndim - 2
    zx = xv.type.quant.zero_point[0]
    wq = wv.type.quant
    w = wv.const.astype(np.int64) - np.asarray(wq.zero_point).reshape(-1, *[1] * (sr + 1))
    xs = x.astype(np.int64) - zx  # padding with zero here is padding x with its zero point
    xs = np.pad(xs, [(0, 0), (0, 0)] + [(at["pads"][i], at["pads"][i + sr]) for i in range(sr)])
    n, c = x.shape[:2]
    m, g = w.shape[0], at["group"]
    out = y.shape[2:]
    xs = xs.reshape(n, g, c // g, *xs.shape[2:])
    wg = w.reshape(g, m // g, c // g, *w.shape[2:])
    acc = np.zeros((n, g, m // g, *out), np.int64)
    for tap in np.ndindex(*w.shape[2:]):
        view = xs[(..., *(slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in
                          zip(tap, at["dilations"], at["strides"], out)))]
        acc += np.einsum("ngc...,gmc->ngm...", view, wg[(..., *tap)])
    acc = acc.reshape(n, m, *out) + bv.const.astype(np.int64).reshape(-1, *[1] * sr)
    sx, sy = xv.type.quant.scale[0], y.type.quant.scale[0]
    mult, shift = quantize_multiplier(np.float64(sx) * np.asarray(wq.scale) / np.float64(sy))
    shape = (-1, *[1] * sr)
    q = multiply_by_quantized_multiplier(acc, mult.reshape(shape), shift.reshape(shape))
    lo, hi = activation_range(node, y)
    return np.clip(q + y.type.quant.zero_point[0], lo, hi).astype(y.dtype.numpy)


@settings(deadline=None, max_examples=150)
@given(quantized_convs())
def test_quantized_conv_equals_integer_formula(case):
    g, node, x = case
    want = reference_conv(node, x)
    (got,) = select_kernel(node)([x, *(v.const for v in node.inputs[1:])])
    assert got.dtype == want.dtype and got.shape == want.shape
    assert int((got != want).sum()) == 0
    (planned,) = compile_plan(g).run([x])
    assert int((planned != want).sum()) == 0


@settings(deadline=None, max_examples=60)
@given(st.integers(1, 5), st.integers(1, 40), st.integers(1, 12), st.booleans(),
       st.integers(-128, 127), st.integers(-128, 127), st.integers(0, 2 ** 32 - 1),
       st.floats(-12, -2), st.floats(-12, -2))
def test_quantized_fully_connected_equals_integer_formula(rows, k, cols, per_channel, zx, zy,
                                                          seed, log_sx, log_sy):
    rng = np.random.default_rng(seed)
    sx, sy = 2.0 ** log_sx, 2.0 ** log_sy
    sw = 2.0 ** rng.uniform(-12, -2, cols if per_channel else 1)
    w = rng.integers(-127, 128, (cols, k)).astype(np.int8)
    b = rng.integers(-2 ** 16, 2 ** 16, cols).astype(np.int32)
    x = rng.integers(-128, 128, (rows, k)).astype(np.int8)
    g = Graph("fc")
    xv = g.add_input("x", TensorType((rows, k), DType.i8, QuantParams.affine(sx, zx)))
    wq = QuantParams.affine(sw, [0] * cols, axis=0) if per_channel else \
        QuantParams.affine(sw[0])
    wv = g.add_constant(w, "w", quant=wq)
    bq = QuantParams.affine(sx * sw, [0] * cols, axis=0, bits=32) if per_channel else \
        QuantParams.affine(sx * sw[0], 0, bits=32)
    bv = g.add_constant(b, "b", quant=bq)
    node = g.add_node("Gemm", [xv, wv, bv], {"transB": True}, output_types=[
        TensorType((rows, cols), DType.i8, QuantParams.affine(sy, zy))])
    g.set_outputs(node.outputs)
    acc = (x.astype(np.int64) - zx) @ w.astype(np.int64).T + b
    if per_channel:
        real = sx * sw / sy
    else:  # FULLY_CONNECTED per tensor takes the scale product in float32
        real = np.float64(np.float32(sx) * np.float32(sw[0])) / np.float64(sy)
    mult, shift = quantize_multiplier(real)
    want = np.clip(multiply_by_quantized_multiplier_single_round(acc, mult, shift) + zy,
                   -128, 127).astype(np.int8)
    (got,) = select_kernel(node)([x, w, b])
    assert int((got != want).sum()) == 0
    assert int((compile_plan(g).run([x])[0] != want).sum()) == 0


@settings(deadline=None, max_examples=300)
@given(st.floats(-24, 10), st.booleans(), st.integers(-128, 127),
       st.sampled_from([(-128, 127), "relu"]), st.integers(0, 2 ** 32 - 1),
       st.integers(8, 40))
def test_float64_requantization_equals_gemmlowp(log_real, single_round, zy, clamp, seed, bits):
    """The float64 path of `_requantizer` (one floor for both roundings) against the int64
    gemmlowp primitives, on random accumulators and on the ties of both roundings."""
    rng = np.random.default_rng(seed)
    mult, shift = quantize_multiplier(2.0 ** log_real)
    lo, hi = (zy, 127) if clamp == "relu" else clamp
    bound = 2 ** bits
    acc = rng.integers(-bound, bound, 2000)
    # values next to the ties of the first (2**31) and the last (2**(31 - shift)) rounding
    for s in {31, 31 - int(shift[0])}:
        if 0 < s < 62:
            k = rng.integers(-bound, bound, 200)
            t = np.rint((k + 0.5) * 2.0 ** s / (mult[0] * 2.0 ** max(int(shift[0]), 0)))
            acc = np.concatenate([acc, *(t.astype(np.int64) + d for d in (-1, 0, 1))])
    acc = np.clip(acc, -bound, bound)
    requant = multiply_by_quantized_multiplier_single_round if single_round else \
        multiply_by_quantized_multiplier
    want = np.clip(requant(acc, mult, shift) + zy, lo, hi)
    run = _requantizer(mult, shift, single_round=single_round, offset=0, raw_bound=bound,
                       total_bound=bound, zy=zy, lo=lo, hi=hi, dtype=np.int16)
    for a in (acc.astype(np.float64), acc):
        got = run(a)
        assert int((got != want).sum()) == 0


def test_requantizer_falls_back_to_int64_beyond_2_53():
    mult, shift = quantize_multiplier(0.7)
    acc = np.array([2 ** 40 + 3, -(2 ** 40) - 5, 12345])
    run = _requantizer(mult, shift, single_round=False, offset=0, raw_bound=2 ** 41,
                       total_bound=2 ** 41, zy=0, lo=-(2 ** 62), hi=2 ** 62, dtype=np.int64)
    assert np.array_equal(run(acc), multiply_by_quantized_multiplier(acc, mult, shift))


def test_quantized_op_without_integer_kernel_is_refused_by_name():
    g = Graph("q")
    q = QuantParams.affine(0.05, 3)
    x = g.add_input("x", TensorType((1, 4), DType.i8, q))
    node = g.add_node("Exp", [x], output_types=[TensorType((1, 4), DType.i8, q)])
    with pytest.raises(QuantizedExecutionError, match="quantized Exp has no integer kernel"):
        select_kernel(node)
