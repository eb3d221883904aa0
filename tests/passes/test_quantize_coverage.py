"""Ops real models need quantized (MediaPipe's PRelu after residual Adds, PP-OCR's hard-swish
`x * relu6(x + 3) / 6` and LayerNorm's `Pow(x, 2)`, selfie segmentation's Conv with a fused
hard_swish, Softmax everywhere): each quantized node, run by npucc's integer
kernels, against onnxruntime running the same node of the QDQ export on npucc's own inputs.
They agree except one step at results within float32 precision of a rounding tie (onnxruntime
computes in float32, npucc with fixed-point multipliers) and below a narrow range's minimum
(ONNX saturates to the full type); dfp8 nodes whose factors are powers of
two (Conv, Pow: products of power-of-two scales) bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from npucc.ir.text import parse
from npucc.numerics import profile_of, run_graph
from npucc.numerics.params import value_range
from npucc.passes.quantize import quantize_graph
from npucc.passes.quantize_params import PRECISIONS, fixed_params
from npucc.passes.split_activation import SplitActivation
from npucc.quantization import calibrate as calibrate_stats
from npucc.quantization import quantize_model
from npucc.testing import check_pass, random_inputs
from npucc.testing.quantized_strategies import calibrate
from tests.exporters.test_onnx_qdq import _one_node, _session, _unrounded

DTYPES = [("u8", False), ("i8", True), ("dfp8", False), ("dfp16", False)]

CONSTANT_OPERANDS = """
graph g(%x: f32[1,4,6,6]) -> (%y) {
  %w = const f32[4,4,3,3] elided
  %slope = const f32[1,4,1,1] dense<[0.25, -0.5, 0.0, 1.5]>
  %leak = const f32[] dense<0.125>
  %six = const f32[] dense<6.0>
  %d = const f32[4,1,1] dense<[3.0, -2.0, 0.5, 7.0]>
  %two = const f32[1] dense<2.0>
  %c = Conv(%x, %w) {pads=[1, 1, 1, 1]}
  %p = PRelu(%c, %slope)
  %l = PRelu(%p, %leak)
  %q = Div(%l, %six)
  %r = Div(%q, %d)
  %y = Pow(%r, %two)
  return %y
}
"""


def agree_with_onnxruntime(q, x: np.ndarray, exact=()) -> set[str]:
    """Run the quantized graph on x and every quantized node alone in onnxruntime (QDQ export)
    on the same inputs; assert they agree (see the module docstring), bit for bit for the ops
    `exact`. Returns the ops checked."""
    seen = {q.inputs[0].name: x}
    run_graph(q, [x], hook=lambda n, outs: seen.update({v.name: a for v, a in
                                                        zip(n.outputs, outs)}))
    checked = set()
    for node in q.nodes:
        if profile_of(node) == "float" or node.meta.get("conversion"):
            continue
        one = _one_node(node)
        theirs = _session(one).run(None, {v.name: seen[v.name] for v in one.inputs})[0]
        ours = seen[node.outputs[0].name].astype(np.int64)
        differ = ours != theirs.astype(np.int64)
        lo = value_range(node.outputs[0])[0]  # ONNX saturates to the full type, not narrow
        differ &= ~((ours == lo) & (theirs < lo))
        if differ.any():
            assert node.op not in exact, node.describe()
            args = [v.const if v.is_constant else seen[v.name] for v in node.inputs]
            u = _unrounded(node, args)[differ]
            assert np.abs(ours[differ] - theirs[differ]).max() == 1, node.describe()
            tie = 1e-3 + np.abs(u) * 2.0 ** -22  # float32 products of 16-bit values
            assert np.all(np.abs(u - np.floor(u) - 0.5) < tie), node.describe()
        checked.add(node.op)
    return checked


@pytest.mark.parametrize("dtype,per_channel", DTYPES)
def test_constant_operands_fold_into_the_integer_kernels(dtype, per_channel):
    """PRelu (per-channel slopes, one negative and one zero; a scalar slope), Div by a scalar
    and by per-channel constants (one negative), Pow(x, 2): all quantized, none kept float."""
    g = parse(CONSTANT_OPERANDS, "random")
    q = quantize_graph(g, calibrate(g), dtype, per_channel)
    assert not [n.describe() for n in q.nodes if "quantize" in n.meta]
    for seed in range(3):
        x = np.random.default_rng(seed).uniform(-2, 2, (1, 4, 6, 6)).astype(np.float32)
        checked = agree_with_onnxruntime(q, x, exact=("Conv", "Pow") if dtype == "dfp8" else ())
        assert {"Conv", "PRelu", "Div", "Pow"} <= checked


@pytest.mark.parametrize("operand,reason", [
    ("%zero", "it divides by zero"),
    ("%wide", "does not broadcast to the input's"),
])
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # calibrating x / 0
def test_a_division_the_kernel_cannot_fold_stays_float(operand, reason):
    g = parse(f"""
