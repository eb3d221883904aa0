"""Appliers of elementwise ops: unary activations and math, binary arithmetic with constant or
live partners, PRelu."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from npucc.ir import DType, Value

from .appliers import ANY, FLOAT, any_rank, applier
from .builder import GraphBuilder

# ---- elementwise: unary ----

_UNARY_ATTRS: dict[str, Callable[[GraphBuilder, Value], dict]] = {
    "Relu": lambda b, v: {},
    "Sigmoid": lambda b, v: {},
    "Tanh": lambda b, v: {},
    "Mish": lambda b, v: {},
    "HardSwish": lambda b, v: {},
    "LeakyRelu": lambda b, v: {"alpha": b.pick([0.01, 0.1, 0.2])},
    "HardSigmoid": lambda b, v: {"alpha": b.pick([0.2, 1 / 6]), "beta": 0.5},
    # bounds inside the value's type (unsigned types have no -1)
    "Clip": lambda b, v: {"min": b.pick([0.0, -1.0] if v.dtype is not DType.u8 else [0.0, 1.0]),
                          "max": b.pick([6.0, 1.0] if v.dtype is not DType.u8 else [6.0, 100.0])},
    "Identity": lambda b, v: {},
    "Abs": lambda b, v: {},
    "Neg": lambda b, v: {},
    "Elu": lambda b, v: {"alpha": b.pick([1.0, 0.5])},
    "Selu": lambda b, v: {},
    "Gelu": lambda b, v: {"approximate": b.pick(["none", "tanh"])},
    "Erf": lambda b, v: {},
    "Softplus": lambda b, v: {},
    "Softsign": lambda b, v: {},
    "Sin": lambda b, v: {},
    "Cos": lambda b, v: {},
    "Atan": lambda b, v: {},
    "Asinh": lambda b, v: {},
    "Celu": lambda b, v: {"alpha": b.pick([1.0, 0.5, 2.0])},
    "ThresholdedRelu": lambda b, v: {"alpha": b.pick([1.0, 0.0, -0.5])},
    "Shrink": lambda b, v: {"bias": b.pick([0.0, 0.5]), "lambd": b.pick([0.5, 0.0, 1.0])},
    # discontinuous (only when asked for)
    "Ceil": lambda b, v: {},
    "Floor": lambda b, v: {},
    "Round": lambda b, v: {},
    "Sign": lambda b, v: {},
}


def _make_unary(op: str):
    def apply(b: GraphBuilder, v: Value):
        b.emit(op, [v], layout=b.layout_of(v), **_UNARY_ATTRS[op](b, v))
    int_ok = op in ("Relu", "Clip", "Identity")
    applier(op, accepts=any_rank, kinds=ANY if int_ok else FLOAT)(apply)


for _op in _UNARY_ATTRS:
    _make_unary(_op)

# Functions finite on an interval only (or steep past it): the value is clipped into it first
_DOMAINS = {"Asin": (-0.9, 0.9), "Acos": (-0.9, 0.9), "Atanh": (-0.9, 0.9), "Acosh": (1.1, 4.0),
            "Tan": (-1.2, 1.2)}


def _make_on_domain(op: str, lo: float, hi: float):
    def apply(b: GraphBuilder, v: Value):
        x = b.emit("Clip", [v], min=lo, max=hi, layout=b.layout_of(v), hidden=True)
        b.emit(op, [x], layout=b.layout_of(v))
    applier(op, accepts=lambda b, v: b.room(2), uses=("Clip",))(apply)


for _op, (_lo, _hi) in _DOMAINS.items():
    _make_on_domain(_op, _lo, _hi)


# ---- elementwise: binary ----

def broadcast_shapes(b: GraphBuilder, v: Value) -> list[tuple[int, ...]]:
    """Constant shapes that broadcast to `v` without growing it: scalar, per-channel, full."""
    s = v.shape
    out: list[tuple[int, ...]] = [(), (1,)]
    if s:
        out.append((s[-1],))
    if len(s) == 4 and b.layout_of(v) != "NHWC":
        out.append((s[1], 1, 1))  # NCHW per-channel
    out.append(tuple(s))
    return out


def constant_operand(b: GraphBuilder, shape, dtype: DType, *, nonzero: bool = False) -> Value:
    """A constant of `shape`; sometimes (fold bait) an all-constant subexpression instead."""
    lo, hi = (-2.0, 2.0)
    if (b.allow_constants_only_nodes and dtype.is_float and b.room(2)
            and b.offers("Add", "Mul") and b.chance(2)):
        # (c1 op c2), from constants only: constant folding should make it one constant. Both
        # operands are positive, and so is the result unless it is a Sub (never for a divisor).
        c1 = b.random_const(shape, dtype, 0.5, 1.5)
        c2 = b.random_const(shape, dtype, 0.25, 0.75)
        ops = ["Add", "Mul"] + [o for o in ("Max", "Sub")
                                if b.offers(o) and not (nonzero and o == "Sub")]
        out = b.emit(b.pick(ops), [c1, c2])
        if b.room(2) and b.chance(2) and b.offers("Relu"):
            out = b.emit("Relu", [out])
        return out
    if nonzero:
        return b.random_const(shape, dtype, 0.5, 2.0, away_from_zero=0.5) if dtype.is_float \
            else b.random_const(shape, dtype, 1, 3, away_from_zero=1)
    return b.random_const(shape, dtype, lo, hi)


def broadcasts_to(shape, target) -> bool:
    """Whether `shape` broadcasts to exactly `target`."""
    try:
        return tuple(np.broadcast_shapes(shape, target)) == tuple(target)
    except ValueError:
        return False


def partners(b: GraphBuilder, v: Value) -> list[Value]:
    """Other pool values that broadcast with `v` to exactly `v`'s shape."""
    return [w for w in b.pool
            if w is not v and w.dtype == v.dtype and broadcasts_to(w.shape, v.shape)]


def _make_binary(op: str):
    def apply(b: GraphBuilder, v: Value):
        live = [] if op == "Div" else partners(b, v)  # never divide by a live value
        if live and b.chance(2):
            other = b.pick(live)
        else:
            shape = b.pick(broadcast_shapes(b, v))
            other = constant_operand(b, shape, v.dtype, nonzero=(op == "Div"))
        args = [other, v] if op != "Div" and b.chance(3) else [v, other]
        b.emit(op, args, layout=b.layout_of(v))
    applier(op, accepts=any_rank, kinds=FLOAT if op == "Div" else ANY)(apply)


for _op in ("Add", "Sub", "Mul", "Div", "Max", "Min"):
    _make_binary(_op)


@applier("PRelu", accepts=any_rank)
def _prelu(b: GraphBuilder, v: Value):
    shapes = [s for s in broadcast_shapes(b, v) if s != ()]
    slope = b.random_const(b.pick(shapes), v.dtype, 0.0, 0.5)
    b.emit("PRelu", [v, slope], layout=b.layout_of(v))


@applier("Where", accepts=lambda b, v: b.room(2), kinds=ANY, uses=("Greater",))
def _where(b: GraphBuilder, v: Value):
    """Where(v > c, v, other): a select driven by the drawn value (discontinuous at c)."""
    cond = b.emit("Greater", [v, b.random_const((), v.dtype, -1.0, 1.0)], hidden=True)
    live = partners(b, v)
    other = b.pick(live) if live and b.chance(2) else \
        b.random_const(b.pick(broadcast_shapes(b, v)), v.dtype, -2.0, 2.0)
    b.emit("Where", [cond, v, other], layout=b.layout_of(v))
