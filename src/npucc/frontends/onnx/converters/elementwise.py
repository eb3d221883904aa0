"""Activations, arithmetic, comparisons and logic: ONNX elementwise ops onto core ops."""

from __future__ import annotations

import functools

import numpy as np

from ....ir import Value
from ..importer import invalid, ir_dtype, unsupported
from . import converter

# ONNX ops that are the core op of the same name, with the same (or no) attributes.
_UNARY = ("Relu", "Sigmoid", "Tanh", "HardSwish", "Mish", "Exp", "Log", "Sqrt", "Neg", "Abs",
          "Reciprocal", "Floor", "Ceil", "Round", "Erf", "Sin", "Cos", "Tan", "Asin", "Acos",
          "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Softplus", "Softsign", "Not",
          "Sign", "BitwiseNot")
_BINARY = ("Add", "Sub", "Mul", "Div", "Equal", "Less", "Greater", "LessOrEqual",
           "GreaterOrEqual", "And", "Or", "Xor", "BitwiseAnd", "BitwiseOr", "BitwiseXor")
# attribute name -> default, per op
_UNARY_WITH_ATTRS = {
    "LeakyRelu": {"alpha": 0.01},
    "HardSigmoid": {"alpha": 0.2, "beta": 0.5},
    "Elu": {"alpha": 1.0},
    "Selu": {"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875},
    "Gelu": {"approximate": "none"},
    "Celu": {"alpha": 1.0},
    "ThresholdedRelu": {"alpha": 1.0},
    "Shrink": {"bias": 0.0, "lambd": 0.5},
}


@converter(*_UNARY)
def unary(cx):
    return cx.emit(cx.op_type, [cx.input(0)])


@converter(*_UNARY_WITH_ATTRS)
def unary_with_attrs(cx):
    attrs = {k: cx.attr(k, d) for k, d in _UNARY_WITH_ATTRS[cx.op_type].items()}
    return cx.emit(cx.op_type, [cx.input(0)], **attrs)


@converter(*_BINARY)
def binary(cx):
    return cx.emit(cx.op_type, [cx.input(0), cx.input(1)])


@converter("Pow")
def pow_(cx):
    x, y = cx.input(0), cx.input(1)
    dtype = cx.np_dtype(x)
    if not np.issubdtype(dtype, np.floating):
        raise unsupported(f"Pow of {dtype} is not supported (float only)")
    if cx.np_dtype(y) != dtype:  # ONNX lets the exponent have another type
        y = y.astype(dtype) if isinstance(y, np.ndarray) else \
            cx.emit("Cast", [y], to=ir_dtype(dtype, "the base of Pow"))
    return cx.emit("Pow", [x, y])


@converter("Swish")
def swish(cx):
    """x * sigmoid(alpha * x), as torch exports SiLU (alpha = 1)."""
    x = cx.input(0)
    alpha = cx.attr("alpha", 1.0)
    z = x if alpha == 1.0 else cx.emit("Mul", [x, np.asarray(alpha, cx.np_dtype(x))])
    return cx.emit("Mul", [x, cx.emit("Sigmoid", [z])])


@converter("BitShift")
def bit_shift(cx):
    return cx.emit("BitShift", [cx.input(0), cx.input(1)], direction=cx.attr("direction"))


@converter("PRelu")
def prelu(cx):
    return cx.emit("PRelu", [cx.input(0), cx.input(1)])


@converter("Max", "Min", "Sum", "Mean")
def variadic(cx):
    """Max/Min/Sum/Mean of N inputs: a left-to-right chain of the binary op."""
    args = [cx.input(i) for i in range(len(cx.inputs))]
    if not args:
        raise invalid("needs at least one input")
    op = {"Max": "Max", "Min": "Min", "Sum": "Add", "Mean": "Add"}[cx.op_type]
    if len(args) == 1:
        return args[0]
    out = functools.reduce(lambda a, b: cx.emit(op, [a, b]), args)
    if cx.op_type == "Mean":
        out = cx.emit("Div", [out, np.asarray(len(args), dtype=cx.np_dtype(args[0]))])
    return out


@converter("Clip")
def clip(cx):
    """Clip; from opset 11 the bounds are inputs. Bounds known at import become the Clip op's
    attributes; a bound computed at run time (openWakeWord's melspectrogram clips to its
    maximum - 80 dB) is applied as Max / Min, the spec's Min(max, Max(input, min))."""
    x = cx.input(0)
    dtype = cx.np_dtype(x)
    dynamic = {}
    if cx.opset < 11:
        lo, hi = cx.attr("min"), cx.attr("max")
    else:
        bounds = []
        for i, what in ((1, "min"), (2, "max")):
            h = cx.input(i) if cx.has(i) else None
            if isinstance(h, Value):
                if int(np.prod(cx.shape(h), dtype=np.int64)) != 1:
                    raise invalid(f"{what} must be a scalar, got shape {list(cx.shape(h))}")
                dynamic[what] = h if cx.shape(h) == () else cx.emit("Reshape", [h], shape=[])
                bounds.append(None)
                continue
            b = cx.optional_static(i, what)
            if b is not None and b.size != 1:
                raise invalid(f"{what} must be a scalar, got shape {list(b.shape)}")
            bounds.append(None if b is None else b.reshape(()).item())
        lo, hi = bounds
    if np.issubdtype(dtype, np.integer):
        open_lo, open_hi = np.iinfo(dtype).min, np.iinfo(dtype).max
    else:
        open_lo, open_hi = float("-inf"), float("inf")
    lo = open_lo if lo is None else lo
    hi = open_hi if hi is None else hi
    if not dynamic:
        return cx.emit("Clip", [x], min=float(lo), max=float(hi))
    # Min(max, Max(x, min)), a static bound as a one-sided Clip in its place
    if "min" in dynamic:
        x = cx.emit("Max", [x, dynamic["min"]])
    elif lo != open_lo:
        x = cx.emit("Clip", [x], min=float(lo), max=float(open_hi))
    if "max" in dynamic:
        return cx.emit("Min", [x, dynamic["max"]])
    return x if hi == open_hi else cx.emit("Clip", [x], min=float(open_lo), max=float(hi))


@converter("Where")
def where(cx):
    return cx.emit("Where", [cx.input(0), cx.input(1), cx.input(2)])


@converter("Mod")
def mod(cx):
    fmod = cx.attr("fmod", 0)
    if not fmod and np.issubdtype(cx.np_dtype(cx.input(0)), np.floating):
        raise invalid("fmod=0 is not valid on float inputs")
    return cx.emit("Mod", [cx.input(0), cx.input(1)], fmod=bool(fmod))


@converter("IsNaN", "IsInf")
def is_special(cx):
    if cx.op_type == "IsInf":
        pos, neg = cx.attr("detect_positive", 1), cx.attr("detect_negative", 1)
        if not (pos and neg):
            raise unsupported("IsInf detecting only one sign is not supported")
    return cx.emit(cx.op_type, [cx.input(0)])
