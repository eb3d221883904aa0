"""The npucc command line: `passes` and `opt`, output handling and error reporting."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from npucc.cli import main
from npucc.ir import run_graph
from npucc.ir.text import parse

MODEL = """graph m(%x: f32[2,3]) -> (%out) {
  %one = const f32[2,3] dense<1.0>
  %two = const f32[2,3] dense<2.0>
  %i = Identity(%x) : f32[2,3]
  %three = Add(%one, %two) : f32[2,3]
  %a = Add(%i, %three) : f32[2,3]
  %b = Add(%i, %three) : f32[2,3]
  %dead = Relu(%a) : f32[2,3]
  %out = Mul(%a, %b) : f32[2,3]
  return %out
}
"""

OPTIMIZED = """graph m(%x: f32[2,3]) -> (%out) {
  %three = const f32[2,3] dense<3.0>
  %a = Add(%x, %three) : f32[2,3]
  %out = Mul(%a, %a) : f32[2,3]
  return %out
}
"""


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "model.npuir"
    path.write_text(MODEL)
    return path


def test_passes_lists_names_options_and_summaries(capsys):
    assert main(["passes"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert {"dce", "cse", "fold-constants", "eliminate-noops"} <= set(lines)
    assert "max-elements=16777216" in lines["fold-constants"]
    assert "Evaluate nodes whose inputs are all constants" in lines["fold-constants"]
    assert main(["passes", "--verbose"]) == 0
    assert "Guarantee:" in capsys.readouterr().out


@pytest.fixture
def pass_with_a_long_option():
    """A registered pass whose default option prints as ~200 characters (a rule table)."""
    import attrs

    from npucc.passes import Pass, register_pass
    from npucc.passes.base import _PASSES

    @register_pass
    @attrs.frozen
    class LongOption(Pass):
        """Zz: a pass with a long option, for the table layout test."""

        name = "zz-long-option"
        rules: tuple = tuple(f"rule-{i}-with-a-long-name" for i in range(10))

        def run(self, graph):
            return graph

    yield LongOption
    del _PASSES["zz-long-option"]


def test_passes_table_keeps_a_long_option_in_its_cell(capsys, pass_with_a_long_option):
    # a ~200-character option is cut, one option a line, so the summaries of every other pass
    # still start in one narrow column
    assert main(["passes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0]
    assert header.split() == ["PASS", "OPTIONS", "GUARANTEE"]
    col = header.index("GUARANTEE")
    assert col <= 60
    rows = {line.split()[0]: line for line in lines[1:] if not line.startswith(" ")}
    assert rows["dce"][col:].startswith("Remove nodes and constants")
    assert rows["fuse-conv-pool"][col:].startswith("Fuse a MaxPool")
    long = rows["zz-long-option"]
    assert long[col:].startswith("Zz: a pass with a long option")
    assert long.split()[1].startswith("rules=[rule-0") and long[:col].rstrip().endswith("...")


def test_opt_default_pipeline_to_stdout(model, capsys):
    assert main(["opt", str(model)]) == 0
    out = capsys.readouterr().out
    assert out == OPTIMIZED
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_graph(parse(out), [x])[0], (x + 3) * (x + 3))


def test_opt_writes_output_file_atomically(model, tmp_path, capsys):
    out = tmp_path / "out.npuir"
    out.write_text("old contents")
    assert main(["opt", str(model), "-p", "eliminate-noops,fold-constants,cse,dce",
                 "--verify-each", "--validate-each", "-o", str(out)]) == 0
    assert out.read_text() == OPTIMIZED
    assert capsys.readouterr().out == ""
    assert sorted(os.listdir(tmp_path)) == ["model.npuir", "out.npuir"]  # no temp file left
    assert out.stat().st_mode & 0o777 == 0o644  # readable by others, not mkstemp's 0600


def test_opt_print_before_after_and_timing_go_to_stderr(model, capsys):
    assert main(["opt", str(model), "--pipeline", "fold-constants,dce", "--print-before", "dce",
                 "--print-after", "fold-constants", "--timing"]) == 0
    captured = capsys.readouterr()
    err = captured.err
    assert "// ----- IR after fold-constants -----" in err
    assert "// ----- IR before dce -----" in err
    assert "%dead = Relu" in err.split("// ----- IR before dce -----")[1]
    assert "%dead" not in captured.out
    assert any(line.startswith("total") for line in err.splitlines())


def test_empty_pipeline_round_trips(model, capsys):
    assert main(["opt", str(model), "--pipeline", ""]) == 0
    assert capsys.readouterr().out == MODEL


@pytest.mark.parametrize("argv, message", [
    (["opt", "{model}", "-p", "dce,nope"], "npucc: error: unknown pass 'nope'; known passes:"),
    (["opt", "{model}", "-p", "dce", "--print-after", "cse"], "names pass 'cse', which is not in"),
    (["opt", "{missing}"], "missing.npuir: cannot read: No such file or directory"),
    (["opt", "{bad}"], "npucc: error: "),
    (["opt", "{binary}"], "binary.npuir: not UTF-8 text (byte 1: invalid start byte)"),
    # a splat (or a filled elided payload) allocates what the type declares: bounded first
    (["opt", "{huge}"], "huge.npuir:2:3: constant %w has shape [99999999999]: 399999999996 bytes"),
])
def test_errors_are_one_line_without_traceback(model, tmp_path, capsys, argv, message):
    bad = tmp_path / "bad.npuir"
    bad.write_text("graph m(%x: f32[2]) -> (%y) {\n  %y = Relu(%zz) : f32[2]\n  return %y\n}\n")
    (tmp_path / "binary.npuir").write_bytes(b"g\xff\xfe graph")
    (tmp_path / "huge.npuir").write_text(
        "graph m(%x: f32[4]) -> (%y) {\n  %w = const f32[99999999999] dense<1.0>\n"
        "  %y = Add(%x, %w)\n  return %y\n}\n")
    paths = {"model": model, "missing": tmp_path / "missing.npuir", "bad": bad,
             "binary": tmp_path / "binary.npuir", "huge": tmp_path / "huge.npuir"}
    argv = [a.format(**paths) for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) or message in err
    assert "Traceback" not in err
    assert main(argv + ["--traceback"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["opt"])
    assert e.value.code == 2
    assert "npucc opt: error: the following arguments are required: file" in capsys.readouterr().err


def test_console_script_runs(model):
    exe = shutil.which("npucc")
    cmd = [exe] if exe else [sys.executable, "-m", "npucc.cli"]
    proc = subprocess.run(cmd + ["opt", str(model), "-p", "nope"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("npucc: error: unknown pass 'nope'")
    proc = subprocess.run(cmd + ["opt", "-", "-p", "dce"], input=MODEL, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "%dead" not in proc.stdout


# ---- npucc show / npucc run, on the README's demo model, against onnxruntime ----

@pytest.fixture
def demo_onnx(tmp_path):
    from npucc.examples import main as write_demo

    path = tmp_path / "demo.onnx"
    assert write_demo([str(path)]) == 0
    return path


def test_run_matches_onnxruntime_and_dumps_every_layer(demo_onnx, tmp_path, capsys):
    import json

    import onnxruntime as ort

    x = np.random.default_rng(3).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out_dir, dump_dir = tmp_path / "out", tmp_path / "layers"
    assert main(["run", str(demo_onnx), "-i", f"image={tmp_path / 'x.npy'}", "--save",
                 str(out_dir), "--dump", str(dump_dir)]) == 0
    printed = capsys.readouterr().out
    assert "probs: float32[1, 10]" in printed and "top-5" in printed
    (want,) = ort.InferenceSession(str(demo_onnx)).run(None, {"image": x})
    got = np.load(out_dir / "probs.npy")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    index = json.loads((dump_dir / "index.json").read_text())
    entries = index if isinstance(index, list) else index.get("layers", index.get("nodes", []))
    assert entries and all((dump_dir / e["file"]).exists() for e in entries)


def test_shape_fixes_dynamic_dims_named_or_in_input_order(tmp_path, capsys):
    """--shape NAME=DIMS or a bare DIMS (the model's inputs in order) on an export with dynamic
    batch and size: the run follows onnxruntime; mixed forms and an empty name are errors."""
    onnx = pytest.importorskip("onnx", reason="onnx builds the model")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the oracle")
    from onnx import TensorProto, helper

    w = np.random.default_rng(1).normal(size=(4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])], "dyn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel())])
    path = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    x = np.random.default_rng(2).normal(size=(1, 3, 12, 20)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (want,) = ort.InferenceSession(str(path)).run(None, {"x": x})
    for shape in ("1,3,12,20", "x=1,3,12,20", "1x3x12x20"):
        out = tmp_path / f"out_{shape.replace('=', '_').replace(',', '_')}"
        assert main(["run", str(path), "--shape", shape, "-i", str(tmp_path / "x.npy"),
                     "--save", str(out)]) == 0
        np.testing.assert_allclose(np.load(out / "y.npy"), want, rtol=1e-4, atol=1e-5)
    capsys.readouterr()
    assert main(["run", str(path), "--shape", "x=1,3,8,8", "--shape", "1,3,8,8"]) == 1
    assert "give every shape as NAME=DIMS, or every shape bare" in capsys.readouterr().err
    assert main(["run", str(path), "--shape", "=1,3,8,8"]) == 1
    assert "--shape '=1,3,8,8': an empty input name" in capsys.readouterr().err


def test_run_warns_that_an_image_goes_to_a_model_file_as_raw_pixels(demo_onnx, tmp_path,
                                                                    capsys):
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "a.png")
    assert main(["run", str(demo_onnx), "-i", str(tmp_path / "a.png")]) == 0
    assert "a.png: fed as raw 0-255 pixels; a model file has no built-in preprocessing" in \
        capsys.readouterr().err


def test_run_without_inputs_uses_seeded_random_inputs(demo_onnx, tmp_path, capsys):
    for d in ("a", "b"):
        assert main(["run", str(demo_onnx), "--save", str(tmp_path / d)]) == 0
    assert "random inputs (seed 0)" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "probs.npy"),
                                  np.load(tmp_path / "b" / "probs.npy"))


def test_run_names_the_first_layer_that_made_an_output_nan(tmp_path, capsys):
    """Log of a negative value is NaN (onnxruntime agrees); `npucc run` says which layer made it
    rather than printing a NaN summary alone."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    g = helper.make_graph(
        [helper.make_node("Sub", ["x", "c"], ["shifted"], name="shift"),
         helper.make_node("Log", ["shifted"], ["logged"], name="take_log"),
         helper.make_node("Relu", ["logged"], ["y"], name="clamp")], "nan",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor("c", TensorProto.FLOAT, [], [2.0])])
    path = tmp_path / "nan.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    x = np.array([[1.0, 3.0, 5.0]], np.float32)
    np.save(tmp_path / "x.npy", x)
    (want,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})
    assert np.isnan(want[0, 0])
    assert main(["run", str(path), "-i", f"x={tmp_path / 'x.npy'}"]) == 0
    err = capsys.readouterr().err
    assert "warning: output 'y' holds inf or NaN; the first such value is %logged, computed " \
           "by Log" in err, err


