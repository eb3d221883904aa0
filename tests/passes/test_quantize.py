"""The quantize passes: parameters from ranges, which nodes quantize, conversions, hybrid graphs,
and check_pass over drawn graphs with a tolerance derived from the scales."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from npucc.errors import PassError
from npucc.ir import DType, QuantParams, QuantScheme
from npucc.ir.text import format_graph, graphs_equal, parse
from npucc.numerics import profile_of, run_graph
from npucc.passes import Pipeline
from npucc.passes.quantize import Quantize, quantize_graph
from npucc.testing import check_pass, random_inputs
from npucc.testing.quantized_strategies import calibrate, quantization_cases

CNN_OPS = ["Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Relu", "Clip", "LeakyRelu", "Sigmoid",
           "Tanh", "HardSwish", "MaxPool", "AveragePool", "GlobalAveragePool", "Concat",
           "Reshape", "Transpose", "Flatten", "Slice", "Pad", "Resize", "ReduceMean", "Split",
           "PRelu"]

CONV_GRAPH = """
graph g(%x: f32[1,3,8,8]) -> (%y) {
  %w = const f32[4,3,3,3] elided
  %b = const f32[4] elided
  %w2 = const f32[2,4,1,1] elided
  %c = Conv(%x, %w, %b) {pads=[1, 1, 1, 1], activation="clip",
                         activation_params=[0.0, 6.0]} loc("conv1")
  %s = LogSoftmax(%c) {axis=1} loc("softmax")
  %y = Conv(%s, %w2) loc("conv2")
  return %y
}
"""


def _graph():
    return parse(CONV_GRAPH, "random")


def _ranges(g):
    return calibrate(g)


def _node(g, output):
    return g.value(output).producer


def test_relu6_clips_the_range_and_weights_follow_the_dtype():
    g = _graph()
    ranges = {**_ranges(g), "c": (-1.0, 10.0)}  # wider than the fused ReLU6 allows
    q = quantize_graph(g, ranges, dtype="u8")
    conv = _node(q, "c")
    assert conv.output.type.quant == QuantParams.affine(np.float32(6 / 255), 0)
    x, w, b = conv.inputs
    assert w.dtype is DType.u8 and w.type.quant.axis is None and not w.type.quant.narrow
    assert b.dtype is DType.i32 and b.type.quant.scale[0] == pytest.approx(
        x.type.quant.scale[0] * w.type.quant.scale[0])
    qi = quantize_graph(g, ranges, dtype="i8", per_channel=True)
    wq = _node(qi, "c").inputs[1].type.quant
    assert wq.axis == 0 and wq.narrow_range and len(wq.scale) == 4
    w_float = g.value("w").const.reshape(4, -1)
    np.testing.assert_allclose(wq.scale, np.abs(w_float).max(axis=1) / 127, rtol=1e-6)
    assert qi.numerics == "affine" and "numerics=affine" in format_graph(qi)


def test_dfp_frac_lengths_and_bias_width():
    g = _graph()
    for dtype, bias in (("dfp8", DType.i32), ("dfp16", DType.i64)):
        q = quantize_graph(g, _ranges(g), dtype=dtype)
        x, w, b = _node(q, "c").inputs
        bits = 8 if dtype == "dfp8" else 16
        max_w = float(np.abs(g.value("w").const).max())
        assert w.type.quant == QuantParams.dfp(bits - 1 - int(np.ceil(np.log2(max_w))),
                                               bits=bits)
        assert b.dtype is bias and b.type.quant.frac_length == \
            x.type.quant.frac_length + w.type.quant.frac_length
        assert profile_of(_node(q, "c")) == "dfp"


def test_float_only_ops_sit_between_dequantize_and_quantize():
    g = _graph()
    q = quantize_graph(g, _ranges(g), dtype="u8")
    softmax = _node(q, "s")
    assert softmax.inputs[0].producer.op == "DequantizeLinear"
    assert softmax.meta["quantize"] == "kept float: LogSoftmax has no quantization rule"
    assert [u.node.op for u in softmax.output.uses] == ["QuantizeLinear"]
    assert q.inputs[0].type == g.inputs[0].type and [v.name for v in q.outputs] == ["y"]
    assert q.outputs[0].producer.op == "DequantizeLinear"
    assert graphs_equal(parse(format_graph(q, max_inline=None)), q)


def test_fp16_keeps_ops_that_take_no_float16_in_float32():
    """RoiAlign and GridSample compute in float32 only: an fp16 graph casts their input back
    (the property tests drew this and the op refused the f16 input), and the result equals
    the float graph's on those ops' own float32 inputs."""
    from npucc.ir import Graph, TensorType
    from npucc.ir import run_graph as float_run

    g = Graph("g")
    x = g.add_input("x", TensorType((1, 1, 4, 4), "f32"))
    r = g.op("Relu", x)
    rois = g.add_constant(np.array([[0, 0, 3, 3]], np.float32), "rois")
    y = g.op("RoiAlign", r, rois, g.add_constant(np.array([0], np.int64), "bi"),
             output_height=2, output_width=2)
    s = g.op("GridSample", r, g.add_constant(np.full((1, 2, 2, 2), 0.3, np.float32), "grid"))
    g.set_outputs([y, s])
    q = quantize_graph(g, {}, dtype="fp16")
    for op in ("RoiAlign", "GridSample"):
        (node,) = [n for n in q.nodes if n.op == op]
        assert node.meta["quantize"] == f"kept float: {op} takes no float16 tensors"
        assert node.inputs[0].dtype is DType.f32 and node.inputs[0].producer.op == "Cast"
    x = np.random.default_rng(0).uniform(-1, 1, (1, 1, 4, 4)).astype(np.float32)
    relu16 = np.maximum(x.astype(np.float16), 0).astype(np.float32)  # what the casts carry
    for got, want in zip(run_graph(q, [x]), float_run(g, [relu16])):
        np.testing.assert_array_equal(got, want)


def test_missing_range_is_named():
    g = _graph()
    ranges = _ranges(g)
    del ranges["c"]
    with pytest.raises(PassError, match="no range for %c"):
        quantize_graph(g, ranges, dtype="u8")


@pytest.mark.parametrize("bad", [(-1.0, np.inf), (0.0, np.nan)])
def test_a_range_that_is_not_finite_is_named(bad):
    """(it reached the zero point's int() as a raw ValueError)"""
    g = _graph()
    with pytest.raises(PassError, match=r"the range of %x is \[.*\], not finite"):
        quantize_graph(g, {**_ranges(g), "x": bad}, dtype="u8")


def test_explicit_params_are_used_as_given():
    g = _graph()
    given_params = QuantParams.affine(0.05, 3)
    q = quantize_graph(g, {**_ranges(g), "c": given_params}, dtype="u8")
    assert _node(q, "c").output.type.quant == given_params


def test_hybrid_layers_are_joined_by_explicit_conversions():
    g = _graph()
    q = quantize_graph(g, _ranges(g), dtype="u8",
                       layer_dtypes={"conv1": "dfp16", "softmax": "fp16", "y": "i8"})
    assert _node(q, "c").output.type.quant.scheme is QuantScheme.dfp
    assert _node(q, "s").output.dtype is DType.f16
    ops = [n.op for n in q.nodes]
    assert ops.count("Cast") == 1 and "QuantizeLinear" in ops  # i16 -> f32 -> f16 -> i8
    conv2 = _node(q, "y_i8")
    assert conv2.inputs[0].producer.op == "QuantizeLinear" and conv2.inputs[0].dtype is DType.i8
    with pytest.raises(PassError, match="names no node.*'conv9'"):
        quantize_graph(g, _ranges(g), layer_dtypes={"conv9": "u8"})
    kept = quantize_graph(g, _ranges(g), dtype="u8", layer_dtypes={"conv2": "f32"})
    assert _node(kept, "y").output.dtype is DType.f32 and _node(kept, "y").op == "Conv"


def test_fp16_needs_no_ranges_and_rounds_every_output():
    g = _graph()
    q = quantize_graph(g, None, dtype="fp16")
    assert all(c.dtype is not DType.f32 for c in q.constants)
    assert {profile_of(n) for n in q.nodes if n.op == "Conv"} == {"fp16"}
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    want = run_graph(g, [x])[0]
    got = run_graph(q, [x])[0]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=3e-3 * np.abs(want).max())


