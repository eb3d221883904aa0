"""Reductions over axes (ReduceMean, ReduceMax, ReduceSum) and the normalisations along one axis
(Softmax, LogSoftmax)."""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import TensorType

from .shape import normalize_axes, normalize_axis


def _accumulator(dtype) -> np.dtype:
    return np.dtype(np.float32) if dtype == np.float16 else np.dtype(dtype)


def _reduce_axes(axes, rank) -> tuple[int, ...]:
    return tuple(range(rank)) if axes is None else normalize_axes(axes, rank)


def _reduce_type(float_only: bool):
    def infer(types, attrs_):
        x = types[0]
        if float_only and not x.dtype.is_float:
            raise IRError(f"takes a float tensor, got {x.dtype.value}")
        if not (x.dtype.is_float or x.dtype.is_int):
            raise IRError(f"takes a numeric tensor, got {x.dtype.value}")
        axes = _reduce_axes(attrs_["axes"], x.rank)
        if any(x.shape[a] == 0 for a in axes):
            raise IRError(f"cannot reduce the empty axes of {list(x.shape)}")
        keep = attrs_["keepdims"]
        shape = [1 if i in axes else d for i, d in enumerate(x.shape) if keep or i not in axes]
        return TensorType(shape, x.dtype)
    return infer


_REDUCE_ATTRS = {
    "axes": Attr("ints", None, check=lambda v: "give None (all axes), not an empty list"
                 if len(v) == 0 else None, doc="None: all axes"),
    "keepdims": Attr("bool", True),
}


def _reduction(np_fn, doc):
    def kernel(x, *, axes, keepdims):
        axes = _reduce_axes(axes, x.ndim)
        kw = {"dtype": _accumulator(x.dtype)} if np_fn is not np.max else {}
        return np.asarray(np_fn(x, axis=axes, keepdims=keepdims, **kw)).astype(x.dtype)
    kernel.__doc__ = doc
    return kernel


for _name, _fn, _float_only, _doc in [
        ("ReduceMean", np.mean, True, "mean over `axes` (size-1 dims kept if keepdims)"),
        ("ReduceMax", np.max, False, "max over `axes` (size-1 dims kept if keepdims)"),
        ("ReduceSum", np.sum, False, "sum over `axes` (size-1 dims kept if keepdims); integers "
                                     "accumulate and wrap in their own type")]:
    define_op(_name, inputs=("X",), attrs=_REDUCE_ATTRS, infer=_reduce_type(_float_only))(
        _reduction(_fn, _doc))


def _softmax_type(types, attrs_):
    x = types[0]
    if not x.dtype.is_float:
        raise IRError(f"takes a float tensor, got {x.dtype.value}")
    normalize_axis(attrs_["axis"], x.rank)
    return x.without_quant()


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


@define_op("Softmax", inputs=("X",), attrs={"axis": Attr("int", -1)}, infer=_softmax_type)
def softmax(x, *, axis):
    """ONNX Softmax (opset 13): exp(x) / sum(exp(x)) along the single axis `axis`."""
    z = x.astype(_accumulator(x.dtype))
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


@define_op("LogSoftmax", inputs=("X",), attrs={"axis": Attr("int", -1)}, infer=_softmax_type)
def log_softmax(x, *, axis):
    """log(Softmax(x)) along `axis`, computed as x - max - log(sum(exp(x - max)))."""
    return _log_softmax(x.astype(_accumulator(x.dtype)), axis).astype(x.dtype)
