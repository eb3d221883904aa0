"""RKNN's accuracy_analysis and hybrid quantization steps through the facade (they run on
npucc.quantization.analysis / .hybrid, merged separately)."""

import numpy as np
import pytest

pytest.importorskip("npucc.quantization.analysis",
                    reason="npucc.quantization.analysis (issue 11 part B) is not merged yet")
pytest.importorskip("npucc.quantization.hybrid",
                    reason="npucc.quantization.hybrid (issue 11 part B) is not merged yet")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the oracle")
torch = pytest.importorskip("torch", reason="torch (test extra) makes the test model")

from npucc.rknn import RKNN  # noqa: E402

from .conftest import cosine, write_images  # noqa: E402


@pytest.fixture
def model(tmp_path):
    torch.manual_seed(0)
    nn = torch.nn
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2),
                      nn.ReLU(), nn.Flatten(), nn.Linear(8 * 15 * 15, 5)).eval()
    torch.onnx.export(m, torch.zeros(1, 3, 32, 32), tmp_path / "net.onnx", input_names=["x"],
                      dynamo=False)
    write_images(tmp_path, (32, 32), 4)
    return tmp_path / "net.onnx"


def ort_out(path, img):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": img.transpose(2, 0, 1)[None].astype(np.float32)})[0]


