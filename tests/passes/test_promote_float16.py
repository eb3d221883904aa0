"""promote-float16 on a half-precision ONNX export (torch .half()): no float16 value is left,
names are kept, and the float32 graph computes what onnxruntime computes on the float16 model
within float16's rounding; a Cast to float16 becomes a Cast to float32."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import npucc
from npucc.ir import run_graph
from npucc.ir.types import DType
from npucc.passes import run_passes
from npucc.passes.promote_float16 import PromoteFloat16

ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the oracle")


@pytest.fixture(scope="module")
def half_model(tmp_path_factory):
    torch = pytest.importorskip("torch", reason="torch (test extra) makes the test model")
    nn = torch.nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, groups=8),
                      nn.Hardswish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.Linear(8, 5)).eval().half()
    path = tmp_path_factory.mktemp("half") / "half.onnx"
    torch.onnx.export(m, torch.zeros(1, 3, 16, 16, dtype=torch.half), path, input_names=["x"],
                      dynamo=False)
    return path


def f16_values(graph):
    return [v.name for v in graph.values() if v.dtype is DType.f16]


def test_a_half_precision_export_computes_in_float32(half_model):
    graph = npucc.load(str(half_model))
    names = sorted(v.name for v in graph.values())
    assert f16_values(graph)
    report = run_passes(graph, [PromoteFloat16()])
    assert report.changed and not f16_values(graph)
    assert sorted(v.name for v in graph.values()) == names
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 16, 16)).astype(np.float16)
    want = ort.InferenceSession(str(half_model), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    (got,) = run_graph(graph, [x.astype(np.float32)])
    assert got.dtype == np.float32
    # onnxruntime rounds every op's output to float16; float32 does not
    np.testing.assert_allclose(got, want.astype(np.float32), rtol=0, atol=4e-3)
    assert not run_passes(graph, [PromoteFloat16()]).changed  # nothing left to promote


def test_cast_to_float16_becomes_cast_to_float32(tmp_path):
    g = helper.make_graph([helper.make_node("Cast", ["x"], ["h"], to=TensorProto.FLOAT16),
                           helper.make_node("Relu", ["h"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [4])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "cast.onnx")
    graph = npucc.load(str(tmp_path / "cast.onnx"))
    run_passes(graph, [PromoteFloat16()])
    cast = next(n for n in graph.nodes if n.op == "Cast")
    assert cast.attrs["to"] is DType.f32 and not f16_values(graph)
    x = np.array([-1.0, 0.1, 2.5, 70000.0], np.float32)
    # float32 keeps what float16 would round (0.1) or overflow (70000 -> inf)
    np.testing.assert_array_equal(run_graph(graph, [x])[0], np.maximum(x, 0))
