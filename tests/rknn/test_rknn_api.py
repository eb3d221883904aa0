"""The RKNN facade's conventions: 0 / -1 with an `E` line (or raising on request), warnings that
name unknown and ineffective options, clear messages for what npucc cannot do, RKNN's input
conventions (nhwc default, missing batch axis, rknn_batch_size) checked against onnxruntime."""

from pathlib import Path

import numpy as np
import pytest

from npucc.errors import NpuccError
from npucc.rknn import RKNN

from .conftest import rel_err

ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the oracle")


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    torch = pytest.importorskip("torch", reason="torch (test extra) makes the test model")
    nn = torch.nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, stride=2),
                      nn.Flatten(), nn.Linear(4 * 15 * 15, 6)).eval()
    path = tmp_path_factory.mktemp("model") / "net.onnx"
    torch.onnx.export(m, torch.zeros(1, 3, 32, 32), path, input_names=["x"], dynamo=False)
    return path


def ort_run(path, x_nchw):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x_nchw.astype(np.float32)})[0]


def built(onnx_model, **config):
    rknn = RKNN(raise_errors=True)
    rknn.config(float_dtype="float32", **config)
    rknn.load_onnx(onnx_model)
    rknn.build(do_quantization=False)
    rknn.init_runtime()
    return rknn


def test_failures_return_minus_one_with_an_e_line(onnx_model, tmp_path, capsys):
    rknn = RKNN()
    assert rknn.build(do_quantization=False) == -1
    assert "E build: build needs a load_* call first" in capsys.readouterr().out
    assert rknn.load_onnx(onnx_model) == 0
    assert rknn.build(do_quantization=True, dataset=str(tmp_path / "nope.txt")) == -1
    assert f"E build: the dataset file {tmp_path / 'nope.txt'}" in capsys.readouterr().out
    assert rknn.inference(inputs=[np.zeros((32, 32, 3))]) is None
    assert "E inference: inference needs init_runtime() first" in capsys.readouterr().out
    assert rknn.export_encrypted_rknn_model("m.rknn") == -1
    assert "E export_encrypted_rknn_model is not supported" in capsys.readouterr().out


def test_raise_errors_by_argument_or_environment(onnx_model, monkeypatch):
    with pytest.raises(NpuccError, match="build needs a load_"):
        RKNN(raise_errors=True).build()
    monkeypatch.setenv("NPUCC_RKNN_RAISE", "1")
    with pytest.raises(NpuccError, match="Invalid target_platform 'rk9999'"):
        RKNN().config(target_platform="rk9999")


def test_unknown_and_ineffective_options_are_named(capsys):
    rknn = RKNN()
    assert rknn.config(mean_values=[[0, 0, 0]], fancy_option=1, need_horizontal_merge=True,
                       batch_size=100) == 0
    out = capsys.readouterr().out
    assert "W config: unknown option fancy_option=1" in out
    assert "W config: need_horizontal_merge=True has no effect" in out
    assert "batch_size" not in out  # RKNN's default value: nothing to say


def test_a_dtype_the_platform_does_not_store_is_named(capsys):
    """RKNPU2 has no u8 storage: the layers would all fall back to the CPU; say so."""
    assert RKNN().config(target_platform="rk3588",
                         quantized_dtype="asymmetric_quantized-u8") == 0
    out = capsys.readouterr().out
    assert "W config: quantized_dtype='asymmetric_quantized-u8' on rk3588" in out
    assert "will run on the CPU" in out
    assert RKNN().config(target_platform="rk1808",
                         quantized_dtype="asymmetric_quantized-u8") == 0
    assert RKNN().config(target_platform="rk3588") == 0  # w8a8 by default
    assert "quantized_dtype" not in capsys.readouterr().out


def test_bad_config_values_are_rejected_with_rknns_words(onnx_model, capsys):
    rknn = RKNN()
    assert rknn.config(quantized_algorithm="best") == -1
    assert "quantized_algorithm 'best' is not one of" in capsys.readouterr().out
    rknn = RKNN()
    rknn.config(mean_values=[[0, 0]])
    rknn.load_onnx(onnx_model)
    assert rknn.build(do_quantization=False) == -1
    assert "The len of mean_values ([0.0, 0.0]) for input 0 is wrong, expect 3!" in \
        capsys.readouterr().out