def test_pipeline_option_reads_a_range_file(tmp_path):
    g = _graph()
    path = tmp_path / "ranges.json"
    path.write_text(json.dumps({k: list(v) for k, v in _ranges(g).items()}))
    p = Pipeline.parse(f"quantize{{dtype=i8,per-channel=true,ranges={path}}}")
    assert isinstance(p.passes[0], Quantize)
    p.passes[0](g)
    assert _node(g, "c").output.dtype is DType.i8
    layers = tmp_path / "layers.json"
    layers.write_text('{"conv2": "dfp16"}')
    g2 = _graph()
    Quantize(dtype="u8", ranges=str(path), layer_dtypes=str(layers))(g2)
    assert _node(g2, "y_dfp16").output.dtype is DType.i16
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": [1]}')
    with pytest.raises(PassError, match="range of 'x' must be"):
        Quantize(ranges=str(bad))(_graph())


def _tolerance(case) -> float:
    """Each quantized value adds at most half a step and propagates; the sum of the steps of
    every quantized activation bounds the error of these shallow graphs (float16: 2**-10 per
    node, relative to the output's magnitude, added by the caller)."""
    q = case.quantized
    return 2.0 * sum(float(np.max(v.type.quant.real_scale())) for v in q.values()
                     if v.type.quant is not None and not v.is_constant)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(quantization_cases(ops=CNN_OPS))