def test_accuracy_analysis_writes_rknns_files(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rknn = RKNN(raise_errors=True)
    rknn.config(target_platform="rk3588")
    rknn.load_onnx(model)
    rknn.build(do_quantization=True, dataset="dataset.txt")
    assert rknn.accuracy_analysis(inputs=["img_0.jpg"], output_dir="snapshot") == 0
    assert (tmp_path / "snapshot" / "error_analysis.txt").is_file()
    assert (tmp_path / "snapshot" / "report.html").is_file()
    for v1 in ("entire_qnt_error_analysis.txt", "fp32", "individual_qnt"):
        assert not (tmp_path / "snapshot" / v1).exists()  # a Toolkit2 config: its files only


def _v1_metrics(f, d):
    """RKNN v1's four numbers from numpy, by the definition in docs/RKNN.md."""
    f, d = f.astype(np.float64).ravel(), d.astype(np.float64).ravel()
    lo, span = f.min(), f.max() - f.min()
    fn, dn = (f - lo) / span, (d - lo) / span
    return {"eculidean_norm": np.sqrt(np.mean((fn - dn) ** 2)),
            "cosine_norm": fn @ dn / np.linalg.norm(fn) / np.linalg.norm(dn),
            "eculidean": np.linalg.norm(f - d),
            "cosine": f @ d / np.linalg.norm(f) / np.linalg.norm(d)}


def test_a_v1_config_gets_rknn_v1s_files_and_numbers(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rknn = RKNN(raise_errors=True)
    rknn.config(target_platform="rv1126")  # RKNN-Toolkit v1
    rknn.load_onnx(model)
    rknn.build(do_quantization=True, dataset="dataset.txt")
    assert rknn.accuracy_analysis(inputs=["img_0.jpg"], output_dir="snap") == 0
    snap = tmp_path / "snap"
    assert not (snap / "error_analysis.txt").exists() and not (snap / "golden").exists()
    order = (snap / "fp32" / "order.txt").read_text().split()
    assert len(order) >= 5 and all(f.endswith(".npy") for f in order)
    for sub in ("fp32", "entire_qnt", "individual_qnt"):
        assert sorted(p.name for p in (snap / sub).glob("*.npy")) == sorted(order), sub
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open("img_0.jpg"), np.float32)
    first = np.load(snap / "fp32" / order[0])  # the graph input, in the graph's layout
    np.testing.assert_array_equal(first, img.transpose(2, 0, 1)[None] if first.shape[1] == 3
                                  else img[None])
    np.testing.assert_allclose(np.load(snap / "fp32" / order[-1]).ravel(),
                               ort_out(model, img).ravel(), rtol=1e-4, atol=1e-4)
    for mode, sub in (("entire", "entire_qnt"), ("individual", "individual_qnt")):
        lines = (snap / f"{mode}_qnt_error_analysis.txt").read_text().splitlines()
        assert len(lines) == 2 * len(order)
        for i, file in enumerate(order):
            assert lines[2 * i] == f"{i} {file}"
            got = dict(kv.split("=") for kv in lines[2 * i + 1].split())
            assert list(got) == ["eculidean_norm", "cosine_norm", "eculidean", "cosine"]
            want = _v1_metrics(np.load(snap / "fp32" / file), np.load(snap / sub / file))
            for k, v in want.items():
                assert float(got[k]) == pytest.approx(v, rel=1e-5, abs=2e-6), (mode, file, k)
    # errors accumulate in `entire`, not in `individual`: at the output entire is no better
    last = [dict(kv.split("=") for kv in (snap / f"{m}_qnt_error_analysis.txt").read_text()
                 .splitlines()[-1].split()) for m in ("entire", "individual")]
    assert float(last[0]["eculidean"]) >= float(last[1]["eculidean"])


def test_hybrid_steps_build_a_model_that_follows_onnxruntime(model, tmp_path, monkeypatch):
    import yaml
    from PIL import Image

    from .conftest import rel_err

    monkeypatch.chdir(tmp_path)
    rknn = RKNN(raise_errors=True)
    rknn.config(target_platform="rk3588")
    rknn.load_onnx(model)
    assert rknn.hybrid_quantization_step1(dataset="dataset.txt") == 0
    for f in ("net.model", "net.data", "net.quantization.cfg"):
        assert (tmp_path / f).is_file(), f
    rknn.release()
    img = np.asarray(Image.open(tmp_path / "img_1.jpg").convert("RGB"), np.float32)

    def step2():
        rknn = RKNN(raise_errors=True)
        rknn.config(target_platform="rk3588")
        assert rknn.hybrid_quantization_step2("net.model", "net.data",
                                              "net.quantization.cfg") == 0
        rknn.init_runtime()
        return rknn.inference([img])[0]

    assert cosine(step2(), ort_out(model, img)) > 0.98
    # every layer edited to float32 (RKNN's custom_quantize_layers): the float model again
    cfg = yaml.safe_load((tmp_path / "net.quantization.cfg").read_text())
    cfg["custom_quantize_layers"] = {layer: "float32" for layer in cfg["layers"]}
    (tmp_path / "net.quantization.cfg").write_text(yaml.safe_dump(cfg))
    assert rel_err(step2(), ort_out(model, img)) < 1e-4


def test_build_report_shows_quantization_error(model, tmp_path):
    from html.parser import HTMLParser

    import yaml

    from npucc.cli import main

    cfg = {"model_parameters": {"onnx_model": "net.onnx", "working_dir": "out"},
           "calibration_parameters": {"cal_data_dir": "dataset.txt", "quantized_dtype": "u8"},
           "compiler_parameters": {"target": "rk1808", "analysis_samples": 1}}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["build", str(tmp_path / "b.yaml")]) == 0
    cells = []

    class Cells(HTMLParser):
        def handle_data(self, data):
            cells.append(data.strip())

    page = (tmp_path / "out" / "net.report.html").read_text()
    Cells().feed(page)
    assert "Quantization error per layer (1 - cosine)" in cells
    cosines = [float(c) for c in cells if c.startswith("0.9") or c == "1"]
    assert cosines and all(0 < c <= 1 for c in cosines)


