"""Ops beyond the core CNN set that real ONNX/PyTorch models use: more elementwise math,
comparisons and logic, Where, Gather, Expand, Tile, DepthToSpace/SpaceToDepth, more reductions,
ArgMax/ArgMin, InstanceNorm and LayerNorm. Semantics are ONNX's (named in each docstring).

Float kernels compute float16 in float32 and return the input dtype, like the core ops.
"""

from __future__ import annotations

import math

import numpy as np

from ...errors import IRError
from ..registry import Attr, define_op
from ..types import DType, TensorType
from .elementwise import broadcast_type
from .reduce import _REDUCE_ATTRS, _accumulator, _reduce_axes, _reduce_type
from .shape import normalize_axis, positive


def _f(x):
    """x in its accumulation type (float16 -> float32)."""
    return x.astype(_accumulator(x.dtype))


def _kind(check, what):
    def infer(types, attrs_):
        t = types[0]
        if not check(t.dtype):
            raise IRError(f"takes a {what} tensor, got {t.dtype.value}")
        return t.without_quant()
    return infer


_float = _kind(lambda d: d.is_float, "float")
_numeric = _kind(lambda d: d.is_float or d.is_int, "numeric")
_boolean = _kind(lambda d: d is DType.bool, "bool")

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _float_unary(fn):
    def kernel(x):
        return np.asarray(fn(_f(x))).astype(x.dtype)
    return kernel


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


_UNARY = [
    # name, kernel on the accumulation type, infer, doc
    ("Exp", np.exp, _float, "exp(x)"),
    ("Log", np.log, _float, "log(x)"),
    ("Sqrt", np.sqrt, _float, "sqrt(x)"),
    ("Reciprocal", lambda x: 1 / x, _float, "1 / x"),
    ("Floor", np.floor, _float, "floor(x)"),
    ("Ceil", np.ceil, _float, "ceil(x)"),
    ("Round", np.round, _float, "round half to even"),
    ("Erf", _erf, _float, "the error function"),
    ("Sin", np.sin, _float, "sin(x)"),
    ("Cos", np.cos, _float, "cos(x)"),
    ("Softplus", _softplus, _float, "log(1 + exp(x))"),
    ("Softsign", lambda x: x / (1 + np.abs(x)), _float, "x / (1 + |x|)"),
]
for _name, _fn, _infer, _doc in _UNARY:
    _k = _float_unary(_fn)
    _k.__doc__ = _doc
    define_op(_name, inputs=("X",), infer=_infer)(_k)


@define_op("Neg", inputs=("X",), infer=_numeric)
def neg(x):
    """-x (integers wrap)"""
    return np.negative(x)


@define_op("Abs", inputs=("X",), infer=_numeric)
def abs_(x):
    """|x|"""
    return np.abs(x)


@define_op("Sign", inputs=("X",), infer=_numeric)
def sign(x):
    """-1, 0 or 1 by the sign of x"""
    return np.sign(x).astype(x.dtype)


@define_op("Not", inputs=("X",), infer=_boolean)
def not_(x):
    """logical not"""
    return np.logical_not(x)


@define_op("Elu", inputs=("X",), attrs={"alpha": Attr("float", 1.0)}, infer=_float)
def elu(x, *, alpha):
    """x if x > 0 else alpha * (exp(x) - 1)"""
    z = _f(x)
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0))).astype(x.dtype)


@define_op("Selu", inputs=("X",), attrs={"alpha": Attr("float", 1.6732632423543772),
                                         "gamma": Attr("float", 1.0507009873554805)},
           infer=_float)
def selu(x, *, alpha, gamma):
    """gamma * (x if x > 0 else alpha * (exp(x) - 1))"""
    z = _f(x)
    return (gamma * np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))).astype(x.dtype)


@define_op("Gelu", inputs=("X",), attrs={"approximate": Attr("str", "none",
                                                             choices=("none", "tanh"))},
           infer=_float)
def gelu(x, *, approximate):
    """0.5 x (1 + erf(x / sqrt 2)); approximate=tanh:
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))"""
    z = x.astype(np.float64)
    if approximate == "tanh":
        y = 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))
    else:
        y = 0.5 * z * (1 + _erf(z / math.sqrt(2)))
    return y.astype(x.dtype)


@define_op("IsNaN", inputs=("X",), infer=lambda t, a: TensorType(_float(t, a).shape, DType.bool))
def is_nan(x):
    """x is NaN"""
    return np.isnan(x)


@define_op("IsInf", inputs=("X",), infer=lambda t, a: TensorType(_float(t, a).shape, DType.bool))
def is_inf(x):
    """x is +inf or -inf"""
    return np.isinf(x)


# ---- binary: comparisons, logic, Mod ----
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


