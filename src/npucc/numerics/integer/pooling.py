"""Averages in the affine and dfp profiles: AveragePool, GlobalAveragePool (input and output
share params) and ReduceMean. The integer sum of (x - zx) over each window is requantized by
s_x / (count * s_y) as a fixed-point multiplier, rounding half to even once."""

from __future__ import annotations

import itertools

import numpy as np

from ...ir.graph import Node
from ..params import per_tensor, same_params, value_range
from ..profiles import Kernel, kernel
from .requantize import PROFILES, requantizer


def _window_sums(node: Node, zx: int):
    """(sums(x) -> int32 window sums of x - zx, counts of the windows) for AveragePool /
    GlobalAveragePool: one add per window tap over a copy padded with zeros, prepared once."""
    x, y = node.inputs[0], node.outputs[0]
    sr = x.type.rank - 2
    spatial, out = x.shape[2:], y.shape[2:]
    include_pad = False
    if node.op == "GlobalAveragePool":
        kernel_shape, strides, pads = spatial, (1,) * sr, (0,) * (2 * sr)
    else:
        kernel_shape, strides, pads = (node.attrs[k] for k in ("kernel_shape", "strides",
                                                                "pads"))
        include_pad = node.attrs["count_include_pad"]
    # padded extent: the pads, plus whatever the last window needs beyond them (ceil mode)
    ends = [max(pads[i + sr], (out[i] - 1) * strides[i] + kernel_shape[i] - spatial[i] - pads[i])
            for i in range(sr)]
    xp = np.zeros((*x.shape[:2], *(s + p + e for s, p, e in zip(spatial, pads, ends))),
                  np.int32)
    inner = xp[(..., *(slice(p, p + s) for p, s in zip(pads, spatial)))]
    taps = [xp[(..., *(slice(k, k + st * (o - 1) + 1, st)
                       for k, st, o in zip(offset, strides, out)))]
            for offset in itertools.product(*(range(k) for k in kernel_shape))]

    def sums():
        acc = taps[0].copy()
        for v in taps[1:]:
            acc += v
        return acc

    if include_pad:  # ONNX counts the pads, not the ceil-mode overhang
        xp[...] = 0
        xp[(..., *(slice(0, s + p + pe) for s, p, pe in zip(spatial, pads, pads[sr:])))] = 1
    else:
        inner[...] = 1
    counts = sums()[:1, :1].astype(np.float64)
    xp[...] = 0

    def run(xa):
        np.subtract(xa, zx, out=inner, dtype=np.int32, casting="unsafe")
        return sums()
    return run, counts


def average_pool(node: Node) -> Kernel:
    x, y = node.inputs[0], node.outputs[0]
    sx, zx = per_tensor(x, "input", node, allow_dfp=True)
    sy, zy = per_tensor(y, "output", node, allow_dfp=True)
    sums, counts = _window_sums(node, zx)
    requant = requantizer(sx / (counts * sy), zy=zy, lo=value_range(y)[0],
                          hi=value_range(y)[1], dtype=y.dtype.numpy)
    return lambda args: [requant(sums(args[0]))]


@kernel(PROFILES, "AveragePool", "GlobalAveragePool")
def _average_pool(node: Node) -> Kernel:
    same_params(node, [node.inputs[0], node.outputs[0]])
    return average_pool(node)


@kernel(PROFILES, "ReduceMean")
def _mean(node: Node) -> Kernel:
    """The sum of x - zx over the axes, times s_x / (n * s_y)."""
    x, y = node.inputs[0], node.outputs[0]
    sx, zx = per_tensor(x, "input", node, allow_dfp=True)
    sy, zy = per_tensor(y, "output", node, allow_dfp=True)
    axes = node.attrs["axes"]
    axes = tuple(range(x.type.rank)) if axes is None else tuple(a % x.type.rank for a in axes)
    n = int(np.prod([x.shape[a] for a in axes]))
    keep = node.attrs["keepdims"]
    lo, hi = value_range(y)
    requant = requantizer(sx / (n * sy), zy=zy, lo=lo, hi=hi, dtype=y.dtype.numpy)

    def run(args):
        total = args[0].astype(np.int64).sum(axis=axes, keepdims=keep) - zx * n
        return [requant(total)]
    return run
