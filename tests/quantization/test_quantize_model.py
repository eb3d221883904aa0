"""quantize_model: calibrate + select + quantize in one call. The quantized graph's outputs agree
with onnxruntime running the float model on held-out inputs; fp16 needs no dataset; a missing
dataset is an error naming the model."""

import numpy as np
import pytest

import npucc
from npucc.numerics import run_graph
from npucc.passes import default_pipeline, run_passes
from npucc.quantization import CalibrationError, calibrate, quantize_model


def inputs(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 3, (1, 3, 32, 32)).astype(np.float32) for _ in range(n)]


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def float_graph(small_onnx):
    g = npucc.load(small_onnx)
    run_passes(g, default_pipeline())
    return g


@pytest.mark.parametrize("dtype, algorithm, per_channel", [
    ("u8", "normal", False), ("asymmetric_quantized-8", "mmse", True),
    ("dynamic_fixed_point-i16", "normal", False), ("fp16", "normal", False)])
def test_quantized_outputs_follow_onnxruntimes_float_outputs(small_onnx, float_graph, dtype,
                                                             algorithm, per_channel):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) runs the float model")
    sess = ort.InferenceSession(small_onnx, providers=["CPUExecutionProvider"])
    q = quantize_model(float_graph, inputs(16, seed=0), dtype=dtype, algorithm=algorithm,
                       per_channel=per_channel, progress=False)
    assert q.float_graph is float_graph and q.graph is not float_graph
    held_out = inputs(8, seed=1)
    for x in held_out:
        want = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        got = run_graph(q.graph, [x])[0]
        assert cosine(got, want) > (0.999 if dtype in ("fp16", "dynamic_fixed_point-i16")
                                    else 0.98)


def test_statistics_from_an_earlier_calibration_need_no_dataset(float_graph):
    stats = calibrate(float_graph, inputs(4, seed=0), progress=False)
    a = quantize_model(float_graph, stats=stats, dtype="u8")
    b = quantize_model(float_graph, inputs(4, seed=0), dtype="u8", progress=False)
    assert a.ranges == b.ranges


def test_a_missing_dataset_names_the_model(float_graph):
    with pytest.raises(CalibrationError, match=f"quantizing {float_graph.name} to u8 needs"):
        quantize_model(float_graph, dtype="u8")
