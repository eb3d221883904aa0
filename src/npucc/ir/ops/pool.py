"""Pooling ops (MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool) and the sliding-window
geometry they share with the convolutions in conv.py.

Spatial ops take NCHW (or NCW) inputs: 1 or 2 spatial dims. Per-axis attributes default to their
2-D values; a 1-D op gives them explicitly (strides=(s,), pads=(b, e), ...).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from npucc.errors import IRError
from npucc.ir.quant_rule import SAME
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import TensorType

from .shape import non_negative, positive

SPATIAL_RANKS = (1, 2)


# ---- geometry ----
def spatial_rank(x: TensorType, what: str = "input") -> int:
    """Number of spatial dims of an N,C,spatial... tensor; IRError unless 1 or 2."""
    sr = x.rank - 2
    if sr not in SPATIAL_RANKS:
        raise IRError(f"{what} must be N,C + 1 or 2 spatial dims (rank 3 or 4), "
                      f"got shape {list(x.shape)}")
    return sr


def check_spatial_attrs(attrs_, sr: int, per_axis=("strides", "dilations", "kernel_shape"),
                        pads="pads") -> None:
    """Every per-axis attribute present in attrs_ has sr entries; pads has 2*sr."""
    for name in per_axis:
        if name in attrs_ and len(attrs_[name]) != sr:
            raise IRError(f"{name} {attrs_[name]} has {len(attrs_[name])} entries, the input has "
                          f"{sr} spatial dims")
    if len(attrs_[pads]) != 2 * sr:
        raise IRError(f"{pads} {attrs_[pads]} has {len(attrs_[pads])} entries, the input has "
                      f"{sr} spatial dims (give all begins, then all ends)")


def window_count(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                 dilation: int = 1, ceil_mode: bool = False) -> int:
    """Number of window positions along one axis (ONNX: with ceil_mode a window starting in the
    end padding is dropped). IRError if the dilated kernel does not fit the padded input."""
    eff = (kernel - 1) * dilation + 1
    span = size + pad_begin + pad_end - eff
    if span < 0:
        raise IRError(f"kernel {kernel} (dilated extent {eff}) does not fit the padded input "
                      f"size {size} + {pad_begin} + {pad_end}")
    if not ceil_mode:
        return span // stride + 1
    n = -(-span // stride) + 1
    if (n - 1) * stride >= size + pad_begin:
        n -= 1
    return n


def output_sizes(spatial, kernel, strides, pads, dilations, ceil_mode=False) -> list[int]:
    sr = len(spatial)
    return [window_count(spatial[i], kernel[i], strides[i], pads[i], pads[i + sr], dilations[i],
                         ceil_mode) for i in range(sr)]


def padded(x: np.ndarray, pads, out, kernel, strides, dilations, fill) -> np.ndarray:
    """x padded with `fill` by `pads`, plus any extra end padding the last window needs (ceil
    mode), so that `windows` can take `out` positions."""
    sr = len(kernel)
    widths = [(0, 0)] * (x.ndim - sr)
    for i in range(sr):
        eff = (kernel[i] - 1) * dilations[i] + 1
        need = (out[i] - 1) * strides[i] + eff
        have = x.shape[x.ndim - sr + i] + pads[i] + pads[i + sr]
        widths.append((pads[i], pads[i + sr] + max(0, need - have)))
    return np.pad(x, widths, mode="constant", constant_values=fill)


def windows(xp: np.ndarray, kernel, strides, dilations, out) -> np.ndarray:
    """View of the windows of a padded array (..., *spatial) as (..., *out, *kernel)."""
    sr = len(kernel)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    w = sliding_window_view(xp, eff, axis=tuple(range(xp.ndim - sr, xp.ndim)))
    lead = (slice(None),) * (xp.ndim - sr)
    pos = tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out, strides))
    taps = tuple(slice(None, None, d) for d in dilations)
    return w[lead + pos + taps]


# ---- MaxPool / AveragePool ----
def _pool_type(types, attrs_):
    x = types[0]
    sr = spatial_rank(x)
    check_spatial_attrs(attrs_, sr)
    k, pads = attrs_["kernel_shape"], attrs_["pads"]
    for i in range(sr):
        if max(pads[i], pads[i + sr]) >= k[i]:
            raise IRError(f"pads ({pads[i]}, {pads[i + sr]}) on spatial axis {i} must be smaller "
                          f"than the kernel size {k[i]}")
    dil = attrs_.get("dilations", (1,) * sr)
    out = output_sizes(x.shape[2:], k, attrs_["strides"], pads, dil, attrs_["ceil_mode"])
    return TensorType(list(x.shape[:2]) + out, x.dtype)


def _lowest(dtype) -> np.generic:
    """The padding of MaxPool, which a dilated window covering only padding returns: the lowest
    float32 value cast to dtype (-inf in float16), or the integer minimum (as onnxruntime)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        return dtype.type(np.iinfo(dtype).min)
    with np.errstate(over="ignore"):
        return np.float32(np.finfo(np.float32).min).astype(dtype)


