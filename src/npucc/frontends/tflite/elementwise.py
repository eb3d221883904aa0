"""Converters of elementwise, activation, reduction and softmax operators."""

from __future__ import annotations

import numpy as np
import tflite

from ..tf_common import (
    ConversionError,
    quant_of,
)

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
    def convert(imp, op):
        attrs = attrs_fn(op) if attrs_fn else {}
        return imp.emit(op, core, [op.input(0)], attrs)
    return convert


def prelu(imp, op):
    return imp.emit(op, "PRelu", [op.input(0), op.input(1)])


def _clip(lo, hi):
    return _unary("Clip", lambda op: {"min": lo, "max": hi})
