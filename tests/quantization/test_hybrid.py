"""Hybrid quantization: step 1 lists every quantizable layer by its ONNX node names, a user edit
to dfp16 / f32 builds (step 2) a graph where that layer has that precision and whose output
follows onnxruntime's float output at least as well; RKNN's keys are read; a round trip keeps
the graph; the auto-proposal reaches a threshold plain u8 misses on a model with an outlier
channel."""

import numpy as np
import pytest
import yaml

import npucc
from npucc.ir.text import format_graph
from npucc.numerics import run_graph
from npucc.passes import default_pipeline, run_passes
from npucc.quantization import quantize_model
from npucc.quantization.analysis import accuracy_analysis
from npucc.quantization.hybrid import (
    HybridConfigError,
    propose_layer_dtypes,
    read_hybrid_config,
    write_hybrid_config,
)

ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the float oracle")


def samples(n, seed, shape=(1, 3, 32, 32), lo=-2.0, hi=3.0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(lo, hi, shape).astype(np.float32) for _ in range(n)]


def ort_cosine(path, graph, xs):
    """Cosine of `graph`'s output against onnxruntime's float output over all of xs."""
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    f = np.concatenate([sess.run(None, {name: x})[0].ravel() for x in xs]).astype(np.float64)
    d = np.concatenate([run_graph(graph, [x])[0].ravel() for x in xs]).astype(np.float64)
    return float(f @ d / np.linalg.norm(f) / np.linalg.norm(d))


@pytest.fixture(scope="module")
def small(small_onnx):
    g = npucc.load(small_onnx)
    run_passes(g, default_pipeline())
    return g, quantize_model(g, samples(8, seed=0), dtype="u8", progress=False,
                             bias_correction=False)  # step 2 reuses stats: like for like


def node_of(graph, layer):
    return next(n for n in graph.nodes if layer in n.provenance)


@pytest.mark.parametrize("edit", ["dfp16", "f32"])
def test_step1_edit_step2(small_onnx, small, tmp_path, edit):
    onnx = pytest.importorskip("onnx", reason="onnx reads the node names")
    g, q = small
    single = accuracy_analysis(g, q.graph, samples(3, seed=1), mode="single", progress=False)
    path = tmp_path / "hybrid.yaml"
    write_hybrid_config(path, q, single)
    doc = yaml.safe_load(path.read_text())
    names = {n.name for n in onnx.load(small_onnx).graph.node}
    layers = doc["layers"]
    assert doc["default_dtype"] == "u8" and doc["custom_quantize_layers"] == {}
    assert {n for e in layers.values() for n in e["source_layers"]} <= names
    assert set(layers) <= names
    stem = layers["/stem/stem.0/Conv"]
    assert stem["source_layers"] == ["/stem/stem.0/Conv", "/stem/stem.2/Relu"]
    assert stem["node"] == "/stem/stem.2/Relu_output_0" and stem["op"] == "Conv"
    for e in layers.values():
        assert e["dtype"] == "u8" and e["scheme"] == "asymmetric_affine"
        if e["op"] in ("Conv", "Gemm", "Add"):  # params from their own range: the u8 formula
            lo, hi = min(e["selected"][0], 0.0), max(e["selected"][1], 0.0)
            assert e["scale"] == pytest.approx((hi - lo) / 255, rel=1e-6)
            assert e["zero_point"] == int(np.clip(np.rint(-lo / e["scale"]), 0, 255))
            assert e["clipped"] == pytest.approx([lo, hi], abs=e["scale"])
        assert -1.0 <= e["single_cosine"] <= 1.0
    worst = min(layers, key=lambda k: layers[k]["single_cosine"])
    layers[worst]["dtype"] = edit if edit == "dfp16" else "float32"  # an RKNN spelling
    path.write_text(yaml.safe_dump(doc))
    layer_dtypes = read_hybrid_config(path, g)
    assert layer_dtypes == {worst: edit}
    q2 = quantize_model(g, stats=q.stats, dtype="u8", layer_dtypes=layer_dtypes)
    out = node_of(q2.graph, worst).outputs[0]
    if edit == "dfp16":
        assert out.dtype.value == "i16" and out.type.quant.frac_length is not None
    else:
        assert out.dtype.value == "f32" and out.type.quant is None
    held_out = samples(6, seed=2)
    assert ort_cosine(small_onnx, q2.graph, held_out) >= \
        ort_cosine(small_onnx, q.graph, held_out) - 1e-6


def test_observed_ranges_are_the_float_activations_min_max(small):
    g, q = small
    seen = {}

    def note(node, outs):
        for v, a in zip(node.outputs, outs):
            lo, hi = seen.get(v.name, (np.inf, -np.inf))
            seen[v.name] = (min(lo, float(a.min())), max(hi, float(a.max())))

    for x in samples(8, seed=0):
        npucc.run_graph(g, [x], hook=note)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        write_hybrid_config(f"{d}/h.yaml", q)
        doc = yaml.safe_load(open(f"{d}/h.yaml"))
    for e in doc["layers"].values():
        assert e["observed"] == pytest.approx(seen[e["node"]], rel=1e-6)
        assert "single_cosine" not in e