def test_device_targets_run_the_simulator_with_a_warning(onnx_model, capsys):
    """rknn_model_zoo's demos call init_runtime(target=<platform>) (their --target default
    is 'rk3566'; RKNPU1 has no simulator since v1.7.5): npucc has no board, so the simulator
    runs, said in W lines; an unknown target name is an error."""
    rknn = built(onnx_model, target_platform="rk3588")
    rknn.raise_errors = False
    x = np.random.default_rng(5).uniform(0, 255, (32, 32, 3)).astype(np.float32)
    want = ort_run(onnx_model, x.transpose(2, 0, 1)[None])
    assert rknn.init_runtime(target="rk3588", device_id=None, perf_debug=True) == 0
    out = capsys.readouterr().out
    assert "W init_runtime: target='rk3588': npucc has no device runtime" in out
    assert "simulator runs instead" in out and "built for" not in out
    assert rel_err(rknn.inference(inputs=[x])[0], want) < 1e-5
    assert rknn.init_runtime(target="rk3566") == 0
    assert "the model was built for rk3588, not rk3566" in capsys.readouterr().out
    assert rknn.init_runtime(target="rk9999") == -1
    assert "E init_runtime: init_runtime(target='rk9999'): unknown target" in \
        capsys.readouterr().out


def test_rockchip_files_get_clear_messages(onnx_model, tmp_path, capsys):
    rknn = built(onnx_model)
    rknn.raise_errors = False
    rockchip = tmp_path / "vendor.rknn"
    rockchip.write_bytes(b"RKNN\0\0\0\0" + bytes(64))
    assert rknn.load_rknn(rockchip) == -1
    assert f"{rockchip} is a Rockchip .rknn model; npucc cannot read that format" in \
        capsys.readouterr().out


def test_inference_takes_nhwc_by_default_nchw_on_request_and_a_missing_batch(onnx_model):
    rknn = built(onnx_model, mean_values=[[10, 20, 30]], std_values=[[40, 50, 60]])
    x = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype(np.float32)
    want = ort_run(onnx_model, ((x - [10, 20, 30]) / [40, 50, 60]).transpose(2, 0, 1)[None])
    assert rel_err(rknn.inference([x])[0], want) < 1e-5
    assert rel_err(rknn.inference([x[None]], data_format=["nhwc"])[0], want) < 1e-5
    assert rel_err(rknn.inference([x.transpose(2, 0, 1)], data_format="nchw")[0], want) < 1e-5
    rknn.raise_errors = False
    assert rknn.inference([np.zeros((1, 30, 30, 3))]) is None


def test_inference_inputs_that_are_not_arrays_are_named(onnx_model, capsys):
    rknn = built(onnx_model)
    rknn.raise_errors = False
    assert rknn.inference(inputs=None) is None
    assert "inputs must be a list of arrays, one per model input; got NoneType" in \
        capsys.readouterr().out
    assert rknn.inference(inputs=["dog.jpg"]) is None
    assert "input 0 is a path ('dog.jpg'); inference takes arrays" in capsys.readouterr().out


def test_rknn_batch_size_runs_every_sample(onnx_model):
    rknn = RKNN(raise_errors=True)
    rknn.config(float_dtype="float32", target_platform="rk3588")
    rknn.load_onnx(onnx_model)
    rknn.build(do_quantization=False, rknn_batch_size=3)
    rknn.init_runtime()
    xs = np.random.default_rng(1).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    got = rknn.inference([xs])[0]
    want = np.concatenate([ort_run(onnx_model, x.transpose(2, 0, 1)[None]) for x in xs])
    assert got.shape == (3, 6) and rel_err(got, want) < 1e-5


