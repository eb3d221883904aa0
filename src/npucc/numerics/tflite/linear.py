"""TFLite CONV_2D / DEPTHWISE_CONV_2D / TRANSPOSE_CONV / FULLY_CONNECTED, int8 and uint8."""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node, Value
from ..accumulate import constant_weight_gemm, exact_accumulator
from ..fixed_point import quantize_multiplier, tflite_round
from ..params import affine_params, channel_shape, per_tensor, storage_range
from ..profiles import Kernel, QuantizedExecutionError, kernel
from .requantize import requantizer


def quantize_real(value: float, scale: float, zero_point: int) -> int:
    """zero_point + round(value / scale) in float32, as TFLite quantizes activation bounds."""
    return zero_point + int(tflite_round(np.float32(value) / np.float32(scale)))


def activation_range(node: Node, out: Value) -> tuple[int, int]:
    """TFLite CalculateActivationRangeQuantized for the node's fused activation."""
    lo, hi = storage_range(out)
    kind = node.attrs.get("activation", "none")
    if kind == "none":
        return lo, hi
    s, z = per_tensor(out, "output", node)
    if kind == "relu":
        return max(lo, quantize_real(0.0, s, z)), hi
    if kind == "clip":
        a, b = node.attrs["activation_params"]
        if np.isfinite(a):
            lo = max(lo, quantize_real(a, s, z))
        if np.isfinite(b):
            hi = min(hi, quantize_real(b, s, z))
        return lo, hi
    raise QuantizedExecutionError(f"{node.describe()}: fused activation {kind} has no integer "
                                  "form (TFLite fuses only relu, relu6 and relu_n1_to_1)")


def float_kernel_on(node: Node, **override):
    """The op's float reference kernel with some attributes replaced, for exact integer math
    carried in float64 or on integer arrays."""
    opdef = node.opdef
    attrs_ = {**node.attrs, **override}
    return lambda *arrays: opdef.kernel(*arrays, **attrs_)


def limits(node: Node) -> str | None:
    """TFLite fuses relu, relu6 and relu_n1_to_1 (clamps); FULLY_CONNECTED has no alpha, beta or
    transposed input."""
    act = node.attrs.get("activation", "none")
    if act not in ("none", "relu", "clip"):
        return f"TFLite fuses no {act} activation"
    if node.op == "Gemm" and (node.attrs["alpha"] != 1.0 or node.attrs["beta"] != 1.0
                              or node.attrs["transA"]):
        return "a quantized Gemm takes alpha=beta=1 and transA=0"
    return None


@kernel("tflite", "Conv", "ConvTranspose", "Gemm", "MatMul", limits=limits)
def _linear(node: Node) -> Kernel:
    """TFLite CONV_2D / DEPTHWISE_CONV_2D / TRANSPOSE_CONV / FULLY_CONNECTED (int8, uint8; per
    tensor or per output channel): acc = sum((x - zx) * (w - zw)) + bias, then per-channel
    requantization and the fused activation's clamp.

    With constant weights (and bias) the accumulation is `accumulate.constant_weight_gemm` (exact
    BLAS on raw integers) and `requantizer` rescales it exactly."""
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    y = node.outputs[0]
    if node.op == "Gemm" and limits(node):
        raise QuantizedExecutionError(f"{node.describe()}: {limits(node)}")
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    sw, zw, w_axis = affine_params(w, "weights", node)
    if b is not None and not b.dtype.is_int:
        raise QuantizedExecutionError(f"{node.describe()}: bias %{b.name} is {b.dtype.value}; "
                                      "a quantized layer takes an integer (int32) bias")
    if node.op in ("Gemm", "MatMul") and w_axis is None:
        # FULLY_CONNECTED and BATCH_MATMUL per tensor: the scale product is taken in float
        # (GetQuantizedConvolutionMultipler), then divided in double
        real = np.float64(np.float32(sx) * np.float32(sw)) / np.float64(sy)
    else:
        real = np.float64(sx) * sw / np.float64(sy)
    mult, shift = quantize_multiplier(real)
    lo, hi = activation_range(node, y)
    ch_axis = y.type.rank - 1 if node.op in ("Gemm", "MatMul") else 1
    bshape = channel_shape(y.type.rank, ch_axis)
    mult, shift = mult.reshape(bshape), shift.reshape(bshape)
    wz = zw.astype(np.float64)
    if w_axis is not None and len(zw) > 1:
        wz = wz.reshape(channel_shape(w.type.rank, w_axis))
    else:
        wz = wz.reshape(()) if wz.size == 1 else wz
    single_round = node.op == "Gemm"  # BATCH_MATMUL rounds twice (MultiplyByQuantizedMultiplier)
    gemm = None if node.attrs.get("pool_kernel") else constant_weight_gemm(node, zx, wz, bshape)
    if gemm is not None:
        requant = requantizer(mult, shift, single_round=single_round, offset=gemm.offset,
                              raw_bound=gemm.raw_bound, total_bound=gemm.total_bound,
                              zy=zy, lo=lo, hi=hi, dtype=y.dtype.numpy)
        return lambda args: [requant(gemm.accumulate(args[0]))]

    correlate = float_kernel_on(node, activation="none", activation_params=())
    acc_dtype = exact_accumulator(node, x, w, zx, wz)
    requant = requantizer(mult, shift, single_round=single_round, offset=0,
                          raw_bound=np.inf, total_bound=np.inf, zy=zy, lo=lo, hi=hi,
                          dtype=y.dtype.numpy)

    def run(args):
        xa, wa = args[0], args[1]
        ba = args[2] if len(args) > 2 else None
        acc = correlate(xa.astype(acc_dtype) - acc_dtype.type(zx), wa.astype(acc_dtype) - wz)
        acc = np.rint(acc).astype(np.int64)
        if ba is not None:
            acc = acc + ba.astype(np.int64).reshape(bshape)
        return [requant(acc)]
    return run
