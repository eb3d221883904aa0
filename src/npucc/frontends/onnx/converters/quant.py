"""QuantizeLinear / DequantizeLinear: scale and zero point become attributes of the core ops."""

from __future__ import annotations

import numpy as np

from ..importer import invalid, ir_dtype, onnx_dtype, unsupported
from . import converter


def _params(cx):
    x = cx.input(0)
    scale = cx.static(1, "scale").astype(np.float64)
    zp = cx.optional_static(2, "zero_point")
    if cx.attr("block_size", 0):
        raise unsupported("blocked quantization (block_size) is not supported")
    axis = cx.attr("axis", 1)
    rank = len(cx.shape(x))
    per_axis = scale.ndim == 1 and scale.size > 1
    if scale.ndim > 1:
        raise invalid(f"scale must be a scalar or 1-D, got shape {list(scale.shape)}")
    attrs = {"scale": scale.ravel().tolist(),
             "zero_point": [0] * scale.size if zp is None else zp.astype(np.int64).ravel().tolist(),
             "axis": (axis % rank) if per_axis else None}
    return x, zp, attrs


@converter("QuantizeLinear")
def quantize(cx):
    x, zp, attrs = _params(cx)
    cx.ignore("saturate")  # float8 only
    out = cx.attr("output_dtype", 0)
    if out:
        dtype = onnx_dtype(out)
    else:
        dtype = np.dtype(np.uint8) if zp is None else zp.dtype
    return cx.emit("QuantizeLinear", [x], dtype=ir_dtype(dtype, "the quantized type"), **attrs)


@converter("DequantizeLinear")
def dequantize(cx):
    x, _, attrs = _params(cx)
    return cx.emit("DequantizeLinear", [x], **attrs)