def test_rknn_keys_and_errors_name_the_file_and_layer(small, tmp_path, caplog):
    g, _ = small
    path = tmp_path / "model.quantization.cfg"
    path.write_text(yaml.safe_dump({
        "customized_quantize_layers": {"/stem/stem.0/Conv": "dynamic_fixed_point-i16",
                                       "@/head/Gemm:out0": "float32"},
        "custom_quantize_layers": {"/pw/pw.0/Conv": "float16"},
        "quantize_parameters": {"/pw/pw.0/Conv_output_0": {"qtype": "asym"}}}))
    got = read_hybrid_config(path, g)
    assert got == {"/stem/stem.0/Conv": "dfp16", "/head/Gemm": "f32", "/pw/pw.0/Conv": "fp16"}
    assert "quantize_parameters (RKNN's table of computed scales) is ignored" in caplog.text
    path.write_text("custom_quantize_layer:\n  /pw/pw.0/Conv: float16\n")  # a misspelt key
    caplog.clear()
    assert read_hybrid_config(path, g) == {}
    assert f"{path}: unknown key(s) ignored: custom_quantize_layer (known: " in caplog.text
    path.write_text(yaml.safe_dump({"custom_quantize_layers": {"/pw/pw.0/Conv": "float16"}}))
    q = quantize_model(g, samples(4, seed=0), layer_dtypes=got, progress=False)
    assert node_of(q.graph, "/pw/pw.0/Conv").outputs[0].dtype.value == "f16"
    path.write_text("custom_quantize_layers:\n  /pw/pw.0/Conv: int4\n")
    with pytest.raises(HybridConfigError, match=f"{path}: custom_quantize_layers layer "
                                                "'/pw/pw.0/Conv': unknown dtype 'int4'"):
        read_hybrid_config(path)
    path.write_text("custom_quantize_layers:\n  /no/such/Conv: float16\n")
    with pytest.raises(HybridConfigError, match=f"{path}: layer '/no/such/Conv' is neither"):
        read_hybrid_config(path, g)
    path.write_text("layers: [1, 2]\n")
    with pytest.raises(HybridConfigError, match=str(path)):
        read_hybrid_config(path)


def test_round_trip_keeps_the_hybrid_graph(small, tmp_path):
    g, q = small
    asked = {"/pw/pw.0/Conv": "dfp16", "/Add": "f32", "/head/Gemm": "fp16"}
    q1 = quantize_model(g, stats=q.stats, layer_dtypes=asked)
    write_hybrid_config(tmp_path / "h.yaml", q1)
    doc = yaml.safe_load((tmp_path / "h.yaml").read_text())
    # the MaxPool after the float Add stays float on its own: listed, but not an edit
    assert doc["layers"]["/pool/MaxPool"]["automatic"] == "f32"
    got = read_hybrid_config(tmp_path / "h.yaml", g)
    assert got == asked
    q2 = quantize_model(g, stats=q.stats, layer_dtypes=got)
    assert format_graph(q2.graph) == format_graph(q1.graph)


@pytest.fixture(scope="module")
def outlier_onnx(tmp_path_factory):
    """Conv+ReLU whose channel 0 is 300x the others (its next conv scales it back): per-tensor
    u8 of that activation leaves the other channels a few levels."""
    torch = pytest.importorskip("torch", reason="torch exports the test model")
    from torch import nn

    from tests.models import export_onnx

    class Outlier(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 8, 3, padding=1)
            self.c3 = nn.Conv2d(8, 4, 1)

        def forward(self, x):
            return self.c3(torch.relu(self.c2(torch.relu(self.c1(x)))))

    torch.manual_seed(0)
    m = Outlier().eval()
    with torch.no_grad():
        m.c1.weight[0] *= 300
        m.c1.bias[0] = m.c1.bias[0].abs() * 300
        m.c2.weight[:, 0] /= 300
    path = tmp_path_factory.mktemp("outlier") / "outlier.onnx"
    path.write_bytes(export_onnx(m, torch.randn(1, 3, 16, 16)))
    return path


def test_auto_proposal_reaches_the_threshold_plain_u8_misses(outlier_onnx):
    g = npucc.load(str(outlier_onnx))
    run_passes(g, default_pipeline())
    calib = samples(8, seed=0, shape=(1, 3, 16, 16), lo=-1, hi=1)
    evaluate = samples(4, seed=1, shape=(1, 3, 16, 16), lo=-1, hi=1)
    q = quantize_model(g, calib, dtype="u8", progress=False,
                       bias_correction=False)
    plain = ort_cosine(outlier_onnx, q.graph, evaluate)
    assert plain < 0.99
    layer_dtypes = propose_layer_dtypes(q, evaluate, threshold=0.99, high="dfp16")
    assert layer_dtypes and set(layer_dtypes.values()) == {"dfp16"}
    assert len(layer_dtypes) < 3  # not every layer
    q2 = quantize_model(g, stats=q.stats, dtype="u8", layer_dtypes=layer_dtypes)
    assert ort_cosine(outlier_onnx, q2.graph, evaluate) >= 0.99
    # already good enough: nothing to raise
    assert propose_layer_dtypes(q2, evaluate, threshold=0.99) == layer_dtypes


