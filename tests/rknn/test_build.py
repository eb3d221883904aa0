"""`npucc build CONFIG.yaml` end to end on a torch-exported ONNX model with a jpg dataset: the
blob runs (through `npucc run IMAGE.jpg`) like onnxruntime on the preprocessed image; the report
is one self-contained page whose layer table names the ONNX model's own nodes; config errors
name the file and the key."""

import json
import os
import re
from html.parser import HTMLParser

import numpy as np
import onnx
import pytest
import yaml
from PIL import Image

from npucc.cli import main
from npucc.errors import NpuccError

from .conftest import cosine, rel_err, write_images

ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the oracle")
torch = pytest.importorskip("torch", reason="torch (test extra) makes the test model")

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    d = tmp_path_factory.mktemp("build")
    torch.manual_seed(0)
    nn = torch.nn
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.Conv2d(8, 16, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(16, 7)).eval()
    torch.onnx.export(m, torch.zeros(1, 3, 32, 32), d / "net.onnx", input_names=["image"],
                      dynamo=False)
    (d / "calib").mkdir()
    write_images(d / "calib", (48, 40), 6)  # resized to the input by the dataset reader
    write_images(d, (32, 32), 1, seed=9)
    return d


def write_config(d, name, dtype, **extra):
    cfg = {"model_parameters": {"onnx_model": "net.onnx", "working_dir": f"out_{name}",
                                "output_model_file_prefix": name},
           "input_parameters": {"mean_value": MEAN, "std_value": STD},
           "calibration_parameters": {"cal_data_dir": "calib", "quantized_dtype": dtype},
           "compiler_parameters": {"target": "rk1808"}}
    for key, val in extra.items():
        section, k = key.split("__")
        cfg[section][k] = val
    path = d / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def reference(d):
    img = np.asarray(Image.open(d / "img_0.jpg").convert("RGB"), np.float32)
    x = ((img - MEAN) / STD).transpose(2, 0, 1)[None].astype(np.float32)
    sess = ort.InferenceSession(str(d / "net.onnx"), providers=["CPUExecutionProvider"])
    return sess.run(None, {"image": x})[0]