_WINDOW_ATTRS = {
    "kernel_shape": Attr("ints", check=positive),
    "strides": Attr("ints", (1, 1), check=positive),
    "pads": Attr("ints", (0, 0, 0, 0), check=non_negative, doc="all begins, then all ends"),
}
_CEIL = {"ceil_mode": Attr("bool", False, doc="ceil instead of floor for the output size")}


@define_op("MaxPool", inputs=("X",),
           attrs={**_WINDOW_ATTRS, "dilations": Attr("ints", (1, 1), check=positive), **_CEIL},
           infer=_pool_type, quant=SAME)
def max_pool(x, *, kernel_shape, strides, pads, dilations, ceil_mode):
    """ONNX MaxPool: max over each (dilated) window; padding never wins (a window whose taps all
    fall in the padding gives the lowest float32 value in the output dtype, as onnxruntime)."""
    out = output_sizes(x.shape[2:], kernel_shape, strides, pads, dilations, ceil_mode)
    xp = padded(x, pads, out, kernel_shape, strides, dilations, _lowest(x.dtype))
    w = windows(xp, kernel_shape, strides, dilations, out)
    return w.max(axis=tuple(range(-len(kernel_shape), 0)))


@define_op("AveragePool", inputs=("X",),
           attrs={**_WINDOW_ATTRS, **_CEIL,
                  "count_include_pad": Attr("bool", False,
                                            doc="divide by the window size including pads")},
           infer=_pool_type, quant=SAME)
def average_pool(x, *, kernel_shape, strides, pads, ceil_mode, count_include_pad):
    """ONNX AveragePool: mean of each window. The divisor counts the input elements in the
    window, plus its explicit padding if count_include_pad (never the extra end positions a
    ceil_mode window reaches past the padding)."""
    sr = len(kernel_shape)
    ones = (1,) * sr
    out = output_sizes(x.shape[2:], kernel_shape, strides, pads, ones, ceil_mode)
    acc = np.float32 if x.dtype == np.float16 else x.dtype
    axes = tuple(range(-sr, 0))
    total = windows(padded(x.astype(acc), pads, out, kernel_shape, strides, ones, 0),
                    kernel_shape, strides, ones, out).sum(axis=axes)
    # divisor: windows over a mask that is 1 where an element counts
    mask = np.ones(x.shape[2:], acc)
    if count_include_pad:
        mask = np.pad(mask, [(pads[i], pads[i + sr]) for i in range(sr)], constant_values=1)
        mask = padded(mask, (0,) * (2 * sr), out, kernel_shape, strides, ones, 0)
    else:
        mask = padded(mask, pads, out, kernel_shape, strides, ones, 0)
    count = windows(mask, kernel_shape, strides, ones, out).sum(axis=axes)
    return (total / count).astype(x.dtype)


# ---- global pools ----
def _global_type(types, attrs_):
    x = types[0]
    if x.rank < 3:
        raise IRError(f"input must be N,C + spatial dims (rank >= 3), got shape {list(x.shape)}")
    return TensorType(list(x.shape[:2]) + [1] * (x.rank - 2), x.dtype)


@define_op("GlobalAveragePool", inputs=("X",), infer=_global_type, quant=SAME)
def global_average_pool(x):
    """Mean over all spatial dims, kept as size 1: (N, C, 1, 1)."""
    acc = np.float32 if x.dtype == np.float16 else x.dtype
    return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=acc).astype(x.dtype)


@define_op("GlobalMaxPool", inputs=("X",), infer=_global_type, quant=SAME)
def global_max_pool(x):
    """Max over all spatial dims, kept as size 1: (N, C, 1, 1)."""
    return x.max(axis=tuple(range(2, x.ndim)), keepdims=True)


# ---- MaxUnpool ----
def _max_unpool_type(types, attrs_):
    x, idx = types
    out = tuple(attrs_["output_shape"])
    if x.rank < 3 or not x.dtype.is_float:
        raise IRError(f"takes a float (N, C, *spatial) tensor, got {x.dtype.value} "
                      f"{list(x.shape)}")
    if idx.shape != x.shape or not idx.dtype.is_int:
        raise IRError(f"indices must be an integer tensor of X's shape {list(x.shape)}, got "
                      f"{idx.dtype.value} {list(idx.shape)}")
    if len(out) != x.rank or out[:2] != x.shape[:2]:
        raise IRError(f"output_shape {list(out)} must keep X's N and C ({list(x.shape[:2])})")
    return TensorType(out, x.dtype)


@define_op("MaxUnpool", inputs=("X", "indices"),
           attrs={"output_shape": Attr("ints", check=non_negative, doc="the full output shape")},
           infer=_max_unpool_type)
def max_unpool(x, indices, *, output_shape):
    """ONNX MaxUnpool (as onnxruntime): zeros of output_shape, with x[i] written at flat index
    indices[i] of the whole output (row major over N, C and the spatial axes), as MaxPool's
    Indices output gives them."""
    size = int(np.prod(output_shape))
    flat = indices.astype(np.int64).ravel()
    if flat.size and (flat.min() < 0 or flat.max() >= size):
        raise IRError(f"MaxUnpool indices out of range [0, {size})")
    y = np.zeros(size, x.dtype)
    y[flat] = x.ravel()
    return y.reshape(output_shape)
