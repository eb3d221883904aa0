"""Caffe layer mappers: each maps one layer type onto core ops (see importer.caffe_layer)."""

from __future__ import annotations

import ast
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


# ---- activations ----
@caffe_layer("ReLU", param="relu_param", fields=("negative_slope",), ignored=("engine",))
def relu(ctx, p):
    """Relu, or LeakyRelu when negative_slope != 0."""
    (x,) = ctx.expect_inputs(1)
    if p.negative_slope:
        return ctx.op("LeakyRelu", x, alpha=p.negative_slope)
    return ctx.op("Relu", x)


@caffe_layer("PReLU", param="prelu_param", fields=("channel_shared",), ignored=("filler",))
def prelu(ctx, p):
    """PRelu with one slope per channel (or one shared)."""
    (x,) = ctx.expect_inputs(1, min_rank=2)
    c = x.shape[1]
    shape = (1,) if p.channel_shared else (c,)
    slope = ctx.blob(0, shape, "slope")
    return ctx.op("PRelu", x, ctx.const(_bcast(slope, x.type.rank, 1) if not p.channel_shared
                                        else slope, "slope"))


@caffe_layer("Sigmoid", param="sigmoid_param", ignored=("engine",))
def sigmoid(ctx, p):
    """Sigmoid."""
    return ctx.op("Sigmoid", *ctx.expect_inputs(1))


@caffe_layer("TanH", param="tanh_param", ignored=("engine",))
def tanh(ctx, p):
    """Tanh."""
    return ctx.op("Tanh", *ctx.expect_inputs(1))


def _affine(ctx, x, scale, shift):
    """shift + scale * x as Mul and Add, identity parts left out."""
    if scale != 1:
        x = ctx.op("Mul", x, ctx.const(scale, "scale"))
    if shift != 0:
        x = ctx.op("Add", x, ctx.const(shift, "shift"))
    return x


@caffe_layer("Power", param="power_param", fields=("power", "scale", "shift"))
def power(ctx, p):
    """(shift + scale * x) ^ power as Mul, Add, Pow (identity parts left out)."""
    (x,) = ctx.expect_inputs(1)
    y = _affine(ctx, x, p.scale, p.shift)
    if p.power != 1:
        y = ctx.op("Pow", y, ctx.const(p.power, "power"))
    return y if y is not x else ctx.op("Identity", x)


def _log_base(ctx, base):
    """ln(base) for Exp and Log: base -1 (the default) means e; any other base must be > 0."""
    if base == -1:
        return 1.0
    if base <= 0:
        raise ctx.error(f"base {base} is not positive (or -1 for e)")
    return math.log(base)


@caffe_layer("Exp", param="exp_param", fields=("base", "scale", "shift"))
def exp(ctx, p):
    """base ^ (shift + scale * x) = Exp(ln(base) * (shift + scale * x))."""
    (x,) = ctx.expect_inputs(1)
    ln_base = _log_base(ctx, p.base)
    return ctx.op("Exp", _affine(ctx, x, ln_base * p.scale, ln_base * p.shift))


@caffe_layer("Log", param="log_param", fields=("base", "scale", "shift"))
def log(ctx, p):
    """log_base(shift + scale * x) = Log(shift + scale * x) / ln(base)."""
    (x,) = ctx.expect_inputs(1)
    ln_base = _log_base(ctx, p.base)
    if ln_base == 0:
        raise ctx.error("base 1 has no logarithm")
    y = ctx.op("Log", _affine(ctx, x, p.scale, p.shift))
    return y if ln_base == 1 else ctx.op("Mul", y, ctx.const(1 / ln_base, "inv_ln_base"))


@caffe_layer("ELU", param="elu_param", fields=("alpha",))
def elu(ctx, p):
    """Elu: x if x > 0 else alpha * (exp(x) - 1)."""
    return ctx.op("Elu", *ctx.expect_inputs(1), alpha=p.alpha)


@caffe_layer("AbsVal", param=None)
def abs_val(ctx, p):
    """Abs."""
    return ctx.op("Abs", *ctx.expect_inputs(1))


@caffe_layer("BNLL", param=None)
def bnll(ctx, p):
    """Softplus: log(1 + exp(x)), computed without overflow."""
    return ctx.op("Softplus", *ctx.expect_inputs(1))


