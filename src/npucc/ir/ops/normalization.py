"""Normalization ops: BatchNorm (inference, over axis 1), InstanceNorm and LayerNorm (ONNX
InstanceNormalization and LayerNormalization) and LRN (local response normalization across
channels).

Float kernels compute float16 in float32 and return the input dtype, like the core ops.
"""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.registry import Attr, define_op

from .dtype_rules import accumulator, in_accumulator, same_dtype
from .shape import normalize_axis


# ---- BatchNorm ----
def _batch_norm_type(types, attrs_):
    x = types[0]
    names = ("X", "scale", "bias", "mean", "var")
    same_dtype(types, names)
    if not x.dtype.is_float:
        raise IRError(f"takes float tensors, got {x.dtype.value}")
    if x.rank < 2:
        raise IRError(f"X must be N,C,... (rank >= 2), got {list(x.shape)}")
    for name, t in zip(names[1:], types[1:]):
        if t.shape != (x.shape[1],):
            raise IRError(f"{name} has shape {list(t.shape)}, expected [{x.shape[1]}] "
                          "(one per channel of X)")
    return x.without_quant()


@define_op("BatchNorm", inputs=("X", "scale", "bias", "mean", "var"),
           attrs={"epsilon": Attr("float", 1e-5, check=lambda e: None if e >= 0 else
                                  "must be >= 0")},
           infer=_batch_norm_type)
def batch_norm(x, scale, bias, mean, var, *, epsilon):
    """Inference batch normalisation over axis 1:
    (x - mean) / sqrt(var + epsilon) * scale + bias."""
    acc = accumulator(x.dtype)
    shape = (-1,) + (1,) * (x.ndim - 2)
    inv = (scale.astype(acc) / np.sqrt(var.astype(acc) + acc.type(epsilon))).reshape(shape)
    y = (x.astype(acc) - mean.astype(acc).reshape(shape)) * inv + bias.astype(acc).reshape(shape)
    return y.astype(x.dtype)


# ---- InstanceNorm ----
def _instance_norm_type(types, attrs_):
    x, scale, bias = types
    if x.rank < 3 or not x.dtype.is_float:
        raise IRError(f"takes a float N,C,... tensor, got {x}")
    for t, what in ((scale, "scale"), (bias, "bias")):
        if t.shape != (x.shape[1],):
            raise IRError(f"{what} must have shape [{x.shape[1]}], got {list(t.shape)}")
    return x.without_quant()


@define_op("InstanceNorm", inputs=("X", "scale", "bias"), attrs={"epsilon": Attr("float", 1e-5)},
           infer=_instance_norm_type)
def instance_norm(x, scale, bias, *, epsilon):
    """ONNX InstanceNormalization: per (n, c), normalize over the spatial axes, then
    scale[c] * x + bias[c]."""
    z = in_accumulator(x)
    axes = tuple(range(2, x.ndim))
    mean = z.mean(axis=axes, keepdims=True)
    var = ((z - mean) ** 2).mean(axis=axes, keepdims=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    scale, bias = in_accumulator(scale).reshape(shape), in_accumulator(bias).reshape(shape)
    y = (z - mean) / np.sqrt(var + epsilon) * scale + bias
    return y.astype(x.dtype)


# ---- LayerNorm ----
def _layer_norm_type(types, attrs_):
    x, scale, bias = types
    if not x.dtype.is_float:
        raise IRError(f"takes a float tensor, got {x.dtype.value}")
    axis = normalize_axis(attrs_["axis"], x.rank)
    for t, what in ((scale, "scale"), (bias, "bias")):
        if t is None:
            continue
        try:
            out = np.broadcast_shapes(x.shape[axis:], t.shape)
        except ValueError:
            out = None
        if out != x.shape[axis:]:
            raise IRError(f"{what} shape {list(t.shape)} does not broadcast to the normalized "
                          f"shape {list(x.shape[axis:])}")
    return x.without_quant()


@define_op("LayerNorm", inputs=("X", "scale", "bias?"),
           attrs={"axis": Attr("int", -1), "epsilon": Attr("float", 1e-5)},
           infer=_layer_norm_type)
def layer_norm(x, scale, bias, *, axis, epsilon):
    """ONNX LayerNormalization: normalize over axes axis..rank-1, then * scale + bias."""
    z = in_accumulator(x)
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean = z.mean(axis=axes, keepdims=True)
    var = ((z - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (z - mean) / np.sqrt(var + epsilon) * in_accumulator(scale)
    if bias is not None:
        y = y + in_accumulator(bias)
    return y.astype(x.dtype)


# ---- LRN ----
def _positive(v):
    return None if v > 0 else "must be > 0"


def _lrn_type(types, attrs_):
    x = types[0]
    if x.rank < 3 or not x.dtype.is_float:
        raise IRError(f"takes a float N,C,... tensor, got {x}")
    if attrs_["size"] % 2 == 0:
        raise IRError(f"size {attrs_['size']} must be odd")
    return x.without_quant()


@define_op("LRN", inputs=("X",),
           attrs={"size": Attr("int", check=_positive, doc="channels in the window (odd)"),
                  "alpha": Attr("float", 1e-4), "beta": Attr("float", 0.75),
                  "bias": Attr("float", 1.0)},
           infer=_lrn_type)
def lrn(x, *, size, alpha, beta, bias):
    """ONNX LRN (= Caffe LRN ACROSS_CHANNELS with k=bias): y = x / (bias + alpha / size *
    sum of x^2 over the `size` channels centred on c) ^ beta."""
    acc = accumulator(x.dtype)
    sq = np.square(x.astype(acc))
    half = (size - 1) // 2
    pad = [(0, 0)] * x.ndim
    pad[1] = (half, half)
    sq = np.pad(sq, pad)
    c = x.shape[1]
    window = sum(sq[:, i:i + c] for i in range(size))
    return (x / np.power(acc.type(bias) + acc.type(alpha / size) * window, acc.type(beta))
            ).astype(x.dtype)
