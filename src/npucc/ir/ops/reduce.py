"""Reductions over axes (ReduceMean, ReduceMax, ReduceSum, ReduceMin, ReduceProd, ReduceL1,
ReduceL2, ReduceSumSquare, ReduceLogSumExp), the arg-extremum along one axis (ArgMax, ArgMin),
the normalisations along one axis (Softmax, LogSoftmax), and the ordering and scan along one axis
(TopK, CumSum)."""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.quant_rule import REQUANTIZE, SAME, QuantRule
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import DType, TensorType

from .dtype_rules import accumulator, in_accumulator
from .shape import normalize_axes, normalize_axis


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


def _reduction(fn, doc):
    """The kernel of a reduction: fn(x, axes, keepdims) over the resolved axes (None: all),
    returned in x's dtype."""
    def kernel(x, *, axes, keepdims):
        return np.asarray(fn(x, _reduce_axes(axes, x.ndim), keepdims)).astype(x.dtype)
    kernel.__doc__ = doc
    return kernel


def _accumulating(np_fn):
    """numpy reduction np_fn accumulating in x's accumulation dtype (integers in their own type,
    so they wrap)."""
    return lambda x, a, k: np_fn(x, axis=a, keepdims=k, dtype=accumulator(x.dtype))


def _on_accumulator(fn):
    """fn(z, axes, keepdims) applied to x cast to its accumulation dtype."""
    return lambda x, a, k: fn(in_accumulator(x), a, k)


def _log_sum_exp(z, axes, keep):
    m = np.max(z, axis=axes, keepdims=True)
    y = np.log(np.sum(np.exp(z - m), axis=axes, keepdims=True)) + m
    return y if keep else np.squeeze(y, axis=axes)


_REDUCTIONS = [
    # name, fn(x, axes, keepdims), float only, doc
    ("ReduceMean", _accumulating(np.mean), True,
     "mean over `axes` (size-1 dims kept if keepdims)"),
    ("ReduceMax", lambda x, a, k: np.max(x, axis=a, keepdims=k), False,
     "max over `axes` (size-1 dims kept if keepdims)"),
    ("ReduceSum", _accumulating(np.sum), False,
     "sum over `axes` (size-1 dims kept if keepdims); integers accumulate and wrap in their own "
     "type"),
    ("ReduceMin", _on_accumulator(lambda z, a, k: np.min(z, axis=a, keepdims=k)), False,
     "min over axes"),
    ("ReduceProd", _on_accumulator(lambda z, a, k: np.prod(z, axis=a, keepdims=k)), False,
     "product over axes"),
    ("ReduceL1", _on_accumulator(lambda z, a, k: np.sum(np.abs(z), axis=a, keepdims=k)), False,
     "sum of |x| over axes"),
    ("ReduceL2", _on_accumulator(lambda z, a, k: np.sqrt(np.sum(z * z, axis=a, keepdims=k))),
     True, "sqrt of the sum of squares over axes"),
    ("ReduceSumSquare", _on_accumulator(lambda z, a, k: np.sum(z * z, axis=a, keepdims=k)),
     False, "sum of squares over axes"),
    ("ReduceLogSumExp", _on_accumulator(_log_sum_exp), True, "log of the sum of exp over axes"),
]
# max/min of integers with one set of params are those integers; a mean is requantized
_REDUCE_RULES = {"ReduceMax": SAME, "ReduceMin": SAME, "ReduceMean": REQUANTIZE}
for _name, _fn, _float_only, _doc in _REDUCTIONS:
    define_op(_name, inputs=("X",), attrs=_REDUCE_ATTRS, infer=_reduce_type(_float_only),
              quant=_REDUCE_RULES.get(_name))(_reduction(_fn, _doc))


# ---- ArgMax / ArgMin ----
def _arg_type(types, attrs_):
    x = types[0]
    axis = normalize_axis(attrs_["axis"], x.rank)
    if x.shape[axis] == 0:
        raise IRError(f"cannot take the arg-extremum of empty axis {axis}")
    shape = [1 if i == axis else d for i, d in enumerate(x.shape)
             if attrs_["keepdims"] or i != axis]
    return TensorType(shape, DType.i64)


def _arg(fn, doc):
    def kernel(x, *, axis, keepdims, select_last_index):
        if select_last_index:
            idx = x.shape[axis] - 1 - fn(np.flip(x, axis=axis), axis=axis)
        else:
            idx = fn(x, axis=axis)
        idx = np.asarray(idx, dtype=np.int64)
        return np.expand_dims(idx, axis) if keepdims else idx
    kernel.__doc__ = doc
    return kernel


