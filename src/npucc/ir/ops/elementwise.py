"""Elementwise ops: activations (one input) and arithmetic with numpy broadcasting (two inputs:
Add, Sub, Mul, Div, Max, Min, PRelu, Pow, Mod).

Activations are also exposed as `ACTIVATIONS` so a conv/gemm can carry one as a fused activation
(`activation=`, `activation_params=` attributes) with exactly the same semantics.
"""

from __future__ import annotations

import numpy as np

from ...errors import IRError
from ..quant_rule import ALIGNED, PRODUCT, QUOTIENT, REQUANTIZE, SAME, TABLE
from ..registry import Attr, define_op, same_as_input
from ..types import TensorType
from .dtype_rules import float_input


def _c(x, v):
    """A python scalar as a 0-d array of x's dtype, so float16/float32 math stays in that type."""
    return np.asarray(v, dtype=x.dtype)


def _sigmoid(x):
    # split by sign so exp never overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def softplus(x):
    """log(1 + exp(x)), computed so exp never overflows"""
    return (np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))).astype(x.dtype)


def relu(x):
    """max(x, 0)"""
    return np.maximum(x, _c(x, 0))


def leaky_relu(x, alpha):
    """x if x >= 0 else alpha * x"""
    return np.where(x >= 0, x, x * _c(x, alpha))


def clip(x, min, max):  # noqa: A002 - the ONNX attribute names
    """min(max(x, min), max)"""
    return np.clip(x, _c(x, min), _c(x, max))


def hard_sigmoid(x, alpha, beta):
    """max(0, min(1, alpha * x + beta))"""
    return np.clip(x * _c(x, alpha) + _c(x, beta), _c(x, 0), _c(x, 1))


def hard_swish(x):
    """x * max(0, min(1, x / 6 + 1 / 2))"""
    return x * hard_sigmoid(x, 1 / 6, 0.5)


def sigmoid(x):
    """1 / (1 + exp(-x))"""
    return _sigmoid(x)


def tanh(x):
    """tanh(x)"""
    return np.tanh(x)


def mish(x):
    """x * tanh(softplus(x))"""
    return (x * np.tanh(softplus(x))).astype(x.dtype)


def channel_prelu(x, *slopes):
    """x if x >= 0 else slope[c] * x, one slope per channel c of axis 1"""
    s = np.asarray(slopes, dtype=x.dtype).reshape((-1,) + (1,) * (x.ndim - 2))
    return np.where(x >= 0, x, x * s)


# Fusable activations: name -> (kernel, parameter names in activation_params order; "*" for one
# parameter per output channel, axis 1)
ACTIVATIONS = {
    "none": (lambda x: x, ()),
    "relu": (relu, ()),
    "leaky_relu": (leaky_relu, ("alpha",)),
    "clip": (clip, ("min", "max")),
    "hard_swish": (hard_swish, ()),
    "sigmoid": (sigmoid, ()),
    "prelu": (channel_prelu, ("*",)),
}


def apply_activation(x: np.ndarray, kind: str, params=()) -> np.ndarray:
    """Apply a fused activation by name (see ACTIVATIONS)."""
    fn, names = ACTIVATIONS[kind]
    return fn(x, *params)


def check_activation(attrs_, channels: int | None = None) -> None:
    """Raise IRError if a fused activation's parameters do not fit its kind (per-channel kinds
    take one parameter per output channel: `channels`, when the caller knows it)."""
    kind, params = attrs_["activation"], attrs_["activation_params"]
    if ACTIVATIONS[kind][1] == ("*",):
        if not params or (channels is not None and len(params) not in (1, channels)):
            raise IRError(f"fused activation {kind} takes one parameter per output channel "
                          f"({channels if channels is not None else 'C'}), got {len(params)}")
        return
    want = len(ACTIVATIONS[kind][1])
    if len(params) != want:
        raise IRError(f"fused activation {kind} takes {want} parameters "
                      f"{ACTIVATIONS[kind][1]}, got {params}")


# Attribute schema every op with a fused activation shares
FUSED_ACTIVATION_ATTRS = {
    "activation": Attr("str", "none", choices=tuple(ACTIVATIONS), doc="fused activation"),
    "activation_params": Attr("floats", (), doc="parameters of the fused activation"),
}

