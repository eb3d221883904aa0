"""TFLite's elementwise int8 kernels (ADD, SUB, MUL, QUANTIZE int -> int, LEAKY_RELU), and the
shared kernels that move integers unchanged (data movement, max, pad, clamps) with TFLite's
rounding of real bounds."""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from ..fixed_point import multiply_by_quantized_multiplier, quantize_multiplier
from ..movement import MOVES, arg_extremum, clamp, clamp_bounds, max_pool, move, pad
from ..params import per_tensor, storage_range
from ..profiles import Kernel, kernel
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
