"""`npucc build` on a config written for Horizon's hb_mapper: its calibration data as raw
`tofile` binaries (float32 and uint8, NCHW RGB), input_type_train rgb with input_type_rt bgr,
norm_type data_mean_and_scale with space-separated strings, calibration_type max with
max_percentile, and BPU-only keys (march, optimize_level, ...) that npucc warns about. The build
equals the one from npucc's own keys with the same data as .npy files, and the built model (fed
BGR NHWC pixels) agrees with onnxruntime on the RGB-normalised image."""

import json

import numpy as np
import pytest
import yaml
from PIL import Image

from npucc.cli import main

from .conftest import cosine

ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the oracle")
torch = pytest.importorskip("torch", reason="torch (test extra) makes the test model")

MEAN = [123.675, 116.28, 103.53]
SCALE = [0.017125, 0.017507, 0.017429]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    d = tmp_path_factory.mktemp("hb")
    torch.manual_seed(0)
    nn = torch.nn
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2),
                      nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()
    torch.onnx.export(m, torch.zeros(1, 3, 24, 24), d / "net.onnx", input_names=["image"],
                      dynamo=False)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:24, 0:24].astype(np.float32)
    images = []  # smooth RGB pictures, NCHW, 0-255
    for _ in range(5):
        a, b, p = rng.uniform(-1, 1, (3, 3))
        img = 128 + 100 * np.sin(a[:, None, None] * xx / 5 + b[:, None, None] * yy / 4 + p[
            :, None, None] * 6)
        images.append(np.round(img).astype(np.float32)[None])
    for folder, dtype in (("cal_f32", np.float32), ("cal_u8", np.uint8)):
        (d / folder).mkdir()
        for k, img in enumerate(images):  # as hb_mapper's samples: x.tofile("name.rgbchw")
            img.astype(dtype).tofile(d / folder / f"sample_{k}.rgbchw")
    (d / "npy").mkdir()
    for k, img in enumerate(images):  # the same samples for npucc's own keys: BGR, which the
        np.save(d / "npy" / f"sample_{k}.npy", img[:, ::-1])  # built model takes
    return d, images


