"""TensorFlow op converters and the CONVERTERS table (op name -> converter)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from ...errors import FrontendError
from ...ir.types import DType
from ...registry import Registry
from ..builder import static_arange, static_full
from ..tf_common import (
    ConversionError,
    int_list,
    nhwc_shape,
    resize_attrs,
    shape_of,
    strided_slice,
    tf_pads,
)
from ..tfproto import types_pb2
from . import array_ops, control_flow, math_ops
from .tensors import _DTYPES, tensor_to_array

if TYPE_CHECKING:
    from .importer import _Node



def const(n: _Node):
    return tensor_to_array(n.nd.attr["value"].tensor)


def identity(n: _Node):
    return n.input(0)


def placeholder(n: _Node):
    raise ConversionError("a Placeholder that is not one of the given inputs is needed; add it to "
                          "inputs=", False)


def function_call(n: _Node):
    """A PartitionedCall left by functions.inline_calls: its function is not in the library."""
    fn = n.attr("f", None)
    raise ConversionError(f"it calls function '{getattr(fn, 'name', '?')}', which is not in the "
                          "GraphDef's function library", False)


def conv2d(n: _Node):
    x = n.input(0)
    w = _filter(n, 1)  # HWIO
    kh, kw, ci, co = w.shape
    c = nhwc_shape(x)[3 if n.nhwc() else 1]
    strides, dil = n.hw(n.attr("strides")), n.hw(n.attr("dilations", [1, 1, 1, 1]))
    hw = n.hw(shape_of(x))
    attrs = _atrous({"strides": strides, "dilations": dil, "group": c // ci}, n, hw, (kh, kw))
    return n.spatial_op("Conv", x, [np.ascontiguousarray(w.transpose(3, 2, 0, 1))], attrs)


def depthwise(n: _Node):
    x = n.input(0)
    w = _filter(n, 1)  # kh, kw, C, multiplier
    kh, kw, c, m = w.shape
    wc = np.ascontiguousarray(w.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None])
    strides, dil = n.hw(n.attr("strides")), n.hw(n.attr("dilations", [1, 1, 1, 1]))
    attrs = _atrous({"strides": strides, "dilations": dil, "group": c}, n, n.hw(shape_of(x)),
                    (kh, kw))
    return n.spatial_op("Conv", x, [wc], attrs)


def _atrous(attrs: dict, n: _Node, hw, kernel) -> dict:
    """The conv's pads, or, for the conv of a folded atrous triple (see
    array_ops.space_to_batch_nd), its dilations and pads: it reads the SpaceToBatchND's input."""
    fold = n.imp.atrous.get(n.name)
    if fold is not None:
        return {**attrs, "dilations": fold[0], "pads": fold[1]}
    return {**attrs, "pads": _pads(n, hw, kernel, attrs["strides"], attrs["dilations"])}


def _filter(n: _Node, i: int) -> np.ndarray:
    w = n.static(i, "filter")
    if w.ndim != 4 or min(w.shape) < 1:
        raise ConversionError(f"the filter must be 4-D with sizes >= 1, got shape "
                              f"{list(w.shape)}", False)
    return w


def _pads(n: _Node, hw, k, strides, dil):
    padding = n.attr("padding")
    if padding == "EXPLICIT":
        p = list(n.attr("explicit_paddings"))
        pairs = [(p[2], p[3]), (p[4], p[5])] if n.nhwc() else [(p[4], p[5]), (p[6], p[7])]
        return (pairs[0][0], pairs[1][0], pairs[0][1], pairs[1][1])
    try:
        return tf_pads(padding, hw, k, strides, dil)
    except ConversionError:
        raise
    except Exception as e:  # pragma: no cover - defensive
        raise ConversionError(str(e)) from None


