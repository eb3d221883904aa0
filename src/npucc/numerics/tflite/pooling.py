"""TFLite's int8 AVERAGE_POOL_2D, MEAN and RESIZE_BILINEAR."""

from __future__ import annotations

import itertools

import numpy as np

from ...ir.graph import Node
from ..fixed_point import multiply_by_quantized_multiplier, quantize_multiplier
from ..params import per_tensor, same_params, saturate
from ..profiles import Kernel, QuantizedExecutionError, kernel


@kernel("tflite", "AveragePool", "GlobalAveragePool",
        limits=lambda node: "TFLite averages only valid elements (count_include_pad=0)"
        if node.attrs.get("count_include_pad") else None)
def _average_pool(node: Node) -> Kernel:
    """TFLite AVERAGE_POOL_2D int8: the integer sum of the valid (unpadded) window elements
    divided by their count, rounding half away from zero; in/out params must be equal.

    The sums are one int32 add per window tap over a zero-padded copy prepared once; the
    counts of valid elements are the same sums over a ones mask, computed at preparation."""
    x, y = node.inputs[0], node.outputs[0]
    same_params(node, [x, y])
    sr = x.type.rank - 2
    spatial, out = x.shape[2:], y.shape[2:]
    if node.op == "GlobalAveragePool":
        kernel, strides, pads = spatial, (1,) * sr, (0,) * (2 * sr)
    else:
        if node.attrs["count_include_pad"]:
            raise QuantizedExecutionError(f"{node.describe()}: quantized average pool counts "
                                          "only valid elements (count_include_pad=0)")
        kernel, strides, pads = (node.attrs[k] for k in ("kernel_shape", "strides", "pads"))
    # padded extent: the pads, plus whatever the last window needs beyond them (ceil mode)
    ends = [max(pads[i + sr], (out[i] - 1) * strides[i] + kernel[i] - spatial[i] - pads[i])
            for i in range(sr)]
    xp = np.zeros((*x.shape[:2], *(s + p + e for s, p, e in zip(spatial, pads, ends))),
                  np.int32)
    inner = xp[(..., *(slice(p, p + s) for p, s in zip(pads, spatial)))]
    taps = [xp[(..., *(slice(k, k + st * (o - 1) + 1, st)
                       for k, st, o in zip(offset, strides, out)))]
            for offset in itertools.product(*(range(k) for k in kernel))]

    def window_sums():
        acc = taps[0].copy()
        for v in taps[1:]:
            acc += v
        return acc

    inner[...] = 1
    counts = window_sums()[:1, :1]
    half = counts // 2
    xp[...] = 0

    def run(args):
        np.copyto(inner, args[0])
        sums = window_sums()
        q = np.where(sums > 0, (sums + half) // counts, -((half - sums) // counts))
        return [saturate(y, q)]
    return run


@kernel("tflite", "ReduceMean")
def _mean(node: Node) -> Kernel:
    """TFLite MEAN int8 (reference QuantizedMeanOrSum): integer sum minus n * zp, rescaled by
    x_scale / y_scale folded with 1/n into one fixed-point multiplier."""
    x, y = node.inputs[0], node.outputs[0]
    sx, zx = per_tensor(x, "input", node)
    sy, zy = per_tensor(y, "output", node)
    axes = node.attrs["axes"]
    axes = tuple(range(x.type.rank)) if axes is None else tuple(a % x.type.rank for a in axes)
    n = int(np.prod([x.shape[a] for a in axes]))
    m, sh = quantize_multiplier(np.float64(sx) / np.float64(sy))
    m, sh = int(m[0]), int(sh[0])
    k = min(n.bit_length() - 1, 32, 31 + sh)
    m = (m << k) // n
    sh -= k
    keep = node.attrs["keepdims"]

    def run(args):
        total = args[0].astype(np.int64).sum(axis=axes, keepdims=keep) - zx * n
        return [saturate(y, multiply_by_quantized_multiplier(total, m, sh) + zy)]
    return run


def _bilinear_taps(out_size: int, in_size: int, mode: str):
    """TFLite ComputeInterpolationValuesInteger along one axis: (lower index, upper index,
    lower weight, upper weight), weights in units of 2**-10."""
    if mode == "align_corners" and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale = ((1 << 10) * in_size + out_size // 2) // out_size
    pos = np.arange(out_size, dtype=np.int64) * scale
    if mode == "half_pixel":
        pos = pos + scale // 2 - (1 << 9)
    lower = np.maximum(np.trunc(pos / 1024).astype(np.int64), 0)  # C division truncates
    upper = np.minimum(np.trunc((pos + 1023) / 1024).astype(np.int64), in_size - 1)
    frac = pos - (lower << 10)
    return lower, upper, (1 << 10) - frac, frac


def resize_bilinear(node: Node) -> Kernel:
    """TFLite RESIZE_BILINEAR int8 (reference_ops::ResizeBilinearInteger): 10-bit fixed-point
    source positions and weights per axis, the four corner products summed in int64 (2**-20
    units) and divided by 2**20 rounding half away from zero; in/out params must be equal."""
    x, y = node.inputs[0], node.outputs[0]
    same_params(node, [x, y])
    mode = node.attrs["coordinate_transformation_mode"]
    if mode not in ("half_pixel", "align_corners", "asymmetric") or x.type.rank != 4 or \
            tuple(x.shape[:2]) != tuple(y.shape[:2]):
        raise QuantizedExecutionError(f"{node.describe()}: quantized bilinear Resize takes a "
                                      "4-D tensor resized over its last two axes with TFLite's "
                                      "half_pixel, align_corners or asymmetric coordinates, got "
                                      f"{mode} from {list(x.shape)} to {list(y.shape)}")
    y0, y1, wy0, wy1 = (a[:, None] for a in _bilinear_taps(y.shape[2], x.shape[2], mode))
    x0, x1, wx0, wx1 = _bilinear_taps(y.shape[3], x.shape[3], mode)
    corners = [(y0, x0, wy0 * wx0), (y1, x0, wy1 * wx0), (y0, x1, wy0 * wx1),
               (y1, x1, wy1 * wx1)]

    def run(args):
        xa = args[0].astype(np.int64)
        acc = sum(xa[:, :, ya, xb] * w for ya, xb, w in corners)
        half = np.int64(1 << 19)
        q = np.where(acc > 0, (acc + half) >> 20, -((half - acc) >> 20))
        return [saturate(y, q)]
    return run
