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


def _masked_attention_onnx(sentinel: float) -> bytes:
    """scores = q @ k^T + mask (0 on and below the diagonal, `sentinel` above: a causal mask as
    exporters write it, -inf or float32's lowest), softmax, @ v: one head, 6 tokens, 8 dims."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    mask = np.triu(np.full((6, 6), sentinel, np.float32), 1)
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, (8, 8)).astype(np.float32), n)
             for n in ("wq", "wk", "wv")] + [numpy_helper.from_array(mask, "mask")]
    nodes = [helper.make_node("MatMul", ["x", w], [o]) for w, o in
             (("wq", "q"), ("wk", "k"), ("wv", "v"))] + [
        helper.make_node("Transpose", ["k"], ["kt"], perm=[1, 0]),
        helper.make_node("MatMul", ["q", "kt"], ["s"]),
        helper.make_node("Add", ["s", "mask"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["p"], axis=-1),
        helper.make_node("MatMul", ["p", "v"], ["y"])]
    g = helper.make_graph(nodes, "attn", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                        [6, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6, 8])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("sentinel", [-np.inf, float(np.finfo(np.float32).min)])
def test_a_causal_masks_sentinel_keeps_the_masking_float(sentinel, tmp_path, caplog):
    """An attention mask's -inf (or float32's lowest) has no integer range: the Add holding the
    mask stays float (the sentinel constant), and so does the Softmax reading the masked scores
    (calibration saw them); the quantized model follows onnxruntime's float model. It used to
    fail with a raw ValueError (a NaN zero point), and saturating -inf to the scores' range gave
    masked keys weight (output cosine 0.95)."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) runs the float model")
    path = tmp_path / "attn.onnx"
    path.write_bytes(_masked_attention_onnx(sentinel))
    g = npucc.load(str(path))
    rng = np.random.default_rng(0)
    data = [rng.normal(0, 1, (6, 8)).astype(np.float32) for _ in range(9)]
    with caplog.at_level("WARNING", logger="npucc.quantization"):
        q = quantize_model(g, data[:8], dtype="i8", per_channel=True, progress=False)
    by_op = {n.op: n for n in q.graph.nodes}
    assert by_op["Add"].outputs[0].dtype.is_float and by_op["Add"].outputs[0].type.quant is None
    assert by_op["Softmax"].outputs[0].type.quant is None
    assert "stay float, as they compute or read values that held inf, NaN or values past 1e+30" \
        in caplog.text and "Softmax" in caplog.text
    assert any(n.op == "MatMul" and n.outputs[0].type.quant is not None for n in q.graph.nodes)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": data[8]})[0]
    got = run_graph(q.graph, [data[8]])[0]
    assert cosine(got, want) > 0.99