def test_check_pass_on_drawn_graphs_within_the_scales(case):
    if case.dtype == "fp16":
        scale = max(float(np.max(np.abs(a), initial=1.0))
                    for a in run_graph(case.graph, random_inputs(case.graph, 0)))
        atol = 2.0 * len(case.graph) * 2.0 ** -10 * scale
    else:
        atol = _tolerance(case)
    with tempfile.TemporaryDirectory() as tmp:  # the pass reads its ranges from a file
        ranges = Path(tmp) / "ranges.json"
        ranges.write_text(json.dumps({k: list(v) for k, v in case.ranges.items()}))
        quantize = Quantize(dtype=case.dtype, per_channel=case.per_channel, ranges=str(ranges))
        report = check_pass(quantize, case.graph, atol=atol, rtol=0.0)
    assert report.changed


def test_a_fused_node_may_be_named_by_each_of_its_source_layers():
    """A hybrid config listing every source layer names a fused Conv+Relu twice: both names are
    used, and names that disagree are an error naming the node and both layers."""
    g = _graph()
    conv = _node(g, "c")
    conv.provenance = frozenset({*conv.provenance, "relu1"})
    both = quantize_graph(g, _ranges(g), dtype="u8",
                          layer_dtypes={**{p: "dfp16" for p in conv.provenance}})
    assert _node(both, "c").output.type.quant.scheme is QuantScheme.dfp
    names = sorted(conv.provenance)
    with pytest.raises(PassError, match="different dtypes through the layers fused into it"):
        quantize_graph(g, _ranges(g), dtype="u8", layer_dtypes={names[0]: "dfp16",
                                                                names[1]: "u8"})


NHWC_GRAPH = """
graph nhwc(%x: f32[1,6,6,3]) -> (%y) {
  %w = const f32[4,3,3,3] elided
  %t = Transpose(%x) {perm=[0, 3, 1, 2]} loc("to_nchw")
  %y = Conv(%t, %w) {pads=[1, 1, 1, 1], activation="relu"} loc("conv")
  return %y
}
"""


