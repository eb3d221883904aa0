"""kl_divergence on values away from zero (a squeeze-excitation gate: Conv -> HardSigmoid ->
Mul): TensorRT's unrestricted KL search picks the window that folds every value into its last
bin (KL ~ 0), clipping the gate to its minimum; npucc's selector only takes windows that clip at
most 1 % of the calibration values. Checked against onnxruntime running the float model."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import npucc
from npucc.numerics import run_graph
from npucc.passes import default_pipeline, run_passes
from npucc.quantization import calibrate, quantize_model, select_ranges


def gate_model() -> bytes:
    """y = x * hardsigmoid(conv1x1(x)), the gate in about [0.3, 0.8] for x in [0, 2]"""
    rng = np.random.default_rng(0)
    w = rng.uniform(0.05, 0.3, (4, 4, 1, 1)).astype(np.float32)
    b = np.full(4, -1.0, np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"]),
             helper.make_node("HardSigmoid", ["c"], ["g"], alpha=0.2, beta=0.5),
             helper.make_node("Mul", ["x", "g"], ["y"])]
    graph = helper.make_graph(
        nodes, "gate", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def inputs(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 2, (1, 4, 8, 8)).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("dtype", ["u8", "i8"])
def test_kl_keeps_a_gate_away_from_zero(tmp_path, dtype):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) runs the float model")
    path = tmp_path / "gate.onnx"
    path.write_bytes(gate_model())
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    graph = npucc.load(str(path))
    run_passes(graph, default_pipeline())
    cal, held_out = inputs(16, 0), inputs(16, 1)
    stats = calibrate(graph, cal, progress=False)
    gate = next(n.output.name for n in graph.nodes if n.op == "HardSigmoid")
    g = np.concatenate([v.ravel() for v in _values(graph, cal, gate)])
    assert g.min() > 0.05  # the gate really lies away from zero
    trt = select_ranges(stats, "kl_divergence", dtype, max_clipped=None)[gate]
    ours = select_ranges(stats, "kl_divergence", dtype)[gate]
    assert np.mean(g > trt[1]) > 0.9  # TensorRT's search: the degenerate window
    assert np.mean(g > ours[1]) <= 0.01
    q = quantize_model(graph, dtype=dtype, per_channel=dtype == "i8", algorithm="kl_divergence",
                       stats=stats, progress=False)
    for x in held_out:
        want = sess.run(None, {"x": x})[0]
        got = run_graph(q.graph, [x])[0]
        cos = float(got.ravel() @ want.ravel() / np.linalg.norm(got) / np.linalg.norm(want))
        assert cos > 0.999
        assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


def _values(graph, xs, name):
    seen = []
    for x in xs:
        run_graph(graph, [x], hook=lambda node, outs: seen.append(outs[0])
                  if node.output.name == name else None)
    return seen


def test_the_model_is_valid_onnx():
    onnx.checker.check_model(onnx.load_from_string(gate_model()))