def build_and_run(d, name, dtype, capsys):
    path = write_config(d, name, dtype)
    assert main(["build", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    out = d / f"out_{name}"
    assert main(["run", str(out / f"{name}.npub"), "-i", str(d / "img_0.jpg"), "--save",
                 str(out / "outs")]) == 0
    capsys.readouterr()
    (got,) = [np.load(p) for p in sorted((out / "outs").glob("*.npy"))]
    return summary, got


def test_float_build_runs_a_jpg_like_onnxruntime(project, capsys):
    summary, got = build_and_run(project, "f32", "f32", capsys)
    assert rel_err(got, reference(project)) < 1e-4
    assert summary["dtype"] == "f32" and "quant_config" not in summary["files"]


def test_quantized_build_writes_blob_config_report(project, capsys):
    summary, got = build_and_run(project, "u8", "u8", capsys)
    assert cosine(got, reference(project)) > 0.98
    files = summary["files"]
    assert summary["blob_bytes"] == (project / "out_u8" / "u8.npub").stat().st_size
    assert summary["calibration_samples"] == 6
    quant = yaml.safe_load(open(files["quant_config"]))
    assert quant["dtype"] == "u8" and quant["ranges"]
    assert all(lo <= hi for lo, hi in quant["ranges"].values())
    check_report(files["report"], project / "net.onnx")


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.rows, self.cell, self.row, self.in_td = [], [], "", None, False
        self.external = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        if tag in ("script", "link", "img", "iframe") or a.get("src"):
            self.external.append(tag)
        if tag == "tr":
            self.row = []
        if tag == "td":
            self.in_td, self.cell = True, ""

    def handle_endtag(self, tag):
        if tag == "td":
            self.row.append(self.cell.strip())
            self.in_td = False
        if tag == "tr" and self.row:
            self.rows.append(self.row)

    def handle_data(self, data):
        if self.in_td:
            self.cell += data


def check_report(path, onnx_path):
    page = _Page()
    page.feed(open(path, encoding="utf-8").read())
    assert not page.external, "the report is self-contained"
    assert page.tags.count("svg") >= 1 and "table" in page.tags
    node_names = {n.name for n in onnx.load(str(onnx_path)).graph.node}
    sources = {s.strip() for row in page.rows for s in row[1].split(",")}
    # every conv of the source model is named in the table (through fusion)
    convs = {n.name for n in onnx.load(str(onnx_path)).graph.node if n.op_type == "Conv"}
    assert convs <= sources
    assert sources & node_names
    for row in page.rows:  # a CPU layer says why
        assert row[4] in ("NPU", "CPU") and (row[4] == "NPU" or row[5])


@pytest.mark.parametrize("extra, message", [
    ({"model_parameters__onnx_model": "missing.onnx"},
     "model_parameters.onnx_model: no such file or folder"),
    ({"calibration_parameters__quantized_dtype": "u3"}, "calibration_parameters.quantized_dtype"),
    ({"input_parameters__input_layout_rt": "HWNC"}, "input_parameters.input_layout_rt"),
    ({"compiler_parameters__report": "yes"}, "compiler_parameters.report: expected bool"),
    ({"compiler_parameters__speed": 3}, "compiler_parameters.speed: unknown key"),
    ({"compiler_parameters__target": "rk9999"}, "compiler_parameters.target: unknown target"),
    ({"compiler_parameters__target": "rk3588"},  # RKNPU2 has no u8: all CPU otherwise
     "calibration_parameters.quantized_dtype: rk3588 does not store u8 (u8): every layer "
     "would fall back to the CPU; the quantized_dtype values it runs: i8 (asymmetric_quantized-8"),
    # every value is checked when the config is read, not deep in the build (hostile configs)
    ({"model_parameters__output_model_file_prefix": "../../escaped"},
     "model_parameters.output_model_file_prefix: '../../escaped' is not a file name"),
    ({"model_parameters__output_model_file_prefix": "/etc/passwd"}, "is not a file name"),
    ({"model_parameters__working_dir": "out\0x"}, "model_parameters.working_dir: a NUL"),
    ({"model_parameters__input_shapes": {"image": [1, 3, "x", 32]}},
     "model_parameters.input_shapes: 'image': expected a list of dimensions >= 1"),
    ({"model_parameters__input_shapes": {"image": [1 << 40, 1 << 40]}},
     "model_parameters.input_shapes: input image has shape"),
    ({"model_parameters__outputs": [1, [2]]}, "model_parameters.outputs: expected a list of "
                                              "tensor names"),
    ({"input_parameters__mean_value": [1, float("nan"), 2]},
     "input_parameters.mean_value: expected finite numbers"),
    ({"input_parameters__mean_value": [[1, 2, 3]]}, "input_parameters.mean_value: expected"),
    ({"input_parameters__std_value": "58 0 57"}, "input_parameters.std_value: [58.0, 0.0, 57.0] "
                                                 "has a zero"),
    ({"input_parameters__reorder_channel": [2, 2, 0]},
     "input_parameters.reorder_channel: [2, 2, 0] is not a permutation"),
    ({"calibration_parameters__calibration_type": "magic"},
     "calibration_parameters.calibration_type: unknown 'magic'"),
    ({"calibration_parameters__max_samples": -1},
     "calibration_parameters.max_samples: expected an integer >= 1, got -1"),
    ({"calibration_parameters__max_samples": True},
     "calibration_parameters.max_samples: expected int, got True"),
    ({"model_parameters__onnx_model": None, "model_parameters__pytorch_model": "net.onnx"},
     "model_parameters.input_shapes: a TorchScript model does not record its input shapes"),
    ({"calibration_parameters__cal_data_dir": "/dev/zero"},
     "calibration_parameters.cal_data_dir: /dev/zero is not a regular file or a folder"),
])
def test_config_errors_name_the_file_and_the_key(project, capsys, extra, message):
    path = write_config(project, "bad", "u8", **extra)
    assert main(["build", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and message in err


def test_build_fuses_pools_by_the_targets_rules(tmp_path, capsys):
    """RKNPU1 fuses a 2x2/2 max-pool into the conv before it, RKNPU2 does not (target files'
    pool_fusion): each build follows its own target, so every layer stays on the NPU, and the
    blobs compute what onnxruntime computes."""
    torch.manual_seed(1)
    nn = torch.nn
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
                      nn.Conv2d(8, 4, 1), nn.Flatten()).eval()
    torch.onnx.export(m, torch.zeros(1, 3, 32, 32), tmp_path / "net.onnx", input_names=["image"],
                      dynamo=False)
    (tmp_path / "calib").mkdir()
    write_images(tmp_path / "calib", (32, 32), 4)
    write_images(tmp_path, (32, 32), 1, seed=9)
    want = reference(tmp_path)
    for target, dtype, fused in (("rk1808", "u8", True), ("rk3588", "i8", False)):
        path = write_config(tmp_path, target, dtype, compiler_parameters__target=target)
        assert main(["build", str(path), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["layers_cpu"] == 0, summary
        out = tmp_path / f"out_{target}"
        assert main(["run", str(out / f"{target}.npub"), "-i", str(tmp_path / "img_0.jpg"),
                     "--save", str(out / "outs")]) == 0
        capsys.readouterr()
        (got,) = [np.load(p) for p in sorted((out / "outs").glob("*.npy"))]
        assert cosine(got, want) > 0.99
        from npucc.backends.npu.blob_reader import read_blob

        ops = [n.op for n in read_blob(out / f"{target}.npub").graph.nodes
               for n in (n.attrs["body"].nodes if n.op == "Partition" else [n])]
        assert ("MaxPool" not in ops) == fused, ops


def test_yaml_files_that_are_not_text_or_not_mappings_are_npucc_errors(tmp_path, capsys):
    """Build configs, target files and hybrid files share one reader: bytes that are not UTF-8
    and YAML that is not a mapping are errors naming the file, never a raw UnicodeDecodeError."""
    from npucc.errors import NpuccError
    from npucc.quantization.hybrid import read_hybrid_config
    from npucc.targets import get_target

    binary, listing = tmp_path / "bin.yaml", tmp_path / "list.yaml"
    binary.write_bytes(b"\xff\xfe\x00binary")
    listing.write_text("- a\n")
    assert main(["build", str(binary)]) == 1
    assert f"{binary}: cannot read the build config" in capsys.readouterr().err
    assert main(["build", str(listing)]) == 1
    assert f"{listing}: a build config is a mapping of keys" in capsys.readouterr().err
    for read in (get_target, read_hybrid_config):
        with pytest.raises(NpuccError, match="bin.yaml: cannot read the"):
            read(str(binary))
        with pytest.raises(NpuccError, match="list.yaml: a .* is a mapping of keys, got list"):
            read(str(listing))


@pytest.mark.parametrize("kind, text, message", [
    ("deep", "a: " + "[" * 20000 + "]" * 20000 + "\n", "not valid YAML: nested too deeply"),
    ("digits", "a: " + "9" * 5000 + "\n", "not valid YAML: Exceeds the limit"),
    ("special", None, "is not a regular file"),
])
def test_hostile_yaml_is_an_npucc_error_naming_the_file(tmp_path, capsys, kind, text, message):
    """The shared reader turns YAML that would raise RecursionError or ValueError (an integer
    beyond Python's 4300 digits), and files that never end (/dev/zero, a FIFO), into errors
    naming the file."""
    from npucc.errors import NpuccError
    from npucc.quantization.hybrid import read_hybrid_config
    from npucc.targets import get_target

    path = tmp_path / f"{kind}.yaml"
    if text is None:
        os.mkfifo(path)  # open() would block forever
    else:
        path.write_text(text)
    assert main(["build", str(path)]) == 1
    assert f"{path}: " in capsys.readouterr().err
    for read in (get_target, read_hybrid_config):
        with pytest.raises(NpuccError, match=f"{kind}.yaml: .*{re.escape(message)}"):
            read(str(path))


def test_billion_laughs_fails_fast_with_a_short_message(tmp_path):
    """YAML aliases that expand to 10**9 elements load as shared references; an error message
    quoting such a value must not expand it (it would take hours and all memory)."""
    import time

    from npucc.quantization.hybrid import HybridConfigError, read_hybrid_config
    from npucc.targets import get_target
    from tests.fuzz.format_fixtures import billion_laughs

    hybrid, target = tmp_path / "h.yaml", tmp_path / "t.yaml"
    hybrid.write_text(f"default_dtype: {billion_laughs()}\n")
    target.write_text(f"extends: rk3588\nmacs_per_cycle: {billion_laughs()}\n")
    start = time.perf_counter()
    with pytest.raises(HybridConfigError, match=r"h.yaml: default_dtype: unknown dtype \[\[") as e:
        read_hybrid_config(hybrid)
    assert len(str(e.value)) < 700
    with pytest.raises(NpuccError, match=r"t.yaml: macs_per_cycle: expected a mapping .*\[\[") as e:
        get_target(target)
    assert len(str(e.value)) < 300
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("dtype", ["i8", "fp16"])
def test_an_already_quantized_model_builds_with_its_own_parameters(tmp_path, capsys, dtype):
    """An int8 TFLite model carries its quantization: `npucc build` (whatever quantized_dtype
    says) and the RKNN facade (do_quantization=True) keep it, say so, and the blob computes
    LiteRT's integers exactly (fp16 was an internal 'QuantizeLinear takes a float tensor')."""
    from npucc.api import load_blob
    from npucc.rknn import RKNN
    from tests.frontends.tflite.oracle import fixture

    path, inputs, expected, _ = fixture("small_int8")
    cfg = {"model_parameters": {"tflite_model": str(path), "working_dir": "out"},
           "compiler_parameters": {"target": "rk3588"},
           "calibration_parameters": {"quantized_dtype": dtype, "cal_data_dir": "."}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["build", str(tmp_path / "c.yaml")]) == 0
    out, err = capsys.readouterr()
    assert "for rk3588 (i8)" in out
    assert f"already quantized (i8): its own parameters are kept; quantized_dtype {dtype}" in err
    got = load_blob(tmp_path / "out" / "small_int8.npub").run(inputs)
    for g, want in zip(got, expected):
        np.testing.assert_array_equal(g, want)

    rknn = RKNN()
    rknn.config(target_platform="rk3588")
    assert rknn.load_tflite(str(path)) == 0
    assert rknn.build(do_quantization=True, dataset=None) == 0
    assert "already quantized (i8): its own parameters are kept; do_quantization" in \
        capsys.readouterr().out
    rknn.init_runtime()
    for g, want in zip(rknn.inference(inputs=inputs), expected):
        np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("target, dtype, per_channel", [
    ("rk1808", "u8", False), ("rv1126", "u8", False), ("rk3588", "i8", True),
    ("rk3566", "i8", True), ("generic", "u8", False)])
def test_quantized_dtype_defaults_to_what_the_target_stores(tmp_path, target, dtype, per_channel):
    """Without quantized_dtype, a build config takes the target generation's RKNN default:
    asymmetric u8 per layer where the target stores u8 (RKNPU1), else w8a8 (i8, per-channel
    weights: RKNN-Toolkit2's quantized_method=channel); a minimal rk3588 config was refused."""
    from npucc.cli.build_config import load_build_config

    (tmp_path / "net.onnx").write_bytes(b"")  # only the path is checked here
    (tmp_path / "calib").mkdir()
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({
        "model_parameters": {"onnx_model": "net.onnx"},
        "calibration_parameters": {"cal_data_dir": "calib"},
        "compiler_parameters": {"target": target}}))
    cfg = load_build_config(path)
    assert (cfg.dtype, cfg.per_channel) == (dtype, per_channel)


def test_a_darknet_cfg_without_weights_builds_with_a_warning(tmp_path, capsys):
    """No darknet_weights: random weights, said on stderr and in the report's notes (never a
    silent structure-only blob)."""
    from pathlib import Path

    models = Path(__file__).resolve().parents[1] / "models"
    cfg = {"model_parameters": {"darknet_cfg": str(models / "darknet" / "yolov3-tiny.cfg"),
                                "input_shapes": [[1, 3, 64, 64]], "working_dir": "out"},
           "calibration_parameters": {"quantized_dtype": "f32"},
           "compiler_parameters": {"target": "rk3588"}}
    path = tmp_path / "dk.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["build", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "darknet_weights is not given: the model gets random weights" in captured.err
    report = open(summary["files"]["report"], encoding="utf-8").read()
    assert "darknet_weights is not given" in report
