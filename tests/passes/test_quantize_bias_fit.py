"""A bias too large for the accumulator's scale: a tiny input range (an attention-like gate that
is nearly zero, as in torchvision's LR-ASPP head with random weights) against an ordinary bias.
At s_x * s_w the bias would saturate its integer type (and for dfp the requantization factor
fell below what a fixed-point multiplier represents), so the quantized conv output all zeros.
The weights' scale is raised until the bias fits, as onnxruntime's quantizer does; the output
must then follow onnxruntime's float result within a couple of output steps."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from npucc.backends.simulator import compile_plan
from npucc.frontends import load
from npucc.ir import DType
from npucc.quantization.quantize_model import quantize_model

ort = pytest.importorskip("onnxruntime", reason="onnxruntime (test extra) runs the float model")


def _model(tmp_path, gain: float):
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((6, 16, 1, 1)) * 0.03).astype(np.float32)
    b = rng.uniform(-0.09, 0.09, 6).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"])], "bias_fit",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 16, 5, 5])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 6, 5, 5])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    path = tmp_path / "bias_fit.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    samples = [[rng.uniform(0, gain, (1, 16, 5, 5)).astype(np.float32)] for _ in range(4)]
    return path, samples


@pytest.mark.parametrize("dtype,per_channel", [("u8", False), ("i8", True), ("dfp8", False),
                                               ("dfp16", False)])
@pytest.mark.parametrize("gain", [5e-9, 1e-3])
def test_a_bias_larger_than_the_accumulator_allows_is_kept(tmp_path, dtype, per_channel, gain):
    path, samples = _model(tmp_path, gain)
    x = samples[1][0]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (want,) = sess.run(None, {"x": x})
    q = quantize_model(load(path), samples, dtype=dtype, per_channel=per_channel,
                       progress=False)
    (got,) = compile_plan(q.graph).run([x])
    conv = next(n for n in q.graph.nodes if n.op == "Conv")
    bias = conv.inputs[2]
    lo, hi = bias.type.quant.int_range(bias.dtype)
    assert lo < int(bias.const.min()) and int(bias.const.max()) < hi  # not saturated
    out = conv.outputs[0].type.quant
    step = 2.0 ** -out.frac_length if out.frac_length is not None else out.scale[0]
    assert conv.outputs[0].dtype in (DType.u8, DType.i8, DType.i16)
    assert np.abs(got - want).max() <= 2 * step
