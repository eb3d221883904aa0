"""Data movement, casts and reductions. Shape-deciding operands (shape, axes, starts, pads,
repeats...) must be known at import time and become attributes of the core op."""

from __future__ import annotations

import math

import numpy as np

from ....ir.types import DType
from ..importer import invalid, ir_dtype, onnx_dtype, unsupported
from . import converter


def _axes(cx, attr_until: int, index: int, what="axes"):
    """Axes given as an attribute before opset `attr_until`, as input `index` from it on."""
    if cx.opset < attr_until:
        v = cx.attr(what)
        return None if v is None else [int(a) for a in v]
    v = cx.optional_static(index, what)
    return None if v is None else [int(a) for a in v.ravel()]


def normalize_axes(axes, rank):
    """Axes in [0, rank); invalid() for a non-integer or out-of-range one."""
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise invalid(f"axes must be integers, got {a!r}")
        if not -rank <= a < rank:
            raise invalid(f"axis {a} is out of range for rank {rank}")
        out.append(a % rank)
    return out


@converter("Identity")
def identity(cx):
    return cx.input(0)


@converter("Reshape")
def reshape(cx):
    x = cx.input(0)
    shape = cx.static(1, "shape").ravel().tolist()
    allowzero = cx.attr("allowzero", 0)
    in_shape = cx.shape(x)
    out = []
    for i, d in enumerate(shape):
        if d == 0 and not allowzero:
            if i >= len(in_shape):
                raise invalid(f"shape {shape} copies dim {i}, input has rank {len(in_shape)}")
            d = in_shape[i]
        out.append(int(d))
    if out.count(-1) > 1:
        raise invalid(f"shape {shape} has more than one -1")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        total = math.prod(in_shape)
        if known == 0 or total % known:
            raise invalid(f"cannot reshape {list(in_shape)} to {shape}")
        out[out.index(-1)] = total // known
    return cx.emit("Reshape", [x], shape=out)


@converter("Flatten")
def flatten(cx):
    return cx.emit("Flatten", [cx.input(0)], axis=cx.attr("axis", 1))


@converter("Transpose")
def transpose(cx):
    x = cx.input(0)
    perm = cx.attr("perm")
    if perm is None:
        perm = list(reversed(range(len(cx.shape(x)))))
    return cx.emit("Transpose", [x], perm=list(perm))


@converter("Squeeze")
def squeeze(cx):
    x = cx.input(0)
    shape = cx.shape(x)
    axes = _axes(cx, 13, 1)
    if axes is None:
        axes = [i for i, d in enumerate(shape) if d == 1]
    return cx.emit("Squeeze", [x], axes=normalize_axes(axes, len(shape)))


@converter("Unsqueeze")
def unsqueeze(cx):
    x = cx.input(0)
    axes = _axes(cx, 13, 1)
    if axes is None:
        raise invalid("axes is required")
    rank = len(cx.shape(x)) + len(axes)
    return cx.emit("Unsqueeze", [x], axes=sorted(normalize_axes(axes, rank)))


@converter("Concat")
def concat(cx):
    args = [h for h in cx.inputs if h is not None]
    rank = len(cx.shape(args[0]))
    return cx.emit("Concat", args, axis=normalize_axes([cx.attr("axis")], rank)[0])