graph g(%x: f32[1,4,3,3]) -> (%y, %z) {{
  %zero = const f32[4,1,1] dense<[1.0, 0.0, 2.0, 3.0]>
  %wide = const f32[2,4,3,3] elided
  %three = const f32[] dense<3.0>
  %y = Div(%x, {operand})
  %z = Pow(%x, %three)
  return %y, %z
}}
""", "random")
    q = quantize_graph(g, calibrate(g), "i8")
    div = q.value("y").producer
    assert div.meta["quantize"].startswith("kept float: ") and reason in div.meta["quantize"]
    assert "exponent 2" in q.value("z").producer.meta["quantize"]


FUSED_ACTIVATIONS = """
graph g(%x: f32[1,3,8,8]) -> (%y) {
  %w = const f32[4,3,3,3] elided
  %b = const f32[4] elided
  %w2 = const f32[4,4,1,1] elided
  %w3 = const f32[2,4,1,1] elided
  %h = Conv(%x, %w, %b) {pads=[1, 1, 1, 1], activation="hard_swish"} loc("conv1")
  %s = Conv(%h, %w2) {activation="sigmoid", pool_kernel=[2, 2],
                     pool_strides=[2, 2]} loc("conv2")
  %y = Conv(%s, %w3) {activation="relu"} loc("conv3")
  return %y
}
"""


def test_split_activation_is_bit_exact_and_keeps_foldable_ones():
    g = parse(FUSED_ACTIVATIONS, "random")
    report = check_pass(SplitActivation(), g, rtol=0.0, atol=0.0, idempotent=True)
    assert report.changed
    after = g.copy()
    SplitActivation()(after)
    ops = [(n.op, n.attrs.get("activation")) for n in after.nodes]
    assert ops == [("Conv", "none"), ("HardSwish", None), ("Conv", "none"), ("Sigmoid", None),
                   ("MaxPool", None), ("Conv", "relu")]
    assert after.value("h_preact").producer.provenance == frozenset({"conv1"})
    assert after.value("h").producer.provenance == frozenset({"conv1"})


@pytest.mark.parametrize("dtype,per_channel", DTYPES)
def test_a_conv_with_a_fused_hard_swish_quantizes_as_conv_then_table(dtype, per_channel):
    """quantize_model splits hard_swish / sigmoid off their Conv before calibrating: every node
    quantizes, and onnxruntime agrees with npucc node by node on the QDQ export."""
    g = parse(FUSED_ACTIVATIONS, "random")
    data = [random_inputs(g, s) for s in range(2)]
    q = quantize_model(g, data, dtype=dtype, per_channel=per_channel, progress=False)
    assert not [n.describe() for n in q.graph.nodes if "quantize" in n.meta]
    assert "h_preact" in q.ranges and g.value("h").producer.attrs["activation"] == "hard_swish"
    checked = agree_with_onnxruntime(q.graph, data[0][0], exact=("Conv", "MaxPool")
                                     if dtype == "dfp8" else ())
    assert {"Conv", "HardSwish", "Sigmoid", "MaxPool"} <= checked
    # statistics of the unsplit graph describe no h_preact: the fused Conv then stays float
    old = calibrate_stats(g, data, progress=False)
    kept = quantize_model(g, stats=old, dtype=dtype, per_channel=per_channel)
    assert "fused activation hard_swish" in kept.graph.value("h").producer.meta["quantize"]


SOFTMAX = """
graph g(%x: f32[2,5,3,4]) -> (%y, %z) {
  %w = const f32[5,5,1,1] elided
  %c = Conv(%x, %w)
  %y = Softmax(%c) {axis=1}
  %z = Softmax(%c) {axis=-1}
  return %y, %z
}
"""


@pytest.mark.parametrize("dtype,per_channel", DTYPES)
def test_softmax_quantizes_with_the_fixed_output_params(dtype, per_channel):
    """Softmax's output takes the params its rule fixes (scale 2**-bits, zero point at the
    type's minimum; dfp fl = bits - 1), whatever the calibrated range; its integers agree with
    onnxruntime's (DQ, Softmax, Q) node by node."""
    g = parse(SOFTMAX, "random")
    q = quantize_graph(g, {**calibrate(g), "y": (0.0, 0.5)}, dtype, per_channel)
    assert not [n.describe() for n in q.nodes if "quantize" in n.meta]
    want = fixed_params(PRECISIONS[dtype])
    assert {q.value(n).producer.inputs[0].type.quant for n in ("y", "z")} == {want}
    x = np.random.default_rng(0).uniform(-3, 3, (2, 5, 3, 4)).astype(np.float32)
    assert "Softmax" in agree_with_onnxruntime(q, x)


