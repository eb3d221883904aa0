"""fuse-pad: fold an explicit constant Pad into the padding of the Conv / pool that reads it,
when that computes exactly the same values."""

from __future__ import annotations

import math

import attrs

from npucc.errors import IRError
from npucc.ir.ops.pool import window_count

from .base import register_pass
from .rewrite import Any, Op, RewritePass, Rule


def _spatial_pads(pad) -> tuple[int, ...] | None:
    """The Pad's pads as an (all begins, all ends) tuple over the spatial axes of an N,C,...
    tensor; None when it pads N or C, or is not constant mode."""
    p, r = pad.attrs["pads"], pad.output.type.rank
    if pad.attrs["mode"] != "constant" or r < 3 or any(p[i] or p[i + r] for i in (0, 1)):
        return None
    return tuple(p[2:r]) + tuple(p[r + 2:])


def _non_negative(v) -> bool:
    """The value is >= 0 everywhere by construction (the output of a Relu-like op)."""
    n = v.producer
    if n is None:
        return False
    act = n.attrs.get("activation") if n.op in ("Conv", "ConvTranspose", "Gemm", "MatMul") \
        else {"Relu": "relu", "Sigmoid": "sigmoid", "Clip": "clip"}.get(n.op)
    if act == "clip":
        lo = n.attrs["activation_params"][0] if "activation_params" in n.attrs else n.attrs["min"]
        return lo >= 0
    return act in ("relu", "sigmoid")


def _merged(node, extra) -> tuple[int, ...]:
    return tuple(a + b for a, b in zip(node.attrs["pads"], extra))


def _into_conv(m, rw):
    # conv(pad0(x, p), pads=q) -> conv(x, pads=p+q)
    pad, conv = m["pad"], m.root
    extra = _spatial_pads(pad)
    if extra is None or pad.attrs["value"] != 0 or pad.output.type.quant is not None:
        return None
    return rw.op("Conv", m["x"], *conv.inputs[1:], **{**conv.attrs, "pads": _merged(conv, extra)})


def _pool_window_ok(pool, pads) -> bool:
    """floor mode, no dilation, every pad smaller than the window (so no window is all padding)"""
    k, sr = pool.attrs["kernel_shape"], len(pool.attrs["kernel_shape"])
    return (not pool.attrs["ceil_mode"] and all(d == 1 for d in pool.attrs.get("dilations", ()))
            and all(max(pads[i], pads[i + sr]) < k[i] for i in range(sr)))


def _into_pool(m, rw):
    # maxpool(pad(x, p, -inf or 0 if x >= 0)) -> maxpool(x, pads=p+q)
    # avgpool(pad0(x, p), q, count_include_pad or q=0) -> avgpool(x, pads=p+q, count_include_pad)
    pad, pool = m["pad"], m.root
    extra = _spatial_pads(pad)
    if extra is None or pad.output.type.quant is not None:
        return None
    pads, value = _merged(pool, extra), pad.attrs["value"]
    attrs_ = {**pool.attrs, "pads": pads}
    if pool.op == "MaxPool":
        ok = value == -math.inf or (value == 0 and _non_negative(m["x"]))
    else:
        ok = value == 0 and (pool.attrs["count_include_pad"] or not any(pool.attrs["pads"]))
        attrs_["count_include_pad"] = True
    if not ok or not _pool_window_ok(pool, pads):
        return None
    return rw.op(pool.op, m["x"], **attrs_)


def _windows(size, k, s, p0, p1, d):
    try:
        return window_count(size, k, s, p0, p1, d)
    except IRError:
        return None


def _trim_pool_pads(m, rw):
    # pool(x, pads=(b, e)) -> pool(x, pads=(b, e'))   e' < e: the end padding no window reads
    pool, x = m.root, m["x"]
    a = pool.attrs
    k, s, pads = a["kernel_shape"], a["strides"], list(a["pads"])
    sr = len(k)
    d = a.get("dilations") or (1,) * sr
    if a["ceil_mode"]:
        return None
    for i in range(sr):
        want = _windows(x.shape[2 + i], k[i], s[i], pads[i], pads[i + sr], d[i])
        while pads[i + sr] and _windows(x.shape[2 + i], k[i], s[i], pads[i], pads[i + sr] - 1,
                                        d[i]) == want:
            pads[i + sr] -= 1
    if tuple(pads) == a["pads"]:
        return None
    return rw.op(pool.op, x, **{**a, "pads": tuple(pads)})


_PAD = Op("Pad", Any("x"), name="pad")
RULES = (
    Rule("pad-conv", Op("Conv", _PAD, Any(), Any(optional=True)), _into_conv),
    Rule("pad-pool", Op(("MaxPool", "AveragePool"), _PAD), _into_pool),
    Rule("unread-pool-pads", Op(("MaxPool", "AveragePool"), Any("x")), _trim_pool_pads),
)


@register_pass
@attrs.frozen
class FusePad(RewritePass):
    """Fold explicit constant padding into the padding of the op that reads it.

    Guarantee: to a fixed point, a constant-mode Pad that pads only spatial axes is removed from
    in front of (1) a Conv when its value is 0 (the pads add to the Conv's); (2) a MaxPool when
    its value is -inf, or 0 and its input is >= 0 by construction (a Relu-like producer); (3) an
    AveragePool when its value is 0 and the pool counts padding (count_include_pad, or no pads of
    its own); pools only in floor mode without dilation and with every merged pad smaller than
    the window, so no window is all padding. Pool end padding that no window reads (Darknet's
    maxpool pads size-1) is dropped (floor mode). Outputs are bit-identical. The Pad stays when
    it has other readers."""

    name = "fuse-pad"
    rules = RULES