@converter("Split")
def split(cx):
    x = cx.input(0)
    shape = cx.shape(x)
    axis = normalize_axes([cx.attr("axis", 0)], len(shape))[0]
    sizes = cx.attr("split") if cx.opset < 13 else cx.optional_static(1, "split")
    n = cx.num_outputs
    if sizes is not None:
        sizes = [int(s) for s in np.ravel(sizes)]
    else:
        num = cx.attr("num_outputs", n) if cx.opset >= 18 else n
        dim = shape[axis]
        if cx.opset >= 18:
            chunk = -(-dim // num)
            sizes = [chunk] * (dim // chunk) + ([dim % chunk] if dim % chunk else [])
        else:
            if dim % num:
                raise invalid(f"cannot split {dim} into {num} equal parts")
            sizes = [dim // num] * num
    out = cx.emit("Split", [x], axis=axis, split=sizes)
    return out if isinstance(out, tuple) else (out,)


@converter("Slice")
def slice_(cx):
    x = cx.input(0)
    if cx.opset < 10:
        starts, ends, axes = cx.attr("starts"), cx.attr("ends"), cx.attr("axes")
        steps = None
    else:
        starts = cx.static(1, "starts").ravel().tolist()
        ends = cx.static(2, "ends").ravel().tolist()
        axes = cx.optional_static(3, "axes")
        steps = cx.optional_static(4, "steps")
        axes = None if axes is None else axes.ravel().tolist()
        steps = None if steps is None else steps.ravel().tolist()
    rank = len(cx.shape(x))
    axes = list(range(len(starts))) if axes is None else normalize_axes(axes, rank)
    steps = [1] * len(starts) if steps is None else steps
    return cx.emit("Slice", [x], starts=[int(v) for v in starts], ends=[int(v) for v in ends],
                   axes=axes, steps=[int(v) for v in steps])


@converter("Pad")
def pad(cx):
    x = cx.input(0)
    rank = len(cx.shape(x))
    mode = cx.attr("mode", "constant")
    if mode not in ("constant", "reflect", "edge"):
        raise unsupported(f"mode={mode!r} is not supported (constant, reflect, edge)")
    if cx.opset < 11:
        pads = list(cx.attr("pads"))
        value = cx.attr("value", 0.0)
    else:
        pads = cx.static(1, "pads").ravel().tolist()
        v = cx.optional_static(2, "constant_value")
        value = 0.0 if v is None or v.size == 0 else v.reshape(()).item()
        axes = cx.optional_static(3, "axes") if cx.opset >= 18 else None
        if axes is not None:
            axes = normalize_axes(axes.ravel().tolist(), rank)
            full = [0] * (2 * rank)
            for i, a in enumerate(axes):
                full[a], full[a + rank] = pads[i], pads[i + len(axes)]
            pads = full
    if len(pads) != 2 * rank:
        raise invalid(f"pads {pads} must have {2 * rank} entries")
    if any(p < 0 for p in pads):  # negative pads crop: a Slice first
        shape = cx.shape(x)
        starts = [max(-p, 0) for p in pads[:rank]]
        ends = [shape[i] - max(-pads[rank + i], 0) for i in range(rank)]
        x = cx.emit("Slice", [x], starts=starts, ends=ends, axes=list(range(rank)),
                    steps=[1] * rank)
        pads = [max(p, 0) for p in pads]
    if not any(pads):
        return x if isinstance(x, np.ndarray) else cx.emit("Identity", [x])
    return cx.emit("Pad", [x], pads=[int(p) for p in pads], mode=mode, value=float(value))


@converter("Tile")
def tile(cx):
    repeats = cx.static(1, "repeats").ravel().tolist()
    return cx.emit("Tile", [cx.input(0)], repeats=[int(r) for r in repeats])


@converter("Expand")
def expand(cx):
    x = cx.input(0)
    shape = cx.static(1, "shape").ravel().tolist()
    try:
        out = np.broadcast_shapes(tuple(cx.shape(x)), tuple(int(d) for d in shape))
    except ValueError:
        raise invalid(f"cannot expand {list(cx.shape(x))} to {shape}") from None
    return cx.emit("Expand", [x], shape=list(out))


@converter("Gather")
def gather(cx):
    x, idx = cx.input(0), cx.input(1)
    axis = normalize_axes([cx.attr("axis", 0)], len(cx.shape(x)))[0]
    return cx.emit("Gather", [x, idx], axis=axis)


@converter("Cast")
def cast(cx):
    cx.ignore("saturate")  # only defined for float8 targets, which npucc does not have
    to = onnx_dtype(cx.attr("to"))
    return cx.emit("Cast", [cx.input(0)], to=ir_dtype(to, "the target of Cast"))


@converter("BitCast")
def bitcast(cx):
    """The input's bytes read as `to` (the same width; not bool or bf16)."""
    x = cx.input(0)
    to = ir_dtype(onnx_dtype(cx.attr("to")), "the BitCast target")
    if DType.bool in (to, ir_dtype(cx.np_dtype(x), "the BitCast input")) or to is DType.bf16:
        raise unsupported("BitCast from or to bool or bfloat16 is not supported")
    if to.numpy.itemsize != cx.np_dtype(x).itemsize:
        raise invalid(f"BitCast from {cx.np_dtype(x)} to {to.value}: the widths differ")
    return cx.emit("BitCast", [x], to=to)


@converter("CastLike")
def cast_like(cx):
    cx.ignore("saturate")
    to = cx.np_dtype(cx.input(1))
    return cx.emit("Cast", [cx.input(0)], to=ir_dtype(to, "the target of CastLike"))


# ---- reductions ----
_CORE_REDUCE = {"ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin", "ReduceProd", "ReduceL1",
                "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"}


def _unreduced(cx, x):
    """A reduction over no axes (noop_with_empty_axes): the elementwise part of the op's ONNX
    function body, as onnxruntime computes it (|x| for ReduceL1 and ReduceL2, x * x for
    ReduceSumSquare, log x for ReduceLogSum; x for the others)."""
    if cx.op_type in ("ReduceL1", "ReduceL2"):
        return cx.emit("Abs", [x])
    if cx.op_type == "ReduceSumSquare":
        return cx.emit("Mul", [x, x])
    if cx.op_type == "ReduceLogSum":
        return cx.emit("Log", [x])
    return x


@converter(*sorted(_CORE_REDUCE), "ReduceLogSum")
def reduce(cx):
    """The core reduction of the same name; ReduceLogSum is Log(ReduceSum)."""
    x = cx.input(0)
    rank = len(cx.shape(x))
    axes = _axes(cx, 13 if cx.op_type == "ReduceSum" else 18, 1)
    keepdims = cx.attr("keepdims", 1)
    noop = cx.attr("noop_with_empty_axes", 0)  # read even with axes: torch's exporter sets it
    log_sum = cx.op_type == "ReduceLogSum"
    if not axes:
        if noop:
            return _unreduced(cx, x)
        axes = list(range(rank))
    out = cx.emit("ReduceSum" if log_sum else cx.op_type, [x],
                  axes=sorted(normalize_axes(axes, rank)), keepdims=bool(keepdims))
    return cx.emit("Log", [out]) if log_sum else out


@converter("TopK")
def top_k(cx):
    x = cx.input(0)
    axis = normalize_axes([cx.attr("axis", -1)], len(cx.shape(x)))[0]
    k = cx.attr("k") if cx.opset < 10 else int(np.ravel(cx.static(1, "K"))[0])
    out = cx.emit("TopK", [x], k=int(k), axis=axis, largest=bool(cx.attr("largest", 1)),
                  sorted=bool(cx.attr("sorted", 1)))
    return out


@converter("CumSum", "CumProd")
def cum_sum(cx):
    x = cx.input(0)
    axis = normalize_axes([int(np.ravel(cx.static(1, "axis"))[0])], len(cx.shape(x)))[0]
    return cx.emit(cx.op_type, [x], axis=axis, exclusive=bool(cx.attr("exclusive", 0)),
                   reverse=bool(cx.attr("reverse", 0)))


@converter("GatherND")
def gather_nd(cx):
    return cx.emit("GatherND", [cx.input(0), cx.input(1)], batch_dims=cx.attr("batch_dims", 0))


@converter("GatherElements")
def gather_elements(cx):
    x = cx.input(0)
    axis = normalize_axes([cx.attr("axis", 0)], len(cx.shape(x)))[0]
    return cx.emit("GatherElements", [x, cx.input(1)], axis=axis)


@converter("Trilu")
def trilu(cx):
    k = cx.optional_static(1, "k")
    return cx.emit("Trilu", [cx.input(0)], k=int(np.ravel(k)[0]) if k is not None else 0,
                   upper=bool(cx.attr("upper", 1)))


@converter("ScatterND")
def scatter_nd(cx):
    return cx.emit("ScatterND", [cx.input(0), cx.input(1), cx.input(2)],
                   reduction=cx.attr("reduction", "none"))


@converter("ScatterElements", "Scatter")
def scatter_elements(cx):
    x = cx.input(0)
    axis = normalize_axes([cx.attr("axis", 0)], len(cx.shape(x)))[0]
    return cx.emit("ScatterElements", [x, cx.input(1), cx.input(2)], axis=axis,
                   reduction=cx.attr("reduction", "none"))


@converter("ArgMax", "ArgMin")
def arg_reduce(cx):
    x = cx.input(0)
    axis = normalize_axes([cx.attr("axis", 0)], len(cx.shape(x)))[0]
    return cx.emit(cx.op_type, [x], axis=axis, keepdims=bool(cx.attr("keepdims", 1)),
                   select_last_index=bool(cx.attr("select_last_index", 0)))


@converter("OneHot")
def one_hot(cx):
    """Where(indices == position along the new axis, on, off); a negative index counts from the
    end, one out of [-depth, depth) gives a row of off."""
    idx = cx.input(0)
    depth = cx.optional_scalar(1, "depth")
    if depth is None or depth != int(depth) or depth < 1:
        raise invalid(f"depth must be a positive integer, got {depth}")
    depth = int(depth)
    rank = len(cx.shape(idx)) + 1
    axis = normalize_axes([cx.attr("axis", -1)], rank)[0]
    values = cx.input(2)
    if math.prod(cx.shape(values)) != 2:
        raise invalid(f"values must hold [off, on], got shape {list(cx.shape(values))}")
    cx.check_size([*cx.shape(idx), depth], cx.np_dtype(values).itemsize, "the OneHot output")
    if cx.np_dtype(idx) != np.int64:
        idx = cx.emit("Cast", [idx], to=DType.i64)
    idx = cx.emit("Unsqueeze", [idx], axes=[axis])
    at = np.arange(depth, dtype=np.int64).reshape([depth] + [1] * (rank - 1 - axis))
    hot = cx.emit("Or", [cx.emit("Equal", [idx, at]), cx.emit("Equal", [idx, at - depth])])
    values = cx.emit("Reshape", [values], shape=[2])
    off, on = (cx.emit("Gather", [values, np.asarray(i, np.int64)], axis=0) for i in (0, 1))
    return cx.emit("Where", [hot, on, off])


@converter("ReverseSequence")
def reverse_sequence(cx):
    """A Gather over the merged (time, batch) axes: position t of batch b reads
    lens[b] - 1 - t for t < lens[b], else t."""
    x = cx.input(0)
    shape = list(cx.shape(x))
    t_axis, b_axis = cx.attr("time_axis", 0), cx.attr("batch_axis", 1)
    if len(shape) < 2 or {t_axis, b_axis} != {0, 1}:
        raise invalid(f"time_axis {t_axis} and batch_axis {b_axis} must be 0 and 1 (in either "
                      f"order) of a tensor of rank >= 2, got shape {shape}")
    steps, batch = shape[t_axis], shape[b_axis]

    def grid(n, axis):  # arange(n) along axis of the 2-D [shape[0], shape[1]]
        return np.arange(n, dtype=np.int64).reshape([n, 1] if axis == 0 else [1, n])
    lens = cx.input(1)
    if isinstance(lens, np.ndarray) and np.any((lens < 1) | (lens > steps)):
        raise invalid(f"sequence_lens {lens.ravel().tolist()} must be in [1, {steps}]")
    lens = cx.emit("Reshape", [cx.emit("Cast", [lens], to=DType.i64)],
                   shape=[batch, 1] if b_axis == 0 else [1, batch])
    t = grid(steps, t_axis)
    last = cx.emit("Sub", [lens, np.asarray(1, np.int64)])
    src = cx.emit("Where", [cx.emit("Less", [t, lens]), cx.emit("Sub", [last, t]), t])
    b = grid(batch, b_axis)
    row, col = (src, b) if t_axis == 0 else (b, src)
    flat = cx.emit("Add", [cx.emit("Mul", [row, np.asarray(shape[1], np.int64)]), col])
    flat = cx.emit("Reshape", [flat], shape=[shape[0] * shape[1]])
    merged = cx.emit("Reshape", [x], shape=[shape[0] * shape[1]] + shape[2:])
    return cx.emit("Reshape", [cx.emit("Gather", [merged, flat], axis=0)], shape=shape)


@converter("CenterCropPad")
def center_crop_pad(cx):
    """A centred Slice of the axes that shrink, then a centred zero Pad of those that grow (the
    odd element at the end)."""
    x = cx.input(0)
    shape = list(cx.shape(x))
    rank = len(shape)
    target = [int(v) for v in cx.static(1, "shape").ravel()]
    axes = normalize_axes(cx.attr("axes", list(range(rank))), rank)
    if len(target) != len(axes) or min(target, default=1) < 0:
        raise invalid(f"shape {target} must give a size >= 0 for each of the axes {axes}")
    want = list(shape)
    for a, t in zip(axes, target):
        want[a] = t
    cx.check_size(want, cx.np_dtype(x).itemsize, "the CenterCropPad output")
    starts = [max(d - t, 0) // 2 for d, t in zip(shape, want)]
    ends = [s + min(d, t) for s, d, t in zip(starts, shape, want)]
    if starts != [0] * rank or ends != shape:
        x = cx.emit("Slice", [x], starts=starts, ends=ends, axes=list(range(rank)),
                    steps=[1] * rank)
    grow = [max(t - d, 0) for d, t in zip(shape, want)]
    if not any(grow):
        return x
    return cx.emit("Pad", [x], pads=[g // 2 for g in grow] + [g - g // 2 for g in grow],
                   mode="constant", value=0.0)


@converter("Compress")
def compress(cx):
    """A Gather of the positions where the condition (known at import time) is true, along axis
    (of the flattened input without one); positions past the condition's length are dropped."""
    x = cx.input(0)
    cond = cx.static(1, "condition").ravel().astype(bool)
    axis = cx.attr("axis")
    if axis is None:
        x = cx.emit("Reshape", [x], shape=[math.prod(cx.shape(x))])
        axis = 0
    axis = normalize_axes([axis], len(cx.shape(x)))[0]
    if len(cond) > cx.shape(x)[axis]:
        raise invalid(f"condition has {len(cond)} entries, axis {axis} has "
                      f"{cx.shape(x)[axis]}")
    if not cond.any():
        raise unsupported("the condition selects nothing: npucc tensors are not empty")
    return cx.emit("Gather", [x, np.nonzero(cond)[0].astype(np.int64)], axis=axis)
