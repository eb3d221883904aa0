"""Quantization parameters from ranges, and quantized payloads: the formulas the quantize passes
use (docs/ARCHITECTURE.md, numerics section).

- affine activations: the range is widened to include 0, scale = (hi - lo) / (qmax - qmin),
  zero point = round(qmin - lo / scale) clamped into the type; 0.0 is then exact (the range is
  nudged to [(qmin - zp) * scale, (qmax - zp) * scale]);
- symmetric weights (i8): scale = max|w| / 127 per output channel (or per tensor), zero point 0,
  narrow range [-127, 127]; asymmetric weights (u8): like activations;
- dynamic fixed point: fl = bits - 1 - ceil(log2(max|x|)), q = round(x * 2**fl) saturated to
  +-(2**(bits-1) - 1);
- bias: int32 at scale s_x * s_w[c] (dfp: fl_x + fl_w, int32 for dfp8, int64 for dfp16). Where
  a bias would not fit there (a tiny input range against a large bias), the weights' scale is
  raised until it does, as onnxruntime's and TFLite's quantizers do: saturating the bias would
  silently drop it. For dfp, fl_w is also lowered until fl_x + fl_w - fl_y <= 32: a smaller
  requantization factor has no fixed-point multiplier (it becomes 0, as in TFLite);
- fixed outputs in [0, 1] (Softmax): scale 2**-bits, zero point at the type's minimum (dfp:
  fl = bits - 1).
Scales are rounded to float32 (the precision Quantize/DequantizeLinear and ONNX use). Rounding is
half to even throughout.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from ..ir.types import DFP_FRAC_LENGTHS, DType, QuantParams


@attrs.frozen
class Precision:
    """What a `dtype` name of the quantize passes means."""

    name: str
    storage: DType  # activations
    scheme: str  # "affine", "dfp", "fp16" or "float"
    weight_storage: DType | None = None
    symmetric_weights: bool = False
    bias_storage: DType | None = None

    @property
    def integer(self) -> bool:
        return self.scheme in ("affine", "dfp")


PRECISIONS = {p.name: p for p in (
    Precision("u8", DType.u8, "affine", DType.u8, False, DType.i32),
    Precision("i8", DType.i8, "affine", DType.i8, True, DType.i32),
    Precision("dfp8", DType.i8, "dfp", DType.i8, True, DType.i32),
    Precision("dfp16", DType.i16, "dfp", DType.i16, True, DType.i64),
    Precision("fp16", DType.f16, "fp16"),
    Precision("f32", DType.f32, "float"),
)}


def f32(x):
    return np.asarray(x, np.float32).astype(np.float64)


def _frac_length(max_abs: float, bits: int) -> int:
    if not max_abs > 0 or not math.isfinite(max_abs):
        fl = bits - 1
    else:
        fl = bits - 1 - math.ceil(math.log2(max_abs))
    return int(min(max(fl, DFP_FRAC_LENGTHS[0]), DFP_FRAC_LENGTHS[1]))


def activation_params(lo: float, hi: float, prec: Precision) -> QuantParams:
    """Params of an activation observed in [lo, hi]."""
    bits = prec.storage.bits
    if prec.scheme == "dfp":
        return QuantParams.dfp(_frac_length(max(abs(lo), abs(hi)), bits), bits=bits)
    qmin, qmax = prec.storage.int_range
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = float(f32((hi - lo) / (qmax - qmin))) if hi > lo else 1.0
    if scale == 0.0:  # a range below float32's resolution
        scale = float(np.finfo(np.float32).tiny)
    zp = int(np.clip(np.rint(qmin - lo / scale), qmin, qmax))
    return QuantParams.affine(scale, zp, bits=bits)


def fixed_params(prec: Precision) -> QuantParams:
    """Params an op's rule fixes (output "fixed": Softmax, whose output lies in [0, 1]): TFLite's
    scale 2**-bits with the zero point at the type's minimum (u8: 1/256, 0; i8: 1/256, -128);
    dynamic fixed point fl = bits - 1. 1.0 saturates to the largest step below it."""
    bits = prec.storage.bits
    if prec.scheme == "dfp":
        return QuantParams.dfp(bits - 1, bits=bits)
    return QuantParams.affine(2.0 ** -bits, prec.storage.int_range[0], bits=bits)


def weight_params(w: np.ndarray, prec: Precision, axis: int | None, min_scale=0.0,
                  max_frac_length: int | None = None) -> QuantParams:
    """Params of constant weights, per output channel along `axis` (None: per tensor), with
    scales of at least `min_scale` (per channel or one) and dfp's fl at most `max_frac_length`
    (`operand_limits`)."""
    dt = prec.weight_storage
    bits = dt.bits
    if prec.scheme == "dfp":
        fl = _frac_length(float(np.max(np.abs(w), initial=0.0)), bits)
        if max_frac_length is not None:
            fl = max(min(fl, max_frac_length), DFP_FRAC_LENGTHS[0])
        return QuantParams.dfp(fl, bits=bits)
    w = np.asarray(w, np.float64)
    red = tuple(i for i in range(w.ndim) if i != axis) if axis is not None else None
    lo = np.minimum(np.min(w, axis=red, initial=0.0), 0.0)
    hi = np.maximum(np.max(w, axis=red, initial=0.0), 0.0)
    if prec.symmetric_weights:
        scale = f32(np.maximum(np.abs(lo), hi) / ((1 << (bits - 1)) - 1))
        scale = _at_least(np.where(scale > 0, scale, 1.0), min_scale)
        return QuantParams.affine(np.atleast_1d(scale), 0, axis=axis, bits=bits,
                                  narrow_range=True)
    qmin, qmax = dt.int_range
    scale = f32((hi - lo) / (qmax - qmin))
    scale = _at_least(np.where(scale > 0, scale, 1.0), min_scale)
    zp = np.clip(np.rint(qmin - lo / scale), qmin, qmax).astype(np.int64)
    return QuantParams.affine(np.atleast_1d(scale), np.atleast_1d(zp), axis=axis, bits=bits)


def _at_least(scale: np.ndarray, floor) -> np.ndarray:
    """max(scale, floor) as float32 values no smaller than floor."""
    floor = np.asarray(floor, np.float64)
    if not np.any(floor > scale):
        return scale
    up = f32(floor)
    up = np.where(up < floor, np.nextafter(up.astype(np.float32), np.float32(np.inf)), up)
    return np.maximum(scale, up.astype(np.float64))


def operand_limits(w: np.ndarray, b: np.ndarray | None, prec: Precision, axis: int | None,
                   x: QuantParams, y: QuantParams | None) -> dict:
    """weight_params' min_scale / max_frac_length that keep the bias within its integer type at
    the accumulator's scale and (dfp) the requantization factor 2**(fl_y - fl_x - fl_w) >= 2**-32
    (see the module docstring)."""
    bmax = float(prec.bias_storage.int_range[1]) if prec.bias_storage is not None else math.inf
    absb = np.abs(np.asarray(b, np.float64)) if b is not None else np.zeros(1)
    if prec.scheme == "dfp":
        limit = None
        big = float(np.max(absb, initial=0.0))
        if big > 0 and math.isfinite(big):
            limit = math.floor(math.log2(bmax / big)) - x.frac_length
        if y is not None and y.frac_length is not None:
            shift_limit = y.frac_length + 32 - x.frac_length
            limit = shift_limit if limit is None else min(limit, shift_limit)
        return {"max_frac_length": limit}
    sx = x.as_affine()[0][0]
    need = absb * (1 + 2.0 ** -20) / (sx * bmax)  # a margin for the float32 rounding of s_w
    if axis is None or need.size == 1:
        need = np.asarray(float(np.max(need, initial=0.0)))
    return {"min_scale": need}


def quantize_array(x: np.ndarray, params: QuantParams, dtype: DType) -> np.ndarray:
    """round_half_even(x / scale) + zero point, saturated to the params' range, as `dtype`."""
    scale, zp, axis = params.as_affine()
    shape = [1] * x.ndim
    if axis is not None:
        shape[axis] = -1
    s = np.asarray(scale, np.float64).reshape(shape if len(scale) > 1 else [1] * x.ndim)
    z = np.asarray(zp, np.float64).reshape(shape if len(zp) > 1 else [1] * x.ndim)
    lo, hi = params.int_range(dtype)
    q = np.asarray(np.divide(x, s, dtype=np.float64))  # one float64 buffer, then in place
    np.rint(q, out=q)
    q += z
    np.clip(q, lo, hi, out=q)
    return q.astype(dtype.numpy)