_UNARY = [
    ("Relu", relu, {}),
    ("LeakyRelu", leaky_relu, {"alpha": Attr("float", 0.01)}),
    ("Clip", clip, {"min": Attr("float", float("-inf")), "max": Attr("float", float("inf"))}),
    ("HardSigmoid", hard_sigmoid, {"alpha": Attr("float", 0.2), "beta": Attr("float", 0.5)}),
    ("HardSwish", hard_swish, {}),
    ("Sigmoid", sigmoid, {}),
    ("Tanh", tanh, {}),
    ("Mish", mish, {}),
]
for _name, _fn, _attrs in _UNARY:
    _clamp = _name in ("Relu", "Clip")  # a clamp of the integers with the input's params
    define_op(_name, inputs=("X",), attrs=_attrs,
              infer=same_as_input if _clamp else float_input,
              quant=SAME if _clamp else TABLE)(_fn)


def broadcast_type(types, attrs_) -> TensorType:
    """numpy broadcasting of all inputs; dtypes must agree."""
    dtypes = {t.dtype for t in types if t is not None}
    if len(dtypes) != 1:
        raise IRError(f"inputs must share one dtype, got {sorted(d.value for d in dtypes)}")
    try:
        shape = np.broadcast_shapes(*(t.shape for t in types if t is not None))
    except ValueError:
        raise IRError(f"shapes {[list(t.shape) for t in types]} do not broadcast") from None
    return TensorType(shape, dtypes.pop())


def _int_div(a, b):
    q = np.trunc(np.true_divide(a, b))  # C / ONNX integer division truncates toward zero
    return q.astype(a.dtype)


def _div(a, b):
    """a / b (integer inputs: truncated toward zero)"""
    if np.issubdtype(a.dtype, np.integer):
        return _int_div(a, b)
    return np.true_divide(a, b).astype(a.dtype)


_BINARY = [
    ("Add", lambda a, b: np.add(a, b), "a + b"),
    ("Sub", lambda a, b: np.subtract(a, b), "a - b"),
    ("Mul", lambda a, b: np.multiply(a, b), "a * b"),
    ("Div", _div, "a / b (integer inputs: truncated toward zero)"),
    ("Max", lambda a, b: np.maximum(a, b), "max(a, b)"),
    ("Min", lambda a, b: np.minimum(a, b), "min(a, b)"),
    ("SquaredDifference", lambda a, b: np.square(np.subtract(a, b)),
     "(a - b) * (a - b) (TF / TFLite SQUARED_DIFFERENCE)"),
]
_BINARY_RULES = {"Add": ALIGNED, "Sub": ALIGNED, "Mul": PRODUCT, "Div": QUOTIENT}
for _name, _fn, _doc in _BINARY:
    _fn.__doc__ = _doc + ", with numpy broadcasting"
    define_op(_name, inputs=("A", "B"), infer=broadcast_type,
              commutative=_name in ("Add", "Mul"), quant=_BINARY_RULES.get(_name))(_fn)


@define_op("PRelu", inputs=("X", "slope"), infer=broadcast_type, quant=REQUANTIZE)
def prelu(x, slope):
    """x if x >= 0 else slope * x (slope broadcasts to x; output has x's shape)"""
    return np.where(x >= 0, x, x * slope).astype(x.dtype)


def _pow_type(types, attrs_):
    t = broadcast_type(types, attrs_)
    if not t.dtype.is_float:
        raise IRError(f"takes float tensors, got {t.dtype.value}")
    return t


@define_op("Pow", inputs=("A", "B"), infer=_pow_type, quant=REQUANTIZE)
def pow_(a, b):
    """ONNX Pow: a ** b with numpy broadcasting (float)."""
    return np.power(a, b).astype(a.dtype)


@define_op("Mod", inputs=("A", "B"), attrs={"fmod": Attr("bool", False)}, infer=broadcast_type)
def mod(a, b, *, fmod):
    """fmod: remainder with the sign of a (C fmod); else with the sign of b (Python %)."""
    return (np.fmod(a, b) if fmod else np.mod(a, b)).astype(a.dtype)