def test_v1_input_size_list_leaves_out_the_batch(tmp_path):
    torch = pytest.importorskip("torch", reason="torch (test extra) makes the test model")
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    path = tmp_path / "dyn.onnx"
    torch.onnx.export(m, torch.zeros(1, 3, 20, 20), path, input_names=["x"], dynamo=False,
                      dynamic_axes={"x": {2: "h", 3: "w"}})
    rknn = RKNN(raise_errors=True)
    rknn.config(channel_mean_value="0 0 0 1")  # a v1 option: v1 conventions
    rknn.load_onnx(path, input_size_list=[[3, 24, 24]])
    rknn.build(do_quantization=False)
    rknn.init_runtime()
    x = np.random.default_rng(2).uniform(-1, 1, (24, 24, 3)).astype(np.float32)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {"x": x.transpose(2, 0, 1)[None]})[0]
    assert rel_err(rknn.inference([x])[0], want) < 2e-3  # v1 float builds are float16


def test_export_load_rknn_round_trip_and_cost_figures(onnx_model, tmp_path, capsys):
    rknn = built(onnx_model, target_platform=["rk1808"])
    x = np.random.default_rng(3).uniform(0, 255, (32, 32, 3)).astype(np.float32)
    before = rknn.inference([x])[0]
    assert rknn.export_rknn(tmp_path / "m.rknn") == 0
    assert "wrote an npucc blob (.npub format)" in capsys.readouterr().out
    perf = rknn.eval_perf(is_print=False)  # v1 platform: RKNN v1's dict
    assert perf["total_time"] > 0
    assert "W eval_perf" not in capsys.readouterr().out
    again = rknn.eval_perf(inputs=[x], is_print=False, loop_cnt=100)  # RKNN's timed-run options
    assert again == perf
    out = capsys.readouterr().out
    assert "W eval_perf: inputs, loop_cnt change nothing here" in out, out
    memory = rknn.eval_memory(is_print=False)
    assert memory["total_memory"]["maximum_allocation"] > 0
    other = RKNN(raise_errors=True)
    other.load_rknn(tmp_path / "m.rknn")
    other.init_runtime()
    np.testing.assert_array_equal(other.inference([x])[0], before)
    # RKNN-Toolkit-Lite's query, in its return shape
    platforms = other.list_support_target_platform(rknn_model=str(tmp_path / "m.rknn"))
    assert list(platforms.items()) == [("filled_target_platform", ["rk1808"]),
                                       ("support_target_platform", ["rk1806", "rk1808",
                                                                    "rk3399pro"])]
    assert other.list_support_target_platform() is None
    assert "rk3588: RK3588,RK3576" in capsys.readouterr().out


def test_verbose_file_receives_the_log(tmp_path, capsys):
    log = tmp_path / "rknn.log"
    rknn = RKNN(verbose=True, verbose_file=str(log))
    assert rknn.config(unknown_knob=1) == 0 and rknn.build() == -1
    text = log.read_text()
    assert "W config: unknown option unknown_knob=1" in text
    assert "E build: build needs a load_* call first" in text
    assert text == capsys.readouterr().out  # the same lines as printed


@pytest.mark.parametrize("do_quantization, fused", [(True, True), (False, False)])
def test_builds_read_pool_fusion_rules_at_their_own_bits(tmp_path, do_quantization, fused):
    """RKNPU1 fuses a 3x3/2 max-pool over an odd-sized input narrower than 64 columns at 8 bits
    but only below 32 at 16 bits: on 45x45, the u8 build fuses it and the float (fp16) build
    keeps the MaxPool, so both run every layer on the NPU and compute what onnxruntime does."""
    torch = pytest.importorskip("torch", reason="torch (test extra) makes the test model")
    from npucc.targets import legalize

    nn = torch.nn
    torch.manual_seed(2)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
                      nn.Conv2d(8, 4, 1)).eval()
    path = tmp_path / "net.onnx"
    torch.onnx.export(m, torch.zeros(1, 3, 45, 45), path, input_names=["x"], dynamo=False)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (1, 3, 45, 45)).astype(np.float32)
    for i in range(4):
        np.save(tmp_path / f"calib_{i}.npy", rng.uniform(-1, 1, (1, 45, 45, 3)).astype(np.float32))
    (tmp_path / "dataset.txt").write_text("".join(f"calib_{i}.npy\n" for i in range(4)))
    rknn = RKNN(raise_errors=True)
    rknn.config(target_platform="rk1808", quantized_dtype="asymmetric_quantized-u8")
    rknn.load_onnx(path)
    rknn.build(do_quantization=do_quantization, dataset=str(tmp_path / "dataset.txt"))
    graph = rknn._built.graph
    assert ("MaxPool" not in [n.op for n in graph.nodes]) == fused
    assert not legalize(graph, "rk1808").reasons
    rknn.init_runtime()
    (got,) = rknn.inference(inputs=[x], data_format="nchw")
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    cos = float(np.dot(got.ravel(), want.ravel()) / np.linalg.norm(got) / np.linalg.norm(want))
    assert cos > (0.995 if do_quantization else 0.99999), cos


