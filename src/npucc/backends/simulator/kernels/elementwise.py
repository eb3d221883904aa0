"""Elementwise kernels: numpy ufuncs writing straight into the output buffer (in place over a dying
input of the output's shape, when the buffer planner chose so)."""

from __future__ import annotations

import numpy as np

from . import BuildContext, fast_kernel, is_f32

_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Max": np.maximum,
           "Min": np.minimum, "Div": np.true_divide}


def _both(node):
    return (0, 1)


def _first(node):
    return (0,)


@fast_kernel(*_BINARY, inplace=_both)
def binary(ctx: BuildContext):
    a, b = ctx.inputs
    (out,) = ctx.outputs
    if ctx.node.op == "Div" and not np.issubdtype(out.dtype, np.floating):
        return None  # integer division truncates toward zero: the reference kernel does that
    ufunc = _BINARY[ctx.node.op]
    return lambda: ufunc(a, b, out=out)


@fast_kernel("Relu", "Clip", inplace=_first)
def clamp(ctx: BuildContext):
    (x,) = ctx.inputs
    (out,) = ctx.outputs
    if not is_f32(x):
        return None
    if ctx.node.op == "Relu":  # as a clip: numpy's maximum against a scalar is 4x slower
        zero, inf = np.float32(0), np.float32(np.inf)
        return lambda: np.clip(x, zero, inf, out=out)
    lo, hi = np.float32(ctx.attrs["min"]), np.float32(ctx.attrs["max"])
    return lambda: np.clip(x, lo, hi, out=out)


@fast_kernel("LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid", "Tanh", "Mish", "PRelu",
             inplace=_first)
def reference_in_place(ctx: BuildContext):
    """No faster numpy formula than the reference's: run it, but let its result land over the
    dying input's buffer."""
    return None
