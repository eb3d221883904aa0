"""Converters of operators that move data: pad, concatenate, reshape, slice, transpose, tile,
gather, resize, depth/space."""

from __future__ import annotations

import numpy as np
import tflite

from ... import limits
from ...errors import LimitError
from ...ir.types import DType
from ..tf_common import (
    TO_NCHW,
    Builder,
    ConversionError,
    Handle,
    axis_index,
    batch_to_space,
    block_operands,
    nhwc_shape,
    quant_of,
    resize_attrs,
    shape_of,
    space_to_batch,
    strided_slice,
)
from .conv import dilated_conv


def _pad(imp, op):
    pads = op.static(1, "paddings").reshape(-1, 2)
    attrs = {"pads": tuple(int(v) for v in pads[:, 0]) + tuple(int(v) for v in pads[:, 1])}
    if op.name == "MIRROR_PAD":
        o = op.options(tflite.MirrorPadOptions, required=True)
        if o.Mode() != tflite.MirrorPadMode.REFLECT:
            return symmetric_pad(imp.b, op.input(0), pads, op.label, quant_of(op.input(0)))
        attrs["mode"] = "reflect"
    elif op.name == "PADV2" and op.has(2):
        v = op.static(2, "constant value").reshape(-1)[0]
        t = op.tensor(2)
        if t.quant is not None:
            v = (float(v) - t.quant.zero_point[0]) * t.quant.scale[0]
        attrs["value"] = float(v)
    return imp.emit(op, "Pad", [op.input(0)], attrs)


def symmetric_pad(b: Builder, x: Handle, pads, label, quant) -> Handle:
    """MirrorPad SYMMETRIC (edge repeated) as reversed slices concatenated around x."""
    for axis, (lo, hi) in enumerate(pads):
        lo, hi = int(lo), int(hi)
        if not lo and not hi:
            continue
        n = shape_of(x)[axis]
        parts = []
        if lo:
            parts.append(b.emit("Slice", [x], {"starts": (lo - 1,), "ends": (-n - 1,),
                                               "axes": (axis,), "steps": (-1,)},
                                label=label, quant=quant))
        parts.append(x)
        if hi:
            parts.append(b.emit("Slice", [x], {"starts": (n - 1,), "ends": (n - hi - 1,),
                                               "axes": (axis,), "steps": (-1,)},
                                label=label, quant=quant))
        x = b.emit("Concat", parts, {"axis": axis}, label=label, quant=quant)
    return x


def concatenation(imp, op):
    o = op.options(tflite.ConcatenationOptions, required=True)
    xs = [op.input(i) for i in range(len(op.in_idx))]
    axis = o.Axis() % len(shape_of(xs[0]))
    y = imp.emit(op, "Concat", xs, {"axis": axis})
    return imp.activation(op, y, o.FusedActivationFunction())


def _new_shape(op, x) -> tuple[int, ...]:
    shape = None
    if op.has(1):
        try:
            shape = op.ints(1, "shape")
        except ConversionError:
            shape = None
    if shape is None:
        o = op.options(tflite.ReshapeOptions)
        if o is not None and o.NewShapeLength():
            shape = [int(v) for v in o.NewShapeAsNumpy()]
    if shape is None:
        shape = list(op.out_tensor().shape)
    size = int(np.prod(shape_of(x)))
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        shape[shape.index(-1)] = size // max(known, 1)
    return tuple(shape)


def reshape(imp, op):
    x = op.input(0)
    return imp.emit(op, "Reshape", [x], {"shape": _new_shape(op, x)})


def shape_op(imp, op):
    """SHAPE: shapes are static after import, so this is a constant (Keras 3 writes reshapes as
    SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE; the chain folds)."""
    return np.array(shape_of(op.input(0)), dtype=op.out_tensor().np_dtype or np.int32)