def test_unexpected_errors_keep_rknns_return_convention(onnx_model, capsys):
    """A wrong keyword or an internal error is an `E` line and RKNN's failure value, not a
    traceback (raise_errors=True still raises it)."""
    rknn = built(onnx_model)
    rknn.raise_errors = False
    assert rknn.inference(inputs=[np.zeros((32, 32, 3))], foo=1) is None
    assert "E inference: TypeError: RKNN.inference() got an unexpected keyword argument 'foo'" \
        in capsys.readouterr().out
    assert rknn.load_onnx(onnx_model, bogus=True) == -1
    rknn.raise_errors = True
    with pytest.raises(TypeError):
        rknn.inference(inputs=[np.zeros((32, 32, 3))], foo=1)


def test_toolkit2_1x_reorder_channel_false_and_flat_mean_values(onnx_model, capsys):
    """RKNN-Toolkit2 1.x's examples/pytorch/resnet18: config(mean_values=[..] flat,
    reorder_channel=False) with Toolkit2 shapes (batch included): False keeps the channels and
    is no hint of Toolkit v1 (whose input_size_list leaves out the batch)."""
    rknn = RKNN(raise_errors=True)
    rknn.config(mean_values=[123.675, 116.28, 103.53], std_values=[58.395, 58.395, 58.395],
                reorder_channel=False, float_dtype="float32")
    assert "I config: reorder_channel=False: the input channels keep their order" in \
        capsys.readouterr().out
    assert rknn._config().generation == 2
    rknn.load_onnx(onnx_model, input_size_list=[[1, 3, 32, 32]])
    rknn.build(do_quantization=False)
    rknn.init_runtime()
    x = np.random.default_rng(6).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    want = ort_run(onnx_model, ((x - np.array([123.675, 116.28, 103.53])) / 58.395)
                   .transpose(2, 0, 1)[None])
    assert rel_err(rknn.inference(inputs=[x])[0], want) < 1e-5


def test_input_size_list_batch_follows_the_models_declared_rank(tmp_path):
    """rknn_model_zoo gives [[3,224,224]] for RKNPU1 platforms and [[1,3,224,224]] for RKNPU2;
    scripts mix them up. A shape as long as the ONNX input's declared rank includes the batch
    whatever the toolkit generation; one shorter leaves it out."""
    torch = pytest.importorskip("torch", reason="torch (test extra) makes the test model")
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    path = tmp_path / "dyn.onnx"
    torch.onnx.export(m, torch.zeros(1, 3, 20, 20), path, input_names=["x"], dynamo=False,
                      dynamic_axes={"x": {2: "h", 3: "w"}})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(7).uniform(-1, 1, (24, 24, 3)).astype(np.float32)
    want = sess.run(None, {"x": x.transpose(2, 0, 1)[None]})[0]
    for platform, size in (("rv1126", [1, 3, 24, 24]), ("rk1808", [3, 24, 24]),
                           ("rk3588", [1, 3, 24, 24]), ("rk3566", [3, 24, 24])):
        rknn = RKNN(raise_errors=True)
        rknn.config(target_platform=platform, float_dtype="float32")
        rknn.load_onnx(path, inputs=["x"], input_size_list=[size])
        rknn.build(do_quantization=False)
        rknn.init_runtime()
        assert rel_err(rknn.inference([x])[0], want) < 1e-5, (platform, size)