def bias_params(x: QuantParams, w: QuantParams, prec: Precision, rank: int = 1) -> QuantParams:
    """The bias lives at the accumulator's scale: s_x * s_w per channel (fl_x + fl_w); its
    channels run along its last axis (a Gemm's C may be (1, N))."""
    bits = prec.bias_storage.bits
    if prec.scheme == "dfp":
        return QuantParams.dfp(x.frac_length + w.frac_length, bits=bits)
    sx = x.as_affine()[0][0]
    sw, _, axis = w.as_affine()
    return QuantParams.affine(np.asarray(sw) * sx, 0, axis=rank - 1 if len(sw) > 1 else None,
                              bits=bits)


def quantized_operands(node, prec: Precision, per_channel: bool, x: QuantParams,
                       y: QuantParams | None = None):
    """[(input index, integers, params)] of a linear node's constant weights (per output channel
    when `per_channel` and affine; ConvTranspose only ungrouped) and bias (at x's scale times the
    weights'); `y`, the output's params, bounds the dfp requantization shift."""
    rule = node.opdef.quant
    w = node.inputs[rule.weights]
    channel = per_channel and prec.scheme == "affine" and not (
        node.op == "ConvTranspose" and node.attrs["group"] != 1)
    axis = rule.weight_axis(node.attrs) % w.type.rank if channel else None
    b = node.inputs[rule.bias] if rule.bias is not None and len(node.inputs) > rule.bias \
        else None
    limits = operand_limits(w.const, None if b is None else b.const.reshape(-1), prec,
                            axis, x, y)
    wq = weight_params(w.const, prec, axis, **limits)
    out = [(rule.weights, quantize_array(w.const, wq, prec.weight_storage), wq)]
    if b is not None:
        bq = bias_params(x, wq, prec, b.type.rank)
        out.append((rule.bias, quantize_array(b.const, bq, prec.bias_storage), bq))
    return out