def conv_backprop_input(n: _Node):
    sizes = n.ints(0, "input_sizes")
    w = _filter(n, 1)  # kh, kw, out_channels(M), in_channels(C of x)
    x = n.input(2)
    kh, kw = w.shape[:2]
    strides = n.hw(n.attr("strides"))
    dil = n.hw(n.attr("dilations", [1, 1, 1, 1]))
    if dil != (1, 1):
        raise ConversionError("dilated Conv2DBackpropInput is not supported")
    in_hw, out_hw = n.hw(shape_of(x)), n.hw(sizes)
    fwd = _pads(n, out_hw, (kh, kw), strides, (1, 1))
    begins, ends, extra = [], [], []
    for i in range(2):
        full = strides[i] * (in_hw[i] - 1) + (kh, kw)[i]
        end = full - fwd[i] - out_hw[i]
        begins.append(fwd[i])
        ends.append(max(end, 0))
        extra.append(max(-end, 0))
    attrs = {"strides": strides, "pads": tuple(begins + ends), "output_padding": tuple(extra)}
    return n.spatial_op("ConvTranspose", x, [np.ascontiguousarray(w.transpose(3, 2, 0, 1))], attrs)


def bias_add(n: _Node):
    x, b = n.input(0), n.input(1)
    if not n.nhwc() and len(shape_of(x)) == 4:
        b = n.imp.b.emit("Reshape", [b], {"shape": (shape_of(b)[0], 1, 1)}, label=n.name)
    return n.emit("Add", [x, b])


def matmul(n: _Node):
    return n.emit("Gemm", [n.input(0), n.input(1)],
                  {"transA": bool(n.attr("transpose_a", False)),
                   "transB": bool(n.attr("transpose_b", False))})


def fused_batch_norm(n: _Node):
    if n.attr("is_training", False):
        raise ConversionError("FusedBatchNorm with is_training=true cannot be imported for "
                              "inference")
    x = n.input(0)
    params = [n.input(i) for i in range(1, 5)]
    y = n.spatial_op("BatchNorm", x, params, {"epsilon": n.number("epsilon", float, 1e-3)})
    return [y] + [None] * 5


def _binary(core):
    def convert(n: _Node):
        return n.emit(core, [n.input(0), n.input(1)])
    return convert


def _unary(core, attrs_fn: Callable | None = None, numpy_fn=None):
    def convert(n: _Node):
        x = n.input(0)
        if numpy_fn is not None and isinstance(x, np.ndarray):
            return numpy_fn(x)
        return n.emit(core, [x], attrs_fn(n) if attrs_fn else {})
    return convert


def _pool(core):
    def convert(n: _Node):
        x = n.input(0)
        k, s = n.hw(n.attr("ksize")), n.hw(n.attr("strides"))
        attrs = {"kernel_shape": k, "strides": s,
                 "pads": tf_pads(n.attr("padding"), n.hw(shape_of(x)), k, s, (1, 1))}
        return n.spatial_op(core, x, [], attrs)
    return convert


def _reduce(core):
    def convert(n: _Node):
        x = n.input(0)
        rank = len(shape_of(x))
        axes = tuple(sorted({a % max(rank, 1) for a in n.ints(1, "axes")}))
        keep = bool(n.attr("keep_dims", False))
        if isinstance(x, np.ndarray):
            fn = {"ReduceMean": np.mean, "ReduceSum": np.sum, "ReduceMax": np.max}[core]
            return fn(x, axis=axes, keepdims=keep).astype(x.dtype)
        return n.emit(core, [x], {"axes": axes, "keepdims": keep})
    return convert


def pad(n: _Node):
    x = n.input(0)
    p = n.static(1, "paddings").reshape(-1, 2)
    attrs = {"pads": tuple(int(v) for v in p[:, 0]) + tuple(int(v) for v in p[:, 1])}
    if n.op == "MirrorPad":
        mode = n.attr("mode")
        if mode == "SYMMETRIC":
            from ..tflite import symmetric_pad

            return symmetric_pad(n.imp.b, x, p, n.name, None)
        attrs["mode"] = "reflect"
    elif n.op == "PadV2":
        attrs["value"] = float(np.ravel(n.static(2, "constant_values"))[0])
    return n.emit("Pad", [x], attrs)


