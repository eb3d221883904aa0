"""Ops with boolean results or a boolean condition, with ONNX semantics: the tests IsNaN and
IsInf, the comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual), the logic ops (Not,
And, Or, Xor) and Where; and their bitwise counterparts on integers (BitwiseNot, BitwiseAnd,
BitwiseOr, BitwiseXor, BitShift). Binary ops broadcast like numpy."""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import DType, TensorType

from .dtype_rules import bool_input, checked_input_type, float_input
from .elementwise import broadcast_type


def _float_test_type(types, attrs_):
    return TensorType(float_input(types, attrs_).shape, DType.bool)


@define_op("IsNaN", inputs=("X",), infer=_float_test_type)
def is_nan(x):
    """x is NaN"""
    return np.isnan(x)


@define_op("IsInf", inputs=("X",), infer=_float_test_type)
def is_inf(x):
    """x is +inf or -inf"""
    return np.isinf(x)


@define_op("Not", inputs=("X",), infer=bool_input)
def not_(x):
    """logical not"""
    return np.logical_not(x)


def _to_bool_type(types, attrs_):
    return TensorType(broadcast_type(types, attrs_).shape, DType.bool)


def _logic_type(types, attrs_):
    if any(t.dtype is not DType.bool for t in types):
        raise IRError(f"takes bool tensors, got {[t.dtype.value for t in types]}")
    return _to_bool_type(types, attrs_)


for _name, _fn, _infer in [
        ("Equal", np.equal, _to_bool_type), ("Less", np.less, _to_bool_type),
        ("Greater", np.greater, _to_bool_type), ("LessOrEqual", np.less_equal, _to_bool_type),
        ("GreaterOrEqual", np.greater_equal, _to_bool_type),
        ("And", np.logical_and, _logic_type), ("Or", np.logical_or, _logic_type),
        ("Xor", np.logical_xor, _logic_type)]:
    def _kernel(a, b, _fn=_fn):
        return np.asarray(_fn(a, b))
    _kernel.__doc__ = f"elementwise numpy.{_fn.__name__} with broadcasting, bool result"
    define_op(_name, inputs=("A", "B"), infer=_infer)(_kernel)


def _where_type(types, attrs_):
    cond, x, y = types
    if cond.dtype is not DType.bool:
        raise IRError(f"condition must be bool, got {cond.dtype.value}")
    t = broadcast_type([x, y], attrs_)
    try:
        shape = np.broadcast_shapes(cond.shape, t.shape)
    except ValueError:
        raise IRError(f"shapes {[list(s.shape) for s in types]} do not broadcast") from None
    return TensorType(shape, t.dtype)


@define_op("Where", inputs=("condition", "X", "Y"), infer=_where_type)
def where(cond, x, y):
    """x where condition else y, with numpy broadcasting"""
    return np.where(cond, x, y)


# ---- bitwise ----
def _int_type(types, attrs_):
    t = broadcast_type(types, attrs_)
    if not t.dtype.is_int:
        raise IRError(f"takes integer tensors, got {t.dtype.value}")
    return t


@define_op("BitwiseNot", inputs=("X",), infer=checked_input_type(lambda d: d.is_int, "integer"))
def bitwise_not(x):
    """~x"""
    return np.invert(x)


for _name, _fn in [("BitwiseAnd", np.bitwise_and), ("BitwiseOr", np.bitwise_or),
                   ("BitwiseXor", np.bitwise_xor)]:
    def _kernel(a, b, _fn=_fn):
        return np.asarray(_fn(a, b))
    _kernel.__doc__ = f"elementwise numpy.{_fn.__name__} of integers, with broadcasting"
    define_op(_name, inputs=("A", "B"), infer=_int_type)(_kernel)


@define_op("BitShift", inputs=("X", "Y"),
           attrs={"direction": Attr("str", "LEFT", choices=("LEFT", "RIGHT"))}, infer=_int_type)
def bit_shift(x, y, *, direction):
    """x shifted by y bits (ONNX: unsigned types; a signed x shifts right arithmetically), as
    numpy shifts: a shift by the type's width or more gives 0 (-1 for a negative x shifted
    right)."""
    return (np.left_shift if direction == "LEFT" else np.right_shift)(x, y).astype(x.dtype)
