"""Whole models from the zoo (tests/models): torch -> ONNX file -> npucc.api.compile -> plan,
against onnxruntime on the same file and against our reference interpreter."""

import pytest

from npucc.api import compile
from npucc.ir import run_graph
from tests.models import build, export_onnx, relative_error

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the oracle of these tests")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "yolo", "deconv_resize"])
def test_plan_matches_onnxruntime_and_the_interpreter(name, tmp_path):
    model, example = build(name)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(export_onnx(model, example))
    x = example.numpy()

    compiled = compile(path)
    (got,) = compiled.run(x)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (want,) = session.run(None, {"input": x})
    assert relative_error(got, want) < 1e-4
    (reference,) = run_graph(compiled.graph, [x])
    assert relative_error(got, reference) < 1e-5
    assert compiled.peak_activation_bytes < compiled.plan.naive_activation_bytes
