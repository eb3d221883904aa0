"""`npucc quantize` and `npucc analyze` on a torch-exported model with a dataset.txt of .npy
files: the written IR runs and follows onnxruntime's float outputs, equals the Python call's
graph, the range/statistics files are reusable, the hybrid step 1 / step 2 files work from the
command line, the analysis writes its report; errors name the file."""

import json

import numpy as np
import pytest
import yaml

import npucc
from npucc.cli import main
from npucc.ir.text import format_graph, parse
from npucc.numerics import run_graph
from npucc.passes import default_pipeline, run_passes
from npucc.passes.quantize import read_ranges
from npucc.quantization import CalibrationStats, quantize_model, select_ranges


def arrays(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-2, 3, (1, 3, 32, 32)).astype(np.float32) for _ in range(n)]


@pytest.fixture
def dataset(tmp_path):
    """dataset.txt with relative paths to 6 .npy samples in a subfolder."""
    (tmp_path / "data").mkdir()
    lines = []
    for i, a in enumerate(arrays(6, seed=0)):
        np.save(tmp_path / "data" / f"s{i}.npy", a)
        lines.append(f"data/s{i}.npy")
    txt = tmp_path / "dataset.txt"
    txt.write_text("\n".join(lines) + "\n")
    return txt


def cosine(a, b):
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_quantize_writes_ir_that_follows_onnxruntime(small_onnx, dataset, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) runs the model")
    out, ranges, stats = tmp_path / "q.npuir", tmp_path / "r.json", tmp_path / "calib.npz"
    assert main(["quantize", small_onnx, "--dataset", str(dataset), "--dtype", "u8",
                 "--algorithm", "kl_divergence", "--quiet", "-o", str(out),
                 "--ranges-out", str(ranges), "--stats-out", str(stats)]) == 0
    assert "written to" in capsys.readouterr().err
    graph = parse(out.read_text(), None, source=str(out))
    sess = ort.InferenceSession(small_onnx, providers=["CPUExecutionProvider"])
    for x in arrays(4, seed=1):
        assert cosine(run_graph(graph, [x])[0], sess.run(None, {"input": x})[0]) > 0.98
    # the same as the Python call on the same samples
    g = npucc.load(small_onnx)
    run_passes(g, default_pipeline())
    q = quantize_model(g, arrays(6, seed=0), dtype="u8", algorithm="kl_divergence",
                       progress=False)
    assert out.read_text() == format_graph(q.graph, max_inline=None) + "\n"
    assert read_ranges(str(ranges)) == {k: (float(lo), float(hi))
                                        for k, (lo, hi) in q.ranges.items()}
    again = select_ranges(CalibrationStats.load(stats), "kl_divergence", "u8")
    assert again == q.ranges
    # the written IR is a model the other subcommands take: run it, export it to QDQ ONNX
    x = arrays(1, seed=2)[0]
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(out), "-i", str(tmp_path / "x.npy"), "--save",
                 str(tmp_path / "outs")]) == 0
    (ours,) = [np.load(f) for f in sorted((tmp_path / "outs").glob("*.npy"))]
    assert main(["export", str(out), "--qdq", str(tmp_path / "q.onnx")]) == 0
    qdq = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    theirs = qdq.run(None, {"input": x})[0]
    step = graph.outputs[0].producer.inputs[0].type.quant.as_affine()[0][0]
    assert np.abs(ours - theirs).max() <= 3 * step  # rounding ties, see tests/exporters


def test_hybrid_step1_then_step2_from_the_command_line(small_onnx, dataset, tmp_path):
    step1 = tmp_path / "h.yaml"
    assert main(["quantize", small_onnx, "--dataset", str(dataset), "--quiet",
                 "-o", str(tmp_path / "a.npuir"), "--hybrid-step1", str(step1),
                 "--samples", "2"]) == 0
    doc = yaml.safe_load(step1.read_text())
    entry = doc["layers"]["/pw/pw.0/Conv"]
    assert entry["source_layers"] == ["/pw/pw.0/Conv"] and "single_cosine" in entry
    entry["dtype"] = "dynamic_fixed_point-i16"
    step1.write_text(yaml.safe_dump(doc))
    out = tmp_path / "b.npuir"
    assert main(["quantize", small_onnx, "--dataset", str(dataset), "--quiet",
                 "--hybrid", str(step1), "-o", str(out)]) == 0
    graph = parse(out.read_text(), None, source=str(out))
    node = next(n for n in graph.nodes if "/pw/pw.0/Conv" in n.provenance)
    assert node.outputs[0].dtype.value == "i16"
    others = [n for n in graph.nodes if n.op == "Conv" and n is not node]
    assert others and all(n.outputs[0].dtype.value == "u8" for n in others)