def test_show_prints_ir_that_parses_back_to_the_imported_graph(demo_onnx, capsys):
    from npucc.frontends import load
    from npucc.ir.text import graphs_equal

    assert main(["show", str(demo_onnx), "--full"]) == 0
    assert graphs_equal(parse(capsys.readouterr().out), load(str(demo_onnx)))


def test_run_names_the_file_of_a_model_it_cannot_read(tmp_path, capsys):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07not a model")
    assert main(["run", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("npucc: error:") and "broken.onnx" in err and "Traceback" not in err


# ---- --inputs / --outputs, against TensorFlow and LiteRT outputs of committed fixtures ----

TF_FIXTURES = __import__("pathlib").Path(__file__).resolve().parent / "fixtures" / "tf"


def test_run_frozen_graph_with_named_inputs_and_outputs(tmp_path, capsys):
    """A frozen GraphDef does not say which nodes are its outputs: name them on the command
    line; the saved outputs match what TensorFlow computed for the stored input."""
    data = np.load(TF_FIXTURES / "detector_pb.npz")
    np.save(tmp_path / "x.npy", data["input_0"])
    pb = str(TF_FIXTURES / "detector_pb.pb")
    assert main(["run", pb, "-i", f"xs_0={tmp_path / 'x.npy'}"]) == 1
    assert "give outputs=" in capsys.readouterr().err
    assert main(["run", pb, "--inputs", "xs_0", "--outputs", "Identity:0, Identity_1:0",
                 "-i", f"xs_0={tmp_path / 'x.npy'}", "--save", str(tmp_path / "out")]) == 0
    for name, want in (("Identity", data["expected_0"]), ("Identity_1", data["expected_1"])):
        np.testing.assert_allclose(np.load(tmp_path / "out" / f"{name}.npy"), want, rtol=1e-4,
                                   atol=1e-5)


def test_show_frozen_graph_cut_at_one_output(capsys):
    assert main(["show", str(TF_FIXTURES / "detector_pb.pb"), "--outputs", "Identity_1:0"]) == 0
    text = capsys.readouterr().out
    assert "return %Identity_1\n" in text and "%Identity " not in text


def test_run_tflite_cut_at_an_inner_tensor_matches_litert(tmp_path):
    """--outputs names an inner tensor of a full-int8 TFLite model: the output equals LiteRT's
    value of that tensor (its reference kernels, which npucc's integer kernels match exactly)."""
    pytest.importorskip("ai_edge_litert", reason="ai-edge-litert (LiteRT) is not installed")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    path = TF_FIXTURES / "small_int8.tflite"
    it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    inner = [d for d in it.get_tensor_details() if "concatenate" in d["name"].lower()][0]
    data = np.load(TF_FIXTURES / "small_int8.npz")
    it.set_tensor(it.get_input_details()[0]["index"], data["input_0"])
    it.invoke()
    np.save(tmp_path / "x.npy", data["input_0"])
    assert main(["run", str(path), "--outputs", inner["name"], "-i", str(tmp_path / "x.npy"),
                 "--save", str(tmp_path / "out")]) == 0
    (saved,) = (tmp_path / "out").glob("*.npy")
    np.testing.assert_array_equal(np.load(saved), it.get_tensor(inner["index"]))


# ---- npucc perf ----

SSD = os.path.join(os.path.dirname(__file__), "models", "caffe", "mobilenet_ssd",
                   "MobileNetSSD_deploy.prototxt")


def test_perf_json_schema(capsys):
    import json

    assert main(["perf", SSD, "--weights", "random", "--target", "rk3588", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["target"] == "rk3588" and out["precision"] == "int8"
    assert out["fps"] == pytest.approx(1e6 / out["total_time_us"], rel=1e-3)
    assert out["total_time_us"] == pytest.approx(sum(x["time_us"] for x in out["layers"]),
                                                 abs=0.01 * len(out["layers"]))
    for x in out["layers"]:
        assert {"name", "source_layers", "device", "time_us"} <= set(x)
        assert isinstance(x["source_layers"], list) and x["device"] in ("NPU", "CPU")
    det = next(x for x in out["layers"] if x["op"] == "DetectionOutput")
    assert det["name"] == "detection_out" and det["device"] == "CPU"
    assert det["reasons"] == ["op_in_target_list: The op is in the target's NPU op list. "
                              "(DetectionOutput is not in rk3588's NPU op list)"]
    assert out["memory"]["weights_bytes"] > 0 and out["memory"]["peak_activation_bytes"] > 0
    conv0 = out["layers"][0]
    assert conv0["source_layers"] == ["conv0", "conv0/relu"]  # fused, named by the source model


def test_perf_table_and_dtype(tmp_path, capsys):
    path = tmp_path / "m.npuir"
    path.write_text(MODEL)
    assert main(["perf", str(path), "--target", "rk1808", "--dtype", "int16"]) == 0
    out = capsys.readouterr().out
    assert "on rk1808 (int16, 792 MHz, one core)" in out and "FPS" in out
    assert main(["perf", SSD, "--weights", "random", "--target", "rk1808"]) == 0
    out = capsys.readouterr().out
    assert "Why layers run on the CPU:" in out and "DetectionOutput is not in rk1808" in out


def test_perf_unknown_target(model, capsys):
    assert main(["perf", str(model), "--target", "rk9"]) == 1
    assert "unknown target 'rk9'" in capsys.readouterr().err


def test_run_refuses_input_arrays_that_are_not_numbers_or_files(tmp_path, capsys):
    """`npucc run --input`: a complex or text .npy, /dev/zero or a FIFO is an error naming the
    file (the reader never unpickles and never reads a file that does not end)."""
    import os

    import numpy as np

    from npucc.ir.text import format_graph
    from tests.fuzz.format_fixtures import small_graph

    model = tmp_path / "m.npuir"
    model.write_text(format_graph(small_graph(), max_inline=None))
    np.save(tmp_path / "c.npy", np.zeros((1, 3, 8, 8), np.complex64))
    np.save(tmp_path / "s.npy", np.full((1, 3, 8, 8), "x"))
    os.mkfifo(tmp_path / "fifo.npy")
    np.save(tmp_path / "nhwc.npy", np.zeros((1, 8, 8, 3), np.float32))
    for name, message in [("c.npy", "a complex64 array"), ("s.npy", "a <U1 array"),
                          ("fifo.npy", "not a regular file"), ("/dev/zero", "not a regular"),
                          ("nhwc.npy", "float32[1, 8, 8, 3] array, but input %x is f32[1,3,8,8]"
                           )]:
        path = str(tmp_path / name)
        assert main(["run", str(model), "--input", path]) == 1
        err = capsys.readouterr().err
        assert f"--input {path}: " in err and message in err, err
