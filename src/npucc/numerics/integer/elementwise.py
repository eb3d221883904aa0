"""Elementwise kernels of the affine and dfp profiles, all rounding half to even once:
Add / Sub (each input rescaled onto a common fixed-point scale, summed exactly, requantized),
Mul (and Pow(x, 2) as x * x), PRelu and Div by a constant (per-element multipliers), Div by a
computed divisor (an exact integer quotient), Requantize,
the table ops (any unary float function, tabulated over the input's integers), and the shared
data-movement, pad and clamp kernels."""

from __future__ import annotations

import numpy as np

from ...ir.graph import Node
from ..fixed_point import (
    divide_round_half_even,
    multiply_round_half_even,
    quantize_multiplier,
    shift_round_half_even,
)
from ..movement import MOVES, arg_extremum, clamp, max_pool, move, pad
from ..params import per_tensor, same_params, saturate, value_range
from ..profiles import Kernel, QuantizedExecutionError, kernel
from ..tables import elementwise
from .requantize import PROFILES, requantizer, round_to_int

kernel(PROFILES, *MOVES)(move)
kernel(PROFILES, "MaxPool")(max_pool)
kernel(PROFILES, "ArgMax", "ArgMin")(arg_extremum)


@kernel(PROFILES, "Pad")
def _pad(node: Node) -> Kernel:
    return pad(node, round_to_int, allow_dfp=True)


@kernel(PROFILES, "Relu", "Clip")
def _clamp(node: Node) -> Kernel:
    return clamp(node, round_to_int, allow_dfp=True)


@kernel(PROFILES, "Resize")
def _resize(node: Node) -> Kernel:
    """nearest: moves integers. linear: the registry's bilinear interpolation of x - zx in
    float64 (its weights are exact float32 values, the float kernel's), rounded half to even
    once, plus zx: input and output share params (rule SAME)."""
    if node.attrs["mode"] == "nearest":
        return move(node)
    x, y = node.inputs[0], node.outputs[0]
    same_params(node, [x, y])
    _, zx = per_tensor(x, "input", node, allow_dfp=True)
    lo, hi = value_range(y)
    opdef, attrs_ = node.opdef, node.attrs

    def run(args):
        real = opdef.kernel(args[0].astype(np.float64) - zx, **attrs_)
        return [np.clip(np.rint(real) + zx, lo, hi).astype(y.dtype.numpy)]
    return run


def _on_integers(node: Node, f, lo: int, hi: int, operands=None) -> Kernel:
    """`elementwise` (a table for 8-bit inputs) of the inputs `operands` (default: all) clamped
    to [lo, hi]; 16-bit inputs of one-input functions are tabulated too (65536 entries), wider
    ones computed per element."""
    idx = tuple(range(len(node.inputs))) if operands is None else tuple(operands)
    xs, y = [node.inputs[i] for i in idx], node.outputs[0]
    if len(xs) == 1 and xs[0].dtype.bits == 16:
        codes = np.arange(1 << 16, dtype=np.uint16).view(xs[0].dtype.numpy).astype(np.int64)
        table = saturate(y, f(codes), lo, hi)
        return lambda args: [table[args[idx[0]].view(np.uint16)]]
    return elementwise(node, f, lo, hi, idx)


def constant_operand_limits(node: Node) -> str | None:
    """PRelu's slope, Div's constant divisor, Pow's exponent (input 1): the integer kernels fold
    it into their multipliers, so it must be a finite constant broadcasting to input 0's shape;
    Div's is nonzero, Pow's is 2 (a square). A computed divisor is quantized (`_quotient`)."""
    x, c = node.inputs[0], node.inputs[1]
    what = {"PRelu": "slope", "Div": "divisor", "Pow": "exponent"}[node.op]
    if node.op == "Div" and not c.is_constant:
        return None
    if not c.is_constant:
        return f"its {what} is not a constant"
    if len(c.shape) > len(x.shape) or np.broadcast_shapes(c.shape, x.shape) != x.shape:
        return f"its {what} {list(c.shape)} does not broadcast to the input's {list(x.shape)}"
    k = c.const
    if not np.all(np.isfinite(k)):
        return f"its {what} is not finite"
    if node.op == "Div" and np.any(k == 0):
        return "it divides by zero"
    if node.op == "Pow" and np.any(k != 2):
        return "an integer Pow squares (exponent 2); other exponents stay float"
    return None