def test_analyze_prints_json_and_writes_the_report(small_onnx, dataset, tmp_path, capsys):
    snap = tmp_path / "snap"
    assert main(["analyze", small_onnx, "--dataset", str(dataset), "--mode", "single",
                 "--samples", "3", "--quiet", "-o", str(snap), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "single" and report["samples"] == 3
    names = [r["name"] for r in report["layers"]]
    assert "/stem/stem.2/Relu_output_0" in names and report["outputs"][0]["name"] == "output"
    row = report["layers"][names.index("/stem/stem.2/Relu_output_0")]
    assert row["source_layers"] == ["/stem/stem.0/Conv", "/stem/stem.2/Relu"]
    assert 0.99 < row["cosine"] <= 1.0
    for f in ("error_analysis.txt", "report.html", "report.json", "map_name_to_file.txt"):
        assert (snap / f).is_file()
    assert json.loads((snap / "report.json").read_text()) == report
    assert main(["analyze", small_onnx, "--dataset", str(dataset), "--samples", "1",
                 "--quiet", "--rknn-version", "1", "-o", str(tmp_path / "v1")]) == 0
    assert "/stem/stem.0/Conv" in capsys.readouterr().out
    order = (tmp_path / "v1" / "fp32" / "order.txt").read_text().split()
    lines = (tmp_path / "v1" / "individual_qnt_error_analysis.txt").read_text().splitlines()
    assert len(order) == len(names) and lines[0::2] == [f"{i} {f}" for i, f in enumerate(order)]
    assert all((tmp_path / "v1" / "entire_qnt" / f).is_file() for f in order)
    assert not (tmp_path / "v1" / "error_analysis.txt").exists()


def test_errors_name_the_model_and_the_file(small_onnx, dataset, tmp_path, capsys):
    assert main(["quantize", small_onnx, "-o", str(tmp_path / "x.npuir")]) == 1
    assert f"{small_onnx}: quantizing to u8 needs a calibration dataset" in \
        capsys.readouterr().err
    assert not (tmp_path / "x.npuir").exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("custom_quantize_layers:\n  /pw/pw.0/Conv: int3\n")
    assert main(["quantize", small_onnx, "--dataset", str(dataset), "--quiet",
                 "--hybrid", str(bad), "-o", str(tmp_path / "x.npuir")]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "/pw/pw.0/Conv" in err and "int3" in err


@pytest.mark.slow
def test_cluster_calibration_and_analysis_give_the_same_files(small_onnx, dataset, tmp_path,
                                                              capsys):
    distributed = pytest.importorskip("dask.distributed", reason="the dask extra is not installed")
    here, there = tmp_path / "here.npuir", tmp_path / "there.npuir"
    assert main(["quantize", small_onnx, "--dataset", str(dataset), "--quiet",
                 "-o", str(here)]) == 0
    analyze = ["analyze", small_onnx, "--dataset", str(dataset), "--quiet", "--json"]
    assert main(analyze) == 0
    report = capsys.readouterr().out
    # worker processes, as a deployment has them (threads of one process are covered by
    # test_dataset_threads.py: .npy headers parsed at once tripped CPython 3.11's ast)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert main(["quantize", small_onnx, "--dataset", str(dataset), "--quiet",
                     "--cluster", cluster.scheduler_address, "-o", str(there)]) == 0
        assert main([*analyze, "--cluster", cluster.scheduler_address]) == 0
    assert there.read_text() == here.read_text()
    assert capsys.readouterr().out == report and json.loads(report)["samples"] == 6


def test_raw_binary_dataset_gives_the_ranges_of_the_same_npy_files(small_onnx, dataset, tmp_path):
    """--raw-dtype / --raw-layout read hb_mapper-style `tofile` samples (here NHWC float32):
    the selected ranges equal those from the same arrays as .npy files."""
    (tmp_path / "raw").mkdir()
    for i, a in enumerate(arrays(6, seed=0)):
        a.transpose(0, 2, 3, 1).tofile(tmp_path / "raw" / f"s{i}.nhwc")
    outs = []
    for name, extra in (("npy", ["--dataset", str(dataset)]),
                        ("raw", ["--dataset", str(tmp_path / "raw"), "--raw-dtype", "float32",
                                 "--raw-layout", "NHWC"])):
        ranges = tmp_path / f"{name}.json"
        assert main(["quantize", small_onnx, *extra, "--dtype", "i8", "--quiet", "-o",
                     str(tmp_path / f"{name}.npuir"), "--ranges-out", str(ranges)]) == 0
        outs.append(json.loads(ranges.read_text()))
    assert outs[0] == outs[1] and outs[0]
    assert main(["quantize", small_onnx, "--dataset", str(tmp_path / "raw"), "--raw-layout",
                 "NHWC", "-o", str(tmp_path / "x.npuir")]) == 1