def test_v1_batch_input_concatenated_on_the_height_axis(onnx_model):
    """RKNN v1's examples/common_function_demos/batch_size: rknn_batch_size=4, and the input is
    np.concatenate((img, img, img, img), axis=0) of HWC images: (4*H, W, C)."""
    rknn = RKNN(raise_errors=True)
    rknn.config(reorder_channel="0 1 2", target_platform=["rk1808"], float_dtype="float32")
    rknn.load_onnx(onnx_model)
    rknn.build(do_quantization=False, rknn_batch_size=4)
    rknn.init_runtime()
    imgs = np.random.default_rng(8).integers(0, 256, (4, 32, 32, 3)).astype(np.uint8)
    got = rknn.inference(inputs=[np.concatenate(list(imgs), axis=0)])[0]
    want = np.concatenate([ort_run(onnx_model, x.transpose(2, 0, 1)[None]) for x in imgs])
    assert got.shape == (4, 6) and rel_err(got, want) < 1e-5


def test_load_tensorflow_mean_and_std_arguments_apply(capsys):
    """Toolkit2's examples/functions/load_quantized_model passes mean_values=[[128]],
    std_values=[[128]] to load_tensorflow (RKNN v1 < 1.4's place for them): they normalise the
    input like config's would (checked against TensorFlow's output on the committed graph)."""
    from pathlib import Path

    fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "tf"
    data = np.load(fixtures / "mobilenet_v2_pb.npz")
    x = data["input_0"]
    rknn = RKNN(raise_errors=True)
    rknn.config(float_dtype="float32")
    rknn.load_tensorflow(tf_pb=str(fixtures / "mobilenet_v2_pb.pb"),
                         inputs=[str(n) for n in data["input_names"]],
                         outputs=[str(n) for n in data["output_names"]],
                         input_size_list=[list(x.shape)], predef_file=None,
                         mean_values=[[128]], std_values=[[128]])
    out = capsys.readouterr().out
    assert "I load_tensorflow: mean_values=[[128]] applies as config's mean_values" in out
    rknn.build(do_quantization=False)
    rknn.init_runtime()
    assert rel_err(rknn.inference([x[0] * 128 + 128])[0], data["expected_0"]) < 1e-4