def test_auto_proposal_keys_layers_without_source_names_by_their_float_value(outlier_onnx):
    """A layer with no source name of its own is keyed by its output's name in the float graph:
    the quantized graph's own name of a graph output's producer ('<name>_u8') selected nothing,
    and RKNN's build(auto_hybrid=True) failed on MediaPipe's pose landmark model that way."""
    g = npucc.load(str(outlier_onnx))
    run_passes(g, default_pipeline())
    for n in g.nodes:
        n.provenance = frozenset()  # as graphs built in code, or layers fused from several
    calib = samples(8, seed=0, shape=(1, 3, 16, 16), lo=-1, hi=1)
    evaluate = samples(4, seed=1, shape=(1, 3, 16, 16), lo=-1, hi=1)
    q = quantize_model(g, calib, dtype="u8", progress=False, bias_correction=False)
    layer_dtypes = propose_layer_dtypes(q, evaluate, threshold=0.99999, high="fp16")
    float_names = {v.name for n in g.nodes for v in n.outputs}
    assert layer_dtypes and set(layer_dtypes) <= float_names, layer_dtypes
    assert g.outputs[0].name in layer_dtypes  # the output layer, renamed in q.graph, is raised
    q2 = quantize_model(g, stats=q.stats, dtype="u8", layer_dtypes=layer_dtypes)
    assert ort_cosine(outlier_onnx, q2.graph, evaluate) > ort_cosine(outlier_onnx, q.graph,
                                                                     evaluate)


def test_auto_proposal_never_returns_worse_than_it_found(tmp_path, caplog):
    """Activations near 1e6 overflow float16: raising them to fp16 gives inf / NaN outputs, so
    no number of raised layers reaches the threshold. The proposal then keeps the best choice it
    tried (here: fewer or no layers raised), never the all-raised NaN model (which the RKNN
    facade's build(auto_hybrid=True) used to install on openWakeWord's mel spectrogram)."""
    torch = pytest.importorskip("torch", reason="torch exports the test model")
    from torch import nn

    from tests.models import export_onnx

    class Huge(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 4, 1)

        def forward(self, x):
            return self.c2(torch.relu(self.c1(x)))

    torch.manual_seed(0)
    m = Huge().eval()
    with torch.no_grad():
        m.c1.weight *= 3e5
        m.c1.bias *= 3e5
        m.c2.weight /= 3e5
    path = tmp_path / "huge.onnx"
    path.write_bytes(export_onnx(m, torch.randn(1, 3, 16, 16)))
    g = npucc.load(str(path))
    run_passes(g, default_pipeline())
    calib = samples(8, seed=0, shape=(1, 3, 16, 16), lo=-1, hi=1)
    evaluate = samples(4, seed=1, shape=(1, 3, 16, 16), lo=-1, hi=1)
    q = quantize_model(g, calib, dtype="u8", progress=False, bias_correction=False)
    plain = ort_cosine(path, q.graph, evaluate)
    every = {n.outputs[0].name: "fp16" for n in g.nodes if n.op == "Conv"}
    all_fp16 = quantize_model(g, stats=q.stats, dtype="u8", layer_dtypes=every)
    assert not np.isfinite(ort_cosine(path, all_fp16.graph, evaluate))  # the overflow
    with caplog.at_level("WARNING", logger="npucc.quantization"):
        chosen = propose_layer_dtypes(q, evaluate, threshold=0.999999, high="fp16")
    assert "keeping the best choice tried" in caplog.text
    q2 = quantize_model(g, stats=q.stats, dtype="u8", layer_dtypes=chosen)
    cos = ort_cosine(path, q2.graph, evaluate)
    assert np.isfinite(cos) and cos >= plain - 1e-9


def test_a_layer_key_selects_one_node_only():
    from npucc.ir import Graph, TensorType
    from npucc.ir.types import DType
    from npucc.quantization.hybrid import layer_keys

    g = Graph("g")
    x = g.add_input("x", TensorType((1, 4), DType.f32))
    a = g.add_node("Relu", [x], provenance=("/b/Sigmoid", "/a/Relu"), output_names=["ya"])
    b = g.add_node("Relu", [a.output], provenance=("/b/Sigmoid",), output_names=["yb"])
    c = g.add_node("Relu", [b.output], output_names=["yc"])
    g.set_outputs([c.output])
    # /b/Sigmoid is in two nodes: a takes its own /a/Relu, b and c their output names
    assert layer_keys([a, b, c], g) == {id(a): "/a/Relu", id(b): "yb", id(c): "yc"}
