"""Softmax in the affine and dfp profiles: the real softmax of the input integers, rounded once
to the output's fixed params (scale 2**-bits, zero point at the type's minimum; dfp fl = bits -
1: `npucc.passes.quantize_params.fixed_params`, though the kernel takes any output params)."""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from ..params import per_tensor, value_range
from ..profiles import Kernel, QuantizedExecutionError, kernel
from .requantize import PROFILES


@kernel(PROFILES, "Softmax")
def _softmax(node: Node) -> Kernel:
    """y = round_half_even(e / (sum(e) * sy)) + zy along the axis, e = exp(-sx * (max - x)) in
    float64, read from a table over the integer differences max - x (2**bits entries, the only
    values they take), so the kernel is a gather, a sum and one rounding."""
    x, y = node.inputs[0], node.outputs[0]
    sx, _ = per_tensor(x, "input", node, allow_dfp=True)
    sy, zy = per_tensor(y, "output", node, allow_dfp=True)
    if x.dtype.bits > 16:
        raise QuantizedExecutionError(f"{node.describe()}: Softmax takes 8- or 16-bit input")
    table = np.exp(-np.float64(sx) * np.arange(1 << x.dtype.bits, dtype=np.float64))
    axis = node.attrs["axis"] % x.type.rank
    lo, hi = value_range(y)

    def run(args):
        a = args[0].astype(np.int64)
        e = table[a.max(axis=axis, keepdims=True) - a]
        q = np.rint(e / (e.sum(axis=axis, keepdims=True) * np.float64(sy))) + zy
        return [np.clip(q, lo, hi).astype(y.dtype.numpy)]
    return run
