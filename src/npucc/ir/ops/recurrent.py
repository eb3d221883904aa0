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


# ---- LinearAttention ----
_UPDATE_RULES = ("linear", "gated", "delta", "gated_delta")


def _linear_attention_type(types, attrs_):
    q, k, v, past, decay, beta = (types + [None] * 3)[:6]
    hq, hkv, rule = attrs_["q_num_heads"], attrs_["kv_num_heads"], attrs_["update_rule"]
    for name, t in (("query", q), ("key", k), ("value", v), ("decay", decay), ("beta", beta)):
        if t is not None and (t.rank != 3 or not t.dtype.is_float):
            raise IRError(f"{name} must be a float [B, T, heads * size] tensor, got "
                          f"{t.dtype.value} {list(t.shape)}")
    b, t = q.shape[:2]
    if hq % hkv or q.shape[2] % hq or k.shape[2] % hkv or v.shape[2] % hkv:
        raise IRError(f"query {list(q.shape)}, key {list(k.shape)} and value {list(v.shape)} do "
                      f"not pack {hq} query and {hkv} key/value heads")
    dk, dv = q.shape[2] // hq, v.shape[2] // hkv
    if k.shape != (b, t, hkv * dk) or v.shape[:2] != (b, t):
        raise IRError(f"key {list(k.shape)} / value {list(v.shape)} do not fit query "
                      f"{list(q.shape)}")
    state = (b, hkv, dk, dv)
    if past is not None and past.shape != state:
        raise IRError(f"past_state {list(past.shape)} must be {list(state)}")
    if (decay is not None) != (rule in ("gated", "gated_delta")) or \
            (beta is not None) != (rule in ("delta", "gated_delta")):
        raise IRError(f"update_rule {rule} takes {'decay' if 'gated' in rule else 'no decay'} "
                      f"and {'beta' if 'delta' in rule else 'no beta'}")
    if decay is not None and decay.shape not in ((b, t, hkv), (b, t, hkv * dk)):
        raise IRError(f"decay {list(decay.shape)} must be [{b}, {t}, {hkv}] or "
                      f"[{b}, {t}, {hkv * dk}]")
    if beta is not None and beta.shape not in ((b, t, hkv), (b, t, 1)):
        raise IRError(f"beta {list(beta.shape)} must be [{b}, {t}, {hkv}] or [{b}, {t}, 1]")
    return [TensorType((b, t, hq * dv), q.dtype),
            TensorType(state, (past if past is not None else q).dtype)]


@define_op("LinearAttention", inputs=("query", "key", "value", "past_state?", "decay?", "beta?"),
           attrs={"q_num_heads": Attr("int", check=lambda h: None if h >= 1 else "must be >= 1"),
                  "kv_num_heads": Attr("int", check=lambda h: None if h >= 1 else "must be >= 1"),
                  "scale": Attr("float"),
                  "update_rule": Attr("str", "gated_delta", choices=_UPDATE_RULES)},
           infer=_linear_attention_type)
def linear_attention(query, key, value, past_state=None, decay=None, beta=None, *,
                     q_num_heads, kv_num_heads, scale, update_rule):
    """ONNX LinearAttention, token by token (float64): per KV head the state S (d_k x d_v,
    past_state or 0) decays by exp(decay_t) (gated rules), v_t becomes
    beta_t (v_t - S^T k_t) (delta rules), S += k_t v_t^T, and each query head of the group
    reads o_t = scale q_t^T S. Returns the output [B, T, H_q * d_v] and the final state."""
    f64 = np.float64
    b, t, _ = query.shape
    hq, hkv = q_num_heads, kv_num_heads
    dk, dv = query.shape[2] // hq, value.shape[2] // hkv

    def heads(x, h):  # [B, T, h * d] -> [B, h, T, d]
        return x.astype(f64).reshape(b, t, h, -1).transpose(0, 2, 1, 3)
    q, k, v = heads(query, hq), heads(key, hkv), heads(value, hkv)
    g = None if decay is None else heads(decay, hkv)  # [B, hkv, T, 1 or dk]
    bt = None if beta is None else beta.astype(f64).reshape(b, t, -1, 1).transpose(0, 2, 1, 3)
    state = np.zeros((b, hkv, dk, dv)) if past_state is None else past_state.astype(f64)
    out = np.empty((b, hq, t, dv))
    group = hq // hkv
    for i in range(t):
        if g is not None:
            state = state * np.exp(g[:, :, i, :])[..., None]
        vt = v[:, :, i, :]
        if bt is not None:
            vt = bt[:, :, i, :] * (vt - np.einsum("bhdm,bhd->bhm", state, k[:, :, i, :]))
        state = state + k[:, :, i, :, None] * vt[:, :, None, :]
        read = np.repeat(state, group, axis=1) if group > 1 else state
        out[:, :, i, :] = scale * np.einsum("bhd,bhdm->bhm", q[:, :, i, :], read)
    y = out.transpose(0, 2, 1, 3).reshape(b, t, hq * dv).astype(query.dtype)
    return y, state.astype(query.dtype if past_state is None else past_state.dtype)
