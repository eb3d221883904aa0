"""Converters of TensorFlow's elementwise math, comparison, selection and reduction ops (the ops
of TF's math_ops), table-driven: most map one to one onto a core op."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...ir.types import DType
from ..tf_common import ConversionError, axis_index, shape_of
from ..tfproto import types_pb2
from .tensors import _DTYPES

if TYPE_CHECKING:
    from .importer import _Node

# TF op -> core op with the same semantics (a unary core op reads input 0, a binary one 0 and 1)
UNARY = {"Exp": "Exp", "Log": "Log", "Floor": "Floor", "Ceil": "Ceil", "Sin": "Sin",
         "Cos": "Cos", "Sign": "Sign", "Reciprocal": "Reciprocal", "Inv": "Reciprocal",
         "Softplus": "Softplus", "Softsign": "Softsign", "Selu": "Selu", "Erf": "Erf",
         "LogicalNot": "Not", "IsNan": "IsNaN", "Rsqrt": "Rsqrt",
         "Round": "Round"}  # Round: half to even, as TF
BINARY = {"Pow": "Pow", "Equal": "Equal", "NotEqual": "Equal", "Greater": "Greater",
          "GreaterEqual": "GreaterOrEqual", "Less": "Less", "LessEqual": "LessOrEqual",
          "LogicalAnd": "And", "LogicalOr": "Or", "FloorMod": "Mod",  # Mod: sign of b, as TF
          "Div": "Div", "SquaredDifference": "SquaredDifference"}
REDUCE = {"Min": "ReduceMin", "Prod": "ReduceProd"}


def unary(n: _Node):
    return n.emit(UNARY[n.op], [n.input(0)])


def binary(n: _Node):
    a, b = n.input(0), n.input(1)
    if n.op == "Div" and np.issubdtype(np.dtype(_np_dtype(a)), np.integer):
        raise ConversionError("Div of integer tensors is not supported")
    y = n.emit(BINARY[n.op], [a, b], name=None if n.op == "NotEqual" else n.name)
    return n.emit("Not", [y]) if n.op == "NotEqual" else y


def _np_dtype(h):
    return h.dtype if isinstance(h, np.ndarray) else h.dtype.numpy


def erfc(n: _Node):
    """Erfc: 1 - Erf(x) (Keras 3's exact GELU writes it)."""
    x = n.input(0)
    e = n.imp.b.emit("Erf", [x], label=n.name)
    return n.emit("Sub", [np.ones((), _np_dtype(x)), e])


def square(n: _Node):
    x = n.input(0)
    return n.emit("Mul", [x, x])


def floor_div(n: _Node):
    a, b = n.input(0), n.input(1)
    if np.issubdtype(np.dtype(_np_dtype(a)), np.integer):
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return np.floor_divide(a, b)
        raise ConversionError("FloorDiv of integer tensors is not supported")
    q = n.imp.b.emit("Div", [a, b], label=n.name)
    return n.emit("Floor", [q])


def add_n(n: _Node):
    """AddN: a left-to-right chain of Adds (the last one carries the node's name)."""
    xs = [n.input(i) for i in range(len(n.data_inputs))]
    if not xs:
        raise ConversionError("AddN needs at least one input", False)
    y = xs[0]
    for k, x in enumerate(xs[1:], 2):
        y = n.emit("Add", [y, x], name=None if k < len(xs) else n.name)
    return y


def select(n: _Node):
    """Select / SelectV2. Select (v1) with a vector condition and a higher-rank x picks whole rows
    of x: the condition is reshaped to broadcast over the other axes."""
    c, x, y = n.input(0), n.input(1), n.input(2)
    cs, xs = shape_of(c), shape_of(x)
    if n.op == "Select" and len(cs) == 1 and len(xs) > 1:
        c = n.imp.b.emit("Reshape", [c], {"shape": (cs[0],) + (1,) * (len(xs) - 1)},
                         label=n.name)
    return n.emit("Where", [c, x, y])


def clip_by_value(n: _Node):
    x, lo, hi = n.input(0), n.input(1), n.input(2)
    if all(isinstance(v, np.ndarray) and v.size == 1 for v in (lo, hi)):
        return n.emit("Clip", [x], {"min": float(np.ravel(lo)[0]), "max": float(np.ravel(hi)[0])})
    y = n.imp.b.emit("Max", [x, lo], label=n.name)
    return n.emit("Min", [y, hi])


def reduce(n: _Node):
    core = REDUCE[n.op]
    x = n.input(0)
    rank = len(shape_of(x))
    axes = tuple(sorted({a % max(rank, 1) for a in n.ints(1, "axes")}))
    return n.emit(core, [x], {"axes": axes, "keepdims": bool(n.attr("keep_dims", False))})


def arg_reduce(n: _Node):
    """ArgMax / ArgMin along a static axis; the index type is `output_type` (int64 default)."""
    x = n.input(0)
    axis = axis_index(n.ints(1, "dimension", 1)[0], len(shape_of(x)), "dimension")
    out = _DTYPES.get(n.attr("output_type", types_pb2.DT_INT64))
    if out not in (np.int32, np.int64):
        raise ConversionError("output_type must be int32 or int64", False)
    core = "ArgMax" if n.op == "ArgMax" else "ArgMin"
    idx = n.emit(core, [x], {"axis": axis, "keepdims": False},
                 name=None if out is np.int32 else n.name)
    return n.emit("Cast", [idx], {"to": DType.from_numpy(out)}) if out is np.int32 else idx


def cumsum(n: _Node):
    x = n.input(0)
    axis = axis_index(n.ints(1, "axis", 1)[0], len(shape_of(x)))
    return n.emit("CumSum", [x], {"axis": axis,
                                  "exclusive": bool(n.attr("exclusive", False)),
                                  "reverse": bool(n.attr("reverse", False))})


def log_softmax(n: _Node):
    return n.emit("LogSoftmax", [n.input(0)], {"axis": -1})


def lrn(n: _Node):
    """LRN over the channels of an NHWC tensor: TF sums x^2 over 2r+1 channels and scales by
    alpha; the core op (ONNX's) scales by alpha / size."""
    r = n.number("depth_radius", int, 5)
    if r < 0:
        raise ConversionError(f"depth_radius {r} must be >= 0", False)
    size = 2 * r + 1
    attrs = {"size": size, "alpha": n.number("alpha", float, 1.0) * size,
             "beta": n.number("beta", float, 0.5), "bias": n.number("bias", float, 1.0)}
    return n.imp.b.nchw_op("LRN", n.input(0), [], attrs, label=n.name, name=n.name)


CONVERTERS = {**{op: unary for op in UNARY}, **{op: binary for op in BINARY},
              **{op: reduce for op in REDUCE},
              "Square": square, "Erfc": erfc, "FloorDiv": floor_div,
              "AddN": add_n, "Select": select, "SelectV2": select,
              "ClipByValue": clip_by_value, "ArgMax": arg_reduce, "ArgMin": arg_reduce,
              "Cumsum": cumsum, "LogSoftmax": log_softmax, "LRN": lrn}
