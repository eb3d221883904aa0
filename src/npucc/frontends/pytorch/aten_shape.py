"""ATen converters of shapes and data movement (view, permute, cat, slice, pad, ...), reductions,
copies and constants."""

from __future__ import annotations

import math

import numpy as np
import torch

from ... import limits
from ...ir import Value
from ...ir.types import DType
from ..builder import static_arange, static_full
from .context import ATEN, _Invalid, _np_dtype, _Unsupported, aten


def _norm_dim(d, rank):
    if not -rank <= d < max(rank, 1):
        raise _Invalid(f"dim {d} out of range for rank {rank}")
    return d % rank if rank else 0


@aten("aten.view.default", "aten._unsafe_view.default", "aten.reshape.default")
def _view(cx, x, size):
    size = list(size)
    if -1 in size:
        known = math.prod(d for d in size if d != -1)
        size[size.index(-1)] = math.prod(cx.shape(x)) // known if known else 0
    return cx.emit("Reshape", [x], shape=size)


def _storage_positions(sizes, strides, offset) -> np.ndarray:
    """The storage index of each element of a strided view, in row-major order."""
    pos = np.full(tuple(sizes), offset, np.int64)
    for d, (n, st) in enumerate(zip(sizes, strides)):
        pos += (np.arange(n, dtype=np.int64) * st).reshape([n if i == d else 1
                                                            for i in range(len(sizes))])
    return pos.ravel()


@aten("aten.as_strided.default")
def _as_strided(cx, x, size, stride, storage_offset=None):
    """A view of x's storage. Decompositions use it to restride a tensor (a channels-last
    mean, for one); x's own layout is its fake tensor's in the program, and each storage
    position read must hold an element of x. A view in x's element order is a Reshape, any
    other a Gather."""
    val = cx.node.args[0].meta.get("val")
    if val is None or list(val.shape) != list(cx.shape(x)):
        raise _Unsupported("as_strided of a tensor whose strides the program does not give")
    offset = val.storage_offset() if storage_offset is None else storage_offset
    limits.check_shape(list(size), 8, "the index of aten.as_strided")
    src = _storage_positions(val.shape, val.stride(), val.storage_offset())
    want = _storage_positions(size, stride, offset)
    if want.size and want.min() < 0:
        raise _Invalid(f"as_strided with negative strides {list(stride)}")
    top = int(max(src.max(initial=0), want.max(initial=0))) + 1
    limits.check_shape([top], 8, "the storage of aten.as_strided")
    element = np.full(top, -1, np.int64)
    element[src] = np.arange(src.size)
    index = element[want]
    if (index < 0).any():
        raise _Unsupported(f"as_strided (sizes {list(size)}, strides {list(stride)}, offset "
                           f"{offset}) reads storage its input does not cover")
    if np.array_equal(index, np.arange(index.size)):
        return cx.emit("Reshape", [x], shape=list(size))
    flat = cx.emit("Reshape", [x], shape=[math.prod(cx.shape(x))])
    return cx.emit("Gather", [flat, index.reshape(tuple(size))], axis=0)


@aten("aten.permute.default")
def _permute(cx, x, dims):
    rank = len(cx.shape(x))
    return cx.emit("Transpose", [x], perm=[_norm_dim(d, rank) for d in dims])


@aten("aten.cat.default")
def _cat(cx, tensors, dim=0):
    tensors = [t for t in tensors if math.prod(cx.shape(t)) or len(tensors) == 1]
    return cx.emit("Concat", tensors, axis=_norm_dim(dim, len(cx.shape(tensors[0]))))


