"""Converters of elementwise (arithmetic, math, comparison, logic, select), activation,
normalization, reduction, arg-extremum, top-k, cumulative-sum and softmax operators."""

from __future__ import annotations

import numpy as np
import tflite

from ...ir.types import DType
from ..tf_common import (
    ConversionError,
    Handle,
    quant_of,
    shape_of,
)
from .tensor_ops import axis_index

_ACT = tflite.ActivationFunctionType


def _binary(core):
    def convert(imp, op):
        cls = {"Add": tflite.AddOptions, "Sub": tflite.SubOptions, "Mul": tflite.MulOptions,
               "Div": tflite.DivOptions}.get(core)
        o = op.options(cls) if cls else None
        fused = o.FusedActivationFunction() if o is not None else _ACT.NONE
        a, b = op.input(0), op.input(1)
        y = imp.emit(op, core, [a, b])
        return imp.activation(op, y, fused)
    return convert


def _reduce(core):
    def convert(imp, op):
        o = op.options(tflite.ReducerOptions, required=True)
        axes = tuple(op.ints(1, "axes"))
        return imp.emit(op, core, [op.input(0)], {"axes": axes, "keepdims": bool(o.KeepDims())})
    return convert


def _logical_reduce(core):
    """REDUCE_ANY / REDUCE_ALL: the max / min of the booleans as int32."""
    def convert(imp, op):
        o = op.options(tflite.ReducerOptions, required=True)
        x = imp.b.emit("Cast", [op.input(0)], {"to": DType.i32}, label=op.label)
        y = imp.b.emit(core, [x], {"axes": tuple(op.ints(1, "axes")),
                                   "keepdims": bool(o.KeepDims())}, label=op.label)
        return imp.emit(op, "Cast", [y], {"to": DType.bool})
    return convert


def float_only(op, *handles: Handle) -> None:
    """Refuse quantized operands of an op that npucc writes as several core ops (the
    intermediate results would need quantization params the model does not give) or whose
    core op is float only."""
    if any(quant_of(h) is not None for h in handles):
        raise ConversionError(f"quantized {op.name} is not supported (npucc has no integer "
                              "form of it)")


def _emitter(imp, op, last: bool):
    """emit(core, inputs, attrs) for one step of a chain: the last step's result is the
    operator's output (its name and params), the others are intermediates."""
    if last:
        return lambda core, xs, attrs=None: imp.emit(op, core, xs, attrs)
    return lambda core, xs, attrs=None: imp.b.emit(core, xs, attrs, label=op.label)


def _chain(*steps):
    """A float-only converter composing core ops: the first step takes all the operator's
    inputs, each later one the previous result; "Square" multiplies its input by itself."""
    def convert(imp, op):
        args = [op.input(i) for i in range(len(op.in_idx))]
        float_only(op, *args)
        for k, core in enumerate(steps):
            emit = _emitter(imp, op, k == len(steps) - 1)
            args = [emit("Mul", args * 2) if core == "Square" else emit(core, args)]
        return args[0]
    return convert


def floor_div(imp, op):
    """FLOOR_DIV: floor(a / b) for floats; a - mod(a, b) divides exactly for integers."""
    a, b = op.input(0), op.input(1)
    float_only(op, a, b)
    if np.issubdtype(op.tensor(0).np_dtype or np.float32, np.floating):
        return imp.emit(op, "Floor", [imp.b.emit("Div", [a, b], label=op.label)])
    m = imp.b.emit("Mod", [a, b], label=op.label)
    return imp.emit(op, "Div", [imp.b.emit("Sub", [a, m], label=op.label), b])


def add_n(imp, op):
    xs = [op.input(i) for i in range(len(op.in_idx))]
    float_only(op, *xs)
    y = xs[0]
    for k, x in enumerate(xs[1:]):
        y = _emitter(imp, op, k == len(xs) - 2)("Add", [y, x])
    return y if len(xs) > 1 else imp.emit(op, "Identity", [y])