def concat(n: _Node):
    k = len(n.data_inputs) - 1
    xs = [n.input(i) for i in range(k)]
    axis = n.ints(k, "axis", 1)[0] % len(shape_of(xs[0]))
    if all(isinstance(x, np.ndarray) for x in xs):
        return np.concatenate(xs, axis=axis)
    return n.emit("Concat", xs, {"axis": axis})


def reshape(n: _Node):
    x = n.input(0)
    shape = n.ints(1, "shape")
    size = int(np.prod(shape_of(x)))
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1]))
        shape[shape.index(-1)] = size // max(known, 1)
    return n.emit("Reshape", [x], {"shape": tuple(shape)})


def squeeze(n: _Node):
    x = n.input(0)
    rank = len(shape_of(x))
    dims = n.attr("squeeze_dims", []) or []
    axes = tuple(sorted(int(a) % rank for a in dims)) if dims else \
        tuple(i for i, d in enumerate(shape_of(x)) if d == 1)
    if isinstance(x, np.ndarray):
        return np.squeeze(x, axis=axes)
    return n.emit("Squeeze", [x], {"axes": axes})


def expand_dims(n: _Node):
    x = n.input(0)
    axis = n.ints(1, "axis", 1)[0] % (len(shape_of(x)) + 1)
    if isinstance(x, np.ndarray):
        return np.expand_dims(x, axis)
    return n.emit("Unsqueeze", [x], {"axes": (axis,)})


def transpose(n: _Node):
    x = n.input(0)
    perm = tuple(n.ints(1, "perm"))
    if isinstance(x, np.ndarray):
        return np.transpose(x, perm)
    return n.emit("Transpose", [x], {"perm": perm})


def strided_slice_op(n: _Node):
    x = n.input(0)
    kw = {k: n.number(k, int, 0) for k in ("begin_mask", "end_mask", "ellipsis_mask",
                                            "new_axis_mask", "shrink_axis_mask")}
    return strided_slice(n.imp.b, x, n.static(1, "begin"), n.static(2, "end"),
                         n.static(3, "strides"), label=n.name, name=n.name, **kw)


def slice_op(n: _Node):
    x = n.input(0)
    begin = n.ints(1, "begin")
    size = n.ints(2, "size")
    ends = [d if s == -1 else b + s for b, s, d in zip(begin, size, shape_of(x))]
    return n.emit("Slice", [x], {"starts": tuple(begin), "ends": tuple(ends)})


def _resize(method):
    def convert(n: _Node):
        x = n.input(0)
        hw = n.ints(1, "size", 2)
        batch, h, w, c = nhwc_shape(x)
        nchw = (batch, c, h, w)
        attrs = resize_attrs(method, hw, nchw, bool(n.attr("align_corners", False)),
                             bool(n.attr("half_pixel_centers", False)))
        return n.imp.b.nchw_op("Resize", x, [], attrs, label=n.name, name=n.name)
    return convert


def _space(core):
    def convert(n: _Node):
        return n.spatial_op(core, n.input(0), [], {"blocksize": n.number("block_size")})
    return convert


def shape_op(n: _Node):
    dt = _DTYPES.get(n.attr("out_type", types_pb2.DT_INT32), np.int32)
    return np.array(shape_of(n.input(0)), dtype=dt)


def pack(n: _Node):
    xs = [n.input(i) for i in range(len(n.data_inputs))]
    axis = n.number("axis", int, 0)
    if all(isinstance(x, np.ndarray) for x in xs):
        return np.stack(xs, axis=axis)
    axis %= len(shape_of(xs[0])) + 1
    parts = [n.imp.b.emit("Unsqueeze", [x], {"axes": (axis,)}, label=n.name) for x in xs]
    return n.emit("Concat", parts, {"axis": axis})