@pytest.mark.parametrize("dtype", ["u8", "dfp8"])
def test_a_layout_op_on_the_input_is_quantized_with_it(dtype):
    """The input is quantized where it enters (before the layout Transpose, so the transpose
    runs on integers on the NPU, not in float on the CPU); onnxruntime running the QDQ export
    of the quantized graph computes the same integers."""
    import onnxruntime as ort

    from npucc.exporters.onnx_qdq import to_onnx

    g = parse(NHWC_GRAPH, "random")
    q = quantize_graph(g, calibrate(g), dtype=dtype)
    quant = q.inputs[0].uses[0].node
    assert quant.op == "QuantizeLinear" and len(q.inputs[0].uses) == 1
    transpose = quant.output.uses[0].node
    assert transpose.op == "Transpose" and transpose.output.type.quant is not None
    x = np.random.default_rng(0).uniform(-1, 1, (1, 6, 6, 3)).astype(np.float32)
    theirs = ort.InferenceSession(to_onnx(q).SerializeToString(),
                                  providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    ours = run_graph(q, [x])[0]
    scale = q.outputs[0].producer.inputs[0].type.quant.as_affine()[0][0]
    assert np.abs(ours - theirs).max() <= (0 if dtype == "dfp8" else 1.01 * scale)


ADD_RELU6_GRAPH = """
graph g(%x: f32[1,4,16,16], %z: f32[1,4,16,16]) -> (%y%s) {
  %a = Add(%x, %z) loc("add")
  %r = Clip(%a) {min=0.0, max=6.0} loc("relu6")
  %y = MaxPool(%r) {kernel_shape=[2, 2], strides=[2, 2]} loc("pool")
  return %y%s
}
"""


def _observed(g, inputs):
    """{value: (min, max)} of every float value of `g` on `inputs` (the float reference)."""
    from npucc.ir import run_graph as run_float

    h = g.copy()
    names = [v.name for v in h.values() if not v.is_constant]
    h.set_outputs([h.value(n) for n in names])
    return {n: (float(a.min()), float(a.max())) for n, a in zip(names, run_float(h, inputs))}


@pytest.mark.parametrize("dtype", ["u8", "i8", "dfp8"])
def test_a_value_read_only_by_a_clamp_is_quantized_over_the_clamped_range(dtype):
    """An Add whose only reader is a ReLU6 (TFLite's ADD with a fused RELU6, PP-OCR's
    Add -> Clip of a hard swish) gets params for [0, 6], as a fused activation would: its
    requantization saturates, which is the clamp. It used to keep the Add's whole range, so
    [0, 6] had a few integers (PP-OCRv4 det u8 cos 0.83 -> 0.94; MediaPipe BlazePose's world
    landmark head, fed by such a ReLU6 with the Add's range [-99, 29], single-mode cos 0.33).
    The quantized graph stays within one output step of the float graph."""
    from npucc.ir import run_graph as run_float
    from npucc.quantization.analysis import accuracy_analysis

    g = parse(ADD_RELU6_GRAPH.replace("%s", ""), "random")
    rng = np.random.default_rng(0)
    x, z = (rng.uniform(-30, 6, (1, 4, 16, 16)).astype(np.float32) for _ in range(2))
    ranges = _observed(g, [x, z])
    assert ranges["a"][0] < -50 and 10 < ranges["a"][1]  # the Add reaches well past [0, 6]
    q = quantize_graph(g, ranges, dtype=dtype)
    step = q.value("r").type.quant.as_affine()[0][0]
    assert step <= 1.0001 * (6 / 255 if dtype != "dfp8" else 8 / 128)  # [0, 6] (dfp: +-8)
    assert q.value("a").type.quant == q.value("r").type.quant
    assert (q.value("a").meta["clamp_min"], q.value("a").meta["clamp_max"]) == (0.0, 6.0)
    want = run_float(g, [x, z])[0]
    got = run_graph(q, [x, z])[0]
    assert 0.5 < np.mean(want == 0) < 0.99 and np.max(want) == 6  # both sides of the clamp
    # the inputs' rounding and the output's: with the Add's range [-60, 12] instead of the
    # output's [0, 6] the last term was 72 / 255 / 2 and this failed
    steps = [q.value(f"{v}_{dtype}").type.quant.as_affine()[0][0] for v in "xz"] + [step]
    assert np.abs(got - want).max() <= 1.001 * sum(steps) / 2
    # the analysis compares the Add with what its reader sees: both clamped
    report = accuracy_analysis(g, q, [[x, z]], mode="single", progress=False)
    assert next(r for r in report.layers if r.name == "a").cosine > 0.999

    # a value with another reader (here a graph output) keeps its whole range
    g2 = parse(ADD_RELU6_GRAPH.replace("%s", ", %a"), "random")
    q2 = quantize_graph(g2, _observed(g2, [x, z]), dtype=dtype)
    a2 = q2.value(f"a_{dtype}")  # the graph output "a" is its float copy
    assert a2.type.quant.as_affine()[0][0] > 60 / 256 and "clamp_min" not in a2.meta
