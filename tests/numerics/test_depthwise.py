"""The compiled depthwise kernel (npucc/numerics/depthwise.py) against an int64 direct
convolution with the fixed-point rounding formula, and against the numpy form it replaces: the
same integers for drawn geometries (1-D and 2-D, strides, dilations, asymmetric pads, batches),
input, weight and output types (u8 / i8 / i16, per-tensor and per-channel, dfp), biases and
fused clamps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.ir import Graph, QuantParams, TensorType
from npucc.numerics import jit
from npucc.numerics.fixed_point import multiply_round_half_even, quantize_multiplier
from npucc.numerics.integer.requantize import round_to_int
from npucc.numerics.profiles import select_kernel

needs_numba = pytest.mark.skipif(not jit.enabled(), reason="numba is not installed "
                                 "(or NPUCC_NO_JIT=1): only the numpy form runs")

RANGES = {"u8": (0, 255), "i8": (-128, 127), "i16": (-32768, 32767)}


@pytest.fixture(autouse=True)
def every_size(monkeypatch):
    """The compiled kernel for layers of any size."""
    monkeypatch.setattr(jit, "IMPORT_AT", 0)
    monkeypatch.setattr(jit, "SMALLEST", 0)


@st.composite
def layers(draw):
    rank = draw(st.sampled_from([3, 4]))
    sr = rank - 2
    kernel = [draw(st.integers(1, 4)) for _ in range(sr)]
    if int(np.prod(kernel)) < 2:
        kernel[-1] = 2
    strides = [draw(st.integers(1, 3)) for _ in range(sr)]
    dilations = [draw(st.integers(1, 3)) for _ in range(sr)]
    pads = [draw(st.integers(0, 3)) for _ in range(2 * sr)]
    size = [draw(st.integers(1, 11)) for _ in range(sr)]
    for i in range(sr):  # at least one output
        size[i] = max(size[i], (kernel[i] - 1) * dilations[i] + 1 - pads[i] - pads[i + sr])
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 7))
    scheme = draw(st.sampled_from(["u8", "i8c", "dfp8", "dfp16"]))
    bias = draw(st.booleans())
    act = draw(st.sampled_from(["none", "relu", "clip"]))
    return rank, kernel, strides, dilations, pads, size, n, c, scheme, bias, act, \
        draw(st.integers(0, 2 ** 32 - 1))


def _node(layer):
    rank, kernel, strides, dilations, pads, size, n, c, scheme, bias, act, seed = layer
    rng = np.random.default_rng(seed)
    g = Graph("dw", "affine")
    if scheme.startswith("dfp"):
        bits = int(scheme[3:])
        xdt = wdt = ydt = f"i{bits}"
        xq, wq = QuantParams.dfp(int(rng.integers(0, 8)), bits=bits), \
            QuantParams.dfp(int(rng.integers(4, 12)), bits=bits)
        yq = QuantParams.dfp(int(rng.integers(-2, 6)), bits=bits)
        sx, sw = 2.0 ** -xq.frac_length, np.full(c, 2.0 ** -wq.frac_length)
        w = rng.integers(-(2 ** (bits - 1)) + 1, 2 ** (bits - 1), (c, 1, *kernel))
    else:
        xdt = ydt = scheme[:2]
        lo, hi = RANGES[xdt]
        sx = float(rng.uniform(0.005, 0.1))
        xq = QuantParams.affine(sx, int(rng.integers(lo, hi + 1)))
        if scheme == "i8c":
            wdt, sw = "i8", rng.uniform(1e-3, 2e-2, c)
            wq = QuantParams.affine(sw, 0, axis=0, narrow_range=True)
            w = rng.integers(-127, 128, (c, 1, *kernel))
        else:
            wdt, sw = "u8", np.full(c, float(rng.uniform(1e-3, 2e-2)))
            wq = QuantParams.affine(float(sw[0]), int(rng.integers(0, 256)))
            w = rng.integers(0, 256, (c, 1, *kernel))
        yq = QuantParams.affine(float(rng.uniform(0.01, 0.3)), int(rng.integers(lo, hi + 1)))
    x = g.add_input("x", TensorType((n, c, *size), xdt, xq))
    inputs = [x, g.add_constant(w.astype(TensorType((1,), wdt).dtype.numpy), "w", quant=wq)]
    if bias:
        b = rng.integers(-3000, 3000, c).astype(np.int32)
        inputs.append(g.add_constant(b, "b", quant=QuantParams.affine(sx * sw, 0, axis=0)
                                     if not scheme.startswith("dfp") else
                                     QuantParams.dfp(xq.frac_length + wq.frac_length, bits=32)))
    params = {"none": ((), "none"), "relu": ((), "relu"), "clip": ((-0.7, 1.3), "clip")}[act]
    sr = rank - 2
    out = [(size[i] + pads[i] + pads[i + sr] - (kernel[i] - 1) * dilations[i] - 1) //
           strides[i] + 1 for i in range(sr)]
    node = g.add_node("Conv", inputs, {
        "group": c, "strides": strides, "dilations": dilations, "pads": pads,
        "activation": params[1], "activation_params": params[0]},
        output_types=[TensorType((n, c, *out), ydt, yq)])
    return node, rng


def _formula(node, xa):
    """int64 direct convolution of (x - zx) * (w - zw), + bias, the fixed-point rounding, the
    clamp: from the node's types, with none of the kernels' code."""
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    (sx,), (zx,), _ = x.type.quant.as_affine()
    sw, zw, _ = w.type.quant.as_affine()
    (sy,), (zy,), _ = y.type.quant.as_affine()
    at = node.attrs
    sr = x.type.rank - 2
    wv = w.const.astype(np.int64) - np.asarray(zw).reshape(-1, *([1] * (sr + 1)))
    xs = np.pad(xa.astype(np.int64) - zx, [(0, 0), (0, 0)] + [
        (at["pads"][i], at["pads"][i + sr]) for i in range(sr)])
    out_sp = y.shape[2:]
    acc = np.zeros(y.shape, np.int64)
    for tap in np.ndindex(*w.shape[2:]):
        window = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, s, o in
                       zip(tap, at["dilations"], at["strides"], out_sp))
        acc += xs[(slice(None), slice(None), *window)] * wv[(slice(None), 0, *tap)].reshape(
            1, -1, *([1] * sr))
    if len(node.inputs) > 2:
        acc += node.inputs[2].const.astype(np.int64).reshape(1, -1, *([1] * sr))
    m, sh = quantize_multiplier(np.float64(sx) * np.asarray(sw) / np.float64(sy))
    shape = (1, -1, *([1] * sr))
    q = multiply_round_half_even(acc, np.broadcast_to(m, (y.shape[1],)).reshape(shape),
                                 np.broadcast_to(sh, (y.shape[1],)).reshape(shape)) + zy
    lo, hi = y.type.quant.int_range(y.dtype)  # dfp: symmetric, +-(2**(b-1) - 1)
    if at["activation"] == "relu":
        lo = max(lo, zy)
    elif at["activation"] == "clip":
        lo = max(lo, round_to_int(at["activation_params"][0], sy, zy))
        hi = min(hi, round_to_int(at["activation_params"][1], sy, zy))
    return np.clip(q, lo, hi)


@needs_numba
@settings(max_examples=250, deadline=None)
@given(layers())
def test_compiled_depthwise_equals_the_formula_and_the_numpy_form(layer):
    node, rng = _node(layer)
    compiled = select_kernel(node)
    assert compiled.__qualname__.startswith("depthwise_kernel"), "the compiled kernel ran"
    saved, jit._state["numba"] = jit._state["numba"], False  # numba off: the numpy form
    try:
        numpy_form = select_kernel(node)
    finally:
        jit._state["numba"] = saved
    assert not numpy_form.__qualname__.startswith("depthwise_kernel")
    lo, hi = node.inputs[0].type.quant.int_range(node.inputs[0].dtype)
    xa = rng.integers(lo, hi + 1, node.inputs[0].shape).astype(node.inputs[0].dtype.numpy)
    args = [xa] + [v.const for v in node.inputs[1:]]
    want = _formula(node, xa)
    got = compiled(args)[0]
    assert got.dtype == node.outputs[0].dtype.numpy and got.shape == node.outputs[0].shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(numpy_form(args)[0], want)
    np.testing.assert_array_equal(compiled(args)[0], want)  # scratch reused: same again


@pytest.mark.parametrize("scheme", ["u8", "i8c", "dfp16"])
def test_numpy_form_runs_1d_depthwise_convs(monkeypatch, scheme):
    """Regression: the numpy form's channel blocks of a 1-D depthwise conv are (N, C, 1, W) and
    were requantized against the (N, C, W) output (a broadcasting error, for every quantized
    1-D depthwise conv of an audio model)."""
    monkeypatch.setitem(jit._state, "numba", False)
    node, rng = _node((3, [3], [2], [1], [1, 2], [13], 2, 5, scheme, True, "relu", 7))
    lo, hi = node.inputs[0].type.quant.int_range(node.inputs[0].dtype)
    xa = rng.integers(lo, hi + 1, node.inputs[0].shape).astype(node.inputs[0].dtype.numpy)
    kernel = select_kernel(node)
    assert not kernel.__qualname__.startswith("depthwise_kernel")
    np.testing.assert_array_equal(kernel([xa] + [v.const for v in node.inputs[1:]])[0],
                                  _formula(node, xa))


@needs_numba
@settings(max_examples=150, deadline=None)
@given(layers(), st.sampled_from(["none", "relu", "clip", "leaky_relu"]))
def test_float16_depthwise_loop_gives_the_general_paths_bits(layer, act):
    """The fp16 profile's depthwise conv as the compiled loop (float16 in, float32 sums of exact
    float16 products in kernel order, bias, clamp, one rounding to float16) gives the bits of
    its general path (numpy's im2col-free multiply-adds, then bias and the activation), and
    both are within one float16 rounding of a float64 direct convolution (the float32 sums
    differ from float64 by far less than a float16 step here). leaky_relu is not the loop's:
    the general path runs."""
    rank, kernel, strides, dilations, pads, size, n, c, _, bias, _, seed = layer
    rng = np.random.default_rng(seed)
    g = Graph("dw")
    x = g.add_input("x", TensorType((n, c, *size), "f16"))
    w = rng.normal(0, 0.5, (c, 1, *kernel)).astype(np.float16)
    inputs = [x, g.add_constant(w, "w")]
    if bias:
        inputs.append(g.add_constant(rng.normal(0, 1, c).astype(np.float16), "b"))
    params = {"none": (), "relu": (), "clip": (-0.7, 1.3), "leaky_relu": (0.1,)}[act]
    sr = rank - 2
    out = [(size[i] + pads[i] + pads[i + sr] - (kernel[i] - 1) * dilations[i] - 1) //
           strides[i] + 1 for i in range(sr)]
    node = g.add_node("Conv", inputs, {
        "group": c, "strides": strides, "dilations": dilations, "pads": pads,
        "activation": act, "activation_params": params},
        output_types=[TensorType((n, c, *out), "f16")])
    xa = rng.normal(0, 2, (n, c, *size)).astype(np.float16)
    xa[rng.random(xa.shape) < 0.2] = 0  # exact zeros, as after a ReLU
    args = [xa] + [v.const for v in node.inputs[1:]]
    loop = select_kernel(node)
    assert loop.__qualname__.startswith("_compiled_depthwise") == (act != "leaky_relu")
    got = loop(args)[0]
    saved, jit._state["numba"] = jit._state["numba"], False
    try:
        general = select_kernel(node)(args)[0]
    finally:
        jit._state["numba"] = saved
    assert got.dtype == np.float16 and got.shape == node.outputs[0].shape
    np.testing.assert_array_equal(got.view(np.uint16), general.view(np.uint16))
    xs = np.pad(xa.astype(np.float64), [(0, 0), (0, 0)] + [(pads[i], pads[i + sr])
                                                           for i in range(sr)])
    want = np.zeros(got.shape)
    for tap in np.ndindex(*kernel):
        window = tuple(slice(t * d, t * d + (o - 1) * s + 1, s) for t, d, s, o in
                       zip(tap, dilations, strides, out))
        want += xs[(slice(None), slice(None), *window)] * w[(slice(None), 0, *tap)].astype(
            np.float64).reshape(1, -1, *([1] * sr))
    if bias:
        want += node.inputs[2].const.astype(np.float64).reshape(1, -1, *([1] * sr))
    want = {"none": want, "relu": np.maximum(want, 0), "clip": np.clip(want, -0.7, 1.3),
            "leaky_relu": np.where(want >= 0, want, 0.1 * want)}[act]
    step = np.abs(want.astype(np.float16).astype(np.float64)) * 2.0 ** -10 + 2.0 ** -24
    np.testing.assert_array_less(np.abs(got.astype(np.float64) - want), 1.01 * step)