_ARG_ATTRS = {"axis": Attr("int", 0), "keepdims": Attr("bool", True),
              "select_last_index": Attr("bool", False)}
define_op("ArgMax", inputs=("X",), attrs=_ARG_ATTRS, infer=_arg_type)(
    _arg(np.argmax, "index of the max along axis (first, or last if select_last_index)"))
define_op("ArgMin", inputs=("X",), attrs=_ARG_ATTRS, infer=_arg_type)(
    _arg(np.argmin, "index of the min along axis (first, or last if select_last_index)"))


# ---- Softmax / LogSoftmax ----
def _softmax_type(types, attrs_):
    x = types[0]
    if not x.dtype.is_float:
        raise IRError(f"takes a float tensor, got {x.dtype.value}")
    normalize_axis(attrs_["axis"], x.rank)
    return x.without_quant()


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


@define_op("Softmax", inputs=("X",), attrs={"axis": Attr("int", -1)}, infer=_softmax_type,
           quant=QuantRule("fixed"))
def softmax(x, *, axis):
    """ONNX Softmax (opset 13): exp(x) / sum(exp(x)) along the single axis `axis`."""
    z = in_accumulator(x)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


@define_op("LogSoftmax", inputs=("X",), attrs={"axis": Attr("int", -1)}, infer=_softmax_type)
def log_softmax(x, *, axis):
    """log(Softmax(x)) along `axis`, computed as x - max - log(sum(exp(x - max)))."""
    return _log_softmax(in_accumulator(x), axis).astype(x.dtype)


# ---- TopK / CumSum / CumProd ----
def _topk_types(types, attrs_):
    x = types[0]
    if not (x.dtype.is_float or x.dtype.is_int):
        raise IRError(f"takes a numeric tensor, got {x.dtype.value}")
    axis = normalize_axis(attrs_["axis"], x.rank)
    if attrs_["k"] > x.shape[axis]:
        raise IRError(f"k={attrs_['k']} is larger than axis {axis} of {list(x.shape)}")
    shape = [attrs_["k"] if i == axis else d for i, d in enumerate(x.shape)]
    return [TensorType(shape, x.dtype), TensorType(shape, DType.i64)]


@define_op("TopK", inputs=("X",),
           attrs={"k": Attr("int", check=lambda v: "must be >= 0" if v < 0 else None),
                  "axis": Attr("int", -1), "largest": Attr("bool", True),
                  "sorted": Attr("bool", True)},
           infer=_topk_types)
def top_k(x, *, k, axis, largest, sorted):  # noqa: A002 - ONNX's attribute name
    """ONNX TopK: the k largest (or smallest) values along `axis` and their indices, in order,
    equal values by increasing index (the order is kept with sorted=false too)."""
    n = x.shape[axis]
    if largest:  # stable ascending sort of the reversed axis, read backwards
        order = n - 1 - np.flip(np.argsort(np.flip(x, axis), axis=axis, kind="stable"), axis)
    else:
        order = np.argsort(x, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)


def _scan_type(types, attrs_):
    x = types[0]
    if not (x.dtype.is_float or x.dtype.is_int):
        raise IRError(f"takes a numeric tensor, got {x.dtype.value}")
    normalize_axis(attrs_["axis"], x.rank)
    return x.without_quant()


def _scan(op: str, fn, identity, what: str):
    def kernel(x, *, axis, exclusive, reverse):
        y = np.flip(x, axis) if reverse else x
        out = fn(y, axis=axis, dtype=x.dtype)
        if exclusive:
            out = np.concatenate([identity(np.take(out, [0], axis=axis)),
                                  np.take(out, np.arange(out.shape[axis] - 1), axis=axis)],
                                 axis=axis)
        return np.asarray(np.flip(out, axis) if reverse else out, order="C")
    kernel.__doc__ = (f"ONNX {op}: running {what}s along `axis` in x's type, first to last (or "
                      f"last to first with reverse); exclusive leaves each element out of its "
                      f"own {what}.")
    return kernel


_SCAN_ATTRS = {"axis": Attr("int"), "exclusive": Attr("bool", False),
               "reverse": Attr("bool", False)}
define_op("CumSum", inputs=("X",), attrs=_SCAN_ATTRS, infer=_scan_type)(
    _scan("CumSum", np.cumsum, np.zeros_like, "sum"))
define_op("CumProd", inputs=("X",), attrs=_SCAN_ATTRS, infer=_scan_type)(
    _scan("CumProd", np.cumprod, np.ones_like, "product"))
