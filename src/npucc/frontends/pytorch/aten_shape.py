"""ATen converters of shapes and data movement (view, permute, cat, slice, pad, ...), reductions,
copies and constants."""

from __future__ import annotations

import math

import numpy as np
import torch

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


@aten("aten.select.int")
def _select(cx, x, dim, index):
    dim = _norm_dim(dim, len(cx.shape(x)))
    index = index % cx.shape(x)[dim]
    y = cx.emit("Slice", [x], starts=[index], ends=[index + 1], axes=[dim], steps=[1])
    return cx.emit("Squeeze", [y], axes=[dim])


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
        dims = list(range(rank)) if not dim else [dim] if isinstance(dim, int) else dim
        return cx.emit(core_op, [x], axes=sorted({_norm_dim(d, rank) for d in dims}),
                       keepdims=keepdim)
    return convert


for _aten, _core in [("mean.dim", "ReduceMean"), ("sum.dim_IntList", "ReduceSum"),
                     ("amax.default", "ReduceMax"), ("amin.default", "ReduceMin")]:
    ATEN[f"aten.{_aten}"] = _reduce(_core)


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
