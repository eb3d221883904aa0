"""Appliers of convolutions, dense layers and batch norm: windows that fit the drawn value, weights
with a unit-variance scale, fused activations (per-channel PRelu too) and fused max-pools."""

from __future__ import annotations

import math

from npucc.ir import OPS, Value

from .appliers import applier, divisors, spatial, window
from .builder import MAX_SIDE, GraphBuilder


def activation_attrs(b: GraphBuilder, channels: int | None = None) -> dict:
    """A fused activation for Conv/Gemm/MatMul: mostly none; with `channels` (the output's axis
    1) also a PRelu with one slope per channel, or one for all."""
    kinds = ["none", "none", "relu", "leaky_relu", "clip", "sigmoid", "hard_swish"]
    kind = b.pick(kinds + (["prelu"] if channels else []))
    params = {"leaky_relu": (0.1,), "clip": (0.0, 6.0)}.get(kind, ())
    if kind == "prelu":
        n = b.pick([channels, 1])
        params = tuple(float(s) for s in b.rng.uniform(-0.5, 0.5, n).astype("float32"))
    return {"activation": kind, "activation_params": params}


def fused_pool_attrs(b: GraphBuilder, oh: int, ow: int) -> dict:
    """Sometimes a fused max-pool (no padding, floor mode) that fits an oh x ow conv output."""
    if min(oh, ow) < 2 or not b.chance(3):
        return {}
    k = b.int_(2, min(3, oh, ow))
    # () means "strides = kernel", the attribute's default
    return {"pool_kernel": (k, k), "pool_strides": b.pick([(k, k), (1, 1), (2, 2), ()])}


@applier("Conv", accepts=spatial)
def _conv(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    n, c, h, w = x.shape
    group = b.pick(divisors(c))
    per_group = b.int_(1, max(1, MAX_SIDE // group))
    if b.chance(3) and group == c:
        per_group = 1  # depthwise
    m = group * per_group
    kh, sh, dh, pt, pb = window(b, h)
    kw, sw, dw, pl, pr = window(b, w)
    wt = b.weights((m, c // group, kh, kw), (c // group) * kh * kw, x.dtype)
    bias = b.random_const((m,), x.dtype, -0.5, 0.5) if b.chance(2) else None
    inputs = [x, wt] + ([bias] if bias is not None else [])
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    out = b.emit("Conv", inputs, strides=(sh, sw), pads=(pt, pl, pb, pr), dilations=(dh, dw),
                 group=group, **activation_attrs(b, m), **fused_pool_attrs(b, oh, ow))
    b.restore(out, v)


def _conv_transpose_axis(b: GraphBuilder, size: int) -> tuple[int, int, int, int, int]:
    """(kernel, stride, pad_begin, pad_end, output_padding) with an output size in 1..MAX_SIDE."""
    k = b.int_(1, 3)
    s = b.int_(1, 2)
    p0, p1 = b.int_(0, k - 1), b.int_(0, k - 1)
    op = b.int_(0, s - 1)
    out = s * (size - 1) + op + k - p0 - p1
    if not 1 <= out <= MAX_SIDE:
        return 1, 1, 0, 0, 0  # output = input size
    return k, s, p0, p1, op


@applier("ConvTranspose", accepts=spatial)
def _conv_transpose(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    n, c, h, w = x.shape
    group = b.pick(divisors(c))
    m = group * b.int_(1, max(1, MAX_SIDE // group))
    kh, sh, pt, pb, oph = _conv_transpose_axis(b, h)
    kw, sw, pl, pr, opw = _conv_transpose_axis(b, w)
    wt = b.weights((c, m // group, kh, kw), (c // group) * kh * kw, x.dtype)
    bias = b.random_const((m,), x.dtype, -0.5, 0.5) if b.chance(2) else None
    inputs = [x, wt] + ([bias] if bias is not None else [])
    out = b.emit("ConvTranspose", inputs, strides=(sh, sw), pads=(pt, pl, pb, pr),
                 dilations=(1, 1), group=group, output_padding=(oph, opw),
                 **activation_attrs(b, m))
    b.restore(out, v)


def _as_matrix(b: GraphBuilder, v: Value) -> Value:
    """`v` if 2-D, else Flatten(v, axis=1)."""
    return v if v.type.rank == 2 else b.emit("Flatten", [v], axis=1)


def _matrix_like(b, v):
    if v.type.rank < 2 or not b.room(1 + (v.type.rank != 2)):
        return False
    return v.type.rank == 2 or ("Flatten" in OPS and math.prod(v.shape[1:]) <= 512)


@applier("Gemm", accepts=_matrix_like)
def _gemm(b: GraphBuilder, v: Value):
    a = _as_matrix(b, v)
    trans_a = int(b.chance(4))
    m_, k_ = a.shape[::-1] if trans_a else a.shape
    n_ = b.int_(1, MAX_SIDE)
    trans_b = int(b.chance(2))
    wt = b.weights((n_, k_) if trans_b else (k_, n_), k_, a.dtype)
    inputs = [a, wt]
    if b.chance(2):
        inputs.append(b.random_const(b.pick([(n_,), (m_, n_)]), a.dtype, -0.5, 0.5))
    b.emit("Gemm", inputs, alpha=b.pick([1.0, 0.5]), beta=b.pick([1.0, 2.0]), transA=trans_a,
           transB=trans_b, **activation_attrs(b, n_))


@applier("MatMul", accepts=lambda b, v: v.type.rank >= 2 and b.room(1))
def _matmul(b: GraphBuilder, v: Value):
    k_ = v.shape[-1]
    n_ = b.int_(1, MAX_SIDE)
    shape = (k_, n_) if b.chance(3) or v.type.rank == 2 else v.shape[:-2] + (k_, n_)
    b.emit("MatMul", [v, b.weights(shape, k_, v.dtype)], **activation_attrs(b))


@applier("BatchNorm", accepts=lambda b, v: v.type.rank == 2 and b.room(1) or spatial(b, v))
def _batch_norm(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    c = x.shape[1]
    params = [b.random_const((c,), x.dtype, 0.5, 1.5), b.random_const((c,), x.dtype, -0.5, 0.5),
              b.random_const((c,), x.dtype, -0.5, 0.5), b.random_const((c,), x.dtype, 0.5, 2.0)]
    b.restore(b.emit("BatchNorm", [x] + params, epsilon=1e-5, layout="NCHW"), v)
