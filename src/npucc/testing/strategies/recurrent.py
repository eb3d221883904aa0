"""Appliers of the recurrent layers (LSTM, GRU, RNN): a value is read as [seq, batch, input] (a
Reshape folds its trailing axes into the input features first)."""

from __future__ import annotations

import math

from npucc.ir import Value

from .appliers import applier
from .builder import GraphBuilder


def _as_sequence(v: Value) -> tuple[int, int, int]:
    """[seq, batch, input] for a value: its first two axes and the rest as features."""
    s = tuple(v.shape)
    if len(s) < 3:
        return ((1, 1) + s)[-3:]
    return s[0], s[1], math.prod(s[2:])


def _accepts(b: GraphBuilder, v: Value) -> bool:
    return v.type.rank >= 1 and _as_sequence(v)[2] <= 32 and b.room(2)


def _make(op: str, gates: int):
    def apply(b: GraphBuilder, v: Value):
        seq_shape = _as_sequence(v)
        if tuple(v.shape) != seq_shape:
            v = b.emit("Reshape", [v], shape=seq_shape)
        size, hidden = v.shape[2], b.int_(1, 6)
        direction = b.pick(["forward", "reverse", "bidirectional"])
        d = 2 if direction == "bidirectional" else 1
        w = b.random_const((d, gates * hidden, size), v.dtype, -0.5, 0.5)
        r = b.random_const((d, gates * hidden, hidden), v.dtype, -0.5, 0.5)
        bias = b.random_const((d, 2 * gates * hidden), v.dtype, -0.5, 0.5) if b.chance(2) else None
        h0 = b.random_const((d, v.shape[1], hidden), v.dtype) if b.chance(2) else None
        extra, states = {}, [h0]
        if op == "LSTM":
            c0 = b.random_const((d, v.shape[1], hidden), v.dtype) if b.chance(2) else None
            peep = b.random_const((d, 3 * hidden), v.dtype, -0.5, 0.5) if b.chance(3) else None
            states += [c0, peep]
        elif op == "GRU":
            extra["linear_before_reset"] = b.chance(2)
        else:
            extra["activation"] = b.pick(["tanh", "relu", "sigmoid"])
        b.emit(op, [v, w, r, bias, *states], hidden_size=hidden, direction=direction, **extra)
    applier(op, accepts=_accepts)(apply)


_make("LSTM", 4)
_make("GRU", 3)
_make("RNN", 1)