@caffe_layer("Threshold", param="threshold_param", fields=("threshold",))
def threshold(ctx, p):
    """1 where x > threshold, else 0: Greater, then Cast to float."""
    (x,) = ctx.expect_inputs(1)
    return ctx.op("Cast", ctx.op("Greater", x, ctx.const(p.threshold, "threshold")),
                  to=DType.f32)


@caffe_layer("Clip", param="clip_param", fields=("min", "max"))
def clip(ctx, p):
    """Clip to [min, max] (both required, min <= max)."""
    (x,) = ctx.expect_inputs(1)
    if not (p.HasField("min") and p.HasField("max")):
        raise ctx.error("clip_param needs both min and max")
    if p.min > p.max:
        raise ctx.error(f"min {p.min} is above max {p.max}")
    return ctx.op("Clip", x, min=p.min, max=p.max)


@caffe_layer("ReLU6", param=None)
def relu6(ctx, p):
    """Clip to [0, 6] (the MobileNet-v2 forks' layer)."""
    return ctx.op("Clip", *ctx.expect_inputs(1), min=0.0, max=6.0)


@caffe_layer("Swish", param="swish_param", fields=("beta",))
def swish(ctx, p):
    """x * Sigmoid(beta * x)."""
    (x,) = ctx.expect_inputs(1)
    return ctx.op("Mul", x, ctx.op("Sigmoid", _affine(ctx, x, p.beta, 0)))


@caffe_layer("Dropout", param="dropout_param", fields=("dropout_ratio", "scale_train"))
def dropout(ctx, p):
    """Removed (its top is its bottom); with the fast-rcnn fork's scale_train: false, which
    scales at test time instead of training time, a Mul by 1 - dropout_ratio."""
    (x,) = ctx.expect_inputs(1)
    if not 0 <= p.dropout_ratio < 1:
        raise ctx.error(f"dropout_ratio {p.dropout_ratio} is not in [0, 1)")
    if p.scale_train:
        return x
    return ctx.op("Mul", x, ctx.const(1.0 - p.dropout_ratio, "keep"))


@caffe_layer("Split", param=None)
def split(ctx, p):
    """No node: every top is the bottom."""
    (x,) = ctx.expect_inputs(1)
    return [x] * len(ctx.layer.top)


@caffe_layer("Silence", param=None)
def silence(ctx, p):
    """No node, no top."""
    return []


# ---- combining / shape ----
@caffe_layer("Eltwise", param="eltwise_param", fields=("operation", "coeff"),
             ignored=("stable_prod_grad",))
def eltwise(ctx, p):
    """SUM (with coeff: a Mul per non-unit coefficient, then Adds), PROD (Muls), MAX (Maxes)."""
    ins = ctx.inputs
    if len(ins) < 2:
        raise ctx.error(f"takes at least 2 bottoms, got {len(ins)}")
    if p.operation == p.SUM:
        coeffs = list(p.coeff) or [1.0] * len(ins)
        if len(coeffs) != len(ins):
            raise ctx.error(f"{len(coeffs)} coeff values for {len(ins)} bottoms")
        terms = [x if c == 1 else ctx.op("Mul", x, ctx.const(c, "coeff"))
                 for x, c in zip(ins, coeffs)]
        op = "Add"
    else:
        if len(p.coeff):
            raise ctx.error("coeff is only valid with operation SUM")
        terms, op = ins, ("Mul" if p.operation == p.PROD else "Max")
    y = terms[0]
    for t in terms[1:]:
        y = ctx.op(op, y, t)
    return y


@caffe_layer("Concat", param="concat_param", fields=("axis", "concat_dim"))
def concat(ctx, p):
    """Concat along axis (or the deprecated concat_dim)."""
    ins = ctx.inputs
    if not ins:
        raise ctx.error("takes at least 1 bottom, got 0")
    axis = p.concat_dim if p.HasField("concat_dim") and not p.HasField("axis") else p.axis
    axis = _axis(ctx, axis, ins[0].type.rank)
    if len(ins) == 1:
        return ctx.op("Identity", ins[0])
    return ctx.op("Concat", *ins, axis=axis)