def hb_config(d, cal_dir, **calibration):
    cfg = {"model_parameters": {"onnx_model": "net.onnx", "march": "bernoulli2",
                                "working_dir": f"out_{cal_dir}", "output_model_file_prefix": "hb",
                                "layer_out_dump": False},
           "input_parameters": {"input_name": "", "input_type_train": "rgb",
                                "input_layout_train": "NCHW", "input_type_rt": "bgr",
                                "input_layout_rt": "NHWC", "input_shape": "1x3x24x24",
                                "norm_type": "data_mean_and_scale",
                                "mean_value": " ".join(map(str, MEAN)),
                                "scale_value": " ".join(map(str, SCALE))},
           "calibration_parameters": {"cal_data_dir": cal_dir, "calibration_type": "max",
                                      "max_percentile": 0.9999, **calibration},
           "compiler_parameters": {"compile_mode": "latency", "optimize_level": "O3",
                                   "core_num": 1, "target": "rk1808"}}
    path = d / f"hb_{cal_dir}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def native_config(d):
    cfg = {"model_parameters": {"onnx_model": "net.onnx", "working_dir": "out_native",
                                "output_model_file_prefix": "hb"},
           "input_parameters": {"input_layout_rt": "NHWC", "mean_value": MEAN,
                                "std_value": [1 / s for s in SCALE], "reorder_channel": [2, 1, 0]},
           "calibration_parameters": {"cal_data_dir": "npy", "calibration_type": "percentile",
                                      "percentile": 99.99, "quantized_dtype": "u8"},
           "compiler_parameters": {"target": "rk1808"}}
    path = d / "native.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def build(path, capsys):
    assert main(["build", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def _inspect(blob, capsys):
    capsys.readouterr()
    assert main(["inspect", blob]) == 0
    return capsys.readouterr().out


def run_blob(blob, x):
    import npucc

    return npucc.load_blob(blob).run([x])[0]


@pytest.mark.parametrize("cal_dir", ["cal_f32", "cal_u8"])  # dtype from the folder's suffix
def test_hb_mapper_config_builds_like_npuccs_own_keys(project, capsys, cal_dir):
    d, images = project
    ours, _ = build(native_config(d), capsys)
    theirs, err = build(hb_config(d, cal_dir), capsys)
    for key in ("march", "optimize_level", "compile_mode", "core_num", "layer_out_dump"):
        assert f"{key} (" in err and "hb_mapper option ignored" in err  # named, not silent
    assert theirs["calibration_samples"] == 5 and theirs["algorithm"] == "percentile"
    assert any(w.startswith("model_parameters.march ('bernoulli2')") for w in theirs["warnings"])
    assert ours["warnings"] == []
    q_ours = yaml.safe_load(open(ours["files"]["quant_config"]))
    q_theirs = yaml.safe_load(open(theirs["files"]["quant_config"]))
    assert q_theirs["ranges"] == q_ours["ranges"]
    rgb = images[0][0].transpose(1, 2, 0)  # HWC
    bgr = np.ascontiguousarray(rgb[None, :, :, ::-1])
    got = run_blob(theirs["files"]["blob"], bgr)
    np.testing.assert_array_equal(got, run_blob(ours["files"]["blob"], bgr))
    sess = ort.InferenceSession(str(d / "net.onnx"), providers=["CPUExecutionProvider"])
    x = ((rgb - MEAN) * SCALE).transpose(2, 0, 1)[None].astype(np.float32)
    assert cosine(got, sess.run(None, {"image": x})[0]) > 0.98
    # the blob records that it takes BGR pixels: `npucc run` feeds an image file reversed
    png = d / f"photo_{cal_dir}.png"
    Image.fromarray(rgb.astype(np.uint8)).save(png)
    saved = d / f"run_{cal_dir}"
    assert main(["run", theirs["files"]["blob"], "-i", str(png), "--save", str(saved)]) == 0
    assert "pixels=bgr" in _inspect(theirs["files"]["blob"], capsys)
    (out,) = [np.load(p) for p in sorted(saved.glob("*.npy"))]
    np.testing.assert_array_equal(out, got)


def test_explicit_cal_data_type_overrides_the_folder_rule(project, capsys):
    d, _ = project
    (d / "renamed").mkdir(exist_ok=True)
    for p in (d / "cal_f32").iterdir():
        (d / "renamed" / p.name).write_bytes(p.read_bytes())
    summary, _ = build(hb_config(d, "renamed", cal_data_type="float32"), capsys)
    reference, _ = build(hb_config(d, "cal_f32"), capsys)
    assert yaml.safe_load(open(summary["files"]["quant_config"]))["ranges"] == \
        yaml.safe_load(open(reference["files"]["quant_config"]))["ranges"]


@pytest.mark.parametrize("change, message", [
    ({"calibration_parameters": {"calibration_type": "skip"}},
     "calibration_parameters.calibration_type: hb_mapper's 'skip' is not supported"),
    ({"calibration_parameters": {"max_percentile": 1.5}},
     "calibration_parameters.max_percentile: expected a number in (0, 1]"),
    ({"calibration_parameters": {"cal_data_type": "int4"}},
     "calibration_parameters.cal_data_type: 'int4' is not float32 or uint8"),
    ({"input_parameters": {"norm_type": "data_std"}},
     "input_parameters.norm_type: 'data_std' is not one of"),
    ({"input_parameters": {"input_type_rt": "yuv420sp"}},
     "input_parameters.input_type_rt: 'yuv420sp' is not one of"),
    ({"input_parameters": {"input_shape": "1x3xAx24"}},
     "input_parameters.input_shape: '1x3xAx24' is not dimensions joined by 'x'"),
    ({"calibration_parameters": {"cal_data_dir": "cal_f32;cal_u8"}},
     "calibration_parameters.cal_data_type: the calibration folders' names say float32 (_f32) "
     "for some and uint8 for others"),
    ({"input_parameters": {"reorder_channel": [2, 1, 0]}},
     "input_parameters.reorder_channel: input_type_train rgb with input_type_rt bgr already"),
])
def test_hb_mapper_key_errors_name_the_file_and_the_key(project, capsys, change, message):
    d, _ = project
    path = hb_config(d, "cal_f32")
    cfg = yaml.safe_load(path.read_text())
    for section, keys in change.items():
        cfg[section].update(keys)
    path.write_text(yaml.safe_dump(cfg))
    assert main(["build", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and message in err


def test_a_raw_sample_of_the_wrong_size_names_the_file_and_the_sizes(project, capsys):
    d, images = project
    (d / "short_f32").mkdir(exist_ok=True)
    images[0].tofile(d / "short_f32" / "a.bin")
    images[0][:, :, :20].tofile(d / "short_f32" / "b.bin")  # 4 rows missing
    assert main(["build", str(hb_config(d, "short_f32"))]) == 1
    err = capsys.readouterr().err
    assert "b.bin holds 5760 bytes; input %image [1, 3, 24, 24] float32 (NCHW) takes 6912" in err


class TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.fc = torch.nn.Linear(4, 6)

    def forward(self, img, vec):
        return self.conv(img).mean((2, 3)) * torch.sigmoid(self.fc(vec))


def test_one_calibration_folder_per_input_in_input_names_order(tmp_path, capsys):
    """hb_mapper's multi-input form: cal_data_dir 'a;b' and input_name 'vec;img' (not the graph's
    order), featuremap inputs, per-input values joined by ';'. The ranges equal those of a
    dataset.txt listing the same arrays as .npy in graph order; the build follows onnxruntime."""
    torch.manual_seed(5)
    torch.onnx.export(TwoInputs().eval(), (torch.zeros(1, 3, 8, 8), torch.zeros(1, 4)),
                      tmp_path / "two.onnx", input_names=["img", "vec"], dynamo=False)
    rng = np.random.default_rng(7)
    (tmp_path / "vec_f32").mkdir()
    (tmp_path / "img_f32").mkdir()
    lines = []
    for k in range(4):
        img, vec = rng.normal(size=(1, 3, 8, 8)), rng.normal(size=(1, 4))
        img.astype(np.float32).tofile(tmp_path / "img_f32" / f"{k}.bin")
        vec.astype(np.float32).tofile(tmp_path / "vec_f32" / f"{k}.bin")
        np.save(tmp_path / f"img{k}.npy", img.astype(np.float32))
        np.save(tmp_path / f"vec{k}.npy", vec.astype(np.float32))
        lines.append(f"img{k}.npy vec{k}.npy")
    (tmp_path / "dataset.txt").write_text("\n".join(lines) + "\n")
    hb = {"model_parameters": {"onnx_model": "two.onnx", "march": "bayes",
                               "working_dir": "out_hb", "output_model_file_prefix": "two"},
          "input_parameters": {"input_name": "vec;img", "input_shape": "1x4;1x3x8x8",
                               "input_type_train": "featuremap;featuremap",
                               "input_type_rt": "featuremap;featuremap",
                               "input_layout_train": "NCHW;NCHW", "input_layout_rt": "NCHW",
                               "norm_type": "no_preprocess;no_preprocess"},
          "calibration_parameters": {"cal_data_dir": "vec_f32;img_f32",
                                     "calibration_type": "max"},
          "compiler_parameters": {"target": "rk3588"}}
    native = {"model_parameters": {"onnx_model": "two.onnx", "working_dir": "out_native",
                                   "output_model_file_prefix": "two"},
              "input_parameters": {"input_layout_rt": "NCHW"},
              "calibration_parameters": {"cal_data_dir": "dataset.txt"},
              "compiler_parameters": {"target": "rk3588"}}
    results = []
    for name, cfg in (("hb", hb), ("native", native)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
        summary, _ = build(tmp_path / f"{name}.yaml", capsys)
        assert summary["calibration_samples"] == 4
        results.append(summary)
    ranges = [yaml.safe_load(open(s["files"]["quant_config"]))["ranges"] for s in results]
    assert ranges[0] == ranges[1]
    img, vec = rng.normal(size=(1, 3, 8, 8)).astype(np.float32), \
        rng.normal(size=(1, 4)).astype(np.float32)
    import npucc

    got = npucc.load_blob(results[0]["files"]["blob"]).run([img, vec])[0]
    sess = ort.InferenceSession(str(tmp_path / "two.onnx"), providers=["CPUExecutionProvider"])
    assert cosine(got, sess.run(None, {"img": img, "vec": vec})[0]) > 0.98
    hb["calibration_parameters"]["max_samples"] = 2  # applies to folders per input too
    hb["model_parameters"]["working_dir"] = "out_two"
    (tmp_path / "hb2.yaml").write_text(yaml.safe_dump(hb))
    summary, _ = build(tmp_path / "hb2.yaml", capsys)
    assert summary["calibration_samples"] == 2
    cfg = dict(hb, calibration_parameters={"cal_data_dir": "vec_f32;dataset.txt",
                                           "cal_data_type": "float32"})
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["build", str(tmp_path / "bad.yaml")]) == 1
    assert "calibration_parameters.cal_data_dir: " in capsys.readouterr().err  # not a folder


class TwoImages(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, left, right):
        return torch.relu(self.a(left)) + self.b(right)


def test_per_input_normalisation_of_a_two_image_model(tmp_path, capsys):
    """hb_mapper's per-input preprocessing ("a;b": norm_type data_mean_and_scale for one input,
    data_mean for the other; mean_value and scale_value per input) is folded into each input:
    the blob, fed raw pixels, follows onnxruntime on the inputs normalised by hand; npucc's own
    form (input_name a list, per-input lists with null) builds the same ranges; a per-input
    list of the wrong length names the key."""
    torch.manual_seed(3)
    torch.onnx.export(TwoImages().eval(), (torch.zeros(1, 3, 12, 12), torch.zeros(1, 3, 12, 12)),
                      tmp_path / "two.onnx", input_names=["left", "right"], dynamo=False)
    rng = np.random.default_rng(4)
    for folder in ("cal_left", "cal_right"):
        (tmp_path / folder).mkdir()
        for k in range(3):
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(
                tmp_path / folder / f"{k}.png")
    mean_l, scale_l, mean_r = [120.0, 110.0, 100.0], [0.02, 0.015, 0.01], [60.0, 70.0, 80.0]
    hb = {"model_parameters": {"onnx_model": "two.onnx", "march": "bayes",
                               "working_dir": "out_hb", "output_model_file_prefix": "two"},
          "input_parameters": {"input_name": "left;right", "input_type_train": "rgb;rgb",
                               "input_type_rt": "rgb;rgb", "input_layout_rt": "NCHW",
                               "norm_type": "data_mean_and_scale;data_mean",
                               "mean_value": " ".join(map(str, mean_l)) + ";" + " ".join(
                                   map(str, mean_r)),
                               "scale_value": " ".join(map(str, scale_l)) + ";1 1 1"},
          "calibration_parameters": {"cal_data_dir": "cal_left;cal_right",
                                     "calibration_type": "max"},
          "compiler_parameters": {"target": "rk3588"}}
    native = {"model_parameters": {"onnx_model": "two.onnx", "working_dir": "out_native",
                                   "output_model_file_prefix": "two"},
              "input_parameters": {"input_name": ["left", "right"], "input_layout_rt": "NCHW",
                                   "mean_value": [mean_l, mean_r],
                                   "std_value": [[1 / s for s in scale_l], None]},
              "calibration_parameters": {"cal_data_dir": ["cal_left", "cal_right"],
                                         "cal_data_inputs": ["left", "right"],
                                         "calibration_type": "normal"},
              "compiler_parameters": {"target": "rk3588"}}
    results = []
    for name, cfg in (("hb", hb), ("native", native)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
        results.append(build(tmp_path / f"{name}.yaml", capsys)[0])
    ranges = [yaml.safe_load(open(s["files"]["quant_config"]))["ranges"] for s in results]
    assert ranges[0] == ranges[1]
    left = rng.integers(0, 256, (1, 3, 12, 12)).astype(np.float32)
    right = rng.integers(0, 256, (1, 3, 12, 12)).astype(np.float32)
    got = run_blob_inputs(results[0]["files"]["blob"], [left, right])
    sess = ort.InferenceSession(str(tmp_path / "two.onnx"), providers=["CPUExecutionProvider"])
    col = (1, 3, 1, 1)
    want = sess.run(None, {
        "left": ((left - np.reshape(mean_l, col)) * np.reshape(scale_l, col)).astype(np.float32),
        "right": (right - np.reshape(mean_r, col)).astype(np.float32)})[0]
    assert cosine(got, want) > 0.98
    hb["input_parameters"]["mean_value"] = "1 2 3;4 5 6;7 8 9"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(hb))
    assert main(["build", str(tmp_path / "bad.yaml")]) == 1
    assert "input_parameters.mean_value: 3 per-input values" in capsys.readouterr().err
    native["input_parameters"]["std_value"] = [[1.0, 1.0, 1.0]]
    (tmp_path / "bad2.yaml").write_text(yaml.safe_dump(native))
    assert main(["build", str(tmp_path / "bad2.yaml")]) == 1
    err = capsys.readouterr().err
    assert "input_parameters.std_value: 1 per-input entries" in err and "bad2.yaml" in err


def run_blob_inputs(blob, inputs):
    import npucc

    return npucc.load_blob(blob).run(inputs)[0]


def test_run_on_cpu_and_node_info_set_layer_precisions(project, capsys):
    """run_on_cpu keeps a layer float (on the CPU), node_info's int16 makes one 16-bit; the
    build still follows onnxruntime, and an unknown layer name is an error naming the key."""
    d, images = project
    path = hb_config(d, "cal_f32")
    cfg = yaml.safe_load(path.read_text())
    cfg["model_parameters"]["working_dir"] = "out_nodes"
    cfg["calibration_parameters"]["run_on_cpu"] = "/6/Gemm"
    cfg["model_parameters"]["node_info"] = {"/2/Conv": {"ON": "BPU", "InputType": "int16",
                                                        "OutputType": "int16"}}
    path.write_text(yaml.safe_dump(cfg))
    summary, _ = build(path, capsys)
    quant = yaml.safe_load(open(summary["files"]["quant_config"]))
    assert quant["layer_dtypes"] == {"/6/Gemm": "f32", "/2/Conv": "dfp16"}
    assert summary["layers_cpu"] >= 1
    rgb = images[0][0].transpose(1, 2, 0)
    got = run_blob(summary["files"]["blob"], np.ascontiguousarray(rgb[None, :, :, ::-1]))
    sess = ort.InferenceSession(str(d / "net.onnx"), providers=["CPUExecutionProvider"])
    x = ((rgb - MEAN) * SCALE).transpose(2, 0, 1)[None].astype(np.float32)
    assert cosine(got, sess.run(None, {"image": x})[0]) > 0.98
    cfg["calibration_parameters"]["run_on_cpu"] = "/9/Missing"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["build", str(path)]) == 1
    assert "calibration_parameters.layer_dtypes: layer '/9/Missing' is neither a source layer" \
        in capsys.readouterr().err