@kernel(PROFILES, "PRelu", "Div", limits=constant_operand_limits)
def _scale_by_constant(node: Node) -> Kernel:
    """y = round_half_even((x - zx) * f * sx / sy) + zy, f per element of the constant input 1
    (broadcast): Div: f = 1 / c; PRelu: f = 1 where x >= zx, the slope below (the sign-split
    requantization of a conv's fused prelu). One fixed-point multiplier per element of c."""
    if node.op == "Div" and node.inputs[1].type.quant is not None:
        return _quotient(node)
    problem = constant_operand_limits(node)
    if problem:
        raise QuantizedExecutionError(f"{node.describe()}: {problem}")
    x, c, y = node.inputs[0], node.inputs[1], node.outputs[0]
    sx, zx = per_tensor(x, "input", node, allow_dfp=True)
    sy, zy = per_tensor(y, "output", node, allow_dfp=True)
    k = c.const.astype(np.float64).reshape((1,) * (x.type.rank - c.type.rank) + c.shape)
    real = np.float64(sx) / np.float64(sy)
    if node.op == "Div":
        positive, negative = real / k, None
    else:
        positive, negative = np.full(k.shape, real), real * k
    lo, hi = value_range(y)
    bound = max(abs(v - zx) for v in value_range(x))
    requant = requantizer(positive, offset=-zx, bound=bound, zy=zy, lo=lo, hi=hi,
                          dtype=y.dtype.numpy, negative_real=negative)
    return lambda args: [requant(args[0])]


def _quotient(node: Node) -> Kernel:
    """Div by a computed divisor: y = round_half_even((a - za) * m / ((b - zb) * 2**s)) + zy,
    m * 2**-s the fixed-point form of sa / (sb * sy), divided exactly in integers (Python ints
    where int64 could overflow); b == zb saturates by the sign of a - za (0 / 0 gives zy)."""
    a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
    sa, za = per_tensor(a, "input 0", node, allow_dfp=True)
    sb, zb = per_tensor(b, "input 1", node, allow_dfp=True)
    sy, zy = per_tensor(y, "output", node, allow_dfp=True)
    m, shift = quantize_multiplier(np.float64(sa) / (np.float64(sb) * np.float64(sy)))
    m, s = int(m[0]), 31 - int(shift[0])
    wide = not 0 <= s <= 61 - b.dtype.bits  # |d| < 2**61: twice the remainder fits int64
    big = 1 << 40  # beyond every output range: saturates

    def divide(va, vb):
        n, d = np.broadcast_arrays((va - za) * m, vb - zb)
        if wide:
            n, d = n.astype(object), d.astype(object)
        n, d = (n * (1 << -s), d) if s < 0 else (n, d * (1 << s))
        q = divide_round_half_even(n, np.where(d == 0, 1, d))
        q = np.where(d == 0, np.where(n > 0, big, np.where(n < 0, -big, 0)), q)
        return np.minimum(np.maximum(q, -big), big).astype(np.int64) + zy
    return _on_integers(node, divide, *value_range(y))


@kernel(PROFILES, "Add", "Sub")
def _add(node: Node) -> Kernel:
    """y = round_half_even(((a - za) * Ma +- (b - zb) * Mb) / 2**S) + zy: both inputs on one
    fixed-point scale (Ma, Mb the int32 multipliers of sa / sy and sb / sy with a shared shift
    S), summed exactly in int64, one rounding."""
    a, b = node.inputs
    y = node.outputs[0]
    sa, za = per_tensor(a, "input 0", node, allow_dfp=True)
    sb, zb = per_tensor(b, "input 1", node, allow_dfp=True)
    sy, zy = per_tensor(y, "output", node, allow_dfp=True)
    big = max(sa, sb) / sy
    _, shift = quantize_multiplier(big)  # big ~ m * 2**(shift - 31), m in [2**30, 2**31)
    s = int(31 - shift[0])
    ma = int(np.rint(np.ldexp(sa / sy, s)))
    mb = int(np.rint(np.ldexp(sb / sy, s)))
    sign = -1 if node.op == "Sub" else 1

    def add(va, vb):
        return shift_round_half_even((va - za) * ma + sign * (vb - zb) * mb, s) + zy
    return _on_integers(node, add, *value_range(y))