def pack(imp, op):
    o = op.options(tflite.PackOptions)
    xs = [op.input(i) for i in range(len(op.in_idx))]
    axis = (o.Axis() if o is not None else 0) % (len(shape_of(xs[0])) + 1)
    parts = [imp.b.emit("Unsqueeze", [x], {"axes": (axis,)}, label=op.label, quant=quant_of(x))
             for x in xs]
    return imp.emit(op, "Concat", parts, {"axis": axis})


def squeeze(imp, op):
    o = op.options(tflite.SqueezeOptions)
    x = op.input(0)
    rank = len(shape_of(x))
    axes = [int(a) % rank for a in o.SqueezeDimsAsNumpy()] if o and o.SqueezeDimsLength() \
        else [i for i, d in enumerate(shape_of(x)) if d == 1]
    return imp.emit(op, "Squeeze", [x], {"axes": tuple(axes)})


def expand_dims(imp, op):
    x = op.input(0)
    axis = op.ints(1, "axis", 1)[0]
    axis = axis % (len(shape_of(x)) + 1)
    return imp.emit(op, "Unsqueeze", [x], {"axes": (axis,)})


def transpose(imp, op):
    perm = tuple(op.ints(1, "perm"))
    return imp.emit(op, "Transpose", [op.input(0)], {"perm": perm})


def strided_slice_op(imp, op):
    o = op.options(tflite.StridedSliceOptions, required=True)
    t = op.out_tensor()
    if o.Offset():
        raise ConversionError("StridedSlice with offset=true is not supported")
    return strided_slice(imp.b, op.input(0), op.static(1, "begin"), op.static(2, "end"),
                         op.static(3, "strides"), begin_mask=o.BeginMask(),
                         end_mask=o.EndMask(), ellipsis_mask=o.EllipsisMask(),
                         new_axis_mask=o.NewAxisMask(), shrink_axis_mask=o.ShrinkAxisMask(),
                         label=op.label, quant=t.quant, name=t.name)


def slice_op(imp, op):
    x = op.input(0)
    begin = op.ints(1, "begin")
    size = op.ints(2, "size")
    ends = [d if s == -1 else b + s for b, s, d in zip(begin, size, shape_of(x))]
    return imp.emit(op, "Slice", [x], {"starts": tuple(begin), "ends": tuple(ends)})


def _resize(method):
    def convert(imp, op):
        cls = tflite.ResizeBilinearOptions if method == "bilinear" else \
            tflite.ResizeNearestNeighborOptions
        o = op.options(cls)
        x = op.input(0)
        hw = op.ints(1, "size", 2)
        nchw = tuple(nhwc_shape(x)[i] for i in TO_NCHW)
        attrs = resize_attrs(method, hw, nchw, bool(o and o.AlignCorners()),
                             bool(o and o.HalfPixelCenters()))
        t = op.out_tensor()
        return imp.b.nchw_op("Resize", x, [], attrs, label=op.label, quant=t.quant, name=t.name)
    return convert


def tile(imp, op):
    reps = tuple(op.ints(1, "multiples"))
    return imp.emit(op, "Tile", [op.input(0)], {"repeats": reps})


def gather(imp, op):
    o = op.options(tflite.GatherOptions)
    x = op.input(0)
    if o is not None and o.BatchDims():
        raise ConversionError("GATHER with batch_dims is not supported")
    axis = (o.Axis() if o is not None else 0) % len(shape_of(x))
    return imp.emit(op, "Gather", [x, op.input(1)], {"axis": axis})


def _space(core):
    def convert(imp, op):
        cls = tflite.DepthToSpaceOptions if core == "DepthToSpace" else tflite.SpaceToDepthOptions
        o = op.options(cls, required=True)
        t = op.out_tensor()
        return imp.b.nchw_op(core, op.input(0), [], {"blocksize": o.BlockSize()},
                             label=op.label, quant=t.quant, name=t.name)
    return convert


def _pieces(op, n: int) -> int:
    """`n` pieces, which must be the operator's number of outputs (checked before any list of
    n sizes is made: n comes from the file)."""
    if n != len(op.out_idx):
        raise ConversionError(f"{n} pieces but {len(op.out_idx)} outputs", False)
    return n