@aten("aten.split_with_sizes.default", "aten.split.Tensor")
def _split(cx, x, sizes, dim=0):
    dim = _norm_dim(dim, len(cx.shape(x)))
    n = cx.shape(x)[dim]
    if isinstance(sizes, int):
        sizes = [sizes] * (n // sizes) + ([n % sizes] if n % sizes else [])
    out = cx.emit("Split", [x], axis=dim, split=list(sizes))
    return out if isinstance(out, tuple) else (out,)


@aten("aten.slice.Tensor")
def _slice(cx, x, dim=0, start=None, end=None, step=1):
    rank = len(cx.shape(x))
    return cx.emit("Slice", [x], starts=[0 if start is None else start],
                   ends=[2**63 - 1 if end is None else end], axes=[_norm_dim(dim, rank)],
                   steps=[step])


@aten("aten.slice_scatter.default")
def _slice_scatter(cx, x, src, dim=0, start=None, end=None, step=1):
    """x with x[start:end:step] along dim replaced by src: a Concat around src for a step of
    1, a ScatterElements otherwise."""
    shape = list(cx.shape(x))
    dim = _norm_dim(dim, len(shape))
    rows = list(range(shape[dim]))[slice(start, end, step)]
    if list(cx.shape(src)) != shape[:dim] + [len(rows)] + shape[dim + 1:]:
        raise _Invalid(f"slice_scatter of a {list(cx.shape(src))} source into {len(rows)} "
                       f"rows of dim {dim} of {shape}")
    if not rows:
        return x
    if rows == list(range(rows[0], rows[-1] + 1)):
        part = dict(axes=[dim], steps=[1])
        pieces = [cx.emit("Slice", [x], starts=[0], ends=[rows[0]], **part)] if rows[0] else []
        pieces.append(src)
        if rows[-1] + 1 < shape[dim]:
            pieces.append(cx.emit("Slice", [x], starts=[rows[-1] + 1], ends=[shape[dim]], **part))
        return pieces[0] if len(pieces) == 1 else cx.emit("Concat", pieces, axis=dim)
    index = np.broadcast_to(np.asarray(rows, np.int64).reshape(
        [-1 if d == dim else 1 for d in range(len(shape))]), cx.shape(src))
    return cx.emit("ScatterElements", [x, np.ascontiguousarray(index), src], axis=dim)


@aten("aten.select_scatter.default")
def _select_scatter(cx, x, src, dim, index):
    dim = _norm_dim(dim, len(cx.shape(x)))
    index = index % cx.shape(x)[dim]
    return _slice_scatter(cx, x, cx.emit("Unsqueeze", [src], axes=[dim]), dim, index, index + 1)


@aten("aten.copy.default")
def _copy(cx, x, src, non_blocking=False):
    """x's values replaced by src (broadcast, in x's dtype)."""
    if cx.np_dtype(src) != cx.np_dtype(x):
        src = cx.emit("Cast", [src], to=DType.from_numpy(cx.np_dtype(x)))
    if cx.shape(src) == cx.shape(x):
        return src
    return cx.emit("Expand", [src], shape=list(cx.shape(x)))


@aten("aten.flip.default")
def _flip(cx, x, dims):
    rank = len(cx.shape(x))
    axes = sorted({_norm_dim(d, rank) for d in dims})
    if not axes:
        return x
    n = len(axes)
    return cx.emit("Slice", [x], starts=[-1] * n, ends=[-(2 ** 62)] * n, axes=axes, steps=[-1] * n)


@aten("aten.repeat.default")
def _repeat(cx, x, repeats):
    """Tile; more repeats than dims first prepends dims of size 1, as torch does."""
    shape = list(cx.shape(x))
    if len(repeats) < len(shape):
        raise _Invalid(f"repeat takes at least {len(shape)} counts, got {list(repeats)}")
    if len(repeats) > len(shape):
        x = cx.emit("Reshape", [x], shape=[1] * (len(repeats) - len(shape)) + shape)
    return cx.emit("Tile", [x], repeats=[int(r) for r in repeats])


@aten("aten.topk.default")
def _topk(cx, x, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - torch's argument name
    return cx.emit("TopK", [x], k=int(k), axis=_norm_dim(dim, len(cx.shape(x))),
                   largest=bool(largest), sorted=bool(sorted))


@aten("aten.select.int")
def _select(cx, x, dim, index):
    dim = _norm_dim(dim, len(cx.shape(x)))
    index = index % cx.shape(x)[dim]
    y = cx.emit("Slice", [x], starts=[index], ends=[index + 1], axes=[dim], steps=[1])
    return cx.emit("Squeeze", [y], axes=[dim])


@aten("aten.index_select.default")
def _index_select(cx, x, dim, index):
    return cx.emit("Gather", [x, index], axis=_norm_dim(dim, len(cx.shape(x))))


@aten("aten.gather.default")
def _gather(cx, x, dim, index, sparse_grad=False):
    return cx.emit("GatherElements", [x, index], axis=_norm_dim(dim, len(cx.shape(x))))


@aten("aten.scatter.src", "aten.scatter.value")
def _scatter(cx, x, dim, index, src):
    """A copy of x with x[..., index[i][j], ...] = src[i][j] along dim (a number: everywhere
    index points)."""
    if not isinstance(src, Value):
        src = np.full(cx.shape(index), src, cx.np_dtype(x))
    return cx.emit("ScatterElements", [x, index, src], axis=_norm_dim(dim, len(cx.shape(x))))


@aten("aten.index_put.default")
def _index_put(cx, x, indices, values, accumulate=False):
    """x[i0, i1, ...] = values (added with `accumulate`) for integer index tensors on the
    leading dims: one ScatterND over the broadcast indices (negatives from the end)."""
    k = len(indices)
    if any(i is None for i in indices) or not k:
        raise _Unsupported("index_put with an index on a later dim only")
    if any(not np.issubdtype(cx.np_dtype(i), np.integer) or cx.np_dtype(i) == np.uint8
           for i in indices):
        raise _Unsupported("index_put with a boolean mask (its size depends on the data)")
    shape = list(cx.shape(x))
    common = list(np.broadcast_shapes(*(tuple(cx.shape(i)) for i in indices)))
    parts = []
    for d, i in enumerate(indices):
        i = cx.emit("Mod", [cx.cast(i, np.int64), np.asarray(shape[d], np.int64)])
        if list(cx.shape(i)) != common:
            i = cx.emit("Expand", [i], shape=common)
        parts.append(cx.emit("Reshape", [i], shape=common + [1]))
    idx = parts[0] if k == 1 else cx.emit("Concat", parts, axis=len(common))
    values = cx.cast(values, cx.np_dtype(x))
    if list(cx.shape(values)) != common + shape[k:]:
        values = cx.emit("Expand", [values], shape=common + shape[k:])
    return cx.emit("ScatterND", [x, idx, values], reduction="add" if accumulate else "none")


@aten("aten.embedding.default")
def _embedding(cx, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """Rows of the table (padding_idx and the gradient options matter to training only)."""
    return cx.emit("Gather", [weight, indices], axis=0)


@aten("aten.index.Tensor")
def _index(cx, x, indices):
    """x[i0, i1, ...] with integer index tensors (None: the whole dim). The indexed dims are
    merged into one and gathered by the combined index. Like numpy, torch puts the index's dims
    where the indexed dims were when those are adjacent, and first otherwise."""
    shape = list(cx.shape(x))
    dims = [d for d, i in enumerate(indices) if i is not None]
    if any(not np.issubdtype(cx.np_dtype(indices[d]), np.integer) or
           cx.np_dtype(indices[d]) == np.uint8 for d in dims):
        raise _Unsupported("indexing with a boolean mask (its result's size depends on the data)")
    if len(dims) == 1:
        return cx.emit("Gather", [x, indices[dims[0]]], axis=dims[0])
    start = dims[0]
    if dims != list(range(start, start + len(dims))):
        perm = dims + [d for d in range(len(shape)) if d not in dims]
        x, shape, start = cx.emit("Transpose", [x], perm=perm), [shape[d] for d in perm], 0
    flat = None
    for d in dims:  # the row-major index over the indexed dims, negatives counted from the end
        n = np.asarray(shape[start + dims.index(d)], np.int64)
        i = indices[d]
        i = cx.emit("Mod", [i if cx.np_dtype(i) == np.int64 else
                            cx.emit("Cast", [i], to=DType.i64), n])
        flat = i if flat is None else cx.emit("Add", [cx.emit("Mul", [flat, n]), i])
    end = start + len(dims)
    merged = shape[:start] + [math.prod(shape[start:end])] + shape[end:]
    return cx.emit("Gather", [cx.emit("Reshape", [x], shape=merged), flat], axis=start)


@aten("aten.unsqueeze.default")
def _unsqueeze(cx, x, dim):
    return cx.emit("Unsqueeze", [x], axes=[_norm_dim(dim, len(cx.shape(x)) + 1)])


@aten("aten.squeeze.dims", "aten.squeeze.dim", "aten.squeeze.default")
def _squeeze(cx, x, dims=None):
    shape = cx.shape(x)
    dims = range(len(shape)) if dims is None else [dims] if isinstance(dims, int) else dims
    axes = sorted({_norm_dim(d, len(shape)) for d in dims if shape[_norm_dim(d, len(shape))] == 1})
    return cx.emit("Squeeze", [x], axes=axes) if axes else x


@aten("aten.expand.default")
def _expand(cx, x, size, implicit=False):
    shape = cx.shape(x)
    lead = len(size) - len(shape)
    out = [s if s != -1 else shape[i - lead] for i, s in enumerate(size)]
    return cx.emit("Expand", [x], shape=out)


@aten("aten.constant_pad_nd.default")
def _constant_pad(cx, x, pad, value=0):
    rank = len(cx.shape(x))
    begins, ends = [0] * rank, [0] * rank
    for i in range(len(pad) // 2):  # torch lists (begin, end) pairs from the last dim backwards
        begins[rank - 1 - i], ends[rank - 1 - i] = pad[2 * i], pad[2 * i + 1]
    if any(p < 0 for p in begins + ends):
        shape = cx.shape(x)
        x = cx.emit("Slice", [x], starts=[max(-b, 0) for b in begins],
                    ends=[shape[i] - max(-e, 0) for i, e in enumerate(ends)],
                    axes=list(range(rank)), steps=[1] * rank)
        begins, ends = [max(b, 0) for b in begins], [max(e, 0) for e in ends]
    return cx.emit("Pad", [x], pads=begins + ends, mode="constant", value=float(value))


def _reduce(core_op):
    def convert(cx, x, dim=None, keepdim=False, dtype=None):
        rank = len(cx.shape(x))
        dims = [dim] if isinstance(dim, int) else list(range(rank)) if not dim else dim
        return cx.emit(core_op, [x], axes=sorted({_norm_dim(d, rank) for d in dims}),
                       keepdims=keepdim)
    return convert


for _aten, _core in [("mean.dim", "ReduceMean"), ("sum.dim_IntList", "ReduceSum"),
                     ("amax.default", "ReduceMax"), ("amin.default", "ReduceMin")]:
    ATEN[f"aten.{_aten}"] = _reduce(_core)


@aten("aten.mean.default", "aten.sum.default")
def _reduce_all(cx, x, dtype=None):
    core_op = "ReduceMean" if cx.lowering.current_target == "aten.mean.default" else "ReduceSum"
    if dtype is not None and _np_dtype(dtype) != cx.np_dtype(x):
        x = cx.emit("Cast", [x], to=DType.from_numpy(_np_dtype(dtype)))
    return _reduce(core_op)(cx, x)


@aten("aten.var.correction", "aten.std.correction")
def _var_std(cx, x, dim=None, correction=None, keepdim=False):
    """The mean squared deviation over `dim`, divided by n - correction instead of n (torch's
    default correction 1: the unbiased estimate); std is its square root."""
    shape = cx.shape(x)
    rank = len(shape)
    dims = sorted({_norm_dim(d, rank) for d in ([dim] if isinstance(dim, int) else
                                               (dim or range(rank)))})
    n = math.prod(shape[d] for d in dims)
    correction = 1 if correction is None else correction
    dev = cx.emit("Sub", [x, cx.emit("ReduceMean", [x], axes=dims, keepdims=True)])
    y = cx.emit("ReduceSum", [cx.emit("Mul", [dev, dev])], axes=dims, keepdims=bool(keepdim))
    y = cx.emit("Div", [y, np.asarray(max(n - correction, 0), cx.np_dtype(x))])
    return cx.emit("Sqrt", [y]) if cx.lowering.current_target.startswith("aten.std") else y


@aten("aten.argmax.default", "aten.argmin.default")
def _arg_extreme(cx, x, dim=None, keepdim=False):
    """The first index of the max / min along `dim` (of the flattened tensor without one)."""
    core_op = "ArgMax" if cx.lowering.current_target == "aten.argmax.default" else "ArgMin"
    if dim is None:
        flat = cx.emit("Reshape", [x], shape=[math.prod(cx.shape(x))])
        y = cx.emit(core_op, [flat], axis=0, keepdims=False)
        return cx.emit("Reshape", [y], shape=[1] * len(cx.shape(x))) if keepdim else y
    return cx.emit(core_op, [x], axis=_norm_dim(dim, len(cx.shape(x))), keepdims=bool(keepdim))


@aten("aten.cumsum.default", "aten.cumprod.default")
def _cumulative(cx, x, dim, dtype=None):
    """Running sum / product along `dim`; an integer or bool tensor accumulates in int64 (as
    torch does), or in `dtype` when given."""
    core_op = "CumSum" if cx.lowering.current_target == "aten.cumsum.default" else "CumProd"
    want = DType.from_numpy(_np_dtype(dtype)) if dtype is not None else (
        None if np.issubdtype(cx.np_dtype(x), np.floating) else DType.i64)
    if want is not None and want.numpy != cx.np_dtype(x):
        x = cx.emit("Cast", [x], to=want)
    return cx.emit(core_op, [x], axis=_norm_dim(dim, len(cx.shape(x))))


@aten("aten.any.dim", "aten.any.dims", "aten.any.default", "aten.all.dim", "aten.all.dims",
      "aten.all.default")
def _any_all(cx, x, dim=None, keepdim=False):
    """any / all: the max / min over x != 0 as bytes."""
    if cx.np_dtype(x) != np.bool_:
        x = cx.emit("Not", [cx.emit("Equal", [x, np.zeros((), cx.np_dtype(x))])])
    core_op = "ReduceMax" if cx.lowering.current_target.startswith("aten.any") else "ReduceMin"
    y = _reduce(core_op)(cx, cx.emit("Cast", [x], to=DType.u8), dim, keepdim)
    return cx.emit("Cast", [y], to=DType.bool)


@aten("aten.clone.default", "aten.alias.default", "aten.detach.default",
      "aten.lift_fresh_copy.default", "aten.contiguous.default")
def _identity(cx, x, *args, **kwargs):
    return x


@aten("aten.dropout.default")
def _dropout(cx, x, p, train):
    if train:
        raise _Unsupported("dropout in training mode")
    return x


@aten("aten._to_copy.default", "aten.to.dtype")
def _to_copy(cx, x, dtype=None, **kwargs):
    if dtype is None or _np_dtype(dtype) == cx.np_dtype(x):
        return x
    return cx.emit("Cast", [x], to=DType.from_numpy(_np_dtype(dtype)))


@aten("aten.full.default")
def _full(cx, size, fill_value, dtype=None, **kwargs):
    return static_full([int(d) for d in size], fill_value, _np_dtype(dtype or torch.float32),
                       "the result of aten.full")


@aten("aten.full_like.default")
def _full_like(cx, x, fill_value, dtype=None, **kwargs):
    dtype = cx.np_dtype(x) if dtype is None else _np_dtype(dtype)
    return static_full(list(cx.shape(x)), fill_value, dtype, "the result of aten.full_like")


@aten("aten.scalar_tensor.default")
def _scalar_tensor(cx, value, dtype=None, **kwargs):
    return np.asarray(value, dtype=_np_dtype(dtype or torch.float32))


@aten("aten.arange.start_step", "aten.arange.default", "aten.arange.start")
def _arange(cx, *args, dtype=None, **kwargs):
    start, end, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
    return static_arange(start, end, step, "the result of aten.arange",
                         _np_dtype(dtype) if dtype is not None else None)


@aten("aten._local_scalar_dense.default", "aten.item.default")
def _item(cx, x):
    if not isinstance(x, np.ndarray):
        raise _Unsupported("reading a tensor computed at run time as a python number")
    return x.reshape(()).item()


@aten("aten.sym_size.int")
def _sym_size(cx, x, dim):
    return cx.shape(x)[dim]
