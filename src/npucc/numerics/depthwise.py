"""Depthwise Conv (group == channels == outputs) as one compiled loop (numerics/jit.py): per
channel, its stride phases built in a scratch kept in cache, one multiply-add per kernel tap over
spans of them, and the output step. (Splitting the channels between two threads gained nothing
inside a plan: OpenBLAS's workers spin on the second core after each GEMM.)

`DepthwiseLoop` runs it on any input type: the affine and dfp profiles' kernel
(`depthwise_kernel`: integers, requantized) and the simulator's float32 conv (bias and clamp).
The integer kernel gives the same integers as the general path (accumulate.py, then
requantize.py): sums of integer products are exact in float32 below 2**24 (float64 below
2**53, whatever the order), and the requantization is requantize.py's float64 form, taken only
where it is exact (`static_factors`). The numpy form made two passes over the image per tap,
then the requantization: about 2x slower single-threaded on MobileNetV2's depthwise layers
(benchmarks/README.md).
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Node
from . import jit
from .accumulate import float_for, phase_taps
from .params import storage_range
from .profiles import Kernel


class DepthwiseLoop:
    """x (N, C, H, W) -> (N, C, OH, OW): out = clip(step(acc * r + c), lo, hi) + zy per channel,
    acc = sum over taps of w[ch, t] * (x_padded - zx) (padding 0 after the subtraction), step
    rint when `rounding` else nothing; acc in `dtype` (float32 or float64).

    channels_last (integer loops only, `rounding`): x and out are channels-last images, (N, H,
    W, C) and (N, OH, OW, C), and the loop runs over them row by row, taps outside the image
    skipped, with the channels as its vectorized inner loop (`jit._depthwise_nhwc`): 2-4x
    faster than a channel at a time on MobileNetV2's layers (benchmarks/README.md). The sums
    are exact integers either way, so both give the same integers."""

    def __init__(self, geometry, weights, r, c, *, zx=0, lo=-np.inf, hi=np.inf, zy=0,
                 rounding: bool, dtype, out_dtype, channels_last: bool = False):
        (n, ch, h, wd), kernel, strides, dilations, pads, (oh, ow) = geometry
        self.weights = np.ascontiguousarray(weights, dtype).reshape(ch, -1)
        self.r, self.c = (np.ascontiguousarray(np.broadcast_to(a, (ch,)), np.float64)
                          for a in (r, c))
        self.zx, self.lo, self.hi, self.zy = np.dtype(dtype).type(zx), float(lo), float(hi), zy
        self.rounding, self.shape = rounding, (n, ch, oh, ow)
        self.in_shape = (n, ch, h, wd)
        self.out_dtype = np.dtype(out_dtype)
        self.channels_last = channels_last
        if channels_last:
            if not rounding:
                raise ValueError("the channels-last loop is an integer loop (rounding=True)")
            self.taps_by_channel = np.ascontiguousarray(self.weights.T)  # (taps, C)
            self.geometry = (tuple(kernel), tuple(strides), tuple(dilations), tuple(pads[:2]))
            self.acc = np.empty((ow, ch), dtype)
            self.loop = jit.compiled("depthwise_nhwc")
            return
        (hq, wq), taps = phase_taps(kernel, dilations, strides, (oh, ow))
        phases = sorted({ph for ph, _ in taps})
        self.tap_phase = np.array([phases.index(ph) for ph, _ in taps], np.int64)
        self.tap_offset = np.array([off for _, off in taps], np.int64)
        self.fills = np.array([_fill(ph, strides, pads, (h, wd), (hq, wq)) for ph in phases],
                              np.int64)
        flat_len = hq * wq + (kernel[1] - 1) * dilations[1] // strides[1]
        self.flats = np.zeros((len(phases), flat_len), dtype)  # phase images; borders stay 0
        self.acc = np.empty(oh * wq, dtype)
        self.wq = wq
        self.loop = jit.compiled("depthwise")

    def __call__(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """x C-contiguous (N, C, H, W), or (N, C, W) for a 1-D conv; `out` C-contiguous, of the
        output's size (written through a 4-D view), or a new (N, C, OH, OW) array. Channels-last:
        x (N, H, W, C) and out (N, OH, OW, C), both C-contiguous."""
        n, ch, oh, ow = self.shape
        if self.channels_last:
            if out is None:
                out = np.empty((n, oh, ow, ch), self.out_dtype)
            self.loop(x.reshape(n, self.in_shape[2], self.in_shape[3], ch), self.zx,
                      self.taps_by_channel, *self.geometry, self.r, self.c, self.lo, self.hi,
                      self.zy, self.acc, out.reshape(n, oh, ow, ch))
            return out
        if out is None:
            out = np.empty(self.shape, self.out_dtype)
        x = x.reshape(self.in_shape)
        self.loop(x, self.zx, self.weights, self.tap_phase, self.tap_offset, self.fills, oh, ow,
                  self.wq, self.r, self.c, self.lo, self.hi, self.zy, self.rounding, self.flats,
                  self.acc, out.reshape(self.shape))
        return out


def geometry(x_shape, w_shape, attrs_, y_shape):
    """(input NCHW, kernel, strides, dilations, pads (t, l, b, r), output (OH, OW)) of a 1-D or
    2-D conv, 1-D as height 1."""
    if len(x_shape) == 3:
        return ((x_shape[0], x_shape[1], 1, x_shape[2]), (1, w_shape[2]),
                (1, attrs_["strides"][0]), (1, attrs_["dilations"][0]),
                (0, attrs_["pads"][0], 0, attrs_["pads"][1]), (1, y_shape[2]))
    return (tuple(x_shape), tuple(w_shape[2:]), tuple(attrs_["strides"]),
            tuple(attrs_["dilations"]), tuple(attrs_["pads"]), tuple(y_shape[2:]))


def applies(node: Node, out_shape) -> bool:
    """A depthwise Conv (1-D or 2-D, more than one tap) with constant weights and bias, no fused
    pool, static shapes, large enough for the compiled loop (jit.py; numba installed)."""
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    return (node.op == "Conv" and not node.attrs.get("pool_kernel") and x.type.rank in (3, 4)
            and w.is_constant and (b is None or b.is_constant)
            and all(isinstance(d, int) for d in (*x.shape, *out_shape))
            and node.attrs["group"] == x.shape[1] == w.shape[0]
            and int(np.prod(w.shape[2:])) > 1
            and jit.worth_compiling(int(np.prod(out_shape))))


def float_depthwise(node: Node, weights: np.ndarray, bias: np.ndarray | None, activation: str,
                    params=()) -> DepthwiseLoop | None:
    """The loop as a float32 depthwise conv: sum of w * x over taps in kernel order (float32),
    + bias, the fused activation when it is a clamp (none, relu, clip; None for the others),
    with the registry kernels' bits: without a bias it adds -0.0 (keeping a zero sum's sign,
    as skipping the add does), clips as np.clip does, and adds +0.0 after a relu (np.maximum(x,
    0) turns -0.0 into 0.0), else -0.0."""
    if activation == "clip":
        lo, hi = (float(np.float32(p)) for p in params)
    elif activation in ("none", "relu"):
        lo, hi = (0.0 if activation == "relu" else -np.inf), np.inf
    else:
        return None
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    geo = geometry(x.shape, w.shape, node.attrs, y.shape)
    c = -0.0 if bias is None else np.asarray(bias, np.float32).reshape(-1).astype(np.float64)
    return DepthwiseLoop(geo, np.asarray(weights, np.float32).reshape(geo[0][1], -1), 1.0, c,
                         lo=lo, hi=hi, zy=0.0 if activation == "relu" else -0.0,
                         rounding=False, dtype=np.float32, out_dtype=np.float32)


def depthwise_kernel(node: Node, zx: int, wz, real, zy: int, lo: int, hi: int) -> Kernel | None:
    """The affine / dfp kernel of a depthwise Conv (`real`: s_x * s_w / s_y, scalar or per
    channel; wz: the weights' zero point(s) broadcasting against them; lo, hi: the output's
    clamp), or None where the compiled loop does not apply or would not be exact."""
    loop = integer_loop(node, zx, wz, real, zy, lo, hi)
    if loop is None:
        return None
    y = node.outputs[0]

    def run(args):
        xa = np.ascontiguousarray(args[0]).reshape(loop.in_shape)
        return [loop(xa).reshape(y.shape)]
    return run


def integer_loop(node: Node, zx: int, wz, real, zy: int, lo: int, hi: int, *,
                 channels_last: bool = False) -> DepthwiseLoop | None:
    """`depthwise_kernel`'s loop (channels-last: see DepthwiseLoop), or None where it does not
    apply or would not be exact."""
    from .integer.requantize import static_factors  # (integer/ imports this module)

    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    if not applies(node, y.shape) or (channels_last and x.type.rank != 4):
        return None
    c = x.shape[1]
    wq = (np.asarray(w.const, np.float64) - wz).reshape(c, -1)  # w - zw, exact integers
    lo_x, hi_x = storage_range(x)
    bound = max(abs(lo_x - zx), abs(hi_x - zx)) * np.abs(wq).sum(axis=1)
    b = node.inputs[2] if len(node.inputs) > 2 else None
    bias = np.zeros(c, np.int64) if b is None else np.asarray(b.const, np.int64).reshape(-1)
    real_c = np.broadcast_to(np.reshape(np.asarray(real, np.float64), -1), (c,))
    factors = static_factors(real_c, bias, bound) if np.max(bound) < 2 ** 53 and \
        bias.size == c else None
    if factors is None:
        return None
    return DepthwiseLoop(geometry(x.shape, w.shape, node.attrs, y.shape), wq, *factors, zx=zx,
                         lo=lo - zy, hi=hi - zy, zy=zy, rounding=True, dtype=float_for(bound),
                         out_dtype=y.dtype.numpy, channels_last=channels_last)


def _fill(phase, strides, pads, size, phase_hw) -> tuple[int, ...]:
    """Where phase image (a, b) takes the input: its rows q0..q1-1 and columns r0..r1-1 are
    x[y0 + sh * (q - q0), x0 + sw * (r - r0)] (the rest is padding); as the loop's table row
    (q0, q1, r0, r1, y0, x0, sh, sw)."""
    (a, b), (sh, sw), (pt, pl), (h, wd), (hq, wq) = phase, strides, pads[:2], size, phase_hw
    q0, q1 = max(0, -(-(pt - a) // sh)), min(hq, -(-(h + pt - a) // sh))
    r0, r1 = max(0, -(-(pl - b) // sw)), min(wq, -(-(wd + pl - b) // sw))
    return (q0, max(q0, q1), r0, max(r0, r1), a + sh * q0 - pt, b + sw * r0 - pl, sh, sw)
