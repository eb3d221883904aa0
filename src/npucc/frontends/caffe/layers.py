"""Caffe layer mappers: each maps one layer type onto core ops (see importer.caffe_layer). This
module: inputs, convolution, normalisation, pooling and the helpers the other mapper modules
share; layers_activation.py, layers_tensor.py (combining, shape, reductions) and
layers_detection.py hold the rest."""

from __future__ import annotations

import math

import numpy as np

from ...ir import DType
from .importer import caffe_layer

_FILLERS = ("weight_filler", "bias_filler")


def _hw(p, name, default, repeated=True):
    """(h, w) of a Caffe geometry field given as `name` (repeated or scalar) or name_h/name_w."""
    h_f, w_f = f"{name}_h", f"{name}_w"
    desc = p.DESCRIPTOR.fields_by_name
    if h_f in desc and (p.HasField(h_f) or p.HasField(w_f)):
        return getattr(p, h_f), getattr(p, w_f)
    if repeated:
        vals = list(getattr(p, name))
        if not vals:
            return default, default
        return (vals[0], vals[0]) if len(vals) == 1 else (vals[0], vals[1])
    return (getattr(p, name),) * 2 if p.HasField(name) else (default, default)


def _axis(ctx, axis, rank):
    if not -rank <= axis < rank:
        raise ctx.error(f"axis {axis} is out of range for a rank-{rank} blob")
    return axis % rank


def _bcast(arr, rank, axis):
    """Reshape a blob covering axes [axis, axis + arr.ndim) so it broadcasts to rank dims."""
    return arr.reshape(arr.shape + (1,) * (rank - axis - arr.ndim))


def _affine(ctx, x, scale, shift):
    """shift + scale * x as Mul and Add, identity parts left out."""
    if scale != 1:
        x = ctx.op("Mul", x, ctx.const(scale, "scale"))
    if shift != 0:
        x = ctx.op("Add", x, ctx.const(shift, "shift"))
    return x


# ---- inputs ----
@caffe_layer("Input", param="input_param", fields=("shape",))
def input_layer(ctx, p):
    """One graph input per top; shapes from input_param (one shape, or one per top); the
    `input_shapes=` load option overrides them."""
    shapes = [list(s.dim) for s in p.shape]
    if len(shapes) not in (1, len(ctx.layer.top)):
        raise ctx.error(f"{len(ctx.layer.top)} tops but {len(shapes)} shapes")
    return [ctx.importer.add_input(top, shapes[min(i, len(shapes) - 1)])
            for i, top in enumerate(ctx.layer.top)]


# ---- convolution / inner product ----
_CONV_FIELDS = ("num_output", "bias_term", "pad", "kernel_size", "stride", "dilation", "pad_h",
                "pad_w", "kernel_h", "kernel_w", "stride_h", "stride_w", "group", "axis")


def _conv_geometry(ctx, p):
    if p.axis != 1:
        raise ctx.error(f"convolution axis {p.axis} is not supported (only 1)")
    k = _hw(p, "kernel", None) if (p.HasField("kernel_h") or p.HasField("kernel_w")) \
        else _hw(p, "kernel_size", None)
    if None in k:
        raise ctx.error("convolution_param gives no kernel size")
    pad = _hw(p, "pad", 0)
    stride = _hw(p, "stride", 1)
    dil = tuple(p.dilation) * (2 if len(p.dilation) == 1 else 1) if len(p.dilation) else (1, 1)
    ctx.positive(kernel=k, stride=stride, dilation=dil, num_output=p.num_output)
    return k, pad, stride, dil


@caffe_layer("Convolution", "ConvolutionDepthwise", "DepthwiseConvolution",
             param="convolution_param", fields=_CONV_FIELDS,
             ignored=_FILLERS + ("engine", "force_nd_im2col"))
