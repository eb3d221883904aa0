"""Kernels that move, compare or clamp integers without rescaling them, shared by the integer
profiles: the output carries its input's params (the ops' rule says "same"), so the registry
kernel runs on the integers themselves. Where a real number enters (Pad's fill value, Clip's
bounds) it is put in the tensor's integers with the profile's rounding (`to_int`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..ir.graph import Node
from .params import per_tensor, quantized_operands, same_params, value_range
from .profiles import Kernel

ToInt = Callable[[float, float, int], int]  # (real, scale, zero point) -> integer

MOVES = ("Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Slice", "Concat", "Split",
         "GlobalMaxPool", "ReduceMax", "ReduceMin", "DepthToSpace", "SpaceToDepth", "Tile",
         "Gather", "Expand")


def _registry_kernel(node: Node, **override):
    opdef = node.opdef
    attrs_ = {**node.attrs, **override}
    return lambda *arrays: opdef.kernel(*arrays, **attrs_)


def move(node: Node) -> Kernel:
    """Data movement (and max / min): integers move unchanged when all params are equal."""
    same_params(node, quantized_operands(node))
    run_registry = _registry_kernel(node)
    dtypes = [v.dtype.numpy for v in node.outputs]

    def run(args):
        out = run_registry(*args)
        outs = [out] if isinstance(out, np.ndarray) else list(out)
        return [np.asarray(o).astype(d, copy=False) for o, d in zip(outs, dtypes)]
    return run


def arg_extremum(node: Node) -> Kernel:
    """ArgMax / ArgMin of quantized integers (per tensor, positive scale): they order as the
    reals they stand for, so the registry kernel runs on them (TFLite's int8 ARG_MAX does)."""
    per_tensor(node.inputs[0], "input", node, allow_dfp=True)
    run_registry = _registry_kernel(node)
    return lambda args: [np.asarray(run_registry(args[0]))]


def pad(node: Node, to_int: ToInt, *, integers=value_range, allow_dfp: bool = False) -> Kernel:
    """Pad in the integer domain: the fill value is quantized (0.0 becomes the zero point).
    `integers(value)`: the range a value's integers saturate to."""
    x, y = node.inputs[0], node.outputs[0]
    same_params(node, [x, y])
    s, z = per_tensor(x, "input", node, allow_dfp=allow_dfp)
    lo, hi = integers(x)
    fill = min(max(to_int(node.attrs["value"], s, z), lo), hi)
    run_registry = _registry_kernel(node, value=float(fill))
    return lambda args: [run_registry(args[0])]


def clamp_bounds(node: Node, to_int: ToInt, *, integers=value_range, allow_dfp: bool = False
                 ) -> tuple[int, int]:
    """The output integers Relu / Clip clamp to: its real bounds put in the output's params,
    then into the output's integer range (a bound past it clamps everything to the range's end,
    as the real clip followed by saturation would)."""
    y = node.outputs[0]
    s, z = per_tensor(y, "output", node, allow_dfp=allow_dfp)
    first, last = integers(y)
    lo, hi = first, last
    if node.op == "Relu":
        lo = max(lo, to_int(0.0, s, z))
    else:
        if np.isfinite(node.attrs["min"]):
            lo = max(lo, to_int(node.attrs["min"], s, z))
        if np.isfinite(node.attrs["max"]):
            hi = min(hi, to_int(node.attrs["max"], s, z))
    return min(lo, last), max(hi, first)


def clamp(node: Node, to_int: ToInt, *, integers=value_range, allow_dfp: bool = False
          ) -> Kernel:
    """Relu / Clip with equal in/out params: a clamp of the integers."""
    x, y = node.inputs[0], node.outputs[0]
    same_params(node, [x, y])
    lo, hi = clamp_bounds(node, to_int, integers=integers, allow_dfp=allow_dfp)
    if x.dtype is y.dtype:  # bounds typed as the array: numpy's fast clip (10x Python ints')
        lo, hi = (y.dtype.numpy.type(b) for b in (lo, hi))
    return lambda args: [np.clip(args[0], lo, hi).astype(y.dtype.numpy, copy=False)]


def window_max(in_shape, out_spatial, kernel, strides, pads=None, dilations=None, *, fill,
               dtype) -> Callable[[np.ndarray], np.ndarray]:
    """x -> the max over each window (N, C, *spatial; 1 or 2 spatial dims), one np.maximum per
    kernel tap over strided views of a padded copy prepared once. `fill` pads (it never wins
    unless a window is all padding, as in the registry kernel)."""
    sr = len(kernel)
    pads = pads or (0,) * (2 * sr)
    dilations = dilations or (1,) * sr
    spatial = in_shape[2:]
    ends = [max(pads[i + sr], (out_spatial[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i]
                + 1 - spatial[i] - pads[i]) for i in range(sr)]
    xp = np.full((*in_shape[:2], *(s + p + e for s, p, e in zip(spatial, pads, ends))), fill,
                 dtype)
    inner = xp[(..., *(slice(p, p + s) for p, s in zip(pads, spatial)))]
    taps = [xp[(..., *(slice(k * d, k * d + st * (o - 1) + 1, st) for k, d, st, o in
                       zip(tap, dilations, strides, out_spatial)))]
            for tap in np.ndindex(*kernel)]
    out = np.empty((*in_shape[:2], *out_spatial), dtype)

    def run(x):
        np.copyto(inner, x)
        np.copyto(out, taps[0])
        for t in taps[1:]:
            np.maximum(out, t, out=out)
        return out
    return run


def max_pool(node: Node) -> Kernel:
    """MaxPool of integers sharing one set of params: a tap-by-tap maximum."""
    x, y = node.inputs[0], node.outputs[0]
    same_params(node, [x, y])
    at = node.attrs
    lowest = np.iinfo(x.dtype.numpy).min
    run = window_max(x.shape, y.shape[2:], at["kernel_shape"], at["strides"], at["pads"],
                     at["dilations"], fill=lowest, dtype=x.dtype.numpy)
    return lambda args: [run(args[0]).copy()]