def select(imp, op):
    """SELECT / SELECT_V2: Where. SELECT's rank-1 condition picks whole rows of x and y."""
    c, x, y = op.input(0), op.input(1), op.input(2)
    cs, xs = shape_of(c), shape_of(x)
    if op.name == "SELECT" and len(cs) == 1 and len(xs) > 1:
        c = imp.b.emit("Reshape", [c], {"shape": cs + (1,) * (len(xs) - 1)}, label=op.label)
    return imp.emit(op, "Where", [c, x, y])


def l2_normalization(imp, op):
    """TFLite L2_NORMALIZATION (float): x / max(sqrt(sum of squares over the last axis), 1e-6)."""
    o = op.options(tflite.L2NormOptions)
    x = op.input(0)
    float_only(op, x)
    n = imp.b.emit("ReduceL2", [x], {"axes": (-1,), "keepdims": True}, label=op.label)
    n = imp.b.emit("Max", [n, np.float32(1e-6)], label=op.label)
    y = imp.emit(op, "Div", [x, n])
    return imp.activation(op, y, o.FusedActivationFunction() if o is not None else _ACT.NONE)


def local_response_normalization(imp, op):
    """TFLite LRN: x / (bias + alpha * sum of x^2 over channels c-r..c+r) ^ beta; the core LRN
    (ONNX) divides alpha by the window size."""
    o = op.options(tflite.LocalResponseNormalizationOptions, required=True)
    float_only(op, op.input(0))
    size = 2 * o.Radius() + 1
    if size < 1:
        raise ConversionError(f"radius {o.Radius()} is negative", False)
    t = op.out_tensor()
    return imp.b.nchw_op("LRN", op.input(0), [], {"size": size, "alpha": o.Alpha() * size,
                                                  "beta": o.Beta(), "bias": o.Bias()},
                         label=op.label, quant=t.quant, name=t.name)


def _as_output_dtype(imp, op, h, out=0):
    """Cast an index result (int64 in the core) to the output tensor's integer type."""
    dt = op.out_tensor(out).np_dtype
    if dt is None or np.dtype(getattr(h.dtype, "numpy", h.dtype)) == dt:  # Value or array
        return h
    return imp.emit(op, "Cast", [h], {"to": DType.from_numpy(dt)}, out=out)


def _arg(core):
    def convert(imp, op):
        x = op.input(0)
        axis = axis_index(op.ints(1, "axis", 1)[0], len(shape_of(x)))
        y = imp.b.emit(core, [x], {"axis": axis, "keepdims": False}, label=op.label)
        return _as_output_dtype(imp, op, y)
    return convert


def top_k(imp, op):
    x = op.input(0)
    k = op.ints(1, "k", 1)[0]
    values, idx = imp.emit_all(op, "TopK", [x], {"k": k, "axis": -1}, count=1)
    return [values, _as_output_dtype(imp, op, idx, 1)]


def cumsum(imp, op):
    o = op.options(tflite.CumsumOptions)
    x = op.input(0)
    axis = axis_index(op.ints(1, "axis", 1)[0], len(shape_of(x)))
    return imp.emit(op, "CumSum", [x], {"axis": axis,
                                        "exclusive": bool(o and o.Exclusive()),
                                        "reverse": bool(o and o.Reverse())})


def softmax(imp, op):
    o = op.options(tflite.SoftmaxOptions)
    x = op.input(0)
    beta = o.Beta() if o is not None else 1.0
    if beta != 1.0:
        if quant_of(x) is not None:
            raise ConversionError(f"quantized SOFTMAX with beta={beta} is not supported")
        x = imp.b.emit("Mul", [x, np.asarray(beta, np.float32)], label=op.label)
    return imp.emit(op, "Softmax", [x], {"axis": -1})


def _unary(core, attrs_fn=None):
    """A one-input op (attrs_fn(op): its attributes read from the options)."""
    def convert(imp, op):
        attrs = attrs_fn(op) if attrs_fn else {}
        return imp.emit(op, core, [op.input(0)], attrs)
    return convert


def prelu(imp, op):
    return imp.emit(op, "PRelu", [op.input(0), op.input(1)])


def _clip(lo, hi):
    return _unary("Clip", lambda op: {"min": lo, "max": hi})