@pytest.mark.parametrize("dtype", ["u8", "i8"])
def test_tflite_numerics_run_softmax_with_tflite_kernel(dtype):
    g = parse(SOFTMAX, "random")
    q = quantize_graph(g, calibrate(g), dtype, numerics="tflite")
    softmaxes = [n for n in q.nodes if n.op == "Softmax"]
    assert {n.output.type.quant for n in softmaxes} == {fixed_params(PRECISIONS[dtype])}
    assert fixed_params(PRECISIONS[dtype]).as_affine()[0][0] == 1 / 256
    assert not [n.describe() for n in q.nodes if "quantize" in n.meta]
    assert np.isfinite(run_graph(q, random_inputs(g, 0))[0]).all()


@pytest.mark.parametrize("dtype,per_channel", DTYPES)
@pytest.mark.parametrize("ctm,size", [("half_pixel", (10, 14)), ("align_corners", (9, 13)),
                                      ("asymmetric", (7, 11)), ("pytorch_half_pixel", (5, 6))])
def test_bilinear_resize_interpolates_the_integers(dtype, per_channel, ctm, size):
    """Bilinear Resize keeps its input's params and interpolates the integers (float64, one
    rounding); onnxruntime's (DQ, Resize, Q) gives the same integers up to rounding ties."""
    g = parse(f"""
graph g(%x: f32[1,3,5,7]) -> (%y) {{
  %w = const f32[3,3,1,1] elided
  %c = Conv(%x, %w)
  %y = Resize(%c) {{sizes=[1, 3, {size[0]}, {size[1]}], mode="linear",
                    coordinate_transformation_mode="{ctm}"}}
  return %y
}}
""", "random")
    q = quantize_graph(g, calibrate(g), dtype, per_channel)
    assert not [n.describe() for n in q.nodes if "quantize" in n.meta]
    for seed in range(2):
        x = np.random.default_rng(seed).uniform(-2, 2, (1, 3, 5, 7)).astype(np.float32)
        assert "Resize" in agree_with_onnxruntime(q, x)


LAYER_NORM = """
graph g(%x: f32[1,6,8]) -> (%y) {
  %eps = const f32[] dense<1e-05>
  %two = const f32[] dense<2.0>
  %m = ReduceMean(%x) {axes=[-1], keepdims=true}
  %c = Sub(%x, %m)
  %p = Pow(%c, %two)
  %v = ReduceMean(%p) {axes=[-1], keepdims=true}
  %e = Add(%v, %eps)
  %s = Sqrt(%e)
  %y = Div(%c, %s)
  return %y
}
"""


@pytest.mark.parametrize("dtype,per_channel", DTYPES)
@pytest.mark.parametrize("output_range", [None, (-1e10, 1e10)])
def test_a_computed_divisor_is_quantized_and_divided_exactly(dtype, per_channel, output_range):
    """LayerNorm decomposed as PP-OCRv4 has it: (x - mean) / sqrt(var + eps) quantizes, the
    quotient an exact integer division of the fixed-point numerator; an output range so wide
    that the shifted divisor leaves int64 takes the Python-int path. onnxruntime agrees node by
    node up to rounding ties."""
    g = parse(LAYER_NORM, "random")
    ranges = calibrate(g)
    if output_range:
        ranges["y"] = output_range
    q = quantize_graph(g, ranges, dtype, per_channel)
    assert not [n.describe() for n in q.nodes if "quantize" in n.meta]
    div = q.value("y").producer.inputs[0].producer
    assert div.op == "Div" and div.inputs[1].type.quant is not None
    for seed in range(3):
        x = np.random.default_rng(seed).normal(0.5, 2.0, (1, 6, 8)).astype(np.float32)
        assert "Div" in agree_with_onnxruntime(q, x)
