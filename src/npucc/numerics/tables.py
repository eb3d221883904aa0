"""Elementwise integer kernels as lookup tables: the exact formula runs once, at preparation,
over every value an 8-bit input can hold, and the kernel is one gather."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..ir.graph import Node, Value
from . import jit
from .params import saturate
from .profiles import Kernel


def bit_patterns(v: Value) -> np.ndarray:
    """Every value of v's 8-bit integer type as int64, at the index of its bit pattern."""
    return np.arange(256, dtype=np.uint8).view(v.dtype.numpy).astype(np.int64)


def elementwise(node: Node, f: Callable[..., np.ndarray], lo: int | None = None,
                hi: int | None = None, operands: Sequence[int] | None = None) -> Kernel:
    """Kernel of an elementwise integer function `f` of one or two of the node's inputs (int64
    arrays of their integer values -> the output's integers before the clamp to [lo, hi], by
    default the output's storage range; broadcasting). `operands`: the indices of the inputs `f`
    takes (default: every input; the others are constants the caller folded into `f`). With
    8-bit inputs `f` runs once, at preparation, over every input value (a 256 or 256 x 256
    table), and the kernel is one gather indexed by the inputs' bit patterns."""
    idx = tuple(range(len(node.inputs))) if operands is None else tuple(operands)
    xs, y = [node.inputs[i] for i in idx], node.outputs[0]
    if not all(v.dtype.bits == 8 for v in xs):
        def direct(args):
            ins = [args[i] for i in idx]
            shape = np.broadcast_shapes(*(a.shape for a in ins))
            return [saturate(y, np.reshape(f(*(a.astype(np.int64) for a in ins)), shape),
                             lo, hi)]
        return direct
    if len(xs) == 1:
        table = saturate(y, f(bit_patterns(xs[0])), lo, hi)
        return lambda args: [table[args[idx[0]].view(np.uint8)]]
    a, b = xs
    table = saturate(y, f(bit_patterns(a)[:, None], bit_patterns(b)[None, :]), lo, hi
                     ).reshape(-1)

    def run(args):
        va, vb = args[idx[0]], args[idx[1]]
        if (va.shape == vb.shape and va.flags.c_contiguous and vb.flags.c_contiguous
                and jit.worth_compiling(va.size)):  # same shapes (a residual Add): one loop
            out = np.empty(va.shape, table.dtype)
            jit.compiled("table_gather")(va.reshape(-1).view(np.uint8),
                                         vb.reshape(-1).view(np.uint8), table, out.reshape(-1))
            return [out]
        index = va.view(np.uint8).astype(np.uint16) << 8
        return [table[index | vb.view(np.uint8)]]
    return run