def convolution(ctx, p):
    """Conv (group, dilation, separate h/w geometry); depthwise variants of forks map here."""
    (x,) = ctx.expect_inputs(1, rank=4)
    k, pad, stride, dil = _conv_geometry(ctx, p)
    c, m = x.shape[1], p.num_output
    group = p.group if ctx.type == "Convolution" else c
    ctx.positive(group=group)
    if c % group or m % group:
        raise ctx.error(f"group {group} does not divide input channels {c} and num_output {m}")
    w = ctx.const(ctx.blob(0, (m, c // group) + tuple(k)), "weight")
    b = ctx.const(ctx.blob(1, (m,), "small"), "bias") if p.bias_term else None
    return ctx.op("Conv", x, w, b, strides=stride, pads=pad + pad, dilations=dil, group=group)


@caffe_layer("Deconvolution", param="convolution_param", fields=_CONV_FIELDS,
             ignored=_FILLERS + ("engine", "force_nd_im2col"))
def deconvolution(ctx, p):
    """ConvTranspose; the blob is (C_in, num_output / group, kH, kW) as in ONNX."""
    (x,) = ctx.expect_inputs(1, rank=4)
    k, pad, stride, dil = _conv_geometry(ctx, p)
    c, m, group = x.shape[1], p.num_output, p.group
    ctx.positive(group=group)
    if c % group or m % group:
        raise ctx.error(f"group {group} does not divide input channels {c} and num_output {m}")
    w = ctx.const(ctx.blob(0, (c, m // group) + tuple(k)), "weight")
    b = ctx.const(ctx.blob(1, (m,), "small"), "bias") if p.bias_term else None
    return ctx.op("ConvTranspose", x, w, b, strides=stride, pads=pad + pad, dilations=dil,
                  group=group)


@caffe_layer("InnerProduct", param="inner_product_param",
             fields=("num_output", "bias_term", "axis", "transpose"), ignored=_FILLERS)
def inner_product(ctx, p):
    """Flatten from `axis`, then Gemm with the (num_output, K) blob (or (K, num_output) when
    transpose); the output keeps the dims before `axis`."""
    (x,) = ctx.expect_inputs(1)
    axis = _axis(ctx, p.axis, x.type.rank)
    k = math.prod(x.shape[axis:])
    n = p.num_output
    ctx.positive(num_output=n)
    w = ctx.blob(0, (k, n) if p.transpose else (n, k))
    flat = ctx.op("Flatten", x, axis=axis) if x.type.rank != 2 or axis != 1 else x
    b = ctx.const(ctx.blob(1, (n,), "small"), "bias") if p.bias_term else None
    y = ctx.op("Gemm", flat, ctx.const(w, "weight"), b, transB=not p.transpose)
    if axis != 1:
        y = ctx.op("Reshape", y, shape=tuple(x.shape[:axis]) + (n,))
    return y


# ---- normalisation ----
@caffe_layer("BatchNorm", param="batch_norm_param",
             fields=("use_global_stats", "eps"), ignored=("moving_average_fraction",))
def batch_norm(ctx, p):
    """BatchNorm with unit scale and zero bias (a following Scale layer stays a separate node;
    folding is a pass). Blobs: mean, variance, and the moving-average factor they are
    divided by."""
    (x,) = ctx.expect_inputs(1, min_rank=2)
    if p.HasField("use_global_stats") and not p.use_global_stats:
        raise ctx.error("use_global_stats: false computes batch statistics at inference; "
                        "npucc imports inference nets only")
    c = x.shape[1]
    mean = ctx.blob(0, (c,), "small")
    var = ctx.blob(1, (c,), "positive")
    factor = float(ctx.blob(2, (1,), "positive")[0])
    if not math.isfinite(factor):
        raise ctx.error(f"blob 2 (the moving-average factor) is {factor}")
    f = 0.0 if abs(factor) < 1e-30 else 1.0 / factor
    return ctx.op("BatchNorm", x, ctx.const(np.ones(c), "scale"), ctx.const(np.zeros(c), "bias"),
                  ctx.const(mean * f, "mean"), ctx.const(var * f, "var"), epsilon=p.eps)


def _scale_shape(ctx, x, axis, num_axes):
    if num_axes < -1:
        raise ctx.error(f"num_axes {num_axes} is below -1")
    end = x.type.rank if num_axes == -1 else axis + num_axes
    if end > x.type.rank:
        raise ctx.error(f"axis {axis} + num_axes {num_axes} exceed the rank {x.type.rank}")
    return tuple(x.shape[axis:end])


@caffe_layer("Scale", param="scale_param", fields=("axis", "num_axes", "bias_term"),
             ignored=("filler", "bias_filler"))
def scale(ctx, p):
    """Mul by the learned scale blob (or by the second bottom), then Add the bias blob."""
    ins = ctx.expect_inputs(1, 2)
    x = ins[0]
    rank = x.type.rank
    axis = _axis(ctx, p.axis, rank)
    if len(ins) == 2:
        s = ins[1]
        shape = tuple(s.shape) + (1,) * (rank - axis - s.type.rank)
        factor = ctx.op("Reshape", s, shape=shape) if shape != s.shape else s
        bshape = tuple(s.shape)
    else:
        bshape = _scale_shape(ctx, x, axis, p.num_axes)
        factor = ctx.const(_bcast(ctx.blob(0, bshape, "positive"), rank, axis), "scale")
    y = ctx.op("Mul", x, factor)
    if p.bias_term:
        idx = 1 if len(ins) == 1 else 0
        y = ctx.op("Add", y, ctx.const(_bcast(ctx.blob(idx, bshape, "small"), rank, axis),
                                        "bias"))
    return y


@caffe_layer("Bias", param="bias_param", fields=("axis", "num_axes"), ignored=("filler",))
def bias(ctx, p):
    """Add the learned bias blob (or the second bottom)."""
    ins = ctx.expect_inputs(1, 2)
    x = ins[0]
    rank = x.type.rank
    axis = _axis(ctx, p.axis, rank)
    if len(ins) == 2:
        b = ins[1]
        shape = tuple(b.shape) + (1,) * (rank - axis - b.type.rank)
        return ctx.op("Add", x, ctx.op("Reshape", b, shape=shape) if shape != b.shape else b)
    shape = _scale_shape(ctx, x, axis, p.num_axes)
    return ctx.op("Add", x, ctx.const(_bcast(ctx.blob(0, shape, "small"), rank, axis), "bias"))


@caffe_layer("LRN", param="lrn_param", fields=("local_size", "alpha", "beta", "norm_region", "k"),
             ignored=("engine",))
def lrn(ctx, p):
    """ACROSS_CHANNELS: the LRN op. WITHIN_CHANNEL: x * (1 + alpha/n^2 * sum over the n x n
    window of x^2) ^ -beta, from core ops (Caffe's own decomposition). local_size is odd, as
    Caffe requires; the input padded by it must fit npucc.limits."""
    (x,) = ctx.expect_inputs(1, min_rank=2)
    n = p.local_size
    ctx.positive(local_size=n)
    if n % 2 == 0:
        raise ctx.error(f"local_size {n} is even (Caffe supports odd sizes only)")
    across = p.norm_region == p.ACROSS_CHANNELS
    ctx.check_size([d + (n - 1) * (i in ((1,) if across else (2, 3)))
                    for i, d in enumerate(x.shape)], "the input padded for local_size")
    if across:
        return ctx.op("LRN", x, size=n, alpha=p.alpha, beta=p.beta, bias=p.k)
    pad = (n - 1) // 2
    sq = ctx.op("Mul", x, x)
    avg = ctx.op("AveragePool", sq, kernel_shape=(n, n), pads=(pad,) * 4, ceil_mode=True,
                 count_include_pad=True)
    base = ctx.op("Add", ctx.op("Mul", avg, ctx.const(p.alpha, "alpha")), ctx.const(1.0, "one"))
    return ctx.op("Mul", x, ctx.op("Pow", base, ctx.const(-p.beta, "beta")))


@caffe_layer("Normalize", param="norm_param",
             fields=("across_spatial", "channel_shared", "eps"), ignored=("scale_filler",))
def normalize(ctx, p):
    """SSD Normalize: x / sqrt(sum x^2 + eps) over channels (per position) or over C,H,W
    (across_spatial), times the learned scale (one value, or one per channel)."""
    (x,) = ctx.expect_inputs(1, min_rank=2)
    c = x.shape[1]
    axes = tuple(range(1, x.type.rank)) if p.across_spatial else (1,)
    ss = ctx.op("ReduceSum", ctx.op("Mul", x, x), axes=axes, keepdims=True)
    norm = ctx.op("Pow", ctx.op("Add", ss, ctx.const(p.eps, "eps")), ctx.const(0.5, "half"))
    y = ctx.op("Div", x, norm)
    s = ctx.blob(0, (1,) if p.channel_shared else (c,), "positive")
    return ctx.op("Mul", y, ctx.const(s.reshape((1,) if p.channel_shared else (c, 1, 1)),
                                      "scale"))


# ---- pooling ----
@caffe_layer("Pooling", param="pooling_param",
             fields=("pool", "pad", "pad_h", "pad_w", "kernel_size", "kernel_h", "kernel_w",
                     "stride", "stride_h", "stride_w", "global_pooling", "round_mode"),
             ignored=("engine",))
def pooling(ctx, p):
    """MAX / AVE. Caffe's output size (ceil, dropping a last window that starts in the padding;
    floor with round_mode: FLOOR) is ONNX ceil_mode exactly, and Caffe's average divisor (the
    window clipped to the padded image) is ONNX count_include_pad. MAX with a second top
    (SegNet) also gives each max's position, for Upsample's max-unpooling."""
    (x,) = ctx.expect_inputs(1)
    if p.pool == p.STOCHASTIC:
        raise ctx.error("STOCHASTIC pooling is not supported")
    with_mask = len(ctx.layer.top) == 2
    if with_mask and (p.pool != p.MAX or x.type.rank != 4):
        raise ctx.error("a second top (the max positions) needs pool: MAX and a rank-4 bottom")
    if p.global_pooling:
        y = ctx.op("GlobalMaxPool" if p.pool == p.MAX else "GlobalAveragePool", x)
        return [y, _max_positions(ctx, x, y, tuple(x.shape[2:]), (0, 0), (1, 1))] \
            if with_mask else y
    k = _hw(p, "kernel", None, repeated=False) if (p.HasField("kernel_h")
                                                    or p.HasField("kernel_w")) \
        else _hw(p, "kernel_size", None, repeated=False)
    if None in k:
        raise ctx.error("pooling_param gives no kernel size")
    pad = _hw(p, "pad", 0, repeated=False)
    stride = _hw(p, "stride", 1, repeated=False)
    ceil = p.round_mode == p.CEIL
    if p.pool == p.AVE:
        return ctx.op("AveragePool", x, kernel_shape=k, strides=stride, pads=pad + pad,
                      ceil_mode=ceil, count_include_pad=True)
    y = ctx.op("MaxPool", x, kernel_shape=k, strides=stride, pads=pad + pad, ceil_mode=ceil)
    return [y, _max_positions(ctx, x, y, k, pad, stride)] if with_mask else y


def _max_positions(ctx, x, y, k, pad, stride):
    """SegNet's pooling mask: the flat position h * W + w in its input plane of each window's
    max, the first in scan order (Caffe keeps a strictly greater value). ArgMax over the
    window's taps, each a strided Slice of the input padded with -inf, then the tap index
    mapped to its position."""
    n, c, h, w = x.shape
    oh, ow = y.shape[2:]
    (kh, kw), (ph, pw), (sh, sw) = k, pad, stride
    end_h, end_w = (oh - 1) * sh + kh - h - ph, (ow - 1) * sw + kw - w - pw
    xp = ctx.op("Pad", x, pads=(0, 0, ph, pw, 0, 0, max(end_h, 0), max(end_w, 0)),
                value=-math.inf)
    taps = [ctx.op("Reshape", ctx.op("Slice", xp, starts=(i, j),
                                     ends=(i + (oh - 1) * sh + 1, j + (ow - 1) * sw + 1),
                                     axes=(2, 3), steps=(sh, sw)), shape=(n, c, 1, oh * ow))
            for i in range(kh) for j in range(kw)]
    stacked = ctx.op("Concat", *taps, axis=2) if len(taps) > 1 else taps[0]
    tap = ctx.op("Cast", ctx.op("ArgMax", stacked, axis=2, keepdims=False), to=DType.f32)
    # tap t = i * kw + j of window (r, s) is at (r * sh - ph + i) * w + s * sw - pw + j,
    # that is the window's start + t + i * (w - kw)
    start = (np.arange(oh)[:, None] * sh - ph) * w + np.arange(ow) * sw - pw
    pos = ctx.op("Add", tap, ctx.const(start.reshape(-1), "window_start"))
    if w != kw:
        row = ctx.op("Floor", ctx.op("Div", tap, ctx.const(kw, "kernel_w")))
        pos = ctx.op("Add", pos, ctx.op("Mul", row, ctx.const(w - kw, "row_skip")))
    return ctx.op("Reshape", pos, shape=(n, c, oh, ow))
