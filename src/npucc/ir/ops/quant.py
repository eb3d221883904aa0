"""Element type conversions: Cast, QuantizeLinear and DequantizeLinear (affine, per tensor or per
axis), and Requantize (between two quantized types). QuantizeLinear's output type carries the
QuantParams its attributes describe (or their dynamic-fixed-point equivalent, scale 2**-fl and
zero point 0, given as the output type), and DequantizeLinear checks that its input's params
(if any) are the ones it undoes."""

from __future__ import annotations

import math

import numpy as np

from npucc.errors import IRError
from npucc.ir.quant_rule import CONVERT, QuantRule
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import DType, QuantParams, TensorType

from .shape import normalize_axis


# ---- Cast ----
def round_to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 values rounded (to nearest even) to bfloat16 precision, stored as float32."""
    bits = np.asarray(x, np.float32, order="C").view(np.uint32)
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) \
        & np.uint32(0xFFFF0000)
    out = rounded.view(np.float32)
    return np.where(np.isnan(x), np.float32(np.nan), out).astype(np.float32)


@define_op("Cast", inputs=("X",), attrs={"to": Attr("dtype", doc="output element type")},
           infer=lambda types, attrs_: TensorType(types[0].shape, attrs_["to"]), quant=CONVERT)
def cast(x, *, to):
    """ONNX Cast to `to`: float to int truncates toward zero (out-of-range values are not
    saturated: undefined, as in ONNX); nonzero to bool is True; bf16 rounds to nearest even."""
    if to is DType.bf16:
        return round_to_bf16(x.astype(np.float32))
    return x.astype(to.numpy)


# ---- QuantizeLinear / DequantizeLinear ----
def _check_params(x: TensorType, attrs_, int_type: DType, narrow: bool = False) -> QuantParams:
    """The QuantParams the attributes describe for a tensor shaped like x (axis normalised)."""
    scale, zp, axis = attrs_["scale"], attrs_["zero_point"], attrs_["axis"]
    if not scale:
        raise IRError("scale must not be empty")
    if any(not (s > 0 and math.isfinite(s)) for s in scale):
        raise IRError(f"scale {scale} must be finite and > 0")
    if axis is None:
        if len(scale) != 1 or len(zp) != 1:
            raise IRError(f"per-tensor quantization (axis None) takes one scale and one zero "
                          f"point, got {len(scale)} and {len(zp)}")
    else:
        axis = normalize_axis(axis, x.rank)
        n = x.shape[axis]
        if len(scale) != n:
            raise IRError(f"per-axis quantization on axis {axis} of size {n} takes {n} scales, "
                          f"got {len(scale)}")
        if len(zp) not in (1, n):
            raise IRError(f"per-axis quantization on axis {axis} takes 1 or {n} zero points, "
                          f"got {len(zp)}")
    lo, hi = int_type.int_range
    bad = [z for z in zp if not lo <= z <= hi]
    if bad:
        raise IRError(f"zero point {bad[0]} is outside the {int_type.value} range {lo}..{hi}")
    if narrow and (lo == 0 or any(zp)):
        raise IRError(f"narrow-range quantization is symmetric: it needs a signed type and zero "
                      f"points 0, got {int_type.value} and {zp}")
    return QuantParams.affine(scale, zp, axis=axis, bits=int_type.bits, narrow_range=narrow)


def _broadcast_params(ndim, scale, zero_point, axis):
    """scale (float32) and zero point (int64) shaped to broadcast against a rank-ndim tensor."""
    shape = [1] * ndim
    if axis is not None:
        shape[axis] = len(scale)
    s = np.asarray(scale, np.float32).reshape(shape)
    zp = np.asarray(zero_point, np.int64)
    zp = zp.reshape(shape) if zp.size > 1 else zp.reshape([1] * ndim)
    return s, zp


_PARAM_ATTRS = {
    "scale": Attr("floats", doc="one per tensor, or one per index of axis"),
    "zero_point": Attr("ints", (0,), doc="one, or one per index of axis"),
    "axis": Attr("int", None, doc="None: per tensor"),
}


def _quantize_type(types, attrs_):
    x, to = types[0], attrs_["dtype"]
    if not x.dtype.is_float:
        raise IRError(f"takes a float tensor, got {x.dtype.value}")
    return TensorType(x.shape, to, _check_params(x, attrs_, to, attrs_["narrow"]))


@define_op("QuantizeLinear", inputs=("X",),
           attrs={**_PARAM_ATTRS,
                  "dtype": Attr("dtype", DType.u8, choices=(DType.u8, DType.i8, DType.i16)),
                  "rounding": Attr("str", "half_even", choices=("half_even", "half_away"),
                                   doc="ties: to even (ONNX) or away from zero (TFLite)"),
                  "narrow": Attr("bool", False, doc="saturate symmetrically to "
                                 "+-(2**(bits-1) - 1) (narrow range, dynamic fixed point)")},
           infer=_quantize_type, quant=CONVERT)
def quantize_linear(x, *, scale, zero_point, axis, dtype, rounding, narrow):
    """y = saturate(round(x / scale) + zero_point) in `dtype`, x / scale in float32; ties round
    to even (ONNX, `rounding=half_even`) or away from zero (TFLite's QUANTIZE, `half_away`).
    Per-axis when axis is given. `narrow` saturates to [-(2**(bits-1) - 1), 2**(bits-1) - 1]."""
    axis = None if axis is None else axis % x.ndim
    s, zp = _broadcast_params(x.ndim, scale, zero_point, axis)
    q = x.astype(np.float32) / s
    if rounding == "half_even":
        q = np.rint(q)
    else:  # in float64, where |q| + 0.5 is exact for every float32 q
        q64 = q.astype(np.float64)
        q = np.copysign(np.floor(np.abs(q64) + 0.5), q64)
    lo, hi = dtype.int_range
    return np.clip(q + zp, lo + narrow, hi).astype(dtype.numpy)


_DEQUANT_INPUTS = (DType.u8, DType.i8, DType.i16, DType.i32)


def _dequantize_type(types, attrs_):
    x = types[0]
    if x.dtype not in _DEQUANT_INPUTS:
        raise IRError(f"takes {', '.join(d.value for d in _DEQUANT_INPUTS)}, got {x.dtype.value}")
    want = _check_params(x, attrs_, x.dtype)
    q = x.quant
    if q is not None:
        scale, zp, axis = q.as_affine()
        have = (scale, zp * (len(scale) // len(zp)), None if axis is None else axis % x.rank)
        if have != (want.scale, want.zero_point, want.axis):
            raise IRError(f"input is quantized as {x} but the attributes say scale={want.scale} "
                          f"zero_point={want.zero_point} axis={want.axis}")
    return TensorType(x.shape, DType.f32)


@define_op("DequantizeLinear", inputs=("X",), attrs=_PARAM_ATTRS, infer=_dequantize_type,
           quant=CONVERT)
def dequantize_linear(x, *, scale, zero_point, axis):
    """y = (x - zero_point) * scale as float32 (scale rounded to float32 first)."""
    axis = None if axis is None else axis % x.ndim
    s, zp = _broadcast_params(x.ndim, scale, zero_point, axis)
    return (x.astype(np.int64) - zp).astype(np.float32) * s


# ---- Requantize ----
def _requantize_type(types, attrs_):
    x, to = types[0], attrs_["to"]
    if x.quant is None:
        raise IRError(f"takes a quantized tensor, got {x}")
    if not to.is_int:
        raise IRError(f"converts to an integer type, got {to.value}")
    return TensorType(x.shape, to)


@define_op("Requantize", inputs=("X",), attrs={"to": Attr("dtype", doc="output integer type")},
           infer=_requantize_type, quant=QuantRule("convert"))
def requantize(x, *, to):
    """Re-express quantized x in the output type's params (the output type carries them; it may
    change the scheme and width: u8 affine to i16 dynamic fixed point, say). The rounding is the
    numerics profile's, so this op runs only in `npucc.numerics`."""
    raise IRError("Requantize computes in a numerics profile (its params are in its types): run "
                  "the graph with npucc.numerics.run_graph")


# ---- BitCast ----
def _bitcast_type(types, attrs_):
    x, to = types[0], attrs_["to"]
    for what, d in (("the input", x.dtype), ("to", to)):
        if d in (DType.bool, DType.bf16):
            raise IRError(f"{what} is {d.value}: BitCast takes no bool or bf16 tensors")
    if x.dtype.numpy.itemsize != to.numpy.itemsize:
        raise IRError(f"{x.dtype.value} and {to.value} differ in width")
    return TensorType(x.shape, to)


@define_op("BitCast", inputs=("X",), attrs={"to": Attr("dtype", doc="output element type, "
                                                                     "as wide as the input's")},
           infer=_bitcast_type)
def bitcast(x, *, to):
    """ONNX BitCast: the input's bytes (little endian) read as `to`, of the same width."""
    return np.asarray(x, order="C").astype(x.dtype.newbyteorder("<")).view(
        np.dtype(to.numpy).newbyteorder("<")).astype(to.numpy)