@define_op("Mod", inputs=("A", "B"), attrs={"fmod": Attr("bool", False)}, infer=broadcast_type)
def mod(a, b, *, fmod):
    """fmod: remainder with the sign of a (C fmod); else with the sign of b (Python %)."""
    return (np.fmod(a, b) if fmod else np.mod(a, b)).astype(a.dtype)


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


# ---- data movement ----
def _gather_type(types, attrs_):
    x, idx = types
    if idx.dtype not in (DType.i32, DType.i64):
        raise IRError(f"indices must be i32 or i64, got {idx.dtype.value}")
    axis = normalize_axis(attrs_["axis"], x.rank)
    return TensorType(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)


@define_op("Gather", inputs=("X", "indices"), attrs={"axis": Attr("int", 0)}, infer=_gather_type)
def gather(x, indices, *, axis):
    """ONNX Gather: x indexed along `axis` by `indices` (negative indices count from the end)."""
    n = x.shape[axis]
    if indices.size and (indices.min() < -n or indices.max() >= n):
        raise IRError(f"Gather indices out of range [-{n}, {n})")
    return np.take(x, indices.astype(np.int64), axis=axis)


def _expand_type(types, attrs_):
    x, shape = types[0], tuple(attrs_["shape"])
    try:
        out = np.broadcast_shapes(x.shape, shape)
    except ValueError:
        raise IRError(f"cannot broadcast {list(x.shape)} to {list(shape)}") from None
    if out != shape:
        raise IRError(f"shape {list(shape)} must be the full broadcast shape {list(out)}")
    return TensorType(shape, x.dtype)


@define_op("Expand", inputs=("X",), attrs={"shape": Attr("ints", doc="explicit output shape")},
           infer=_expand_type)
def expand(x, *, shape):
    """x broadcast to `shape` (the full output shape)"""
    return np.broadcast_to(x, tuple(shape)).copy()


def _tile_type(types, attrs_):
    x, reps = types[0], attrs_["repeats"]
    if len(reps) != x.rank or any(r < 0 for r in reps):
        raise IRError(f"repeats {list(reps)} must be {x.rank} non-negative ints")
    return TensorType(tuple(d * r for d, r in zip(x.shape, reps)), x.dtype)


@define_op("Tile", inputs=("X",), attrs={"repeats": Attr("ints")}, infer=_tile_type)
def tile(x, *, repeats):
    """x repeated `repeats[i]` times along axis i"""
    return np.tile(x, tuple(repeats))


