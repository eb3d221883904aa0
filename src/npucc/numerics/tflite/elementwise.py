"""TFLite's elementwise int8 kernels (ADD, SUB, MUL, QUANTIZE int -> int, LEAKY_RELU), and the
shared kernels that move integers unchanged (data movement, max, pad, clamps) with TFLite's
rounding of real bounds."""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from ..fixed_point import (
    INT32_MAX,
    INT32_MIN,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
from ..movement import MOVES, arg_extremum, clamp, clamp_bounds, max_pool, move, pad
from ..params import per_tensor, storage_range
from ..profiles import Kernel, QuantizedExecutionError, kernel
from ..tables import elementwise
from .linear import quantize_real
from .pooling import resize_bilinear


@kernel("tflite", "Add", "Sub")
def _add(node: Node) -> Kernel:
    """TFLite ADD / SUB int8: both inputs rescaled to a common scale with 20 bits of headroom,
    added, rescaled to the output."""
    a, b = node.inputs
    y = node.outputs[0]
    sa, za = per_tensor(a, "input 0", node)
    sb, zb = per_tensor(b, "input 1", node)
    sy, zy = per_tensor(y, "output", node)
    left_shift = 15 if y.dtype.bits == 16 else 20
    twice_max = 2.0 * float(max(np.float32(sa), np.float32(sb)))
    ma, sha = quantize_multiplier(sa / twice_max)
    mb, shb = quantize_multiplier(sb / twice_max)
    my, shy = quantize_multiplier(twice_max / ((1 << left_shift) * sy))
    sign = -1 if node.op == "Sub" else 1

    def add(va, vb):
        xa = multiply_by_quantized_multiplier((va - za) << left_shift, ma, sha)
        xb = multiply_by_quantized_multiplier((vb - zb) << left_shift, mb, shb)
        return multiply_by_quantized_multiplier(xa + sign * xb, my, shy) + zy
    return elementwise(node, add)


@kernel("tflite", "Mul")
def _mul(node: Node) -> Kernel:
    """TFLite MUL int8: (a - za) * (b - zb) rescaled by sa * sb / sy."""
    a, b = node.inputs
    y = node.outputs[0]
    sa, za = per_tensor(a, "input 0", node)
    sb, zb = per_tensor(b, "input 1", node)
    sy, zy = per_tensor(y, "output", node)
    m, sh = quantize_multiplier(np.float64(sa) * np.float64(sb) / np.float64(sy))
    return elementwise(
        node, lambda va, vb: multiply_by_quantized_multiplier((va - za) * (vb - zb), m, sh) + zy)


@kernel("tflite", "SquaredDifference")
def _squared_difference(node: Node) -> Kernel:
    """TFLite SQUARED_DIFFERENCE int8 (squared_difference.cc): both inputs rescaled to a common
    scale with 7 bits of headroom, subtracted, squared in int32, rescaled to the output."""
    a, b = node.inputs
    y = node.outputs[0]
    sa, za = per_tensor(a, "input 0", node)
    sb, zb = per_tensor(b, "input 1", node)
    sy, zy = per_tensor(y, "output", node)
    left_shift = 7
    twice_max = 2.0 * float(max(np.float32(sa), np.float32(sb)))
    ma, sha = quantize_multiplier(sa / twice_max)
    mb, shb = quantize_multiplier(sb / twice_max)
    my, shy = quantize_multiplier(twice_max * twice_max / ((1 << 2 * left_shift) * float(sy)))

    def squared_difference(va, vb):
        d = (multiply_by_quantized_multiplier((va - za) << left_shift, ma, sha)
             - multiply_by_quantized_multiplier((vb - zb) << left_shift, mb, shb))
        return multiply_by_quantized_multiplier(d * d, my, shy) + zy
    return elementwise(node, squared_difference)


def _inv_sqrt_multiplier(v: int) -> tuple[int, int]:
    """TFLite GetInvSqrtQuantizedMultiplierExp(v, kReverseShift) for one int32 v >= 0: 1 / sqrt(v)
    as (multiplier, left shift), by five Newton-Raphson steps in gemmlowp fixed point
    (F3: 3 integer bits)."""
    if v <= 1:
        return INT32_MAX, 0
    shift = 11
    while v >= 1 << 29:
        v //= 4
        shift += 1
    pairs = (31 - v.bit_length()) // 2 - 1  # (count of leading zeros - 1) // 2 - 1
    shift -= pairs
    v <<= 2 * pairs

    def srdhm(p, q):
        return int(saturating_rounding_doubling_high_mul(p, q))

    def sat_shl(x, e):  # SaturatingRoundingMultiplyByPOT<e>, e > 0
        limit = (1 << (31 - e)) - 1
        return INT32_MAX if x > limit else INT32_MIN if x < -limit else x << e

    half_input = int(rounding_divide_by_pot(v >> 1, 1))
    x = 1 << 28  # F3 one
    for _ in range(5):
        x3 = sat_shl(srdhm(srdhm(x, x), x), 6)  # F9 -> F3
        x = sat_shl(srdhm((1 << 28) + (1 << 27), x) - srdhm(half_input, x3), 3)  # F6 -> F3
    x = srdhm(x, 1518500250)  # * sqrt(2) / 2
    if shift < 0:
        x, shift = x << -shift, 0
    return x, -shift


@kernel("tflite", "Rsqrt")
def _rsqrt(node: Node) -> Kernel:
    """TFLite RSQRT int8 (elementwise.cc, RsqrtEvalQuantized): 1 / sqrt of the input's integer
    offset by 20 bits of headroom, rescaled by 1 / (sqrt(sx) * sy); the input's zero point maps
    to the largest output. LiteRT refuses inputs below the zero point: so does the kernel."""
    x, y = node.inputs[0], node.outputs[0]
    if x.dtype.bits != 8:
        raise QuantizedExecutionError(f"{node.describe()}: quantized Rsqrt is defined for "
                                      f"int8 tensors, %{x.name} is {x.type}")
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    # the reference computes sqrt and the product in float32, the reciprocal in double
    m, sh = quantize_multiplier(1.0 / float(np.sqrt(np.float32(sx)) * np.float32(sy)))
    top = int(storage_range(y)[1])

    def rsqrt(v):
        out = np.empty(v.shape, np.int64)
        for i, q in enumerate(v.ravel()):
            value = int(q) - zx
            if value == 0:
                out.flat[i] = top
                continue
            inv, inv_shift = _inv_sqrt_multiplier(max(value, 0))
            data = multiply_by_quantized_multiplier(1, inv, inv_shift + 20)
            out.flat[i] = int(multiply_by_quantized_multiplier(data, m, sh - 20)[0]) + zy
        return out
    table = elementwise(node, rsqrt)

    def run(args):
        if args[0].min(initial=zx) < zx:
            raise QuantizedExecutionError(f"{node.describe()}: Rsqrt of a negative value (an "
                                          f"input code below the zero point {zx})")
        return table(args)
    return run


@kernel("tflite", "Identity", "Requantize")
def _requantize(node: Node) -> Kernel:
    """Identity between two quantized tensors: TFLite QUANTIZE (int -> int) requantization."""
    x, y = node.inputs[0], node.outputs[0]
    if x.type.quant == y.type.quant and x.dtype == y.dtype:
        return lambda args: [args[0]]
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    m, sh = quantize_multiplier(np.float64(sx) / np.float64(sy))
    return elementwise(node, lambda v: multiply_by_quantized_multiplier(v - zx, m, sh) + zy)


kernel("tflite", *MOVES)(move)
kernel("tflite", "MaxPool")(max_pool)
kernel("tflite", "ArgMax", "ArgMin")(arg_extremum)


def _resize_limits(node: Node) -> str | None:
    at, x, y = node.attrs, node.inputs[0], node.outputs[0]
    if at["mode"] == "nearest":
        return None
    if x.type.rank != 4 or tuple(x.shape[:2]) != tuple(y.shape[:2]):
        return "TFLite's bilinear resize takes 4-D tensors resized over their last two axes"
    if at["coordinate_transformation_mode"] not in ("half_pixel", "align_corners", "asymmetric"):
        return f"TFLite's bilinear resize has no {at['coordinate_transformation_mode']} mode"
    return None


@kernel("tflite", "Resize", limits=_resize_limits)
def _resize(node: Node) -> Kernel:
    """Nearest-neighbour resize moves integers unchanged; bilinear int8 has its own rounding."""
    if node.attrs["mode"] != "nearest":
        return resize_bilinear(node)
    return move(node)


@kernel("tflite", "Pad")
def _pad(node: Node) -> Kernel:
    """Pad: the fill value is quantized as TFLite quantizes reals (0.0 becomes the zero point)."""
    return pad(node, quantize_real, integers=storage_range)


@kernel("tflite", "Relu", "Clip")
def _clamp(node: Node) -> Kernel:
    """Relu / Clip with equal in/out params: a clamp of the integers (TFLite fuses it). With
    other output params, TFLite's RELU / RELU6 / RELU_N1_TO_1 / RELU_0_TO_1 (QuantizedReluX):
    x - zx requantized to the output (multiplier sx / sy in double), then that clamp."""
    x, y = node.inputs[0], node.outputs[0]
    if x.type.quant == y.type.quant:
        return clamp(node, quantize_real, integers=storage_range)
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    m, sh = quantize_multiplier(np.float64(sx) / np.float64(sy))
    lo, hi = clamp_bounds(node, quantize_real, integers=storage_range)
    return elementwise(node, lambda v: multiply_by_quantized_multiplier(v - zx, m, sh) + zy,
                       lo, hi)


@kernel("tflite", "LeakyRelu")
def _leaky_relu(node: Node) -> Kernel:
    """TFLite LEAKY_RELU int8: identity and alpha branches with their own multipliers."""
    x, y = node.inputs[0], node.outputs[0]
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    alpha = np.float32(node.attrs["alpha"])
    m_id, sh_id = quantize_multiplier(np.float64(np.float32(sx) / np.float32(sy)))
    m_a, sh_a = quantize_multiplier(np.float64(np.float32(sx) * alpha / np.float32(sy)))

    def leaky(v):
        v = v - zx
        return np.where(v >= 0, multiply_by_quantized_multiplier(v, m_id, sh_id),
                        multiply_by_quantized_multiplier(v, m_a, sh_a)) + zy
    return elementwise(node, leaky)