def test_build_reads_a_hybrid_config(model, tmp_path, capsys):
    """calibration_parameters.hybrid_config with RKNN's custom_quantize_layers: every conv and
    gemm of the model (the ONNX node names) in float32 gives onnxruntime's output again."""
    import json

    import onnx
    import yaml
    from PIL import Image

    from npucc.cli import main

    from .conftest import rel_err

    layers = [n.name for n in onnx.load(str(model)).graph.node if n.op_type in ("Conv", "Gemm")]
    (tmp_path / "hybrid.cfg").write_text(yaml.safe_dump(
        {"custom_quantize_layers": {name: "float32" for name in layers}}))
    cfg = {"model_parameters": {"onnx_model": "net.onnx", "working_dir": "hy"},
           "input_parameters": {"input_layout_rt": "NHWC"},
           "calibration_parameters": {"cal_data_dir": "dataset.txt", "quantized_dtype": "u8",
                                      "hybrid_config": "hybrid.cfg"},
           "compiler_parameters": {"target": "rk1808", "report": False}}
    (tmp_path / "h.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["build", str(tmp_path / "h.yaml"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    img = np.asarray(Image.open(tmp_path / "img_2.jpg").convert("RGB"), np.float32)
    import npucc

    got = npucc.load_blob(summary["files"]["blob"]).run([img[None]])[0]
    assert rel_err(got, ort_out(model, img)) < 1e-4


def test_toolkit2_analysis_script_shapes(model, tmp_path, monkeypatch, capsys):
    """rknn-toolkit2 examples/functions: mmse and hybrid_quant step 2 pass output_dir=None
    (RKNN's ./snapshot), board_test passes target='rk3566' (no board: the simulator's
    analysis, said in a W line); the accuracy_analysis example reads
    ./snapshot/golden/<output>.txt and ./snapshot/simulator/<output>.txt with np.genfromtxt."""
    monkeypatch.chdir(tmp_path)
    rknn = RKNN()
    rknn.config(mean_values=[0, 0, 0], std_values=[1, 1, 1], quantized_method="layer",
                target_platform="rk3566")
    assert rknn.load_onnx(model=str(model)) == 0
    assert rknn.build(do_quantization=True, dataset="./dataset.txt") == 0
    assert rknn.accuracy_analysis(inputs=["img_0.jpg"], output_dir=None) == 0
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open("img_0.jpg"), np.float32)
    names = dict(line.split("\t") for line in
                 (tmp_path / "snapshot" / "map_name_to_file.txt").read_text().splitlines())
    out = [f for n, f in names.items() if n == rknn._quantized.graph.outputs[0].name]
    assert out, names
    golden = np.genfromtxt(tmp_path / "snapshot" / "golden" / out[0])
    np.testing.assert_allclose(golden, ort_out(model, img).ravel(), rtol=1e-4, atol=1e-4)
    assert cosine(np.genfromtxt(tmp_path / "snapshot" / "simulator" / out[0]), golden) > 0.98
    capsys.readouterr()
    assert rknn.accuracy_analysis(inputs=["./img_0.jpg"], output_dir="./snap2",
                                  target="rk3566") == 0
    text = capsys.readouterr().out
    assert "W accuracy_analysis: target='rk3566': npucc has no device runtime" in text
    assert (tmp_path / "snap2" / "error_analysis.txt").is_file()


def test_v1_analysis_takes_a_dataset_file(model, tmp_path, monkeypatch, capsys):
    """RKNN v1's accuracy_analysis demo passes the dataset file: inputs='./dataset.txt'."""
    monkeypatch.chdir(tmp_path)
    rknn = RKNN(raise_errors=True)
    rknn.config(mean_values=[[0, 0, 0]], std_values=[[1, 1, 1]], reorder_channel="0 1 2",
                target_platform=["rv1126"])
    rknn.load_onnx(model=str(model))
    rknn.build(do_quantization=True, dataset="./dataset.txt")
    assert rknn.accuracy_analysis(inputs="./dataset.txt", output_dir="./normal_analysis") == 0
    assert "I accuracy_analysis: analysing the first sample of ./dataset.txt" in \
        capsys.readouterr().out
    snap = tmp_path / "normal_analysis"
    order = (snap / "fp32" / "order.txt").read_text().split()
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open("img_0.jpg"), np.float32)
    np.testing.assert_allclose(np.load(snap / "fp32" / order[-1]).ravel(),
                               ort_out(model, img).ravel(), rtol=1e-4, atol=1e-4)


