"""npucc.api.compile: passes, then the simulator plan; CompiledModel's run surfaces."""

import numpy as np
import pytest

from npucc.api import CompiledModel, compile
from npucc.errors import PassError, VerificationError
from npucc.ir import Graph, TensorType, run_graph


def _graph():
    g = Graph("m")
    x = g.add_input("x", TensorType((2, 3), "f32"))
    one = g.add_constant(np.ones((2, 3), np.float32), "one")
    folded = g.op("Add", one, one)                 # all-constant: fold-constants removes it
    y = g.op("Mul", x, folded, name="y")
    g.op("Relu", x)                                # dead: dce removes it
    g.set_outputs([g.op("Identity", y, name="out"), g.op("Sigmoid", x, name="sig")])
    return g


def test_default_pipeline_simplifies_and_results_match_the_interpreter():
    g = _graph()
    before = str(g)
    model = compile(g)
    assert isinstance(model, CompiledModel)
    assert str(g) == before                        # the caller's graph is untouched
    assert len(model.graph) < len(g)
    assert {n.op for n in model.graph.nodes} <= {"Mul", "Sigmoid", "Identity"}
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    for got, want in zip(model.run(x), run_graph(g, [x])):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    by_name = model.run({"x": x}, as_dict=True)
    assert list(by_name) == ["out", "sig"]
    np.testing.assert_allclose(by_name["out"], 2 * x)
    t = model.times
    assert t.load >= 0 and t.passes > 0 and t.plan > 0 and t.total >= t.passes + t.plan
    assert model.pass_report is not None and model.peak_activation_bytes > 0


@pytest.mark.parametrize("pipeline", ["", []])
def test_empty_pipeline_runs_no_pass(pipeline):
    g = _graph()
    model = compile(g, pipeline)
    assert len(model.graph) == len(g) and model.pass_report is None


@pytest.mark.parametrize("pipeline", ["dce", ["dce"]])
def test_pipeline_as_text_or_list(pipeline):
    model = compile(_graph(), pipeline)
    assert [r.name for r in model.pass_report.records] == ["dce"]
    assert "Relu" not in {n.op for n in model.graph.nodes}


def test_unknown_pass_is_a_pass_error():
    with pytest.raises(PassError, match="no-such-pass"):
        compile(_graph(), "no-such-pass")


def test_verify_rejects_an_invalid_graph():
    g = _graph()
    g.value("y").type = TensorType((3, 2), "f32")  # a type behind inference's back
    with pytest.raises(VerificationError):
        compile(g, "")


def test_run_with_dump_dir(tmp_path):
    model = compile(_graph())
    x = np.ones((2, 3), np.float32)
    model.run(x, dump_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "index.json" in files and len(files) == len(model.graph) + 1


def test_compile_with_rknn_preprocessing_and_nhwc_input_matches_onnxruntime(tmp_path):
    """npucc.compile(preprocess=..., input_layout=...) on the README's demo model: fed raw 0-255
    pixels in NHWC, it matches onnxruntime running the original model on pixels normalized by
    hand (reorder first, then (x - mean) / std, as RKNN defines it)."""
    import onnxruntime as ort

    import npucc
    from npucc.examples import main as write_demo
    from npucc.passes import Preprocess

    path = tmp_path / "demo.onnx"
    write_demo([str(path)])
    mean, std = np.float32([123.7, 116.3, 103.5]), np.float32([58.4, 57.1, 57.4])
    pre = Preprocess.from_rknn(mean_values=[list(mean)], std_values=[list(std)],
                               reorder_channel="2 1 0")
    model = npucc.compile(str(path), preprocess={"image": pre}, input_layout="NHWC")
    raw = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3)).astype(np.float32)
    normalized = (raw[..., ::-1] - mean) / std
    (want,) = ort.InferenceSession(str(path)).run(
        None, {"image": np.ascontiguousarray(normalized.transpose(0, 3, 1, 2))})
    (got,) = model.run(raw)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
