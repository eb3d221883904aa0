"""Real architectures (random weights) exported by torch.onnx at opset 17, imported by npucc and
run by the reference interpreter, against onnxruntime and torch on the same input.

Metric: max |npucc - reference| / max |reference| <= 1e-4.
"""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from npucc.frontends import load
from npucc.ir import run_graph
from tests.models import MODELS, build, export_onnx, relative_error

TOL = 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_matches_onnxruntime_and_torch(name):
    model, example = build(name)
    data = export_onnx(model, example)
    graph = load(onnx.load_from_string(data))
    x = example.numpy()
    (ours,) = run_graph(graph, [x])
    (theirs,) = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None,
                                                                                   {"input": x})
    with torch.no_grad():
        torch_out = model(example).numpy()
    assert relative_error(ours, theirs) <= TOL
    assert relative_error(ours, torch_out) <= TOL
    assert [v.name for v in graph.inputs] == ["input"]
    assert [v.name for v in graph.outputs] == ["output"]


@pytest.mark.slow
def test_yolo_import_folds_shape_operands_into_attributes(tmp_path):
    """Every shape-deciding operand is an attribute: no Shape/Gather/Concat chains on int64
    tensors survive, and every value is float32."""
    model, example = build("yolo")
    path = tmp_path / "yolo.onnx"
    path.write_bytes(export_onnx(model, example))
    graph = load(path)
    assert all(v.dtype.value == "f32" for v in graph.values())
    onnx_names = {n.name for n in onnx.load(str(path)).graph.node}
    for node in graph.nodes:
        assert node.provenance and node.provenance <= onnx_names, node.describe()
    ops = {n.op for n in graph.nodes}
    assert {"Resize", "Concat", "Reshape", "Transpose"} <= ops
    np.testing.assert_equal(len([n for n in graph.nodes if n.op == "Resize"]), 1)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_models_from_torchs_default_exporter_match_onnxruntime(name, tmp_path):
    """torch.onnx.export's default exporter (dynamo, onnxscript; opset 18+) writes reductions
    with axes as inputs and noop_with_empty_axes beside them: such files import and run."""
    pytest.importorskip("onnxscript", reason="onnxscript (test extra) runs torch's default "
                        "ONNX exporter")
    model, example = build(name)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (example,), path, dynamo=True, external_data=False)
    assert onnx.load(str(path)).opset_import[0].version >= 18
    graph = load(path)
    x = example.numpy()
    (ours,) = run_graph(graph, [x])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (theirs,) = sess.run(None, {sess.get_inputs()[0].name: x})
    assert relative_error(ours, theirs) <= TOL