def test_v1_hybrid_files_are_named_like_rknn_v1s(model, tmp_path, monkeypatch, capsys):
    """RKNN v1 writes <graph name>.json/.data/.quantization.cfg for an ONNX model (its demo
    reads ./torchjitexport.json for shufflenetv2_x1.onnx, exported as 'torch-jit-export'); its
    ssd step 1 exports the model right after step 1; step 2 takes a dataset it does not need."""
    import onnx

    from .conftest import rel_err

    proto = onnx.load(str(model))
    proto.graph.name = "torch-jit-export"
    onnx.save(proto, str(tmp_path / "shufflenet.onnx"))
    monkeypatch.chdir(tmp_path)

    def v1():
        rknn = RKNN()
        rknn.config(mean_values=[[0, 0, 0]], std_values=[[1, 1, 1]], reorder_channel="0 1 2",
                    target_platform=["rv1126"])
        return rknn

    rknn = v1()
    assert rknn.load_onnx(model="shufflenet.onnx") == 0
    assert rknn.hybrid_quantization_step1(dataset="./dataset.txt") == 0
    for f in ("torchjitexport.json", "torchjitexport.data", "torchjitexport.quantization.cfg"):
        assert (tmp_path / f).is_file(), f
    assert rknn.export_rknn("step1.rknn") == 0
    rknn.release()
    capsys.readouterr()
    rknn = v1()
    assert rknn.hybrid_quantization_step2(model_input="./torchjitexport.json",
                                          data_input="./torchjitexport.data",
                                          model_quantization_cfg="./torchjitexport.quantization"
                                          ".cfg", dataset="./dataset.txt") == 0
    assert "W hybrid_quantization_step2: dataset='./dataset.txt' is not used" in \
        capsys.readouterr().out
    assert rknn.export_rknn("./hybrid.rknn") == 0
    other = RKNN(raise_errors=True)
    other.load_rknn("step1.rknn")
    other.init_runtime()
    img = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open("img_1.jpg"), np.float32)
    rknn.init_runtime()
    step1, step2 = other.inference([img])[0], rknn.inference([img])[0]
    assert rel_err(step2, step1) < 1e-6  # no custom layers: step 2 rebuilds step 1's model
    assert cosine(step2, ort_out(model, img)) > 0.98


def test_hybrid_step2_blob_records_the_input_settings_of_step1(model, tmp_path, monkeypatch):
    """Step 2 builds from IR text, which does not say what preprocessing was folded in: the
    .data file carries it, so the exported blob's IO section equals a plain build's."""
    import npucc

    monkeypatch.chdir(tmp_path)
    settings = dict(mean_values=[[10, 20, 30]], std_values=[[40, 50, 60]],
                    quant_img_RGB2BGR=True, target_platform="rk3588")
    rknn = RKNN(raise_errors=True)
    rknn.config(**settings)
    rknn.load_onnx(model)
    rknn.build(do_quantization=True, dataset="dataset.txt")
    rknn.export_rknn("plain.npub")
    rknn.hybrid_quantization_step1(dataset="dataset.txt")
    rknn.release()
    rknn = RKNN(raise_errors=True)
    rknn.config(**settings)
    rknn.hybrid_quantization_step2("net.model", "net.data", "net.quantization.cfg")
    rknn.export_rknn("hybrid.npub")
    plain, hybrid = (npucc.load_blob(f).blob.io["inputs"] for f in ("plain.npub", "hybrid.npub"))
    assert hybrid == plain
    assert hybrid[0]["preprocess"] == {"mean": [10.0, 20.0, 30.0], "std": [40.0, 50.0, 60.0],
                                       "reorder": None, "pixels": "bgr"}
