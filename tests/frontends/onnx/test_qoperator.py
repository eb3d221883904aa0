"""Models in onnxruntime's QOperator format (`quantize_static(quant_format=QOperator)`, the
format of the ONNX model zoo's *-int8 models): QLinearConv plus the com.microsoft ops QLinearAdd,
QLinearMul, QLinearSigmoid, QLinearLeakyRelu, QLinearConcat, QLinearAveragePool,
QLinearGlobalAveragePool and QGemm, and a plain MaxPool and Flatten applied to uint8 tensors.
npucc imports them as their QDQ form; the reference interpreter, the simulator plan and a
compiled model give onnxruntime's outputs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

import npucc
from npucc.backends.simulator import compile_plan
from npucc.errors import UnsupportedError
from npucc.frontends.onnx import load
from npucc.numerics import run_graph

SHAPE = (1, 3, 12, 12)
MS_OPS = {"QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearConcat",
          "QLinearAveragePool", "QLinearGlobalAveragePool", "QGemm"}


def _float_model(path):
    rng = np.random.default_rng(0)

    def w(*s):
        return numpy_helper.from_array(rng.normal(0, 0.3, s).astype(np.float32))

    inits = [w(8, 3, 3, 3), w(8), w(8, 8, 3, 3), w(16, 5), w(5)]
    for t, name in zip(inits, ["W1", "B1", "W2", "G", "GB"]):
        t.name = name
    nodes = [helper.make_node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("LeakyRelu", ["c1"], ["l1"], alpha=0.1),
             helper.make_node("Conv", ["l1", "W2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["c2"], ["g2"]),
             helper.make_node("Mul", ["g2", "l1"], ["m"]),
             helper.make_node("Add", ["m", "c1"], ["a"]),
             helper.make_node("Concat", ["a", "l1"], ["cat"], axis=1),
             helper.make_node("AveragePool", ["cat"], ["ap"], kernel_shape=[3, 3],
                              strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1),
             helper.make_node("MaxPool", ["ap"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["mp"], ["gap"]),
             helper.make_node("Flatten", ["gap"], ["f"]),
             helper.make_node("Gemm", ["f", "G", "GB"], ["y"])]
    graph = helper.make_graph(nodes, "qop", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                           SHAPE)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


class _Images(CalibrationDataReader):
    def __init__(self):
        rng = np.random.default_rng(1)
        self.batches = iter([{"x": rng.uniform(-1, 1, SHAPE).astype(np.float32)}
                             for _ in range(8)])

    def get_next(self):
        return next(self.batches, None)


@pytest.fixture(scope="module", params=[QuantType.QUInt8, QuantType.QInt8], ids=["u8w", "i8w"])
def qoperator_model(tmp_path_factory, request):
    d = tmp_path_factory.mktemp("qop")
    _float_model(d / "float.onnx")
    quantize_static(str(d / "float.onnx"), str(d / "qop.onnx"), _Images(),
                    quant_format=QuantFormat.QOperator, activation_type=QuantType.QUInt8,
                    weight_type=request.param)
    return d / "qop.onnx"


def test_the_model_holds_the_contrib_ops(qoperator_model):
    ops = {(n.domain, n.op_type) for n in onnx.load(qoperator_model).graph.node}
    assert {("com.microsoft", op) for op in MS_OPS} | {("", "QLinearConv")} <= ops


def test_qoperator_model_matches_onnxruntime(qoperator_model):
    g = load(qoperator_model)
    plan, compiled = compile_plan(g), npucc.compile(str(qoperator_model))
    session = ort.InferenceSession(str(qoperator_model), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = rng.uniform(-1, 1, SHAPE).astype(np.float32)
        (want,) = session.run(None, {"x": x})
        got = compiled.run([x])
        got = got[0] if isinstance(got, (list, tuple)) else next(iter(got.values()))
        for y in (run_graph(g, [x])[0], plan.run([x])[0], got):
            np.testing.assert_array_equal(y, want)


def test_data_movement_on_a_quantized_tensor_keeps_its_params(qoperator_model):
    moves = [n for n in load(qoperator_model).nodes if n.op in ("Flatten", "MaxPool")]
    assert len(moves) == 2
    for node in moves:
        assert node.inputs[0].type.quant is not None
        assert node.outputs[0].type.quant == node.inputs[0].type.quant


def test_an_unknown_contrib_op_is_named_with_its_domain(tmp_path):
    node = helper.make_node("QLinearWhatever", ["x"], ["y"], domain="com.microsoft")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8,
                                                                          [2])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("com.microsoft", 1)])
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(UnsupportedError, match=r"m\.onnx.*op com\.microsoft\.QLinearWhatever is "
                                               "not supported"):
        load(tmp_path / "m.onnx")


@pytest.mark.parametrize("case", ["conv", "conv runtime weights", "matmul per-column zp",
                                  "batched matmul", "matmul runtime weights"])
def test_integer_ops_with_sums_past_float32_are_exact(case):
    """ConvInteger / MatMulInteger whose sums pass 2**24 (deep reductions of large 8-bit
    values, as in dynamically quantized transformers) give onnxruntime's int32 results exactly:
    one float32 op would round them (the bug: off by up to 6); npucc cuts the reduction into
    exact float32 parts added in int32."""
    from tests.ir.ops.onnx_oracle import run_model, single_node_model

    rng = np.random.default_rng(1)
    runtime_w = "runtime" in case
    if case.startswith("conv"):
        x = rng.integers(200, 256, (1, 512, 5, 5)).astype(np.uint8)
        w = rng.integers(100, 128, (4, 512, 3, 3)).astype(np.int8)
        w_zp = np.array(2, np.int8)  # (onnxruntime: per tensor)
        op, inputs, attrs = "ConvInteger", [x, w, np.array(7, np.uint8), w_zp], {"pads": [1] * 4}
    else:
        k = 3000
        a = rng.integers(200, 256, (2, 3, k)).astype(np.uint8)
        b_shape = (2, k, 5) if "batched" in case else (k, 5)
        b = rng.integers(-128, -100, b_shape).astype(np.int8)
        b_zp = (rng.integers(-2, 3, 5).astype(np.int8) if "per-column" in case
                else np.array(1, np.int8))
        op, inputs, attrs = "MatMulInteger", [a, b, np.array(3, np.uint8), b_zp], {}
    const = {2, 3} if runtime_w else {1, 2, 3}
    model = single_node_model(op, inputs, attrs, (np.int32,), initializers=const, opset=10)
    feeds = {f"in{i}": v for i, v in enumerate(inputs) if i not in const}
    (want,) = run_model(model, feeds)
    assert np.abs(want.astype(np.float64)).max() > 2 ** 24  # past float32's exact integers
    g = load(model)
    for got in (run_graph(g, list(feeds.values()))[0],
                compile_plan(g).run(list(feeds.values()))[0]):
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)


def test_an_integer_op_needing_too_many_exact_parts_is_refused_before_building():
    """A MatMulInteger whose declared reduction (2**26 channels of run-time weights) would need
    millions of exact float32 parts: an error naming the node, not millions of nodes."""
    g = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"], name="deep")], "h",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, 1 << 26]),
         helper.make_tensor_value_info("b", TensorProto.INT8, [1 << 26, 5])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 5])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(UnsupportedError, match="'deep'.*over 1024 parts"):
        load(model)
