"""TFLite's int8 / uint8 SOFTMAX in gemmlowp fixed point."""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from ..fixed_point import (
    INT32_MAX,
    INT32_MIN,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
from ..params import per_tensor, storage_range
from ..profiles import Kernel, QuantizedExecutionError, kernel


def _srdhm(a, b):
    return saturating_rounding_doubling_high_mul(a, b)


def _sat_shl(x, e: int):
    """gemmlowp SaturatingRoundingMultiplyByPOT with a positive exponent (int32)."""
    threshold = (1 << (31 - e)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << e))


_EXP_BARREL = [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242)]


def _exp_on_negative_values(a):
    """gemmlowp exp_on_negative_values for Q5.26 input (raw int64 arrays), Q0.31 output."""
    frac = 26
    quarter = 1 << (frac - 2)
    a_mod = (a & (quarter - 1)) - quarter
    x = _sat_shl(a_mod, 5) + (1 << 28)  # Rescale<0>, then + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(_srdhm(x4_over_4 + x3, 715827883) + x2, 1)
    result = 1895147668 + _srdhm(1895147668, x + poly)
    remainder = a_mod - a
    for exponent, multiplier in _EXP_BARREL:
        bit = (remainder & (1 << (frac + exponent))) != 0
        result = np.where(bit, _srdhm(result, multiplier), result)
    return np.where(a == 0, INT32_MAX, result)


def _reciprocal(x, integer_digits: int):
    """TFLite GetReciprocal: (Q0.31 1/x scaled, num_bits_over_unit) of a positive Q(digits)."""
    x = np.asarray(x, np.int64)
    headroom = 32 - np.floor(np.log2(np.maximum(x, 1))).astype(np.int64) - 1  # clz(uint32)
    bits_over_unit = integer_digits - headroom
    shifted = ((x << headroom) & 0xFFFFFFFF) - (1 << 31)
    shifted = np.where(shifted >= (1 << 31), shifted - (1 << 32), shifted)
    # one_over_one_plus_x_for_x_in_0_1
    s = shifted + INT32_MAX
    half_den = np.where(s >= 0, (s + 1) // 2, -((-(s - 1)) // 2))
    xq = 1515870810 + _srdhm(half_den, -1010580540)
    one_f2 = 1 << 29
    for _ in range(3):
        t = one_f2 - _srdhm(half_den, xq)
        xq = xq + _sat_shl(_srdhm(xq, t), 2)
    return _sat_shl(xq, 1), bits_over_unit


@kernel("tflite", "Softmax")
def _softmax(node: Node) -> Kernel:
    """TFLite SOFTMAX int8/uint8 (reference_ops::Softmax): fixed-point exp of the scaled
    differences to the row max, summed in Q12.19, times the fixed-point reciprocal."""
    x, y = node.inputs[0], node.outputs[0]
    sx, _ = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    lo, hi = storage_range(y)
    if sy != 1.0 / 256 or zy != lo:
        raise QuantizedExecutionError(f"{node.describe()}: quantized Softmax needs output scale "
                                      f"1/256 and zero point {lo}, got {sy} and {zy}")
    real = min(np.float64(sx) * float(1 << 26), float((1 << 31) - 1))  # beta = 1
    m, shift = quantize_multiplier(real)
    m, shift = int(m[0]), int(shift[0])
    radius = int(np.floor(((1 << 5) - 1) * float(1 << 26) / float(1 << shift)))
    diff_min = -radius
    axis = node.attrs["axis"] % x.type.rank
    out_bits = y.dtype.bits

    def run(args):
        v = np.moveaxis(args[0].astype(np.int64), axis, -1)
        diff = v - v.max(axis=-1, keepdims=True)
        ok = diff >= diff_min
        scaled = _srdhm(diff * (1 << shift), m)
        e = np.where(ok, _exp_on_negative_values(scaled), 0)
        total = rounding_divide_by_pot(e, 12).sum(axis=-1, keepdims=True)
        recip, over = _reciprocal(total, 12)
        out = rounding_divide_by_pot(_srdhm(recip, e), over + 31 - out_bits) + lo
        out = np.where(ok, np.clip(out, lo, hi), lo)
        return [np.moveaxis(out, -1, axis).astype(y.dtype.numpy)]
    return run
