"""fold-input-affine: fold per-channel arithmetic and a channel reorder in front of a Conv (input
preprocessing: reorder, then (x - mean) / std) into the Conv's weights and bias."""

from __future__ import annotations

import attrs
import numpy as np

from .base import register_pass
from .channel_affine import per_channel
from .rewrite import Op, RewritePass, Rule


def _step(node, cur):
    """The input of chain node `node` and its effect on the map cur[j] = s[j] * raw[idx[j]] + t[j]
    (idx, s, t given for the node's output); None when the node is not a per-channel step."""
    idx, s, t = cur
    if node.op == "Gather":  # y[j] = x[g[j]]  (a permutation of axis 1)
        g = node.inputs[1]
        if node.attrs["axis"] % node.output.type.rank != 1 or not g.is_constant or \
                g.const.ndim != 1 or sorted(g.const.tolist()) != list(range(len(g.const))):
            return None
        return node.inputs[0], (g.const.astype(np.int64)[idx], s, t)  # y[idx[j]] = x[g[idx[j]]]
    a, b = node.inputs
    k = 1 if b.is_constant else 0 if a.is_constant else None
    if k is None or node.output.type != node.inputs[1 - k].type:
        return None
    c = per_channel(node.inputs[k].const, node.output.shape)
    if c is None:
        return None
    c = c[idx]  # the constant as seen by conv input channel j
    # y = x*c | c*x | x+c | c+x | x-c | c-x | x/c  ->  the map of x, from the map of y
    if node.op == "Mul" and np.all(c != 0):
        return node.inputs[1 - k], (idx, s * c, t)
    if node.op == "Add":
        return node.inputs[1 - k], (idx, s, t + s * c)
    if node.op == "Sub":
        return node.inputs[1 - k], (idx, -s if k == 0 else s, t + s * c if k == 0 else t - s * c)
    if node.op == "Div" and k == 1 and np.all(c != 0):
        return node.inputs[0], (idx, s / c, t)
    return None


def _chain(x):
    """Walk back from a conv input through single-use per-channel steps: the raw value, the map
    conv_input[j] = s[j] * raw[idx[j]] + t[j], and the number of steps."""
    c = x.shape[1]
    cur, n = (np.arange(c), np.ones(c), np.zeros(c)), 0
    while x.producer is not None and x.producer.op in ("Gather", "Mul", "Add", "Sub", "Div") \
            and len(x.uses) == 1 and x.dtype.is_float and x.type.quant is None:
        step = _step(x.producer, cur)
        if step is None:
            break
        x, cur, n = step[0], step[1], n + 1
    return x, cur, n


def _fold(m, rw):
    # conv(s * raw[idx] + t) -> conv'(raw) with W'[m, idx[j]] = s[j] W[m, j], b' = b + sum W t
    conv = m.root
    raw, (idx, s, t), n = _chain(conv.inputs[0])
    g = conv.attrs["group"]
    if n == 0 or (g > 1 and np.any(idx != np.arange(len(idx)))) or np.any(s == 0):
        return None
    w = conv.inputs[1].const.astype(np.float64)
    pads, attrs_ = conv.attrs["pads"], dict(conv.attrs)
    m_out, cg, sr = w.shape[0], w.shape[1], w.ndim - 2
    wg = w.reshape(g, m_out // g, cg, *w.shape[2:])
    sg, tg = s.reshape(g, 1, cg, *[1] * sr), t.reshape(g, 1, cg, *[1] * sr)
    bias = conv.inputs[2].const.astype(np.float64) if len(conv.inputs) > 2 and conv.inputs[2] \
        is not None else np.zeros(m_out)
    if any(pads) and np.any(t != 0):
        # the conv's zero padding is not a raw value's image: keep one Add at the input
        # (raw + t/s) and the pads, fold the scale and the reorder. (Padding the raw value with
        # -t/s instead, when that is one number, is exact too, but a Pad with a non-zero value
        # runs on no NPU once quantized: it cut PP-OCR det into 12 NPU partitions.)
        if np.all(s == 1) and n == 1:
            return None
        u = np.zeros_like(t)
        u[idx] = t / s
        raw = rw.op("Add", raw, rw.constant(u.reshape((-1,) + (1,) * sr), dtype=raw.dtype))
    else:
        bias = bias + (wg * tg).sum(axis=tuple(range(2, 3 + sr))).reshape(-1)
    w_new = (wg * sg).reshape(w.shape)
    if g == 1:  # input channel idx[j] of the raw value gets the weights of channel j
        w_new[:, idx] = w_new.copy()
    dt = conv.output.dtype
    return rw.op("Conv", raw, rw.constant(w_new, dtype=dt), rw.constant(bias, dtype=dt), **attrs_)


def _foldable(conv):
    """is a float Conv with constant weights and bias"""
    return conv.inputs[1].is_constant and all(v is None or v.is_constant for v in conv.inputs[2:]) \
        and conv.output.dtype.is_float and conv.output.type.quant is None


@register_pass
@attrs.frozen
class FoldInputAffine(RewritePass):
    """Fold per-channel arithmetic and a channel permutation in front of a Conv into it.

    Guarantee: to a fixed point, a Conv with constant weights whose input is a chain of
    single-use Mul / Add / Sub / Div by constants varying along axis 1 only and Gathers
    permuting axis 1 (for group=1) reads the chain's raw input instead: W' = s * W with input
    channels permuted, b' = b + sum(W * t). With zero padding and an offset, one Add of t/s stays
    at the input and the Conv keeps its pads (scale and reorder are still folded), so the
    padding stays exact and no Pad with a non-zero value appears (NPUs pad with zero only).
    Computed in float64, rounded once; outputs agree up to float rounding."""

    name = "fold-input-affine"
    rules = (Rule("affine-conv", Op("Conv", where=_foldable), _fold),)