def _split_into(imp, op, x, axis: int, sizes) -> list[Handle]:
    _pieces(op, len(sizes))
    if sum(sizes) != shape_of(x)[axis] or min(sizes, default=0) < 0:
        raise ConversionError(f"split sizes {sizes} do not cut axis {axis} of "
                              f"{list(shape_of(x))}", False)
    return imp.emit_all(op, "Split", [x], {"axis": axis, "split": tuple(sizes)})


def split(imp, op):
    """SPLIT: inputs (axis, x); num_splits equal pieces."""
    o = op.options(tflite.SplitOptions, required=True)
    x = op.input(1)
    axis = axis_index(op.ints(0, "axis", 1)[0], len(shape_of(x)))
    n, dim = _pieces(op, o.NumSplits()), shape_of(x)[axis]
    if n < 1 or dim % n:
        raise ConversionError(f"cannot split size {dim} into {n} equal pieces", False)
    return _split_into(imp, op, x, axis, [dim // n] * n)


def split_v(imp, op):
    """SPLIT_V: inputs (x, size_splits, axis); one size may be -1 (the rest)."""
    x = op.input(0)
    axis = axis_index(op.ints(2, "axis", 1)[0], len(shape_of(x)))
    sizes = op.ints(1, "size_splits")
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = shape_of(x)[axis] - sum(s for s in sizes if s != -1)
    return _split_into(imp, op, x, axis, sizes)


def unpack(imp, op):
    o = op.options(tflite.UnpackOptions)
    x = op.input(0)
    axis = axis_index(o.Axis() if o is not None else 0, len(shape_of(x)))
    parts = _split_into(imp, op, x, axis, [1] * _pieces(op, shape_of(x)[axis]))
    return [imp.emit(op, "Squeeze", [p], {"axes": (axis,)}, out=k) for k, p in enumerate(parts)]


def reverse_v2(imp, op):
    x = op.input(0)
    shape = shape_of(x)
    axes = sorted({axis_index(a, len(shape)) for a in op.ints(1, "axes")})
    return imp.emit(op, "Slice", [x], {"starts": tuple(shape[a] - 1 for a in axes),
                                       "ends": tuple(-shape[a] - 1 for a in axes),
                                       "axes": tuple(axes), "steps": (-1,) * len(axes)})


def broadcast_to(imp, op):
    x = op.input(0)
    try:
        shape = np.broadcast_shapes(shape_of(x), tuple(op.ints(1, "shape")))
    except ValueError:
        raise ConversionError(f"cannot broadcast {list(shape_of(x))} to "
                              f"{op.ints(1, 'shape')}", False) from None
    return imp.emit(op, "Expand", [x], {"shape": shape})


def broadcast_args(imp, op):
    """BROADCAST_ARGS of two constant shapes (SHAPE outputs fold): the broadcast shape."""
    a, b = op.ints(0, "shape"), op.ints(1, "shape")
    try:
        shape = np.broadcast_shapes(tuple(a), tuple(b))
    except ValueError:
        raise ConversionError(f"shapes {a} and {b} do not broadcast", False) from None
    return np.array(shape, op.out_tensor().np_dtype or np.int32)


def fill(imp, op):
    """FILL: the value (a scalar) broadcast to the constant dims (folds when the value is a
    constant too; the result size is checked like any folded op's)."""
    dims = op.ints(0, "dims")
    v = op.input(1)
    if shape_of(v) != ():
        v = imp.b.emit("Reshape", [v], {"shape": ()}, label=op.label, quant=quant_of(v))
    return imp.emit(op, "Expand", [v], {"shape": tuple(dims)})


def _check_size(shape, itemsize: int, what: str) -> None:
    if min(shape, default=0) < 0:
        raise ConversionError(f"{what} has a negative size {list(shape)}", False)
    try:
        limits.check_shape(shape, itemsize, what)
    except LimitError as e:
        raise ConversionError(str(e), False) from None


def range_op(imp, op):
    """RANGE of constant start, limit and delta: a constant."""
    start, limit, delta = (op.static(i, w).reshape(-1) for i, w in
                           enumerate(("start", "limit", "delta")))
    if not start.size == limit.size == delta.size == 1 or delta[0] == 0 \
            or not np.isfinite([start[0], limit[0], delta[0]]).all():
        raise ConversionError("RANGE takes finite scalar start, limit and a nonzero delta",
                              False)
    n = max(int(np.ceil((float(limit[0]) - float(start[0])) / float(delta[0]))), 0)
    dt = op.out_tensor().np_dtype or start.dtype
    _check_size((n,), np.dtype(dt).itemsize, "the result of RANGE")
    return (start[0] + delta[0] * np.arange(n)).astype(dt)


def zeros_like(imp, op):
    x = op.input(0)
    if quant_of(x) is not None:
        raise ConversionError("quantized ZEROS_LIKE is not supported")
    return np.zeros(shape_of(x), op.out_tensor().np_dtype or np.float32)


def gather_nd(imp, op):
    return imp.emit(op, "GatherND", [op.input(0), op.input(1)])


def scatter_nd(imp, op):
    """SCATTER_ND(indices, updates, shape): updates summed into zeros of the constant shape."""
    updates = op.input(1)
    zero = np.zeros((), op.out_tensor().np_dtype or np.float32)
    base = imp.b.emit("Expand", [zero], {"shape": tuple(op.ints(2, "shape"))}, label=op.label)
    return imp.emit(op, "ScatterND", [base, op.input(0), updates], {"reduction": "add"})


def one_hot(imp, op):
    """ONE_HOT(indices, depth, on, off): Where(indices == arange(depth) along `axis`, on, off)."""
    o = op.options(tflite.OneHotOptions)
    idx = op.input(0)
    rank = len(shape_of(idx)) + 1
    axis = axis_index(o.Axis() if o is not None else -1, rank)
    depth = op.ints(1, "depth", 1)[0]
    _check_size((depth,), 8, "the depth of ONE_HOT")
    dt = op.tensor(0).np_dtype
    if dt is None or not np.issubdtype(dt, np.integer):
        raise ConversionError(f"ONE_HOT indices are {op.tensor(0).type_name}, not integers",
                              False)
    classes = np.arange(depth, dtype=dt)
    classes = classes.reshape([depth if i == axis else 1 for i in range(rank)])
    hit = imp.b.emit("Equal", [imp.b.emit("Unsqueeze", [idx], {"axes": (axis,)},
                                          label=op.label), classes], label=op.label)
    return imp.emit(op, "Where", [hit, op.input(2), op.input(3)])


def cast(imp, op):
    x = op.input(0)
    dt = op.out_tensor().np_dtype
    if dt is None or quant_of(x) is not None or op.out_tensor().quant is not None:
        raise ConversionError(f"CAST to {op.out_tensor().type_name} of a "
                              f"{'quantized' if quant_of(x) else 'plain'} tensor is not supported")
    return imp.emit(op, "Cast", [x], {"to": DType.from_numpy(dt)})


# ---- SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND ----

def space_to_batch_nd(imp, op):
    if dilated_conv(imp, op) is not None:
        return []  # the convolution reads this op's input itself
    x = op.input(0)
    block, pads = block_operands(op, x, "paddings")
    t = op.out_tensor()
    return space_to_batch(imp.b, x, block, pads, label=op.label, quant=t.quant, name=t.name)


def batch_to_space_nd(imp, op):
    if dilated_conv(imp, op) is not None:
        return op.input(0)  # the dilated convolution's result, already in space
    x = op.input(0)
    block, crops = block_operands(op, x, "crops")
    t = op.out_tensor()
    return batch_to_space(imp.b, x, block, crops, label=op.label, quant=t.quant, name=t.name)
