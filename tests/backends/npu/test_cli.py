"""`npucc inspect FILE.npub` and `npucc run FILE.npub`."""

import json

import numpy as np
import pytest

import npucc
from npucc.cli import main
from npucc.frontends import caffe
from npucc.testing import random_inputs

from .test_blob import TF, bits
from .test_partition import SSD

REASON = "DetectionOutput (box decoding and NMS) has no NPU kernel"


@pytest.fixture(scope="module")
def ssd_blob(tmp_path_factory):
    """Caffe MobileNet-SSD with its DetectionOutput on the CPU."""
    model = npucc.compile(caffe.load(SSD, weights="random", input_shapes={"data": (1, 3, 96, 96)}))
    path = tmp_path_factory.mktemp("cli") / "ssd.npub"
    npucc.write_blob(path, model, "rk1808",
                     supported=lambda n: REASON if n.op == "DetectionOutput" else (),
                     cost_report={"total_time_us": 1234.5, "fps": 810.0,
                                  "memory": {"weights_bytes": 10, "peak_activation_bytes": 20}})
    return model, path


def test_inspect_prints_header_sections_partitions_io_and_cost(ssd_blob, capsys):
    model, path = ssd_blob
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: npucc blob format 1, built by npucc {npucc.__version__} for "
                          "target rk1808")
    for name in ("manifest", "program", "tensors", "weights", "quant", "io", "cost"):
        assert f"\n  {name} " in out
    n = len(model.graph)
    assert f"partitions: 2 ({n - 1} nodes on the NPU, 1 on the CPU)" in out
    assert "  cpu1: CPU, 1 nodes (DetectionOutput 1)\n" in out
    assert f"reason: DetectionOutput %detection_out (from detection_out): {REASON}" in out
    assert "inputs:\n    data: f32[1, 3, 96, 96] NCHW\n" in out
    assert "outputs:\n    detection_out: f32[" in out
    assert "cost: total_time_us 1234.5, fps 810.0, peak_activation_bytes 20, weights_bytes 10" \
        in out


def test_inspect_json(ssd_blob, capsys):
    _, path = ssd_blob
    assert main(["inspect", str(path), "--json", "--target", "rk1808"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["target"], s["format_version"], s["model"]) == ("rk1808", 1, "MobileNet-SSD")
    assert [p["device"] for p in s["partitions"]] == ["npu", "cpu"]
    assert s["partitions"][1]["reasons"][0].endswith(REASON)
    assert s["io"]["inputs"][0]["name"] == "data" and s["cost"]["fps"] == 810.0
    assert [x["name"] for x in s["sections"]][0] == "manifest" and s["weights"]["tensors"] > 10


def test_inspect_refuses_a_corrupted_blob(ssd_blob, tmp_path, capsys):
    _, path = ssd_blob
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 4
    bad = tmp_path / "bad.npub"
    bad.write_bytes(bytes(data))
    assert main(["inspect", str(bad)]) == 1
    assert capsys.readouterr().err == f"npucc: error: {bad}: checksum mismatch: the file is " \
                                      "corrupted (its SHA-256 does not match the one it records)\n"
    assert main(["inspect", str(path), "--target", "rk3588"]) == 1
    assert "built for target rk1808, not rk3588" in capsys.readouterr().err


def test_run_accepts_a_blob(ssd_blob, tmp_path, capsys):
    model, path = ssd_blob
    x = random_inputs(model.graph, 3)[0]
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(path), "--input", str(tmp_path / "x.npy"), "--save",
                 str(tmp_path / "out"), "--target", "rk1808"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: blob for rk1808, {len(model.graph)} nodes;")
    saved = np.load(tmp_path / "out" / "detection_out.npy")
    assert bits([saved]) == bits(model.run([x]))
    assert main(["run", str(path), "--pipeline", "dce"]) == 1
    assert "do not apply to an .npub blob" in capsys.readouterr().err
    assert main(["run", str(TF / "small_int8.tflite"), "--target", "rk1808"]) == 1


def _reason_lines(leg):
    """(node, "rule: reason (detail)") for every violated rule of every node on the CPU."""
    return [(v.node, f"{x.rule}: {x.reason}" + (f" ({x.detail})" if x.detail else ""))
            for v in leg.unsupported for x in v.violations]


@pytest.mark.parametrize("dtype, target", [(None, "rk1808"), ("u8", "rk3588")])
def test_legalized_blob_and_reports_print_every_reason(dtype, target, tmp_path, capsys):
    """Caffe MobileNet-SSD built without a predicate: the target's legalization places it. Its
    DetectionOutput is not in either target's op list; RKNPU2 has no u8 kernels, so the u8 model
    runs on rk3588's CPU. `npucc inspect` lists every violated rule of every CPU node (rule,
    reason, detail) under its partition, and so does the perf report."""
    import io

    from npucc.backends.npu.blob_reader import read_blob
    from npucc.backends.npu.cost import estimate
    from npucc.backends.npu.partition import conversions
    from npucc.backends.npu.report import print_report
    from npucc.quantization import quantize_model
    from npucc.targets import legalize

    model = npucc.compile(caffe.load(SSD, weights="random", input_shapes={"data": (1, 3, 96, 96)}))
    graph = model.graph
    if dtype:
        graph = quantize_model(graph, [random_inputs(graph, s) for s in range(2)], dtype=dtype,
                               progress=False).graph
    leg = legalize(graph, target)
    det = next(v for v in leg.unsupported if v.node.op == "DetectionOutput")
    assert any(x.detail == f"DetectionOutput is not in {target}'s NPU op list"
               for x in det.violations)
    lines = _reason_lines(leg)
    on_cpu = {id(n) for n, _ in lines}
    if dtype is None:
        assert on_cpu == {id(det.node)}
    else:  # every layer computing in u8
        assert on_cpu >= {id(n) for n in graph.nodes if any(v.type.quant for v in n.outputs)}
    path = npucc.write_blob(tmp_path / "ssd.npub", graph, target)
    assert main(["inspect", str(path)]) == 0
    shown = capsys.readouterr().out
    between = {n.outputs[0].name for n in conversions(read_blob(path).graph)}
    for node, line in lines:  # conversions between partitions are listed as such
        if node.outputs[0].name not in between:
            assert f"reason: {node.describe()}: {line}\n" in shown
    text = io.StringIO()
    print_report(estimate(graph, target, legalization=leg), file=text)
    flat = " ".join(text.getvalue().split())
    for _, line in lines:
        assert " ".join(line.split()) in flat
    if dtype is None:  # the same through `npucc perf`
        assert main(["perf", str(SSD), "--weights", "random", "--target", target]) == 0
        flat = " ".join(capsys.readouterr().out.split())
        assert all(" ".join(line.split()) in flat for _, line in lines)
