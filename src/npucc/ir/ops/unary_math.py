"""Elementwise math functions of one tensor, with ONNX semantics: Exp, Log, Sqrt, Reciprocal, Rsqrt,
Floor, Ceil, Round, Erf, the trigonometric and hyperbolic functions and their inverses, Neg, Abs,
Sign, and the activations ONNX defines by a formula (Softplus, Softsign, Elu, Selu, Celu, Gelu,
ThresholdedRelu, Shrink).

Float kernels compute float16 in float32 and return the input dtype, like the core ops.
"""

from __future__ import annotations

import math

import numpy as np

from npucc.ir.quant_rule import TABLE
from npucc.ir.registry import Attr, define_op

from .dtype_rules import float_input, in_accumulator, numeric_input
from .elementwise import softplus

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _float_unary(fn):
    """A kernel computing fn on x (and the op's attributes) in x's accumulation type, returning
    x's dtype."""
    def kernel(x, **attrs_):
        return np.asarray(fn(in_accumulator(x), **attrs_)).astype(x.dtype)
    return kernel


_FLOAT_UNARY = [
    # name, function on the accumulation type, doc
    ("Exp", np.exp, "exp(x)"),
    ("Log", np.log, "log(x)"),
    ("Sqrt", np.sqrt, "sqrt(x)"),
    ("Reciprocal", lambda x: 1 / x, "1 / x"),
    ("Rsqrt", lambda x: 1 / np.sqrt(x), "1 / sqrt(x) (TF / TFLite RSQRT)"),
    ("Floor", np.floor, "floor(x)"),
    ("Ceil", np.ceil, "ceil(x)"),
    ("Round", np.round, "round half to even"),
    ("Erf", _erf, "the error function"),
    ("Sin", np.sin, "sin(x)"),
    ("Cos", np.cos, "cos(x)"),
    ("Tan", np.tan, "tan(x)"),
    ("Asin", np.arcsin, "arcsin(x) (NaN outside [-1, 1])"),
    ("Acos", np.arccos, "arccos(x) (NaN outside [-1, 1])"),
    ("Atan", np.arctan, "arctan(x)"),
    ("Sinh", np.sinh, "sinh(x)"),
    ("Cosh", np.cosh, "cosh(x)"),
    ("Asinh", np.arcsinh, "arcsinh(x)"),
    ("Acosh", np.arccosh, "arccosh(x) (NaN below 1)"),
    ("Atanh", np.arctanh, "arctanh(x) (NaN outside [-1, 1])"),
    ("Softplus", softplus, "log(1 + exp(x))"),
    ("Softsign", lambda x: x / (1 + np.abs(x)), "x / (1 + |x|)"),
]
for _name, _fn, _doc in _FLOAT_UNARY:
    _k = _float_unary(_fn)
    _k.__doc__ = _doc
    define_op(_name, inputs=("X",), infer=float_input, quant=TABLE)(_k)


@define_op("Neg", inputs=("X",), infer=numeric_input, quant=TABLE)
def neg(x):
    """-x (integers wrap)"""
    return np.negative(x)


@define_op("Abs", inputs=("X",), infer=numeric_input, quant=TABLE)
def abs_(x):
    """|x|"""
    return np.abs(x)


@define_op("Sign", inputs=("X",), infer=numeric_input)
def sign(x):
    """-1, 0 or 1 by the sign of x"""
    return np.sign(x).astype(x.dtype)


def _elu(z, alpha):
    """z if z > 0 else alpha * (exp(z) - 1); exp only of z <= 0, so it cannot overflow."""
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))


@define_op("Elu", inputs=("X",), attrs={"alpha": Attr("float", 1.0)}, infer=float_input,
           quant=TABLE)
def elu(x, *, alpha):
    """x if x > 0 else alpha * (exp(x) - 1)"""
    return _elu(in_accumulator(x), alpha).astype(x.dtype)


@define_op("Selu", inputs=("X",), attrs={"alpha": Attr("float", 1.6732632423543772),
                                         "gamma": Attr("float", 1.0507009873554805)},
           infer=float_input, quant=TABLE)
def selu(x, *, alpha, gamma):
    """gamma * (x if x > 0 else alpha * (exp(x) - 1))"""
    return (gamma * _elu(in_accumulator(x), alpha)).astype(x.dtype)


def _celu(x, *, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha))


def _shrink(x, *, bias, lambd):
    return np.where(x < -lambd, x + bias, np.where(x > lambd, x - bias, 0))


_FLOAT_UNARY_WITH_ATTRS = [
    # name, function of the accumulation type and the attributes, attributes, doc
    ("Celu", _celu, {"alpha": Attr("float", 1.0, check=lambda a: None if a != 0 else "must not "
                                   "be 0")},
     "x if x > 0 else alpha * (exp(x / alpha) - 1)"),
    ("ThresholdedRelu", lambda x, *, alpha: np.where(x > alpha, x, 0),
     {"alpha": Attr("float", 1.0)}, "x if x > alpha else 0"),
    ("Shrink", _shrink, {"bias": Attr("float", 0.0), "lambd": Attr("float", 0.5)},
     "x + bias if x < -lambd, x - bias if x > lambd, else 0"),
]
for _name, _fn, _attrs, _doc in _FLOAT_UNARY_WITH_ATTRS:
    _k = _float_unary(_fn)
    _k.__doc__ = _doc
    define_op(_name, inputs=("X",), attrs=_attrs, infer=float_input, quant=TABLE)(_k)


@define_op("Gelu", inputs=("X",), attrs={"approximate": Attr("str", "none",
                                                             choices=("none", "tanh"))},
           infer=float_input, quant=TABLE)
def gelu(x, *, approximate):
    """0.5 x (1 + erf(x / sqrt 2)); approximate=tanh:
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"""
    z = x.astype(np.float64)
    if approximate == "tanh":
        y = 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))
    else:
        y = 0.5 * z * (1 + _erf(z / math.sqrt(2)))
    return y.astype(x.dtype)