@kernel(PROFILES, "Pow", limits=constant_operand_limits)
@kernel(PROFILES, "Mul")
def _mul(node: Node) -> Kernel:
    """y = round_half_even((a - za) * (b - zb) * sa * sb / sy) + zy, by multiplier and shift;
    Pow(x, 2) is Mul(x, x)."""
    square = node.op == "Pow"
    problem = constant_operand_limits(node) if square else None
    if problem:
        raise QuantizedExecutionError(f"{node.describe()}: {problem}")
    a, b = (node.inputs[0],) * 2 if square else node.inputs
    y = node.outputs[0]
    sa, za = per_tensor(a, "input 0", node, allow_dfp=True)
    sb, zb = per_tensor(b, "input 1", node, allow_dfp=True)
    sy, zy = per_tensor(y, "output", node, allow_dfp=True)
    m, sh = quantize_multiplier(sa * sb / sy)

    def mul(va, vb):
        return multiply_round_half_even((va - za) * (vb - zb), m, sh) + zy
    if square:
        return _on_integers(node, lambda v: mul(v, v), *value_range(y), operands=(0,))
    return _on_integers(node, mul, *value_range(y))


@kernel(PROFILES, "Requantize", "Identity")
def _requantize(node: Node) -> Kernel:
    """y = round_half_even((x - zx) * sx / sy) + zy, saturated to the output's range: between
    any two quantized types (u8 affine to i16 dynamic fixed point, say)."""
    x, y = node.inputs[0], node.outputs[0]
    if x.type == y.type:
        return lambda args: [args[0]]
    sx, zx = per_tensor(x, "input", node, allow_dfp=True)
    sy, zy = per_tensor(y, "output", node, allow_dfp=True)
    m, sh = quantize_multiplier(sx / sy)
    return _on_integers(node, lambda v: multiply_round_half_even(v - zx, m, sh) + zy,
                        *value_range(y))


def _table_limits(node: Node) -> str | None:
    if node.opdef.quant is None or not node.opdef.quant.table:
        return f"{node.op} is not an elementwise table op"
    return None


TABLE_OPS = ("Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "LeakyRelu", "Mish", "Exp", "Log",
             "Sqrt", "Reciprocal", "Rsqrt", "Erf", "Sin", "Cos", "Softplus", "Softsign", "Neg",
             "Abs", "Elu", "Selu", "Gelu", "Floor", "Ceil", "Round")


@kernel(PROFILES, *TABLE_OPS, limits=_table_limits)
def table(node: Node) -> Kernel:
    """A unary function as a lookup table: entry q = clamp(round_half_even(f(sx * (q - zx)) /
    sy) + zy), f the op's float reference kernel evaluated in float64, for every integer q of
    the input (256 or 65536 entries): what an NPU's LUT unit holds."""
    x, y = node.inputs[0], node.outputs[0]
    sx, zx = per_tensor(x, "input", node, allow_dfp=True)
    sy, zy = per_tensor(y, "output", node, allow_dfp=True)
    if x.dtype.bits > 16:
        raise QuantizedExecutionError(f"{node.describe()}: a table takes 8- or 16-bit input")
    opdef, attrs_ = node.opdef, node.attrs

    def f(q):  # entries outside the function's domain (Sqrt of a negative code) read 0
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            real = opdef.kernel(np.float64(sx) * (q - zx).astype(np.float64), **attrs_)
            scaled = np.rint(np.nan_to_num(np.asarray(real, np.float64) / sy, nan=0.0,
                                           posinf=2.0 ** 62, neginf=-2.0 ** 62))
        return np.clip(scaled, -2.0 ** 62, 2.0 ** 62).astype(np.int64) + zy
    return _on_integers(node, f, *value_range(y))
