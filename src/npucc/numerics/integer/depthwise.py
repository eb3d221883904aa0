"""Depthwise Conv (group == channels == outputs) in the affine and dfp profiles as one compiled
loop (numerics/jit.py): per channel, its stride phases built in a scratch kept in cache, one
multiply-add per kernel tap over spans of them, and the requantization, on `threads.count()`
threads (channels split between them).

The same integers as the general path (accumulate.py, then requantize.py): the sums of integer
products are exact in float32 below 2**24 (float64 below 2**53, whatever the order), and the
requantization is requantize.py's float64 form, taken only where it is exact (`static_factors`).
The general path's numpy form made two passes over the image per tap, then the requantization:
about 2x slower single-threaded on MobileNetV2's depthwise layers (benchmarks/README.md).
"""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from .. import jit, threads
from ..accumulate import float_for, phase_taps
from ..params import storage_range
from ..profiles import Kernel
from .requantize import static_factors

SPLIT_AT = 1 << 14  # output elements from which the channels are split between threads


def depthwise_kernel(node: Node, zx: int, wz, real, zy: int, lo: int, hi: int) -> Kernel | None:
    """The compiled kernel of a depthwise Conv with constant weights and bias and no fused pool
    (`real`: s_x * s_w / s_y, scalar or per channel; wz: the weights' zero point(s) broadcasting
    against them; lo, hi: the output's clamp), or None where it does not apply: other convs,
    accumulators or requantizations not exact in its arithmetic, small layers (jit.py), no numba.
    """
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    at = node.attrs
    if (node.op != "Conv" or at.get("pool_kernel") or x.type.rank not in (3, 4)
            or not w.is_constant or (b is not None and not b.is_constant)
            or not all(isinstance(d, int) for d in (*x.shape, *y.shape))):
        return None
    c, kernel = x.shape[1], tuple(w.shape[2:])
    if not (at["group"] == c == w.shape[0]) or int(np.prod(kernel)) < 2:
        return None
    if not jit.worth_compiling(int(np.prod(y.shape))):
        return None
    if x.type.rank == 3:  # 1-D: height 1
        kernel, strides, dilations = (1, *kernel), (1, *at["strides"]), (1, *at["dilations"])
        pads = (0, at["pads"][0], 0, at["pads"][1])
    else:
        strides, dilations, pads = tuple(at["strides"]), tuple(at["dilations"]), at["pads"]
    n, h, wd = x.shape[0], *((1, x.shape[2]) if x.type.rank == 3 else x.shape[2:])
    oh, ow = (1, y.shape[2]) if y.type.rank == 3 else y.shape[2:]

    wq = (np.asarray(w.const, np.float64) - wz).reshape(c, -1)  # w - zw, exact integers
    lo_x, hi_x = storage_range(x)
    bound = max(abs(lo_x - zx), abs(hi_x - zx)) * np.abs(wq).sum(axis=1)
    dtype = float_for(bound)
    bias = np.zeros(c, np.int64) if b is None else np.asarray(b.const, np.int64).reshape(-1)
    factors = static_factors(_per_channel(real, c), bias, bound) if np.max(bound) < 2 ** 53 \
        and bias.size == c else None
    if factors is None:
        return None
    r, cc = (np.ascontiguousarray(f, np.float64) for f in factors)

    (hq, wq_), taps = phase_taps(kernel, dilations, strides, (oh, ow))
    phases = sorted({ph for ph, _ in taps})
    tap_phase = np.array([phases.index(ph) for ph, _ in taps], np.int64)
    tap_offset = np.array([off for _, off in taps], np.int64)
    fills = np.array([_fill(ph, strides, pads, (h, wd), (hq, wq_)) for ph in phases], np.int64)
    flat_len = hq * wq_ + (kernel[1] - 1) * dilations[1] // strides[1]

    parts = min(threads.count(), c) if n * c * oh * ow >= SPLIT_AT else 1
    edges = np.linspace(0, c, parts + 1).round().astype(int)
    scratch = [(np.zeros((len(phases), flat_len), dtype), np.empty(oh * wq_, dtype))
               for _ in range(parts)]  # per thread: the phase images (borders stay 0) and sums
    weights = np.ascontiguousarray(wq, dtype)
    loop = jit.compiled("depthwise")
    zx_, lo_, hi_ = dtype.type(zx), float(lo - zy), float(hi - zy)
    out_dtype = y.dtype.numpy

    def run(args):
        xa = np.ascontiguousarray(args[0]).reshape(n, c, h, wd)
        out = np.empty((n, c, oh, ow), out_dtype)
        threads.run_parts(loop, [
            (xa, zx_, int(c0), int(c1), weights, tap_phase, tap_offset, fills, oh, ow, wq_, r, cc,
             lo_, hi_, int(zy), flats, acc, out)
            for (c0, c1), (flats, acc) in zip(zip(edges, edges[1:]), scratch)])
        return [out.reshape(y.shape)]
    return run


def _per_channel(a, c: int) -> np.ndarray:
    return np.array(np.broadcast_to(np.reshape(np.asarray(a, np.float64), -1), (c,)))


def _fill(phase, strides, pads, size, phase_hw) -> tuple[int, ...]:
    """Where phase image (a, b) takes the input: its rows q0..q1-1 and columns r0..r1-1 are
    x[y0 + sh * (q - q0), x0 + sw * (r - r0)] (the rest is padding); as the loop's table row
    (q0, q1, r0, r1, y0, x0, sh, sw)."""
    (a, b), (sh, sw), (pt, pl), (h, wd), (hq, wq) = phase, strides, pads[:2], size, phase_hw
    q0, q1 = max(0, -(-(pt - a) // sh)), min(hq, -(-(h + pt - a) // sh))
    r0, r1 = max(0, -(-(pl - b) // sw)), min(wq, -(-(wd + pl - b) // sw))
    return (q0, max(q0, q1), r0, max(r0, r1), a + sh * q0 - pt, b + sw * r0 - pl, sh, sw)
