"""Reading the quantization params of a node's values, for the integer kernels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir.graph import Node, Value
from ..ir.types import QuantScheme
from .profiles import QuantizedExecutionError


def affine_params(v: Value, what: str, node: Node, *, allow_dfp: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(scales float64, zero points int64, axis) of a quantized value. Dynamic fixed point is
    read as its affine view (scale 2**-fl, zero point 0) when `allow_dfp`."""
    q = v.type.quant
    if q is None:
        raise QuantizedExecutionError(f"{node.describe()}: {what} %{v.name} ({v.type}) is not "
                                      "quantized, but the node's other tensors are")
    if q.scheme is not QuantScheme.affine and not allow_dfp:
        raise QuantizedExecutionError(f"{node.describe()}: {what} %{v.name} uses {q.scheme.value} "
                                      "quantization; the integer kernels take affine params")
    scale, zp, axis = q.as_affine()
    zp = zp * (len(scale) // len(zp))
    return np.asarray(scale, np.float64), np.asarray(zp, np.int64), axis


def per_tensor(v: Value, what: str, node: Node, *, allow_dfp: bool = False) -> tuple[float, int]:
    s, z, axis = affine_params(v, what, node, allow_dfp=allow_dfp)
    if axis is not None:
        raise QuantizedExecutionError(f"{node.describe()}: {what} %{v.name} is quantized per "
                                      f"axis {axis}; this kernel needs per-tensor params")
    return float(s[0]), int(z[0])


def storage_range(v: Value) -> tuple[int, int]:
    return v.dtype.int_range


def value_range(v: Value) -> tuple[int, int]:
    """The integers a quantized value may hold: its params' range (narrow for symmetric
    narrow-range and dynamic fixed point), else its storage type's."""
    q = v.type.quant
    return q.int_range(v.dtype) if q is not None else v.dtype.int_range


def quantized_operands(node: Node) -> list[Value]:
    """The node's quantized activation inputs (by its op's rule) and its outputs."""
    rule = node.opdef.quant
    idx = range(len(node.inputs)) if rule is None else rule.activation_inputs(len(node.inputs))
    return [node.inputs[i] for i in idx if node.inputs[i] is not None] + list(node.outputs)


def same_params(node: Node, values: Sequence[Value]) -> None:
    """Raise unless all values carry the same quantization params (data movement ops)."""
    ref = values[0].type.quant
    for v in values[1:]:
        if v.type.quant != ref:
            raise QuantizedExecutionError(
                f"{node.describe()}: %{values[0].name} ({values[0].type}) and %{v.name} "
                f"({v.type}) have different quantization params; {node.op} moves integers "
                "unchanged, so they must be equal")


def saturate(v: Value, acc, lo: int | None = None, hi: int | None = None) -> np.ndarray:
    """acc clamped to the storage range of v (or to [lo, hi]) in v's dtype."""
    s_lo, s_hi = storage_range(v)
    return np.clip(acc, s_lo if lo is None else lo, s_hi if hi is None else hi
                   ).astype(v.dtype.numpy)


def channel_shape(ndim: int, axis: int) -> tuple[int, ...]:
    shape = [1] * ndim
    shape[axis] = -1
    return tuple(shape)
