"""Recurrent layers with ONNX semantics (layout 0: X is [seq, batch, input]): LSTM and GRU with the
default activations (sigmoid gates, tanh cell), and the simple RNN (tanh, relu or sigmoid); one or
two directions. Y is [seq, directions, batch, hidden]; Y_h (and LSTM's Y_c) the last state of each
direction."""

from __future__ import annotations

import math

import numpy as np

from npucc.errors import IRError
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import TensorType

from .dtype_rules import same_dtype
from .elementwise import _sigmoid

_DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}
_INPUT_NAMES = ("X", "W", "R", "B", "initial_h", "initial_c", "P")


def _recurrent_types(gates: int, states: int):
    def infer(types, attrs_):
        x, w, r = types[:3]
        same_dtype(types, _INPUT_NAMES[:len(types)])
        if not x.dtype.is_float:
            raise IRError(f"takes float tensors, got {x.dtype.value}")
        d, h = _DIRECTIONS[attrs_["direction"]], attrs_["hidden_size"]
        if x.rank != 3:
            raise IRError(f"X must be [seq, batch, input], got {list(x.shape)}")
        seq, batch, size = x.shape
        if seq < 1:
            raise IRError("X has no time step")
        want = {"W": (d, gates * h, size), "R": (d, gates * h, h), "B": (d, 2 * gates * h),
                "initial_h": (d, batch, h), "initial_c": (d, batch, h), "P": (d, 3 * h)}
        for name, t in zip(_INPUT_NAMES[1:], types[1:]):
            if t is not None and tuple(t.shape) != want[name]:
                raise IRError(f"{name} must be {list(want[name])}, got {list(t.shape)}")
        state = TensorType((d, batch, h), x.dtype)
        return [TensorType((seq, d, batch, h), x.dtype)] + [state] * states
    return infer


def _run_directions(x, direction, step_fn):
    """Y [seq, dirs, batch, hidden] and the final states of each direction, step_fn(d, order)
    -> (list of h per time step in `order`, final states)."""
    seq = x.shape[0]
    dirs = ["forward", "reverse"] if direction == "bidirectional" else [direction]
    ys, finals = [], []
    for d, name in enumerate(dirs):
        order = range(seq) if name == "forward" else range(seq - 1, -1, -1)
        hs, last = step_fn(d, order)
        y = np.empty((seq,) + hs[0].shape, x.dtype)  # seq >= 1 (type inference)
        for t, h in zip(order, hs):
            y[t] = h
        ys.append(y)
        finals.append(last)
    y = np.stack(ys, axis=1)
    return y, [np.stack(s) for s in zip(*finals)]


_RECURRENT_ATTRS = {"hidden_size": Attr("int", check=lambda v: "must be >= 1" if v < 1 else None),
                    "direction": Attr("str", "forward", choices=tuple(_DIRECTIONS))}


def _cell_clip_check(v):
    return None if math.isfinite(v) and v >= 0 else "must be a finite number >= 0"


@define_op("LSTM", inputs=("X", "W", "R", "B?", "initial_h?", "initial_c?", "P?"),
           attrs={**_RECURRENT_ATTRS,
                  "cell_clip": Attr("float", 0.0, doc="clip of the cell state c' to "
                                    "[-cell_clip, cell_clip], 0: none (TFLite's cell_clip)",
                                    check=_cell_clip_check)},
           infer=_recurrent_types(4, 2))
