"""accuracy_analysis: metrics against numpy's formulas on hand-made arrays; on a torch-exported
model quantized to u8, the float side agrees with onnxruntime, rows name the ONNX nodes,
`single` errors stay within `entire` ones at the output, and the output directory holds RKNN's
files, the dumps and one HTML page with a row per layer and an SVG plot."""

import json
from html.parser import HTMLParser

import numpy as np
import pytest

import npucc
from npucc.ir.types import DType, QuantParams, TensorType
from npucc.passes import default_pipeline, run_passes
from npucc.quantization import quantize_model
from npucc.quantization.analysis import AnalysisError, accuracy_analysis
from npucc.quantization.analysis_metrics import ErrorAccumulator, metrics


def samples(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 3, (1, 3, 32, 32)).astype(np.float32) for _ in range(n)]


# ---- metrics on hand arrays ----

def test_metrics_follow_numpys_formulas_over_all_samples():
    t = TensorType((2, 3), DType.u8, QuantParams.affine(0.5, 10))
    refs = [np.array([[0.1, -4.0, 2.2], [120.0, 0.0, -5.2]]),
            np.array([[3.0, 1.0, -1.0], [0.4, 0.26, 7.0]])]
    qs = [np.array([[10, 2, 14], [255, 10, 0]], np.uint8),
          np.array([[16, 12, 8], [11, 11, 24]], np.uint8)]
    acc = ErrorAccumulator(t)
    for r, q in zip(refs, qs):
        deq = acc.add(r, q)
        np.testing.assert_allclose(deq, (q.astype(float) - 10) * 0.5)
    row = acc.result("x", ("a", "b"), "Conv")
    f = np.concatenate([r.ravel() for r in refs])
    d = np.concatenate([(q.ravel().astype(float) - 10) * 0.5 for q in qs])
    assert row.cosine == pytest.approx(f @ d / np.linalg.norm(f) / np.linalg.norm(d))
    assert row.euclidean == pytest.approx(np.linalg.norm(f - d))
    assert row.relative_error == pytest.approx(np.linalg.norm(f - d) / np.linalg.norm(f))
    assert row.sqnr_db == pytest.approx(10 * np.log10(np.sum(f ** 2) / np.sum((f - d) ** 2)))
    assert row.max_error_lsb == pytest.approx(np.max(np.abs(f - d)) / 0.5)
    # at 0 or 255 and not the zero point 10: 255 and 0 in the first sample (2 of 12)
    assert row.saturated_pct == pytest.approx(100 * 2 / 12)
    assert (row.name, row.source_layers, row.op, row.dtype) == ("x", ("a", "b"), "Conv", "u8")


def test_normalised_metrics_map_each_samples_float_range_to_0_1():
    t = TensorType((5,), DType.u8, QuantParams.affine(0.1, 30))
    refs = [np.array([-3.0, -1.2, 0.0, 2.5, 20.0]), np.array([4.0, 4.0, 4.0, 4.0, 4.0])]
    qs = [np.array([0, 18, 30, 55, 255], np.uint8), np.array([70, 69, 71, 70, 70], np.uint8)]
    acc = ErrorAccumulator(t)
    fn, dn = [], []
    for r, q in zip(refs, qs):
        acc.add(r, q)
        d = (q.astype(float) - 30) * 0.1
        span = r.max() - r.min() or 1.0  # the constant sample is only shifted
        fn.append((r - r.min()) / span)
        dn.append((d - r.min()) / span)
    f, d = np.concatenate(fn), np.concatenate(dn)
    row = acc.result("x", (), "Conv")
    assert row.cosine_norm == pytest.approx(f @ d / np.linalg.norm(f) / np.linalg.norm(d))
    assert row.euclidean_norm == pytest.approx(np.sqrt(np.mean((f - d) ** 2)))


def test_metric_edge_cases_and_float_layers():
    assert metrics(0.0, 0.0, 0.0, 0.0)[0] == 1.0  # both zero: same
    assert metrics(0.0, 4.0, 0.0, 4.0)[0] == 0.0  # one zero
    assert metrics(4.0, 4.0, 4.0, 0.0)[3] == float("inf")  # exact: infinite SQNR
    acc = ErrorAccumulator(TensorType((3,), DType.f16))
    acc.add(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0], np.float16))
    row = acc.result("y", (), "Relu")
    assert row.max_error_lsb is None and row.saturated_pct is None
    assert row.to_json()["sqnr_db"] is None  # JSON has no infinity


def test_dynamic_fixed_point_lsb_is_two_to_minus_fl():
    t = TensorType((4,), DType.i8, QuantParams.dfp(5))
    acc = ErrorAccumulator(t)
    ref = np.array([0.0, 1.0, -3.99, 10.0])
    acc.add(ref, np.array([0, 32, -128 + 1, 127], np.int8))
    row = acc.result("z", (), "Conv")
    d = np.array([0, 32, -127, 127]) / 32.0
    assert row.max_error_lsb == pytest.approx(np.max(np.abs(ref - d)) * 32)
    assert row.saturated_pct == pytest.approx(100 * 2 / 4)  # -127 and 127 (narrow range)


# ---- a model ----

