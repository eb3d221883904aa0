"""TFLite's int8 activation kernels: LOGISTIC / TANH / GELU (float32 tables) and HARD_SWISH
(int16 fixed point)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import math
from collections.abc import Callable

import numpy as np

from ...ir.graph import Node
from ..fixed_point import INT32_MAX, quantize_multiplier, rounding_divide_by_pot, tflite_round
from ..params import per_tensor
from ..profiles import Kernel, QuantizedExecutionError, kernel
from ..tables import elementwise


def _table_only(node: Node) -> None:
    """TFLite defines these kernels for 8-bit tensors only (as 256-entry tables)."""
    for v in (node.inputs[0], node.outputs[0]):
        if v.dtype.bits != 8:
            raise QuantizedExecutionError(f"{node.describe()}: quantized {node.op} is defined "
                                          f"for int8/uint8 tensors, %{v.name} is {v.type}")


@functools.cache
def _c_float_function(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The C library's float function `name` (expf, tanhf) on a float32 array: the function
    TFLite's table kernels call through std::exp / std::tanh. numpy's own float32 tanh, or
    float64 rounded to float32, differ from glibc's tanhf by an ulp on some inputs, which moves
    a table entry by one (seen against LiteRT). Without a loadable C math library, float64
    rounded to float32 is used."""
    path = ctypes.util.find_library("m") or ctypes.util.find_library("c")
    fn = getattr(ctypes.CDLL(path), name, None) if path else None
    if fn is None:
        exact = {"expf": np.exp, "tanhf": np.tanh, "erfcf": np.vectorize(math.erfc)}[name]
        return lambda v: exact(np.asarray(v, np.float64)).astype(np.float32)
    fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
    return lambda v: np.array([fn(float(t)) for t in np.ravel(v)], np.float32).reshape(
        np.shape(v))


def _gelu(v: np.ndarray, approximate: str) -> np.ndarray:
    """TFLite's GeluTransform / GeluTransformApproximate (reference/gelu.h), all in float32
    (the exact form through erfc: 0.5 x erfc(-x / sqrt 2))."""
    half = np.float32(0.5) * v
    if approximate == "tanh":
        inner = np.float32(math.sqrt(2 / math.pi)) * (v + np.float32(0.044715) * v * v * v)
        return half * (np.float32(1) + _c_float_function("tanhf")(inner))
    return half * _c_float_function("erfcf")(v * np.float32(-math.sqrt(0.5)))


_F32_TRANSFORMS = {  # the float32 transforms of TFLite's LOGISTIC / TANH / GELU tables
    "Sigmoid": lambda v, at: np.float32(1) / (np.float32(1) + _c_float_function("expf")(-v)),
    "Tanh": lambda v, at: _c_float_function("tanhf")(v),
    "Gelu": lambda v, at: _gelu(v, at["approximate"]),
}


@kernel("tflite", "Sigmoid", "Tanh", "Gelu")
def _float_table(node: Node) -> Kernel:
    """TFLite LOGISTIC / TANH / GELU int8 (reference kernel: LUTPopulate): each input value is
    dequantized in float32, transformed, scaled by 1 / output scale, rounded half away from
    zero and offset by the output zero point, then saturated."""
    _table_only(node)
    x, y = node.inputs[0], node.outputs[0]
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    transform = _F32_TRANSFORMS[node.op]
    inverse = np.float32(1) / np.float32(sy)

    def table(v):
        real = np.float32(sx) * (v - zx).astype(np.float32)
        rescaled = tflite_round(transform(real, node.attrs) * inverse).astype(np.float32)
        return (rescaled + np.float32(zy)).astype(np.int64)  # C float -> int truncates
    return elementwise(node, table)


def _int16_srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int16 values (int64 arrays)."""
    ab = np.asarray(a, np.int64) * b
    s = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    q = np.where(s >= 0, s >> 15, -((-s) >> 15))  # C division truncates toward zero
    return np.where((a == -(1 << 15)) & (b == -(1 << 15)), (1 << 15) - 1, q)


def _int16_sdhm(a, b):
    """TFLite SaturatingDoublingHighMul (int16, rounding toward zero, like SQDMULH)."""
    ab = np.asarray(a, np.int64) * b
    q = np.where(ab >= 0, ab >> 15, -((-ab) >> 15))
    return np.where((a == -(1 << 15)) & (b == -(1 << 15)), (1 << 15) - 1, q)


def _int16_saturating_left_shift(v, amount: int):
    return np.clip(np.asarray(v, np.int64) << amount, -(1 << 15), (1 << 15) - 1)


def _int16_multiplier(real) -> tuple[int, int]:
    """QuantizeMultiplier, then TFLite DownScaleInt32ToInt16Multiplier: (int16 m, exponent)."""
    m, shift = quantize_multiplier(real)
    m, shift = int(m[0]), int(shift[0])
    m16 = (1 << 15) - 1 if m >= INT32_MAX - (1 << 15) else (m + (1 << 15)) >> 16
    return m16, shift


@kernel("tflite", "HardSwish")
def _hard_swish(node: Node) -> Kernel:
    """TFLite HARD_SWISH int8 (reference_ops::HardSwish): int16 fixed point. The input on a
    hi-res scale (x - zx) * 2**7 is rescaled once to the output scale and once to a 'relu-ish'
    value on the scale where 3.0 is 2**15, saturated to [-1, 1) and mapped to [0, 1); their
    doubling high product (rounded toward zero) is shifted to the output scale."""
    _table_only(node)
    x, y = node.inputs[0], node.outputs[0]
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    hires = np.float32(1.0 / 128.0) * np.float32(sx)
    out_m, out_exp = _int16_multiplier(np.float64(hires / np.float32(sy)))
    relu_m, relu_exp = _int16_multiplier(np.float64(hires / np.float32(3.0 / 32768.0)))
    if out_exp > 0:
        raise QuantizedExecutionError(f"{node.describe()}: quantized HardSwish needs an output "
                                      "multiplier below 1 (TFLite rejects this model too)")

    def hard_swish(v):
        hires_v = (v - zx) << 7
        pre_out = _int16_srdhm(hires_v, out_m)
        relu = hires_v
        if relu_exp > 0:
            relu = _int16_saturating_left_shift(relu, relu_exp - 1)
        relu = _int16_srdhm(relu, relu_m)
        if relu_exp > 0:
            relu = _int16_saturating_left_shift(relu, 1)
        elif relu_exp < 0:
            relu = rounding_divide_by_pot(relu, -relu_exp)
        relu = (relu + (1 << 15)) >> 1
        return rounding_divide_by_pot(_int16_sdhm(relu, pre_out), -out_exp) + zy
    return elementwise(node, hard_swish)