def cast(n: _Node):
    x = n.input(0)
    dt = _DTYPES.get(n.attr("DstT"))
    if dt is None:
        raise ConversionError("Cast to an unsupported dtype")
    if isinstance(x, np.ndarray):
        return x.astype(dt)
    if x.dtype.numpy == np.dtype(dt):
        return x
    return n.emit("Cast", [x], {"to": DType.from_numpy(dt)})


def tile(n: _Node):
    return n.emit("Tile", [n.input(0)], {"repeats": tuple(n.ints(1, "multiples"))})


def _static_only(fn):
    def convert(n: _Node):
        args = [n.static(i, "operand") for i in range(len(n.data_inputs))]
        return np.asarray(fn(n, *args))
    return convert


CONVERTERS: Registry[Callable] = Registry("TensorFlow op", {
    "Const": const, "Identity": identity, "StopGradient": identity, "NoOp": identity,
    "Snapshot": identity, "Placeholder": placeholder, "PlaceholderWithDefault": identity,
    "PartitionedCall": function_call, "StatefulPartitionedCall": function_call,
    "Conv2D": conv2d, "DepthwiseConv2dNative": depthwise,
    "Conv2DBackpropInput": conv_backprop_input,
    "BiasAdd": bias_add, "MatMul": matmul,
    "FusedBatchNorm": fused_batch_norm, "FusedBatchNormV2": fused_batch_norm,
    "FusedBatchNormV3": fused_batch_norm,
    "Relu": _unary("Relu"), "Relu6": _unary("Clip", lambda n: {"min": 0.0, "max": 6.0}),
    "LeakyRelu": _unary("LeakyRelu", lambda n: {"alpha": n.number("alpha", float, 0.2)}),
    "Elu": _unary("Elu"), "Sigmoid": _unary("Sigmoid"), "Tanh": _unary("Tanh"),
    "Softmax": _unary("Softmax", lambda n: {"axis": -1}),
    "Abs": _unary("Abs", numpy_fn=np.abs), "Neg": _unary("Neg", numpy_fn=np.negative),
    "Sqrt": _unary("Sqrt", numpy_fn=np.sqrt),
    "Add": _binary("Add"), "AddV2": _binary("Add"), "Sub": _binary("Sub"),
    "Mul": _binary("Mul"), "RealDiv": _binary("Div"), "Maximum": _binary("Max"),
    "Minimum": _binary("Min"),
    "MaxPool": _pool("MaxPool"), "AvgPool": _pool("AveragePool"),
    "Mean": _reduce("ReduceMean"), "Sum": _reduce("ReduceSum"), "Max": _reduce("ReduceMax"),
    "Pad": pad, "PadV2": pad, "MirrorPad": pad, "ConcatV2": concat,
    "Reshape": reshape, "Squeeze": squeeze, "ExpandDims": expand_dims, "Transpose": transpose,
    "StridedSlice": strided_slice_op, "Slice": slice_op,
    "ResizeBilinear": _resize("bilinear"), "ResizeNearestNeighbor": _resize("nearest"),
    "DepthToSpace": _space("DepthToSpace"), "SpaceToDepth": _space("SpaceToDepth"),
    "Shape": shape_op, "Pack": pack, "Cast": cast, "Tile": tile,
    "Size": _static_only(lambda n, x: np.int32(x.size)),
    "Rank": _static_only(lambda n, x: np.int32(x.ndim)),
    "Fill": _static_only(lambda n, dims, v: static_full(
        int_list(dims, "dims"), np.ravel(v)[0], v.dtype, "the result of Fill")),
    "Range": _static_only(lambda n, a, b, d: static_arange(a, b, d, "the result of Range")),
    **math_ops.CONVERTERS, **array_ops.CONVERTERS, **control_flow.CONVERTERS,
}, error=FrontendError)