@pytest.fixture(scope="module")
def quantized(small_onnx):
    g = npucc.load(small_onnx)
    run_passes(g, default_pipeline())
    return quantize_model(g, samples(8, seed=0), dtype="u8", progress=False)


def test_the_float_side_and_the_output_row_agree_with_onnxruntime(small_onnx, quantized,
                                                                  tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) runs the model")
    sess = ort.InferenceSession(small_onnx, providers=["CPUExecutionProvider"])
    xs = samples(3, seed=1)
    want = [sess.run(None, {"input": x})[0] for x in xs]
    got = [npucc.numerics.run_graph(quantized.graph, [x])[0] for x in xs]
    report = accuracy_analysis(quantized.float_graph, quantized.graph, xs, mode="entire",
                               output_dir=tmp_path / "out", progress=False)
    out = report.outputs[0]
    f = np.concatenate([w.ravel() for w in want]).astype(np.float64)
    d = np.concatenate([g.ravel() for g in got]).astype(np.float64)
    assert out.name == "output" and report.samples == 3
    assert out.cosine == pytest.approx(f @ d / np.linalg.norm(f) / np.linalg.norm(d), abs=1e-6)
    assert out.euclidean == pytest.approx(np.linalg.norm(f - d), rel=1e-4)
    np.testing.assert_allclose(np.load(tmp_path / "out" / "float" / "output.npy"), want[0],
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "quantized" / "output.npy"),
                                  got[0])


def test_rows_name_the_onnx_nodes_and_single_errors_do_not_accumulate(small_onnx, quantized):
    onnx = pytest.importorskip("onnx", reason="onnx reads the node names")
    names = {n.name for n in onnx.load(small_onnx).graph.node} | {"input"}
    xs = samples(3, seed=2)
    entire = accuracy_analysis(quantized.float_graph, quantized.graph, xs, progress=False)
    single = accuracy_analysis(quantized.float_graph, quantized.graph, xs, mode="single",
                               progress=False)
    assert [r.name for r in entire.layers] == [r.name for r in single.layers]
    fused = [r for r in entire.layers if len(r.source_layers) > 1]
    assert fused, "the conv+BN+ReLU of the model fuse into one node"
    for r in entire.layers:
        assert r.source_layers and set(r.source_layers) <= names, r
        assert r.dtype == "u8"
    assert {"/stem/stem.0/Conv", "/stem/stem.2/Relu"} <= {s for r in fused
                                                          for s in r.source_layers}
    last_e, last_s = entire.outputs[0], single.outputs[0]
    assert last_s.euclidean <= last_e.euclidean and last_s.cosine >= last_e.cosine
    # the first layer reads the quantized graph input in both modes: the same error
    assert entire.layers[1] == single.layers[1]


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.body_rows, self.svgs, self.rects, self.scripts = [], 0, 0, 0, 0
        self.links = 0

    def handle_starttag(self, tag, attrs):
        if tag == "tr" and "tbody" in self.stack:
            self.body_rows += 1
        self.svgs += tag == "svg"
        self.rects += tag == "rect"
        self.scripts += tag == "script"
        self.links += tag == "link" or any(k in ("src", "href") for k, _ in attrs)
        self.stack.append(tag)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass


def test_output_directory_html_and_rknn_files(quantized, tmp_path):
    xs = samples(2, seed=3)
    out = tmp_path / "snap"
    report = accuracy_analysis(quantized.float_graph, quantized.graph, xs, mode="single",
                               output_dir=out, progress=False)
    page = _Page()
    page.feed((out / "report.html").read_text())
    assert page.body_rows == len(report.layers) and page.svgs == 1
    assert page.rects == len(report.layers)
    assert page.scripts == 0 and page.links == 0  # self-contained
    assert json.loads((out / "report.json").read_text()) == report.to_json()
    table = (out / "error_analysis.txt").read_text().splitlines()
    assert len(table) == 2 + len(report.layers)
    assert table[3].startswith("[Conv] /stem/stem.2/Relu_output_0")
    mapping = dict(line.split("\t") for line in (out / "map_name_to_file.txt").read_text()
                   .splitlines())
    assert set(mapping) == {r.name for r in report.layers}
    for name, file in mapping.items():
        golden = np.loadtxt(out / "golden" / file)
        stem = file[:-4]
        np.testing.assert_allclose(golden, np.load(out / "float" / f"{stem}.npy").ravel(),
                                   atol=1e-6)
        assert np.loadtxt(out / "simulator" / file).size == golden.size
    assert not list(out.rglob(".npucc-*"))  # no temporary file left
    text = report.to_text()
    assert "/stem/stem.0/Conv" in text and "single" in text


def test_bad_mode_and_a_foreign_float_graph_are_errors(quantized):
    with pytest.raises(AnalysisError, match="mode must be one of"):
        accuracy_analysis(quantized.float_graph, quantized.graph, samples(1, 0), mode="both")
    other = npucc.ir.Graph("other")
    x = other.add_input("input", quantized.float_graph.inputs[0].type)
    other.set_outputs([other.op("Relu", x)])
    with pytest.raises(AnalysisError, match="stands for .* which graph other does not have"):
        accuracy_analysis(other, quantized.graph, samples(1, 0), progress=False)