@caffe_layer("Slice", param="slice_param", fields=("axis", "slice_point", "slice_dim"))
def slice_layer(ctx, p):
    """Split at slice_point (or into equal parts, one per top)."""
    (x,) = ctx.expect_inputs(1)
    axis = p.slice_dim if p.HasField("slice_dim") and not p.HasField("axis") else p.axis
    axis = _axis(ctx, axis, x.type.rank)
    n, tops = x.shape[axis], len(ctx.layer.top)
    points = list(p.slice_point)
    if points:
        if len(points) != tops - 1:
            raise ctx.error(f"{len(points)} slice points for {tops} tops")
        bounds = [0] + points + [n]
        sizes = [b - a for a, b in zip(bounds, bounds[1:])]
        if any(s <= 0 for s in sizes):
            raise ctx.error(f"slice points {points} do not increase within the axis size {n}")
    else:
        if n % tops:
            raise ctx.error(f"axis size {n} does not split into {tops} equal parts")
        sizes = [n // tops] * tops
    outs = ctx.op("Split", x, axis=axis, split=sizes)
    return [outs] if tops == 1 else list(outs)


@caffe_layer("Flatten", param="flatten_param", fields=("axis", "end_axis"))
def flatten(ctx, p):
    """Reshape merging axes axis..end_axis."""
    (x,) = ctx.expect_inputs(1)
    rank = x.type.rank
    a, e = _axis(ctx, p.axis, rank), _axis(ctx, p.end_axis, rank)
    shape = tuple(x.shape[:a]) + (math.prod(x.shape[a:e + 1]),) + tuple(x.shape[e + 1:])
    return ctx.op("Reshape", x, shape=shape)


@caffe_layer("Reshape", param="reshape_param", fields=("shape", "axis", "num_axes"))
def reshape(ctx, p):
    """Reshape with Caffe's rules: dims [axis, axis + num_axes) are replaced by `shape`, where
    0 copies the input dim at that position and one -1 is inferred."""
    (x,) = ctx.expect_inputs(1)
    rank = x.type.rank
    start = p.axis if p.axis >= 0 else rank + 1 + p.axis
    end = rank if p.num_axes == -1 else start + p.num_axes
    if not 0 <= start <= end <= rank:
        raise ctx.error(f"axis {p.axis} / num_axes {p.num_axes} do not fit rank {rank}")
    spec = list(p.shape.dim)
    dims = []
    for i, d in enumerate(spec):
        if d == 0:
            if start + i >= rank:
                raise ctx.error(f"shape dim {i} is 0 (copy) but the input has no dim "
                                f"{start + i}")
            dims.append(x.shape[start + i])
        else:
            dims.append(d)
    shape = list(x.shape[:start]) + dims + list(x.shape[end:])
    if shape.count(-1) > 1:
        raise ctx.error(f"shape {spec} has more than one -1")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        total = math.prod(x.shape)
        if known == 0 or total % known:
            raise ctx.error(f"cannot infer the -1 in {spec} for input shape {list(x.shape)}")
        shape[shape.index(-1)] = total // known
    if math.prod(shape) != math.prod(x.shape):
        raise ctx.error(f"shape {shape} has a different size from the input {list(x.shape)}")
    return ctx.op("Reshape", x, shape=tuple(shape))


@caffe_layer("Permute", param="permute_param", fields=("order",))
def permute(ctx, p):
    """Transpose; axes missing from `order` follow in their original order (SSD's rule)."""
    (x,) = ctx.expect_inputs(1)
    rank = x.type.rank
    order = [_axis(ctx, a, rank) for a in p.order]
    if len(set(order)) != len(order):
        raise ctx.error(f"order {list(p.order)} repeats an axis")
    perm = order + [a for a in range(rank) if a not in order]
    if perm == list(range(rank)):
        return ctx.op("Identity", x)
    return ctx.op("Transpose", x, perm=tuple(perm))


@caffe_layer("Softmax", param="softmax_param", fields=("axis",), ignored=("engine",))
def softmax(ctx, p):
    """Softmax along axis (default 1, the channels)."""
    (x,) = ctx.expect_inputs(1)
    return ctx.op("Softmax", x, axis=_axis(ctx, p.axis, x.type.rank))


_SEGNET_UPSAMPLE = ("pad_out_h", "pad_out_w", "upsample_h", "upsample_w")


@caffe_layer("Upsample", param="upsample_param",
             fields=("scale", "scale_h", "scale_w") + _SEGNET_UPSAMPLE)
def upsample(ctx, p):
    """One bottom (the YOLO ports): nearest-neighbour upsampling by integer factors. Two
    (SegNet: values and a Pooling layer's max positions): max-unpooling, each value put at
    its position in a zero map of upsample_h x upsample_w (else the size times the scale, less
    1 with pad_out), as ScatterElements."""
    ins = ctx.expect_inputs(1, 2, rank=4)
    x = ins[0]
    sh = p.scale_h if p.HasField("scale_h") else p.scale
    sw = p.scale_w if p.HasField("scale_w") else p.scale
    ctx.positive(scale=(sh, sw))
    n, c, h, w = x.shape
    if len(ins) == 1:
        if any(p.HasField(f) for f in _SEGNET_UPSAMPLE):
            raise ctx.error(f"{', '.join(_SEGNET_UPSAMPLE)} are SegNet's: they need a second "
                            "bottom (the pooling mask)")
        return ctx.op("Resize", x, sizes=(n, c, h * sh, w * sw), mode="nearest",
                      coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    mask = ins[1]
    if tuple(mask.shape) != tuple(x.shape):
        raise ctx.error(f"the mask {list(mask.shape)} and the values {list(x.shape)} differ "
                        "in shape")
    if p.HasField("upsample_h") or p.HasField("upsample_w"):
        oh, ow = p.upsample_h, p.upsample_w
        ctx.positive(upsample_h=oh, upsample_w=ow)
    else:
        oh, ow = h * sh - p.pad_out_h, w * sw - p.pad_out_w
    zeros = ctx.op("Expand", ctx.const(np.zeros(1), "zero"), shape=(n, c, oh * ow))
    pos = ctx.op("Cast", ctx.op("Reshape", mask, shape=(n, c, h * w)), to=DType.i64)
    y = ctx.op("ScatterElements", zeros, pos, ctx.op("Reshape", x, shape=(n, c, h * w)), axis=2)
    return ctx.op("Reshape", y, shape=(n, c, oh, ow))


@caffe_layer("Interp", param="interp_param",
             fields=("height", "width", "zoom_factor", "shrink_factor", "pad_beg", "pad_end"))
def interp(ctx, p):
    """Bilinear resize with aligned corners (PSPNet/DeepLab Interp): to height x width, or
    zoomed/shrunk by integer factors."""
    (x,) = ctx.expect_inputs(1, rank=4)
    ctx.positive(zoom_factor=p.zoom_factor, shrink_factor=p.shrink_factor)
    if p.pad_beg or p.pad_end:
        raise ctx.error("pad_beg/pad_end other than 0 are not supported")
    n, c, h, w = x.shape
    if p.height and p.width:
        oh, ow = p.height, p.width
    else:
        oh, ow = h, w
        if p.shrink_factor != 1:
            oh, ow = (oh - 1) // p.shrink_factor + 1, (ow - 1) // p.shrink_factor + 1
        if p.zoom_factor != 1:
            oh, ow = oh + (oh - 1) * (p.zoom_factor - 1), ow + (ow - 1) * (p.zoom_factor - 1)
    return ctx.op("Resize", x, sizes=(n, c, oh, ow), mode="linear",
                  coordinate_transformation_mode="align_corners")


@caffe_layer("Crop", param="crop_param", fields=("axis", "offset"))
def crop(ctx, p):
    """Slice of the first bottom to the shape of the second from `axis` on, starting at
    `offset` (none: 0; one: every cropped axis; else one per cropped axis)."""
    x, ref = ctx.expect_inputs(2)
    rank = x.type.rank
    if ref.type.rank != rank:
        raise ctx.error(f"bottoms {list(x.shape)} and {list(ref.shape)} differ in rank")
    axis = _axis(ctx, p.axis, rank)
    axes = list(range(axis, rank))
    offsets = list(p.offset)
    if len(offsets) not in (0, 1, len(axes)):
        raise ctx.error(f"{len(offsets)} offsets for {len(axes)} cropped axes")
    offsets = offsets * len(axes) if len(offsets) == 1 else offsets or [0] * len(axes)
    for a, off in zip(axes, offsets):
        if off + ref.shape[a] > x.shape[a]:
            raise ctx.error(f"offset {off} + size {ref.shape[a]} exceed the size "
                            f"{x.shape[a]} of axis {a}")
    return ctx.op("Slice", x, starts=tuple(offsets),
                  ends=tuple(o + ref.shape[a] for a, o in zip(axes, offsets)), axes=tuple(axes))


@caffe_layer("Tile", param="tile_param", fields=("axis", "tiles"))
def tile(ctx, p):
    """Tile: `tiles` copies of the blob along `axis`."""
    (x,) = ctx.expect_inputs(1)
    axis = _axis(ctx, p.axis, x.type.rank)
    if not p.HasField("tiles"):
        raise ctx.error("tile_param gives no tiles")
    ctx.positive(tiles=p.tiles)
    return ctx.op("Tile", x, repeats=tuple(p.tiles if i == axis else 1
                                           for i in range(x.type.rank)))


@caffe_layer("ShuffleChannel", param="shuffle_channel_param", fields=("group",))
def shuffle_channel(ctx, p):
    """ShuffleNet's channel shuffle: Reshape to (N, group, C / group, rest), Transpose the
    two channel axes, Reshape back."""
    (x,) = ctx.expect_inputs(1, min_rank=2)
    n, c, g = x.shape[0], x.shape[1], p.group
    ctx.positive(group=g)
    if c % g:
        raise ctx.error(f"group {g} does not divide the {c} channels")
    y = ctx.op("Reshape", x, shape=(n, g, c // g, math.prod(x.shape[2:])))
    y = ctx.op("Transpose", y, perm=(0, 2, 1, 3))
    return ctx.op("Reshape", y, shape=tuple(x.shape))


@caffe_layer("Axpy", param=None)
def axpy(ctx, p):
    """SENet's Axpy (bottoms a, x, y): a * x + y, with a (N, C) or (N, C, 1, 1) scaling
    each channel of x."""
    a, x, y = ctx.expect_inputs(3)
    n_c = tuple(x.shape[:2])
    if x.type.rank < 2 or tuple(a.shape[:2]) != n_c or any(d != 1 for d in a.shape[2:]):
        raise ctx.error(f"the scale {list(a.shape)} is not (N, C[, 1, 1]) of x "
                        f"{list(x.shape)}")
    if tuple(x.shape) != tuple(y.shape):
        raise ctx.error(f"x {list(x.shape)} and y {list(y.shape)} differ in shape")
    shape = n_c + (1,) * (x.type.rank - 2)
    a = ctx.op("Reshape", a, shape=shape) if tuple(a.shape) != shape else a
    return ctx.op("Add", ctx.op("Mul", x, a), y)


_REDUCTIONS = {1: "ReduceSum", 2: "ReduceL1", 3: "ReduceSumSquare", 4: "ReduceMean"}


@caffe_layer("Reduction", param="reduction_param", fields=("operation", "axis", "coeff"))
def reduction(ctx, p):
    """SUM / ASUM / SUMSQ / MEAN over all axes from `axis` on (they are dropped; axis 0 gives
    a scalar), times coeff."""
    (x,) = ctx.expect_inputs(1)
    axis = _axis(ctx, p.axis, x.type.rank)
    y = ctx.op(_REDUCTIONS[p.operation], x, axes=tuple(range(axis, x.type.rank)),
               keepdims=False)
    return _affine(ctx, y, p.coeff, 0)


@caffe_layer("ArgMax", param="argmax_param", fields=("out_max_val", "top_k", "axis"))
def argmax(ctx, p):
    """The top_k largest values along `axis` (or over all axes after the first): their
    indices as floats, or with out_max_val their values (with an axis) or indices then values
    (without). Equal values come largest index first, as Caffe's sort of (value, index)
    pairs: TopK of the axis reversed, indices mapped back."""
    (x,) = ctx.expect_inputs(1)
    rank, k = x.type.rank, p.top_k
    has_axis = p.HasField("axis")
    if has_axis:
        axis = _axis(ctx, p.axis, rank)
    else:  # Caffe's output is (N, 1 or 2, top_k) padded to the input's rank (3 at least)
        axis, x = 1, ctx.op("Flatten", x, axis=1)
    n = x.shape[axis]
    if not 1 <= k <= n:
        raise ctx.error(f"top_k {k} is not in [1, {n}], the size of the searched axis")
    flipped = ctx.op("Slice", x, starts=(-1,), ends=(-n - 1,), axes=(axis,), steps=(-1,))
    values, rev_idx = ctx.op("TopK", flipped, k=k, axis=axis)
    idx = ctx.op("Sub", ctx.const(n - 1, "last"), ctx.op("Cast", rev_idx, to=DType.f32))
    if has_axis:
        return values if p.out_max_val else idx
    y = ctx.op("Concat", idx, values, axis=1) if p.out_max_val else idx
    pad = (1,) * (max(rank, 3) - 3)
    return ctx.op("Reshape", y, shape=(x.shape[0], 2 if p.out_max_val else 1, k) + pad)


@caffe_layer("MVN", param="mvn_param", fields=("normalize_variance", "across_channels", "eps"))
def mvn(ctx, p):
    """x - mean, then / (std + eps) if normalize_variance, over each channel's spatial
    positions (over C, H, W with across_channels); Caffe adds eps to the std."""
    (x,) = ctx.expect_inputs(1, min_rank=2)
    axes = tuple(range(1 if p.across_channels else 2, x.type.rank))
    if not axes:
        raise ctx.error(f"no axes to normalize over in a {list(x.shape)} bottom")
    y = ctx.op("Sub", x, ctx.op("ReduceMean", x, axes=axes, keepdims=True))
    if not p.normalize_variance:
        return y
    std = ctx.op("Sqrt", ctx.op("ReduceMean", ctx.op("Mul", y, y), axes=axes, keepdims=True))
    return ctx.op("Div", y, ctx.op("Add", std, ctx.const(p.eps, "eps")))


@caffe_layer("Embed", param="embed_param", fields=("num_output", "input_dim", "bias_term"),
             ignored=_FILLERS)
def embed(ctx, p):
    """Row lookup: the bottom's values (truncated to integers) index the (input_dim,
    num_output) blob; Gather, then Add the bias blob. The top has a num_output axis more."""
    (x,) = ctx.expect_inputs(1)
    ctx.positive(num_output=p.num_output, input_dim=p.input_dim)
    w = ctx.const(ctx.blob(0, (p.input_dim, p.num_output)), "weight")
    y = ctx.op("Gather", w, ctx.op("Cast", x, to=DType.i64), axis=0)
    if p.bias_term:
        y = ctx.op("Add", y, ctx.const(ctx.blob(1, (p.num_output,), "small"), "bias"))
    return y


@caffe_layer("Parameter", param="parameter_param", fields=("shape",))
def parameter(ctx, p):
    """No bottom: the layer's blob, of parameter_param.shape, as a constant."""
    if ctx.layer.bottom:
        raise ctx.error(f"takes no bottom, got {len(ctx.layer.bottom)}")
    shape = tuple(p.shape.dim)
    ctx.positive(shape=shape)
    return ctx.const(ctx.blob(0, shape), "blob")


@caffe_layer("BatchReindex", param=None)
def batch_reindex(ctx, p):
    """Gather along the batch axis by the second bottom (a 1-D blob of indices as floats)."""
    x, idx = ctx.expect_inputs(2)
    if idx.type.rank != 1:
        raise ctx.error(f"the indices {list(idx.shape)} are not 1-D")
    return ctx.op("Gather", x, ctx.op("Cast", idx, to=DType.i64), axis=0)


# ---- detection heads (ops the simulator runs on the CPU) ----
@caffe_layer("PriorBox", param="prior_box_param",
             fields=("min_size", "max_size", "aspect_ratio", "flip", "clip", "variance",
                     "img_size", "img_h", "img_w", "step", "step_h", "step_w", "offset"))
def prior_box(ctx, p):
    """PriorBox op: SSD prior boxes from the feature map and image shapes (constant-foldable)."""
    feat, img = ctx.expect_inputs(2)
    img_h = p.img_h if p.HasField("img_h") else (p.img_size if p.HasField("img_size") else 0)
    img_w = p.img_w if p.HasField("img_w") else (p.img_size if p.HasField("img_size") else 0)
    step_h = p.step_h if p.HasField("step_h") else (p.step if p.HasField("step") else 0.0)
    step_w = p.step_w if p.HasField("step_w") else (p.step if p.HasField("step") else 0.0)
    variance = list(p.variance) or [0.1]
    if len(variance) not in (1, 4):
        raise ctx.error(f"variance needs 1 or 4 values, got {len(variance)}")
    if len(p.max_size) and len(p.max_size) != len(p.min_size):
        raise ctx.error(f"{len(p.max_size)} max_size for {len(p.min_size)} min_size values")
    if any(v <= 0 for v in list(p.min_size) + list(p.aspect_ratio)) or \
            any(hi <= lo for lo, hi in zip(p.min_size, p.max_size)):
        raise ctx.error(f"min_size {list(p.min_size)}, max_size {list(p.max_size)} and "
                        f"aspect_ratio {list(p.aspect_ratio)} must be positive, max above min")
    return ctx.op("PriorBox", feat, img, min_sizes=tuple(p.min_size),
                  max_sizes=tuple(p.max_size), aspect_ratios=tuple(p.aspect_ratio),
                  flip=p.flip, clip=p.clip, variances=tuple(variance), img_h=img_h,
                  img_w=img_w, step_h=step_h, step_w=step_w, offset=p.offset)


@caffe_layer("DetectionOutput", param="detection_output_param",
             fields=("num_classes", "share_location", "background_label_id", "nms_param",
                     "code_type", "variance_encoded_in_target", "keep_top_k",
                     "confidence_threshold"),
             ignored=("save_output_param", "visualize", "visualize_threshold", "save_file"))
def detection_output(ctx, p):
    """DetectionOutput op (decode + per-class NMS + top-k): (1, 1, keep_top_k, 7) rows of
    [image, label, score, xmin, ymin, xmax, ymax], unused rows have image = -1."""
    loc, conf, prior = ctx.expect_inputs(3)
    nms = p.nms_param
    code = {1: "corner", 2: "center_size", 3: "corner_size"}[p.code_type]
    return ctx.op("DetectionOutput", loc, conf, prior, num_classes=p.num_classes,
                  share_location=p.share_location, background_label_id=p.background_label_id,
                  nms_threshold=nms.nms_threshold, top_k=nms.top_k if nms.HasField("top_k")
                  else -1, eta=nms.eta, code_type=code,
                  variance_encoded_in_target=p.variance_encoded_in_target,
                  keep_top_k=p.keep_top_k, confidence_threshold=p.confidence_threshold
                  if p.HasField("confidence_threshold") else -float("inf"))


@caffe_layer("ROIPooling", param="roi_pooling_param",
             fields=("pooled_h", "pooled_w", "spatial_scale"))
def roi_pooling(ctx, p):
    """ROIPooling op (Fast R-CNN max pooling of each ROI into pooled_h x pooled_w bins)."""
    x, rois = ctx.expect_inputs(2)
    return ctx.op("ROIPooling", x, rois, pooled_h=p.pooled_h, pooled_w=p.pooled_w,
                  spatial_scale=p.spatial_scale)


@caffe_layer("Python", param="python_param", fields=("module", "layer", "param_str"),
             ignored=("share_in_parallel",))
def python_layer(ctx, p):
    """Only py-faster-rcnn's ProposalLayer (param_str: a Python dict literal, with or without
    braces: feat_stride, scales, ratios) becomes the Proposal op; other Python layers are
    user code and are refused."""
    if p.layer != "ProposalLayer":
        raise ctx.error(f"Python layer {p.module}.{p.layer} is user code; only "
                        "ProposalLayer (py-faster-rcnn) is supported")
    text = p.param_str.strip()
    try:
        params = ast.literal_eval(text if text.startswith("{") else "{" + text + "}") \
            if text else {}
    except (ValueError, SyntaxError) as e:
        raise ctx.error(f"param_str {p.param_str!r} is not a Python dict literal: {e}") \
            from None
    unknown = set(params) - {"feat_stride", "scales", "ratios"}
    if unknown:
        raise ctx.error(f"param_str keys {sorted(unknown)} are not supported")
    ins = ctx.expect_inputs(3)
    opts = ctx.importer.options.get("proposal", {})
    outs = ctx.op("Proposal", *ins, feat_stride=int(params.get("feat_stride", 16)),
                  scales=tuple(float(s) for s in params.get("scales", (8, 16, 32))),
                  ratios=tuple(float(r) for r in params.get("ratios", (0.5, 1, 2))), **opts)
    tops = len(ctx.layer.top)
    if tops not in (1, 2):
        raise ctx.error(f"ProposalLayer has 1 or 2 tops (rois, scores), got {tops}")
    return list(outs[:tops])