def _depth_space_type(to_space: bool):
    def infer(types, attrs_):
        x, b = types[0], attrs_["blocksize"]
        if x.rank != 4:
            raise IRError(f"takes a 4-D NCHW tensor, got {list(x.shape)}")
        n, c, h, w = x.shape
        if to_space:
            if c % (b * b):
                raise IRError(f"channels {c} not divisible by blocksize^2 = {b * b}")
            return TensorType((n, c // (b * b), h * b, w * b), x.dtype)
        if h % b or w % b:
            raise IRError(f"spatial size {h}x{w} not divisible by blocksize {b}")
        return TensorType((n, c * b * b, h // b, w // b), x.dtype)
    return infer


@define_op("DepthToSpace", inputs=("X",),
           attrs={"blocksize": Attr("int", check=lambda v: positive([v])),
                  "mode": Attr("str", "DCR", choices=("DCR", "CRD"))},
           infer=_depth_space_type(True))
def depth_to_space(x, *, blocksize, mode):
    """ONNX DepthToSpace: DCR takes depth-column-row order of the channel blocks, CRD
    column-row-depth."""
    n, c, h, w = x.shape
    b = blocksize
    if mode == "DCR":
        t = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:
        t = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return np.ascontiguousarray(t).reshape(n, c // (b * b), h * b, w * b)


@define_op("SpaceToDepth", inputs=("X",),
           attrs={"blocksize": Attr("int", check=lambda v: positive([v]))},
           infer=_depth_space_type(False))
def space_to_depth(x, *, blocksize):
    """ONNX SpaceToDepth (the inverse of DepthToSpace in DCR mode)."""
    n, c, h, w = x.shape
    b = blocksize
    t = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 3, 5, 1, 2, 4)
    return np.ascontiguousarray(t).reshape(n, c * b * b, h // b, w // b)


# ---- reductions ----
def _reduction(fn, doc, accumulate=True):
    def kernel(x, *, axes, keepdims):
        axes = _reduce_axes(axes, x.ndim)
        z = _f(x) if accumulate else x
        return np.asarray(fn(z, axes, keepdims)).astype(x.dtype)
    kernel.__doc__ = doc
    return kernel


def _log_sum_exp(z, axes, keep):
    m = np.max(z, axis=axes, keepdims=True)
    y = np.log(np.sum(np.exp(z - m), axis=axes, keepdims=True)) + m
    return y if keep else np.squeeze(y, axis=axes)


for _name, _fn, _float_only, _doc in [
        ("ReduceMin", lambda z, a, k: np.min(z, axis=a, keepdims=k), False, "min over axes"),
        ("ReduceProd", lambda z, a, k: np.prod(z, axis=a, keepdims=k), False,
         "product over axes"),
        ("ReduceL1", lambda z, a, k: np.sum(np.abs(z), axis=a, keepdims=k), False,
         "sum of |x| over axes"),
        ("ReduceL2", lambda z, a, k: np.sqrt(np.sum(z * z, axis=a, keepdims=k)), True,
         "sqrt of the sum of squares over axes"),
        ("ReduceSumSquare", lambda z, a, k: np.sum(z * z, axis=a, keepdims=k), False,
         "sum of squares over axes"),
        ("ReduceLogSumExp", _log_sum_exp, True, "log of the sum of exp over axes")]:
    define_op(_name, inputs=("X",), attrs=_REDUCE_ATTRS, infer=_reduce_type(_float_only))(
        _reduction(_fn, _doc))


def _arg_type(types, attrs_):
    x = types[0]
    axis = normalize_axis(attrs_["axis"], x.rank)
    if x.shape[axis] == 0:
        raise IRError(f"cannot take the arg-extremum of empty axis {axis}")
    shape = [1 if i == axis else d for i, d in enumerate(x.shape)
             if attrs_["keepdims"] or i != axis]
    return TensorType(shape, DType.i64)


def _arg(fn, doc):
    def kernel(x, *, axis, keepdims, select_last_index):
        if select_last_index:
            idx = x.shape[axis] - 1 - fn(np.flip(x, axis=axis), axis=axis)
        else:
            idx = fn(x, axis=axis)
        idx = np.asarray(idx, dtype=np.int64)
        return np.expand_dims(idx, axis) if keepdims else idx
    kernel.__doc__ = doc
    return kernel


_ARG_ATTRS = {"axis": Attr("int", 0), "keepdims": Attr("bool", True),
              "select_last_index": Attr("bool", False)}
define_op("ArgMax", inputs=("X",), attrs=_ARG_ATTRS, infer=_arg_type)(
    _arg(np.argmax, "index of the max along axis (first, or last if select_last_index)"))
define_op("ArgMin", inputs=("X",), attrs=_ARG_ATTRS, infer=_arg_type)(
    _arg(np.argmin, "index of the min along axis (first, or last if select_last_index)"))


# ---- normalizations ----
def _instance_norm_type(types, attrs_):
    x, scale, bias = types
    if x.rank < 3 or not x.dtype.is_float:
        raise IRError(f"takes a float N,C,... tensor, got {x}")
    for t, what in ((scale, "scale"), (bias, "bias")):
        if t.shape != (x.shape[1],):
            raise IRError(f"{what} must have shape [{x.shape[1]}], got {list(t.shape)}")
    return x.without_quant()


@define_op("InstanceNorm", inputs=("X", "scale", "bias"), attrs={"epsilon": Attr("float", 1e-5)},
           infer=_instance_norm_type)
def instance_norm(x, scale, bias, *, epsilon):
    """ONNX InstanceNormalization: per (n, c), normalize over the spatial axes, then
    scale[c] * x + bias[c]."""
    z = _f(x)
    axes = tuple(range(2, x.ndim))
    mean = z.mean(axis=axes, keepdims=True)
    var = ((z - mean) ** 2).mean(axis=axes, keepdims=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (z - mean) / np.sqrt(var + epsilon) * _f(scale).reshape(shape) + _f(bias).reshape(shape)
    return y.astype(x.dtype)


def _layer_norm_type(types, attrs_):
    x, scale, bias = types
    if not x.dtype.is_float:
        raise IRError(f"takes a float tensor, got {x.dtype.value}")
    axis = normalize_axis(attrs_["axis"], x.rank)
    for t, what in ((scale, "scale"), (bias, "bias")):
        if t is None:
            continue
        try:
            out = np.broadcast_shapes(x.shape[axis:], t.shape)
        except ValueError:
            out = None
        if out != x.shape[axis:]:
            raise IRError(f"{what} shape {list(t.shape)} does not broadcast to the normalized "
                          f"shape {list(x.shape[axis:])}")
    return x.without_quant()


@define_op("LayerNorm", inputs=("X", "scale", "bias?"),
           attrs={"axis": Attr("int", -1), "epsilon": Attr("float", 1e-5)},
           infer=_layer_norm_type)
def layer_norm(x, scale, bias, *, axis, epsilon):
    """ONNX LayerNormalization: normalize over axes axis..rank-1, then * scale + bias."""
    z = _f(x)
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean = z.mean(axis=axes, keepdims=True)
    var = ((z - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (z - mean) / np.sqrt(var + epsilon) * _f(scale)
    if bias is not None:
        y = y + _f(bias)
    return y.astype(x.dtype)