def test_dynamic_fixed_point_builds_say_they_are_per_layer(onnx_model, tmp_path, capsys):
    """RKNN-Toolkit2 platforms default to quantized_method='channel', which npucc applies to
    affine weights only: a dfp16 build said "per-channel" while every weight had one fraction
    length. The log says what is built, and the build follows onnxruntime."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(
            tmp_path / f"{k}.png")
    (tmp_path / "dataset.txt").write_text("0.png\n1.png\n2.png\n")
    rknn = RKNN(raise_errors=True)
    rknn.config(mean_values=[[128, 128, 128]], std_values=[[64, 64, 64]],
                target_platform="rk3588", quantized_dtype="dynamic_fixed_point-i16")
    rknn.load_onnx(onnx_model)
    rknn.build(do_quantization=True, dataset=str(tmp_path / "dataset.txt"))
    out = capsys.readouterr().out
    assert "quantizing to dfp16 (normal, per-layer: dynamic fixed point" in out
    assert "per-channel" not in out
    rknn.init_runtime()
    img = rng.integers(0, 256, (1, 32, 32, 3)).astype(np.float32)
    got = rknn.inference(inputs=[img], data_format="nhwc")[0]
    want = ort_run(onnx_model, ((img - 128) / 64).transpose(0, 3, 1, 2))
    assert rel_err(got, want) < 1e-3


def test_float16_overflow_is_named_not_silent(tmp_path, capsys):
    """RKNN's float build computes in float16: activations past 65504 become inf there, though
    the float model (onnxruntime) is finite. inference returns what the NPU would (inf) and the
    log names the first layer that overflowed and how to avoid it."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    scale = helper.make_tensor("k", TensorProto.FLOAT, [], [1000.0])
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu_in"),
         helper.make_node("Mul", ["r", "k"], ["big"], name="scale_up"),
         helper.make_node("Sigmoid", ["big"], ["y"], name="squash")], "overflow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [scale])
    big = helper.make_graph(g.node[:2], "overflow", g.input,
                            [helper.make_tensor_value_info("big", TensorProto.FLOAT, [1, 4])],
                            [scale])
    for graph, name in ((g, "squashed.onnx"), (big, "big.onnx")):
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
                  tmp_path / name)
    x = np.array([[1.0, 50.0, 100.0, -3.0]], np.float32)
    want = ort.InferenceSession(str(tmp_path / "big.onnx"),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.isfinite(want).all() and want.max() == 1e5  # the float model does not overflow

    rknn = RKNN(raise_errors=True)
    rknn.config(target_platform="rk3588")
    rknn.load_onnx(str(tmp_path / "big.onnx"))
    rknn.build(do_quantization=False)
    rknn.init_runtime()
    capsys.readouterr()
    (got,) = rknn.inference(inputs=[x], data_format="nchw")
    np.testing.assert_array_equal(got, want.astype(np.float16))  # 1e5 -> inf, 5e4 -> 49984
    out = capsys.readouterr().out
    assert "W inference: output 'big' holds inf or NaN; the first such value is %big" in out, out
    assert "in float16, whose largest finite magnitude is 65504" in out
    assert "config(float_dtype='float32') keeps float32" in out

    rknn = RKNN(raise_errors=True)  # a finite output (sigmoid saturates): no warning
    rknn.config(target_platform="rk3588")
    rknn.load_onnx(str(tmp_path / "squashed.onnx"))
    rknn.build(do_quantization=False)
    rknn.init_runtime()
    capsys.readouterr()
    rknn.inference(inputs=[x], data_format="nchw")
    assert "holds inf" not in capsys.readouterr().out


def test_input_initial_val_fixes_the_inputs_given_a_value_and_leaves_none(tmp_path):
    """Silero VAD's shape: load_onnx(inputs=[input, state, sr], input_size_list with one size
    per name, input_initial_val=[None, None, 16000]): sr becomes a constant that decides an If
    at import, input and state stay inputs; against onnxruntime fed sr = 16000."""
    from onnx import TensorProto, helper, numpy_helper

    then = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 4])])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 4])])
    g = helper.make_graph(
        [helper.make_node("Equal", ["sr", "k16"], ["is16"]),
         helper.make_node("If", ["is16"], ["y"], then_branch=then, else_branch=other),
         helper.make_node("Add", ["y", "state"], ["out"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "n"]),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [1, 4]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])],
        [numpy_helper.from_array(np.asarray(2.0, np.float32), "two"),
         numpy_helper.from_array(np.asarray(16000, np.int64), "k16")])
    path = tmp_path / "vad.onnx"
    path.write_bytes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
                     .SerializeToString())
    rng = np.random.default_rng(3)
    x, state = rng.standard_normal((1, 4), np.float32), rng.standard_normal((1, 4), np.float32)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x, "state": state, "sr": np.asarray(16000, np.int64)})[0]
    rknn = RKNN(raise_errors=True)
    rknn.config(target_platform="rk3588", float_dtype="float32")
    rknn.load_onnx(path, inputs=["x", "state", "sr"], input_size_list=[[1, 4], [1, 4], []],
                   input_initial_val=[None, None, np.asarray(16000, np.int64)])
    rknn.build(do_quantization=False)
    rknn.init_runtime()
    assert rel_err(rknn.inference([x, state])[0], want) < 1e-6


def test_library_warnings_are_w_lines_of_the_call(tmp_path, capsys):
    """npucc's own warnings during a facade call (here: the nodes around a causal mask kept
    float by the quantizer) come out as `W <method>: ...` lines, in the verbose_file too."""
    from tests.quantization.test_quantize_model import _masked_attention_onnx

    model = tmp_path / "attn.onnx"
    model.write_bytes(_masked_attention_onnx(-np.inf))
    rng = np.random.default_rng(0)
    for i in range(3):
        np.save(tmp_path / f"s{i}.npy", rng.normal(0, 1, (6, 8)).astype(np.float32))
    (tmp_path / "dataset.txt").write_text("".join(f"s{i}.npy\n" for i in range(3)))
    log_file = tmp_path / "log.txt"
    rknn = RKNN(verbose_file=str(log_file))
    rknn.config(target_platform="rk3588")
    assert rknn.load_onnx(str(model)) == 0
    assert rknn.build(do_quantization=True, dataset=str(tmp_path / "dataset.txt")) == 0
    line = "W build: attn: 2 node(s) stay float, as they compute or read values that held inf"
    assert line in capsys.readouterr().out
    assert line in log_file.read_text()


