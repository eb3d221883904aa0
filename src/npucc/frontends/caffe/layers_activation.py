"""Caffe activation layers and the pass-through ones (Dropout, Split, Silence)."""

from __future__ import annotations

import math

from ...ir import DType
from .importer import caffe_layer
from .layers import _affine, _bcast


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
