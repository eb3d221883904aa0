"""Element indexing by index tensors: GatherND, GatherElements, ScatterND, ScatterElements
(negative indices count from the end; an index out of range is an error); and by position:
Trilu."""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.quant_rule import SAME
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import TensorType

from .shape import normalize_axis


def _in_range(idx: np.ndarray, dims, what: str) -> np.ndarray:
    """idx (int64) with negative entries counted from the end of `dims` (broadcast against the
    last axis of idx, or a scalar); IRError if any is out of range."""
    dims = np.asarray(dims, np.int64)
    idx = idx.astype(np.int64)
    if idx.size and (np.any(idx < -dims) or np.any(idx >= dims)):
        raise IRError(f"{what} indices out of range for axes {np.ravel(dims).tolist()}")
    return np.where(idx < 0, idx + dims, idx)


# ---- GatherND ----
def _gather_nd_type(types, attrs_):
    data, idx = types
    b = attrs_["batch_dims"]
    if not idx.dtype.is_int:
        raise IRError(f"indices must be integers, got {idx.dtype.value}")
    if idx.rank < 1 or not b < min(data.rank, idx.rank) or idx.shape[:b] != data.shape[:b]:
        raise IRError(f"indices {list(idx.shape)} do not fit data {list(data.shape)} with "
                      f"batch_dims={b}")
    last = idx.shape[-1]
    if b + last > data.rank:
        raise IRError(f"indices address {last} axes past the {b} batch axes of a rank-{data.rank} "
                      "tensor")
    return TensorType(idx.shape[:-1] + data.shape[b + last:], data.dtype, data.quant)


@define_op("GatherND", inputs=("X", "indices"), attrs={"batch_dims": Attr("int", 0)},
           infer=_gather_nd_type, quant=SAME)
def gather_nd(x, indices, *, batch_dims):
    """ONNX GatherND: slices of x addressed by the last axis of `indices` (negative indices count
    from the end), after `batch_dims` leading axes shared by x and indices."""
    b, last = batch_dims, indices.shape[-1]
    idx = _in_range(indices, x.shape[b:b + last], "GatherND")
    batch = int(np.prod(x.shape[:b], dtype=np.int64))
    xs = x.reshape((batch,) + x.shape[b:])
    ids = idx.reshape((batch, -1, last))
    rows = np.arange(batch)[:, None]
    out = xs[(rows, *np.moveaxis(ids, -1, 0))]
    return out.reshape(indices.shape[:-1] + x.shape[b + last:])


# ---- GatherElements ----
def _gather_elements_type(types, attrs_):
    data, idx = types
    normalize_axis(attrs_["axis"], data.rank)
    if not idx.dtype.is_int or idx.rank != data.rank:
        raise IRError(f"indices must be integers of the rank of data {list(data.shape)}, got "
                      f"{idx.dtype.value}{list(idx.shape)}")
    return TensorType(idx.shape, data.dtype, data.quant)


@define_op("GatherElements", inputs=("X", "indices"), attrs={"axis": Attr("int", 0)},
           infer=_gather_elements_type, quant=SAME)
def gather_elements(x, indices, *, axis):
    """ONNX GatherElements: out[i][j][k] = x[indices[i][j][k]][j][k] along axis 0 (likewise for
    the other axes); indices may be smaller than x on every axis."""
    idx = _in_range(indices, x.shape[axis], "GatherElements")
    rest = [np.arange(n).reshape([-1 if a == k else 1 for k in range(x.ndim)])
            for a, n in enumerate(idx.shape)]
    rest[axis] = idx
    return x[tuple(rest)]


# ---- ScatterND / ScatterElements ----
_REDUCTIONS = {"none": None, "add": np.add, "mul": np.multiply, "max": np.maximum,
               "min": np.minimum}


def _scatter_nd_type(types, attrs_):
    data, idx, upd = types
    last = idx.shape[-1] if idx.rank else 0
    if not idx.dtype.is_int or idx.rank < 1 or last > data.rank:
        raise IRError(f"indices {idx.dtype.value}{list(idx.shape)} do not address data "
                      f"{list(data.shape)}")
    want = idx.shape[:-1] + data.shape[last:]
    if upd.shape != want or upd.dtype != data.dtype:
        raise IRError(f"updates must be {data.dtype.value}{list(want)}, got "
                      f"{upd.dtype.value}{list(upd.shape)}")
    return data.without_quant()


def _scatter(out: np.ndarray, where: tuple, updates: np.ndarray, reduction: str) -> np.ndarray:
    fn = _REDUCTIONS[reduction]
    if fn is None:
        out[where] = updates  # repeated indices: the last update wins
    else:
        fn.at(out, where, updates)
    return out


_REDUCTION_ATTR = Attr("str", "none", choices=tuple(_REDUCTIONS),
                       doc="how an update combines with the element it lands on")


@define_op("ScatterND", inputs=("X", "indices", "updates"),
           attrs={"reduction": _REDUCTION_ATTR}, infer=_scatter_nd_type)
def scatter_nd(x, indices, updates, *, reduction):
    """ONNX ScatterND: a copy of x with the slices the last axis of `indices` addresses replaced
    by (or, with `reduction`, combined with) `updates`."""
    last = indices.shape[-1]
    idx = _in_range(indices, x.shape[:last], "ScatterND").reshape(-1, last)
    upd = updates.reshape((idx.shape[0],) + x.shape[last:])
    return _scatter(x.copy(), tuple(idx.T), upd, reduction)


def _scatter_elements_type(types, attrs_):
    data, idx, upd = types
    normalize_axis(attrs_["axis"], data.rank)
    if not idx.dtype.is_int or idx.rank != data.rank or upd.shape != idx.shape or \
            upd.dtype != data.dtype:
        raise IRError(f"indices and updates must have one shape of the rank of data "
                      f"{list(data.shape)}, got {list(idx.shape)} and {list(upd.shape)}")
    return data.without_quant()


@define_op("ScatterElements", inputs=("X", "indices", "updates"),
           attrs={"axis": Attr("int", 0), "reduction": _REDUCTION_ATTR},
           infer=_scatter_elements_type)
def scatter_elements(x, indices, updates, *, axis, reduction):
    """ONNX ScatterElements: out = x, then out[indices[i][j]][j] = updates[i][j] along axis 0
    (likewise for the other axes), or combined with `reduction`."""
    idx = _in_range(indices, x.shape[axis], "ScatterElements")
    where = [np.broadcast_to(np.arange(n).reshape([-1 if a == k else 1 for k in range(x.ndim)]),
                             idx.shape) for a, n in enumerate(idx.shape)]
    where[axis] = idx
    return _scatter(x.copy(), tuple(where), updates, reduction)


# ---- Trilu ----
def _trilu_type(types, attrs_):
    x = types[0]
    if x.rank < 2:
        raise IRError(f"takes a tensor of rank >= 2, got {list(x.shape)}")
    return x


@define_op("Trilu", inputs=("X",), attrs={"k": Attr("int", 0), "upper": Attr("bool", True)},
           infer=_trilu_type, quant=SAME)
def trilu(x, *, k, upper):
    """ONNX Trilu: the upper (or lower) triangle of the last two axes from diagonal k on, zeros
    elsewhere."""
    return (np.triu(x, k) if upper else np.tril(x, k)).astype(x.dtype, copy=False)
