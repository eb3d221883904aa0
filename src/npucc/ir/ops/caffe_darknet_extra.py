"""Ops Caffe and Darknet models need that the core set cannot express exactly: LRN (across
channels) and Pow (elementwise power, for Caffe Power and Normalize)."""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.registry import Attr, define_op

from .elementwise import broadcast_type


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
    acc = np.dtype(np.float32) if x.dtype == np.float16 else x.dtype
    sq = np.square(x.astype(acc))
    half = (size - 1) // 2
    pad = [(0, 0)] * x.ndim
    pad[1] = (half, half)
    sq = np.pad(sq, pad)
    c = x.shape[1]
    window = sum(sq[:, i:i + c] for i in range(size))
    return (x / np.power(acc.type(bias) + acc.type(alpha / size) * window, acc.type(beta))
            ).astype(x.dtype)


def _pow_type(types, attrs_):
    t = broadcast_type(types, attrs_)
    if not t.dtype.is_float:
        raise IRError(f"takes float tensors, got {t.dtype.value}")
    return t


@define_op("Pow", inputs=("A", "B"), infer=_pow_type)
def pow_(a, b):
    """ONNX Pow: a ** b with numpy broadcasting (float)."""
    return np.power(a, b).astype(a.dtype)