def lstm(x, w, r, b=None, initial_h=None, initial_c=None, p=None, *, hidden_size, direction,
         cell_clip):
    """ONNX LSTM: gates i, o, f, c; c' = f * c + i * tanh(c~), clipped to +-cell_clip when it is
    not 0 (TFLite), h' = o * tanh(c'), with peepholes P (i, o, f) when given; in x's type."""
    hs_ = hidden_size
    n = x.shape[1]

    def step_fn(d, order):
        xw = x @ w[d].T + (b[d, :4 * hs_] + b[d, 4 * hs_:] if b is not None else 0)
        h = initial_h[d] if initial_h is not None else np.zeros((n, hs_), x.dtype)
        c = initial_c[d] if initial_c is not None else np.zeros((n, hs_), x.dtype)
        pi, po, pf = (p[d, :hs_], p[d, hs_:2 * hs_], p[d, 2 * hs_:]) if p is not None else (0,) * 3
        hs = []
        for t in order:
            g = xw[t] + h @ r[d].T
            i = _sigmoid(g[:, :hs_] + pi * c)
            f = _sigmoid(g[:, 2 * hs_:3 * hs_] + pf * c)
            c = f * c + i * np.tanh(g[:, 3 * hs_:])
            if cell_clip:
                c = np.clip(c, -cell_clip, cell_clip)
            h = _sigmoid(g[:, hs_:2 * hs_] + po * c) * np.tanh(c)
            hs.append(h.astype(x.dtype))
        return hs, (h.astype(x.dtype), c.astype(x.dtype))

    y, (y_h, y_c) = _run_directions(x, direction, step_fn)
    return y, y_h, y_c


@define_op("GRU", inputs=("X", "W", "R", "B?", "initial_h?"),
           attrs={**_RECURRENT_ATTRS, "linear_before_reset": Attr("bool", False)},
           infer=_recurrent_types(3, 1))
def gru(x, w, r, b=None, initial_h=None, *, hidden_size, direction, linear_before_reset):
    """ONNX GRU: gates z, r, h; h~ = tanh(x Wh + (r * h) Rh + Rbh + Wbh), or with
    linear_before_reset tanh(x Wh + r * (h Rh + Rbh) + Wbh); h' = (1 - z) * h~ + z * h."""
    hs_ = hidden_size
    n = x.shape[1]

    def step_fn(d, order):
        wb = b[d, :3 * hs_] if b is not None else np.zeros(3 * hs_, x.dtype)
        rb = b[d, 3 * hs_:] if b is not None else np.zeros(3 * hs_, x.dtype)
        xw = x @ w[d].T + wb
        rz, rh = r[d, :2 * hs_], r[d, 2 * hs_:]
        h = initial_h[d] if initial_h is not None else np.zeros((n, hs_), x.dtype)
        hs = []
        for t in order:
            zr = _sigmoid(xw[t, :, :2 * hs_] + h @ rz.T + rb[:2 * hs_])
            z, reset = zr[:, :hs_], zr[:, hs_:]
            if linear_before_reset:
                cand = np.tanh(xw[t, :, 2 * hs_:] + reset * (h @ rh.T + rb[2 * hs_:]))
            else:
                cand = np.tanh(xw[t, :, 2 * hs_:] + (reset * h) @ rh.T + rb[2 * hs_:])
            h = ((1 - z) * cand + z * h).astype(x.dtype)
            hs.append(h)
        return hs, (h,)

    y, (y_h,) = _run_directions(x, direction, step_fn)
    return y, y_h


_RNN_ACTIVATIONS = {"tanh": np.tanh, "relu": lambda v: np.maximum(v, 0), "sigmoid": _sigmoid}


@define_op("RNN", inputs=("X", "W", "R", "B?", "initial_h?"),
           attrs={**_RECURRENT_ATTRS,
                  "activation": Attr("str", "tanh", choices=tuple(_RNN_ACTIVATIONS),
                                     doc="f, the same in both directions")},
           infer=_recurrent_types(1, 1))
def rnn(x, w, r, b=None, initial_h=None, *, hidden_size, direction, activation):
    """ONNX RNN: h' = f(x W + h R + Wb + Rb)."""
    f = _RNN_ACTIVATIONS[activation]
    n = x.shape[1]

    def step_fn(d, order):
        xw = x @ w[d].T + (b[d, :hidden_size] + b[d, hidden_size:] if b is not None else 0)
        h = initial_h[d] if initial_h is not None else np.zeros((n, hidden_size), x.dtype)
        hs = []
        for t in order:
            h = f(xw[t] + h @ r[d].T).astype(x.dtype)
            hs.append(h)
        return hs, (h,)

    y, (y_h,) = _run_directions(x, direction, step_fn)
    return y, y_h
