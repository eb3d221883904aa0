"""A transformer-ish block (attention scores, Softmax, residual, LayerNorm, a 600-wide ReLU MLP)
quantized by onnxruntime's `quantize_dynamic` and saved optimized by onnxruntime
(ORT_ENABLE_EXTENDED), which fuses it into com.microsoft DynamicQuantizeMatMul,
MatMulIntegerToFloat (fed by DynamicQuantizeLinear), FusedMatMul and SkipLayerNormalization:
npucc loads the optimized file and gives onnxruntime's outputs."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from npucc.frontends.onnx import load
from npucc.ir.types import DType
from npucc.numerics import run_graph

S, H, F = 6, 64, 600  # K = 600 in the second MLP MatMul: its integer sums pass 2**24


def _float_model(path):
    rng = np.random.default_rng(0)

    def w(name, *shape):
        t = numpy_helper.from_array(rng.normal(0, 0.2, shape).astype(np.float32))
        t.name = name
        return t

    inits = [w("Wq", H, H), w("Wk", H, H), w("G", H), w("Bt", H), w("W1", H, F), w("B1", F),
             w("W2", F, H), w("B2", H)]
    node = helper.make_node
    nodes = [node("MatMul", ["x", "Wq"], ["q"]), node("MatMul", ["x", "Wk"], ["k"]),
             node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
             node("MatMul", ["q", "kt"], ["s"]), node("Softmax", ["s"], ["p"], axis=-1),
             node("MatMul", ["p", "x"], ["att"]), node("Add", ["att", "x"], ["r"]),
             node("LayerNormalization", ["r", "G", "Bt"], ["ln"], axis=-1),
             node("MatMul", ["ln", "W1"], ["h"]), node("Add", ["h", "B1"], ["hb"]),
             node("Relu", ["hb"], ["hr"]), node("MatMul", ["hr", "W2"], ["o"]),
             node("Add", ["o", "B2"], ["ob"]), node("Add", ["ob", "ln"], ["y"])]
    graph = helper.make_graph(
        nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, S, H])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, S, H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


@pytest.mark.parametrize("weight_type", [QuantType.QInt8, QuantType.QUInt8])
@pytest.mark.parametrize("per_channel", [False, True])
def test_dynamic_quantized_model_optimized_by_onnxruntime_matches_it(tmp_path, weight_type,
                                                                      per_channel):
    _float_model(tmp_path / "float.onnx")
    quantize_dynamic(tmp_path / "float.onnx", tmp_path / "quant.onnx", weight_type=weight_type,
                     per_channel=per_channel)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp_path / "opt.onnx")
    ort.InferenceSession(str(tmp_path / "quant.onnx"), opts, providers=["CPUExecutionProvider"])
    ops = collections.Counter(n.op_type for n in onnx.load(tmp_path / "opt.onnx").graph.node)
    assert ops["DynamicQuantizeMatMul"] and ops["MatMulIntegerToFloat"], ops

    x = np.random.default_rng(1).normal(0, 1, (2, S, H)).astype(np.float32)
    run = ort.SessionOptions()
    run.intra_op_num_threads = 1
    run.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    (theirs,) = ort.InferenceSession(str(tmp_path / "opt.onnx"), run,
                                     providers=["CPUExecutionProvider"]).run(None, {"x": x})
    graph = load(tmp_path / "opt.onnx")
    assert any(n.op == "Cast" and n.attrs["to"] == DType.i32 for n in graph.nodes)  # split K
    (ours,) = run_graph(graph, {"x": x})
    # The quantized products agree exactly; the float ops between them (Softmax,
    # SkipLayerNormalization, FusedMatMul) to float rounding (seen <= 1.2e-6 on outputs up to
    # 5.5), which on this fixed data moves no activation across a quantization step (one step
    # would cost ~1e-2; the quantization error itself is 0.2-0.33 against the float model).
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
