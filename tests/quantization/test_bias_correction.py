"""Empirical bias correction: on held-out inputs, the per-channel mean error of the quantized
model against onnxruntime running the float model shrinks; the float graph is untouched and only
integer biases change."""

import numpy as np
import pytest

import npucc
from npucc.numerics import run_graph
from npucc.passes import default_pipeline, run_passes
from npucc.quantization import calibrate, quantize_model
from npucc.quantization.bias_correction import correct_bias


def inputs(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 3, (1, 3, 32, 32)).astype(np.float32) for _ in range(n)]


@pytest.fixture(scope="module")
def float_graph(small_onnx):
    g = npucc.load(small_onnx)
    run_passes(g, default_pipeline())
    return g


def mean_error_per_channel(graph, sess, xs):
    """|E[y_quantized - y_onnxruntime]| per output channel"""
    d = [run_graph(graph, [x])[0] - sess.run(None, {sess.get_inputs()[0].name: x})[0]
         for x in xs]
    return np.abs(np.mean(d, axis=(0, 1)))


@pytest.mark.parametrize("dtype, per_channel", [("u8", False), ("dfp8", False), ("i8", True)])
def test_bias_correction_reduces_the_mean_error_against_onnxruntime(small_onnx, float_graph,
                                                                    dtype, per_channel):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) runs the float model")
    sess = ort.InferenceSession(small_onnx, providers=["CPUExecutionProvider"])
    cal, held_out = inputs(24, seed=0), inputs(24, seed=1)
    q = quantize_model(float_graph, cal, dtype=dtype, per_channel=per_channel, progress=False,
                       bias_correction=False)
    corrected = correct_bias(q, cal)
    before = mean_error_per_channel(q.graph, sess, held_out)
    after = mean_error_per_channel(corrected.graph, sess, held_out)
    assert after.mean() < before.mean()
    assert corrected.options["bias_correction"] and corrected.float_graph is q.float_graph


def test_only_integer_biases_change(float_graph):
    cal = inputs(8, seed=0)
    q = quantize_model(float_graph, cal, dtype="u8", progress=False, bias_correction=False)
    corrected = correct_bias(q, cal)
    old = {n.output.name: n for n in q.graph.nodes}
    changed = 0
    for n in corrected.graph.nodes:
        o = old[n.output.name]
        assert (n.op, n.attrs, [v.type for v in n.inputs]) == (o.op, o.attrs,
                                                               [v.type for v in o.inputs])
        for i, (a, b) in enumerate(zip(n.inputs, o.inputs)):
            if a.is_constant and not np.array_equal(a.const, b.const):
                assert i == 2 and np.issubdtype(a.const.dtype, np.integer)
                changed += 1
    assert changed > 0


def test_quantize_model_keywords(small_onnx, float_graph):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) runs the float model")
    sess = ort.InferenceSession(small_onnx, providers=["CPUExecutionProvider"])
    cal = inputs(8, seed=0)
    q = quantize_model(float_graph, cal, dtype="u8", equalize=True, bias_correction=True,
                       progress=False)
    assert q.options["equalize"] and q.options["bias_correction"]
    for x in inputs(2, seed=1):  # the equalized float graph computes what onnxruntime does
        want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        np.testing.assert_allclose(run_graph(q.float_graph, [x])[0], want, rtol=1e-3,
                                   atol=1e-4 * float(np.abs(want).max()))
    with pytest.raises(ValueError, match="calibrate again"):
        quantize_model(float_graph, stats=q.stats, dtype="u8", equalize=True)


def test_defaults_follow_the_benchmark(float_graph):
    """bias correction and equalization are opt-in (benchmarks/README.md: bias correction helps
    EfficientNet-Lite0 and hurts PP-OCRv4 det); asked for, bias correction runs"""
    cal = inputs(4, seed=0)
    plain = quantize_model(float_graph, cal, dtype="u8", progress=False)
    assert not plain.options["bias_correction"] and not plain.options["equalize"]
    asked = quantize_model(float_graph, cal, dtype="u8", progress=False, bias_correction=True)
    assert asked.options["bias_correction"]
    stats_only = quantize_model(float_graph, stats=calibrate(float_graph, cal, progress=False))
    assert not stats_only.options["bias_correction"] and not stats_only.options["equalize"]