def test_a_dynamic_input_needs_input_size_list_in_the_apis_words(tmp_path, capsys):
    """An ONNX export with dynamic batch and size: load_onnx without shapes is -1 with an E line
    pointing at load_onnx's own arguments; with input_size_list it follows onnxruntime."""
    torch = pytest.importorskip("torch", reason="torch (test extra) makes the test model")
    nn = torch.nn
    torch.manual_seed(2)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(8, 5)).eval()
    path = tmp_path / "dyn.onnx"
    torch.onnx.export(m, torch.zeros(1, 3, 32, 32), path, input_names=["x"], dynamo=False,
                      dynamic_axes={"x": {0: "N", 2: "H", 3: "W"}})
    rknn = RKNN()
    rknn.config(target_platform="rk3588", float_dtype="float32")
    assert rknn.load_onnx(str(path)) == -1
    err = capsys.readouterr().out
    assert "E load_onnx: " in err and str(path) in err and "unknown dim 0 ('N')" in err
    assert "load_onnx(..., inputs=['x'], input_size_list=[[...]])" in err
    assert "input_shapes=" not in err  # npucc.load's keyword means nothing to an RKNN script
    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "tf"
    names = np.load(fixtures / "cond_pb.npz")
    assert rknn.load_tensorflow(str(fixtures / "cond_pb.pb"),
                                inputs=[str(x) for x in names["input_names"]],
                                outputs=[str(x) for x in names["output_names"]],
                                input_size_list=None) == -1
    err = capsys.readouterr().out
    assert "has unknown shape [-1, 8, 8, 3]; give its shape with load_tensorflow(..., " \
        "inputs=['x'], input_size_list=[[...]])" in err
    assert rknn.load_onnx(str(path), inputs=["x"], input_size_list=[[1, 3, 24, 40]]) == 0
    assert rknn.build(do_quantization=False) == 0 and rknn.init_runtime() == 0
    x = np.random.default_rng(0).uniform(0, 1, (1, 3, 24, 40)).astype(np.float32)
    (got,) = rknn.inference(inputs=[x], data_format="nchw")
    assert rel_err(got, ort_run(path, x)) < 1e-5


def test_quant_img_rgb2bgr_blob_takes_image_files_as_bgr(onnx_model, tmp_path, capsys):
    """quant_img_RGB2BGR=True says the model takes BGR images: the exported blob records it, and
    `npucc run BLOB -i photo.png` feeds the file reversed, as inference() was fed."""
    from PIL import Image

    from npucc.cli import main

    rng = np.random.default_rng(8)
    rgb = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    for k in range(3):
        Image.fromarray(np.roll(rgb, k, axis=0)).save(tmp_path / f"c{k}.png")
    (tmp_path / "dataset.txt").write_text("c0.png\nc1.png\nc2.png\n")
    rknn = RKNN(raise_errors=True)
    rknn.config(mean_values=[[10, 20, 30]], std_values=[[50, 60, 70]], quant_img_RGB2BGR=True,
                target_platform="rk3588")
    rknn.load_onnx(onnx_model)
    rknn.build(do_quantization=True, dataset=str(tmp_path / "dataset.txt"))
    rknn.export_rknn(str(tmp_path / "m.npub"))
    rknn.init_runtime()
    (want,) = rknn.inference(inputs=[rgb[:, :, ::-1]])
    capsys.readouterr()
    assert main(["run", str(tmp_path / "m.npub"), "-i", str(tmp_path / "photo.png"), "--save",
                 str(tmp_path / "out")]) == 0
    (got,) = [np.load(p) for p in sorted((tmp_path / "out").glob("*.npy"))]
    np.testing.assert_array_equal(got, want)
    # accuracy_analysis reads image files as calibration does (RKNN: build + accuracy_analysis)
    rknn.accuracy_analysis(inputs=[str(tmp_path / "photo.png")], output_dir=str(tmp_path / "a"))
    from_file = rknn._analysis
    rknn.accuracy_analysis(inputs=[rgb[:, :, ::-1].astype(np.float32)],
                           output_dir=str(tmp_path / "b"))
    assert from_file.to_text() == rknn._analysis.to_text()
