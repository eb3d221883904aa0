"""Converters of operators that move data: pad, concatenate, reshape, slice, transpose, tile,
gather, resize, depth/space."""

from __future__ import annotations

import numpy as np
import tflite

from ..tf_common import (
    TO_NCHW,
    Builder,
    ConversionError,
    Handle,
    nhwc_shape,
    quant_of,
    resize_attrs,
    shape_of,
    strided_slice,
)


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
