"""Models outside the image-classifier mould through RKNN's whole PC flow (config -> load_onnx ->
build with a .npy dataset -> export_rknn -> init_runtime -> inference), checked against
onnxruntime: scalar inputs, a model with no float value to calibrate, a model whose output is a
constant (no node left: no time to estimate), and a float16 build of an op whose operand a Cast
fixes to float32. Each once made the flow fail (ONNX node tests through the facade)."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from npucc.rknn import RKNN

ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) is the oracle")


def save(tmp_path, nodes, inputs, outputs, name="m"):
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return path


def run_rknn(path, tmp_path, arrays, dtype, quantize):
    """RKNN's flow with the arrays as the one-sample dataset; returns inference's outputs."""
    files = []
    for i, a in enumerate(arrays):
        files.append(tmp_path / f"in{i}.npy")
        np.save(files[-1], a)
    (tmp_path / "dataset.txt").write_text(" ".join(f.name for f in files) + "\n")
    rknn = RKNN(raise_errors=True)
    rknn.config(target_platform="rk3588", **({"quantized_dtype": dtype} if dtype else {}))
    rknn.load_onnx(str(path))
    rknn.build(do_quantization=quantize, dataset=str(tmp_path / "dataset.txt"))
    rknn.export_rknn(str(tmp_path / "m.rknn"))
    rknn.init_runtime()
    outs = rknn.inference(inputs=arrays, data_format="nchw")
    rknn.release()
    return outs


def oracle(path, arrays):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: a for i, a in zip(sess.get_inputs(), arrays)})


SCHEMES = [("w8a8", True), ("asymmetric_quantized-u8", True), (None, False)]


@pytest.mark.parametrize("dtype,quantize", SCHEMES)
def test_scalar_inputs(tmp_path, dtype, quantize):
    """Clip's bounds as rank-0 graph inputs: a .npy of shape () in the dataset and a 0-d array
    given to inference stay rank 0 (np.ascontiguousarray makes them [1])."""
    path = save(tmp_path, [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8]),
                 helper.make_tensor_value_info("lo", TensorProto.FLOAT, []),
                 helper.make_tensor_value_info("hi", TensorProto.FLOAT, [])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])])
    x = np.linspace(-3, 3, 16, dtype=np.float32).reshape(2, 8)
    arrays = [x, np.array(-1.0, np.float32), np.array(2.0, np.float32)]
    (got,), (want,) = run_rknn(path, tmp_path, arrays, dtype, quantize), oracle(path, arrays)
    assert got.shape == want.shape
    # 8-bit steps of the observed range [-3, 3]: within one step
    np.testing.assert_allclose(got, want, atol=6 / 255 + 1e-6)


@pytest.mark.parametrize("dtype,quantize", SCHEMES)
def test_a_model_without_float_values_builds_with_quantization(tmp_path, dtype, quantize):
    """uint8 Add: nothing to calibrate or quantize; the build keeps the integer arithmetic."""
    path = save(tmp_path, [helper.make_node("Add", ["a", "b"], ["c"])],
                [helper.make_tensor_value_info(n, TensorProto.UINT8, [3, 4]) for n in "ab"],
                [helper.make_tensor_value_info("c", TensorProto.UINT8, [3, 4])])
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (3, 4), dtype=np.uint8) for _ in range(2)]
    (got,), (want,) = run_rknn(path, tmp_path, arrays, dtype, quantize), oracle(path, arrays)
    np.testing.assert_array_equal(got, want)  # (inference returns float32, RKNN's default)


@pytest.mark.parametrize("dtype,quantize", SCHEMES)
def test_a_constant_output_exports_and_estimates(tmp_path, dtype, quantize):
    """Shape of a static input folds to a constant: no layer, zero time; the blob's cost report
    stays JSON (FPS is null, not Infinity) and the blob loads back."""
    path = save(tmp_path, [helper.make_node("Shape", ["x"], ["s"]),
                           helper.make_node("Relu", ["x"], ["r"])],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4, 5])],
                [helper.make_tensor_value_info("s", TensorProto.INT64, [3]),
                 helper.make_tensor_value_info("r", TensorProto.FLOAT, [3, 4, 5])])
    path_const = save(tmp_path, [helper.make_node("Shape", ["x"], ["s"])],
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4, 5])],
                      [helper.make_tensor_value_info("s", TensorProto.INT64, [3])], "const")
    x = np.linspace(-1, 1, 60, dtype=np.float32).reshape(3, 4, 5)
    for p in (path, path_const):
        got, want = run_rknn(p, tmp_path, [x], dtype, quantize), oracle(p, [x])
        np.testing.assert_array_equal(got[0], want[0])
        loaded = RKNN(raise_errors=True)
        loaded.load_rknn(str(tmp_path / "m.rknn"))
        loaded.init_runtime()
        np.testing.assert_array_equal(loaded.inference(inputs=[x], data_format="nchw")[0],
                                      want[0])


def test_float16_build_of_pow_with_a_cast_exponent(tmp_path):
    """Pow(x, Cast(int32 y)): the Cast's to=float32 would feed a float32 exponent to a float16
    Pow; its output is converted to float16 like any other operand."""
    path = save(tmp_path, [helper.make_node("Cast", ["y"], ["yf"], to=TensorProto.FLOAT),
                           helper.make_node("Pow", ["x", "yf"], ["z"])],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
                 helper.make_tensor_value_info("y", TensorProto.INT32, [4])],
                [helper.make_tensor_value_info("z", TensorProto.FLOAT, [4])])
    arrays = [np.array([1.5, 2.0, -3.0, 0.5], np.float32), np.array([2, 3, 3, -1], np.int32)]
    (got,), (want,) = run_rknn(path, tmp_path, arrays, None, False), oracle(path, arrays)
    np.testing.assert_allclose(got, want, rtol=2 ** -10)  # float16 rounding


@pytest.mark.parametrize("dtype,quantize", SCHEMES[:2])
def test_a_4d_input_whose_transpose_folds_takes_nchw_npy(tmp_path, dtype, quantize):
    """x - mean(x) over H, W of a 4-D input: the build takes it NHWC and the pipeline folds the
    layout Transpose into the reduction, so only the input's recorded layout says NHWC; the
    dataset's NCHW .npy (the source model's layout) is transposed to it, not refused."""
    path = save(tmp_path, [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3]),
                           helper.make_node("Sub", ["x", "m"], ["y"])],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 5, 6])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 5, 6])])
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 6)).astype(np.float32)
    (got,), (want,) = run_rknn(path, tmp_path, [x], dtype, quantize), oracle(path, [x])
    scale = float(np.abs(want).max())
    np.testing.assert_allclose(got, want, atol=2 * scale / 127)  # u8/i8 steps of the output


@pytest.mark.parametrize("dtype", ["w8a8", "asymmetric_quantized-u8"])
def test_a_half_precision_model_is_quantized_when_asked(tmp_path, dtype):
    """A float16 ONNX export with do_quantization=True: calibrated and quantized from its
    float32 form (promote-float16), not kept in float16 as an already-built model would be."""
    torch = pytest.importorskip("torch", reason="torch (test extra) makes the test model")
    nn = torch.nn
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(8, 4)).eval().half()
    path = tmp_path / "half.onnx"
    torch.onnx.export(m, torch.zeros(1, 3, 16, 16, dtype=torch.half), path, input_names=["x"],
                      dynamo=False)
    x = np.random.default_rng(0).uniform(0, 1, (1, 3, 16, 16)).astype(np.float16)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "dataset.txt").write_text("x.npy\n")
    rknn = RKNN(raise_errors=True)
    rknn.config(target_platform="rk3588", quantized_dtype=dtype)
    rknn.load_onnx(str(path))
    rknn.build(do_quantization=True, dataset=str(tmp_path / "dataset.txt"))
    assert any(v.type.quant is not None for v in rknn._quantized.graph.values())
    rknn.init_runtime()
    (got,) = rknn.inference(inputs=[x], data_format="nchw")
    (want,) = oracle(path, [x])
    assert float(np.abs(got - want).max()) < 0.02 * float(np.abs(want).max())


def test_hybrid_step2_keeps_the_input_layout_of_step1(tmp_path, monkeypatch):
    """The .model file (IR text) does not say that step 1 built a 4-D input NHWC, and a folded
    Transpose leaves nothing to read it from: the .data file records it for step 2."""
    path = save(tmp_path, [helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3]),
                           helper.make_node("Sub", ["x", "m"], ["y"])],
                [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 5, 6])],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 5, 6])])
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "dataset.txt").write_text("x.npy\n")
    monkeypatch.chdir(tmp_path)
    rknn = RKNN(raise_errors=True)
    rknn.config(target_platform="rk3588")
    rknn.load_onnx(str(path))
    rknn.hybrid_quantization_step1(dataset="dataset.txt")
    rknn.release()
    rknn = RKNN(raise_errors=True)
    rknn.config(target_platform="rk3588")
    rknn.hybrid_quantization_step2(model_input="m.model", data_input="m.data",
                                   model_quantization_cfg="m.quantization.cfg")
    rknn.init_runtime()
    (want,) = oracle(path, [x])
    for fmt, given in (("nchw", x), ("nhwc", x.transpose(0, 2, 3, 1))):
        (got,) = rknn.inference(inputs=[given], data_format=fmt)
        np.testing.assert_allclose(got, want, atol=2 * float(np.abs(want).max()) / 127)
