"""Conversion nodes, the explicit boundaries between precisions in every profile:
QuantizeLinear (float -> integer), DequantizeLinear (integer -> float) and Cast (f32 <-> f16).
Their registry kernels are their exact semantics; here they are checked against the node's types
(a dynamic-fixed-point output must be what the attributes say: scale 2**-fl, zero point 0,
narrow range). Requantize (integer -> integer) rounds as its profile does and lives with each
profile's kernels."""

from __future__ import annotations

from ..ir.graph import Node
from ..ir.types import DType, QuantParams
from . import jit
from .profiles import Kernel, QuantizedExecutionError, float_kernel, kernel


def _described_params(node: Node) -> QuantParams:
    at = node.attrs
    scale, zp, axis = at["scale"], at["zero_point"], at["axis"]
    x = node.inputs[0] if node.op == "DequantizeLinear" else node.outputs[0]
    zp = tuple(zp) * (len(scale) // len(zp)) if len(zp) == 1 else tuple(zp)
    return QuantParams.affine(scale, zp, axis=None if axis is None else axis % x.type.rank,
                              bits=x.dtype.bits, narrow_range=at.get("narrow", False))


def _check_types(node: Node) -> None:
    """Raise unless the quantized value's params are the ones the attributes describe."""
    v = node.inputs[0] if node.op == "DequantizeLinear" else node.outputs[0]
    q = v.type.quant
    if q is None:
        return
    want = _described_params(node)
    scale, zp, axis = q.as_affine()
    have = (scale, zp * (len(scale) // len(zp)), None if axis is None else axis % v.type.rank)
    if have != (want.scale, want.zero_point, want.axis) or \
            (node.op == "QuantizeLinear" and q.narrow != want.narrow_range):
        raise QuantizedExecutionError(
            f"{node.describe()}: %{v.name} is {v.type} but the attributes say scale="
            f"{list(want.scale)} zero_point={list(want.zero_point)} axis={want.axis}"
            f"{' narrow' if want.narrow_range else ''}")


@kernel(("tflite", "affine", "dfp", "fp16"), "QuantizeLinear", "DequantizeLinear", "Cast")
def conversion(node: Node) -> Kernel:
    """The registry kernel, after checking the quantized side's type against the attributes;
    f32 <-> f16 Casts by numerics.jit's conversions (numpy's bits, faster)."""
    if node.op != "Cast":
        _check_types(node)
    pair = (node.inputs[0].dtype, node.outputs[0].dtype)
    if pair == (DType.f32, DType.f16):
        return lambda args: [jit.to_float16(args[0])]
    if pair == (DType.f16, DType.f32):
        return lambda args: [jit.to_float32(args[0])]
    return float_kernel(node)
