"""Convolutions: Conv and ConvTranspose (NCHW or NCW, explicit pads, grouped, fused activation).

Both are computed by one grouped correlation over sliding windows (`correlate`); ConvTranspose is
that correlation on the stride-dilated input with the flipped, transposed kernel.
"""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.quant_rule import linear
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import TensorType

from .elementwise import FUSED_ACTIVATION_ATTRS, apply_activation, check_activation
from .pool import check_spatial_attrs, max_pool, output_sizes, padded, spatial_rank, windows
from .shape import non_negative, positive

_CONV_ATTRS = {
    "strides": Attr("ints", (1, 1), check=positive),
    "pads": Attr("ints", (0, 0, 0, 0), check=non_negative, doc="all begins, then all ends"),
    "dilations": Attr("ints", (1, 1), check=positive),
    "group": Attr("int", 1, check=lambda g: None if g >= 1 else "must be >= 1"),
}


def _accumulator(dtype) -> np.dtype:
    """float16 is accumulated in float32 and rounded once at the end."""
    return np.dtype(np.float32) if dtype == np.float16 else np.dtype(dtype)


def correlate(x, w, strides, pads, dilations, group) -> np.ndarray:
    """Grouped cross-correlation: x (N, C, *S), w (M, C/group, *K) -> (N, M, *out)."""
    sr = x.ndim - 2
    kernel = w.shape[2:]
    out = output_sizes(x.shape[2:], kernel, strides, pads, dilations)
    win = windows(padded(x, pads, out, kernel, strides, dilations, 0), kernel, strides, dilations,
                  out)  # (N, C, *out, *K)
    n, c, m = x.shape[0], x.shape[1], w.shape[0]
    win = win.reshape(n, group, c // group, *win.shape[2:])
    wg = w.reshape(group, m // group, c // group, *kernel)
    o, k = "xy"[:sr], "ij"[:sr]
    y = np.einsum(f"ngc{o}{k},gmc{k}->ngm{o}", win, wg, optimize=True)
    return y.reshape(n, m, *out)


def _finish(y, b, attrs_, dtype):
    if b is not None:
        y = y + b.astype(y.dtype).reshape(-1, *([1] * (y.ndim - 2)))
    y = apply_activation(y, attrs_["activation"], attrs_["activation_params"])
    return y.astype(dtype)


def _check_operands(x, w, b, out_channels):
    if not x.dtype.is_float:
        raise IRError(f"takes float tensors, got X {x.dtype.value} (quantized convolutions are "
                      "expressed with Quantize/DequantizeLinear around a float Conv)")
    for name, t in (("W", w), ("B", b)):
        if t is not None and t.dtype != x.dtype:
            raise IRError(f"{name} is {t.dtype.value} but X is {x.dtype.value}")
    if w.rank != x.rank:
        raise IRError(f"W has rank {w.rank} ({list(w.shape)}) but X has rank {x.rank} "
                      f"({list(x.shape)})")
    if b is not None and b.shape != (out_channels,):
        raise IRError(f"B has shape {list(b.shape)}, expected [{out_channels}] (one per output "
                      "channel)")


# ---- Conv ----
def _conv_type(types, attrs_):
    x, w, b = (types + [None])[:3]
    sr = spatial_rank(x, "X")
    check_spatial_attrs(attrs_, sr)
    g = attrs_["group"]
    m = w.shape[0] if w.rank >= 1 else 0
    check_activation(attrs_, m)
    _check_operands(x, w, b, m)
    c = x.shape[1]
    if c % g:
        raise IRError(f"X has {c} channels, not divisible by group {g}")
    if w.shape[1] * g != c:
        raise IRError(f"X has {c} channels but W expects {w.shape[1] * g} "
                      f"(W.shape[1]={w.shape[1]} per group x group={g})")
    if m % g:
        raise IRError(f"W has {m} output channels, not divisible by group {g}")
    out = output_sizes(x.shape[2:], w.shape[2:], attrs_["strides"], attrs_["pads"],
                       attrs_["dilations"])
    if attrs_["pool_kernel"]:
        for key in ("pool_kernel", "pool_strides"):
            if attrs_[key] and len(attrs_[key]) != sr:
                raise IRError(f"{key} {attrs_[key]} has {len(attrs_[key])} entries, the input "
                              f"has {sr} spatial dims")
        out = output_sizes(out, attrs_["pool_kernel"], _pool_strides(attrs_), (0,) * (2 * sr),
                           (1,) * sr)
    return TensorType([x.shape[0], m] + out, x.dtype)


def _pool_strides(attrs_):
    return attrs_["pool_strides"] or attrs_["pool_kernel"]


_FUSED_POOL_ATTRS = {
    "pool_kernel": Attr("ints", (), check=positive,
                        doc="fused max-pool window after the activation; empty: no pool"),
    "pool_strides": Attr("ints", (), check=positive, doc="fused max-pool strides (default: "
                         "the window); the fused pool has no padding and floors"),
}


@define_op("Conv", inputs=("X", "W", "B?"),
           attrs={**_CONV_ATTRS, **FUSED_ACTIVATION_ATTRS, **_FUSED_POOL_ATTRS},
           infer=_conv_type, quant=linear(lambda attrs_: 0))
def conv(x, w, b=None, **attrs_):
    """ONNX Conv: y[n, m] = B[m] + sum over c in m's group and kernel taps of
    x_padded[n, c, s*o + d*k] * W[m, c, k]; then the fused activation, then the fused max-pool
    (if pool_kernel is set). W is (M, C/group, *K)."""
    acc = _accumulator(x.dtype)
    y = correlate(x.astype(acc), w.astype(acc), attrs_["strides"], attrs_["pads"],
                  attrs_["dilations"], attrs_["group"])
    y = _finish(y, b, attrs_, x.dtype)
    if attrs_["pool_kernel"]:
        sr = y.ndim - 2
        y = max_pool(y, kernel_shape=attrs_["pool_kernel"], strides=_pool_strides(attrs_),
                     pads=(0,) * (2 * sr), dilations=(1,) * sr, ceil_mode=False)
    return y


# ---- ConvTranspose ----
def _conv_transpose_sizes(spatial, kernel, strides, pads, dilations, output_padding):
    sr = len(spatial)
    return [strides[i] * (spatial[i] - 1) + output_padding[i] + (kernel[i] - 1) * dilations[i] + 1
            - pads[i] - pads[i + sr] for i in range(sr)]


def _conv_transpose_type(types, attrs_):
    x, w, b = (types + [None])[:3]
    sr = spatial_rank(x, "X")
    check_spatial_attrs(attrs_, sr, per_axis=("strides", "dilations", "output_padding"))
    g = attrs_["group"]
    c = x.shape[1]
    m = w.shape[1] * g if w.rank >= 2 else 0
    check_activation(attrs_, m)
    _check_operands(x, w, b, m)
    if w.shape[0] != c:
        raise IRError(f"X has {c} channels but W has {w.shape[0]} input channels (W.shape[0]; "
                      "ConvTranspose W is (C, M/group, *K))")
    if c % g:
        raise IRError(f"X has {c} channels, not divisible by group {g}")
    for i, (p, s, d) in enumerate(zip(attrs_["output_padding"], attrs_["strides"],
                                      attrs_["dilations"])):
        if p >= max(s, d):
            raise IRError(f"output_padding {p} on spatial axis {i} must be smaller than the "
                          f"stride {s} or the dilation {d}")
    out = _conv_transpose_sizes(x.shape[2:], w.shape[2:], attrs_["strides"], attrs_["pads"],
                                attrs_["dilations"], attrs_["output_padding"])
    if min(out) < 1:
        raise IRError(f"output spatial size {out} is empty: pads {attrs_['pads']} are too large")
    return TensorType([x.shape[0], m] + out, x.dtype)


@define_op("ConvTranspose", inputs=("X", "W", "B?"),
           attrs={**_CONV_ATTRS,
                  "output_padding": Attr("ints", (0, 0), check=non_negative,
                                         doc="extra size at the end of each spatial axis"),
                  **FUSED_ACTIVATION_ATTRS},
           infer=_conv_transpose_type, quant=linear(lambda attrs_: 1))
def conv_transpose(x, w, b=None, **attrs_):
    """ONNX ConvTranspose with explicit pads: every x[n, c, i] scatters x * W[c, m, k] to
    position s*i + d*k - pad_begin of output channel m (m in c's group); the output size is
    s*(in-1) + output_padding + d*(K-1) + 1 - pad_begin - pad_end; then the fused activation.
    W is (C, M/group, *K)."""
    strides, pads, dil, g = (attrs_[k] for k in ("strides", "pads", "dilations", "group"))
    op = attrs_["output_padding"]
    acc = _accumulator(x.dtype)
    sr = x.ndim - 2
    n, c = x.shape[:2]
    kernel = w.shape[2:]
    out = _conv_transpose_sizes(x.shape[2:], kernel, strides, pads, dil, op)
    if tuple(kernel) == tuple(strides) and set(dil) == {1} and not any(op):
        y = _tiled(x.astype(acc), w.astype(acc), g)
        y = y[(slice(None), slice(None)) + tuple(slice(pads[i], pads[i] + out[i])
                                                 for i in range(sr))]
        return _finish(y, b, attrs_, x.dtype)
    # insert stride-1 zeros between input pixels
    xd = np.zeros((n, c, *[s * (d - 1) + 1 for s, d in zip(strides, x.shape[2:])]), acc)
    xd[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)] = x
    # kernel of the equivalent correlation: per group (C/g, M/g, K) -> (M/g, C/g, flipped K)
    mg = w.shape[1]
    wc = w.astype(acc).reshape(g, c // g, mg, *kernel).swapaxes(1, 2).reshape(g * mg, c // g,
                                                                              *kernel)
    wc = np.flip(wc, axis=tuple(range(2, 2 + sr)))
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dil)]
    full_pads = [e - 1 for e in eff] + [e - 1 + p for e, p in zip(eff, op)]
    y = correlate(xd, wc, (1,) * sr, full_pads, dil, g)
    y = y[(slice(None), slice(None)) + tuple(slice(pads[i], pads[i] + out[i]) for i in range(sr))]
    return _finish(y, b, attrs_, x.dtype)


def _tiled(x, w, group):
    """ConvTranspose whose kernel equals its stride (no dilation): every input pixel writes its
    own kernel-sized output tile, so the result is one product per pixel, no zero-stuffed input
    (FPN upsampling heads; 4x fewer products than the general path at stride 2)."""
    n, c, *spatial = x.shape
    sr, mg, kernel = len(spatial), w.shape[1], w.shape[2:]
    o, k = "xyz"[:sr], "ijk"[:sr]
    # contiguous operands: einsum's contraction order (hence the float rounding) must not
    # depend on the memory layout x arrives in (NCHW and NHWC imports give identical outputs)
    tiles = np.einsum(f"ngc{o},gcm{k}->ngm{''.join(a + b for a, b in zip(o, k))}",
                      np.ascontiguousarray(x).reshape(n, group, c // group, *spatial),
                      np.ascontiguousarray(w).reshape(group, c // group, mg, *kernel),
                      optimize=True)
    return np.ascontiguousarray(tiles).reshape(n, group * mg,
                                               *[s * t for s, t in zip(spatial, kernel)])


# ---- DeformConv ----
def _deform_conv_type(types, attrs_):
    x, w, offset, b, mask = (types + [None] * 2)[:5]
    if x.rank != 4:
        raise IRError(f"takes 2-D (N, C, H, W) input, got {list(x.shape)}")
    check_spatial_attrs(attrs_, 2)
    g, og = attrs_["group"], attrs_["offset_group"]
    m = w.shape[0] if w.rank >= 1 else 0
    _check_operands(x, w, b, m)
    n, c = x.shape[:2]
    if c % g or m % g or w.shape[1] * g != c:
        raise IRError(f"X has {c} channels and W is {list(w.shape)}: not a convolution of "
                      f"{g} groups")
    if c % og:
        raise IRError(f"X has {c} channels, not divisible by offset_group {og}")
    kh, kw = w.shape[2:]
    out = output_sizes(x.shape[2:], w.shape[2:], attrs_["strides"], attrs_["pads"],
                       attrs_["dilations"])
    for name, t, per_tap in (("offset", offset, 2), ("mask", mask, 1)):
        want = [n, og * kh * kw * per_tap] + out
        if t is not None and (t.dtype != x.dtype or list(t.shape) != want):
            raise IRError(f"{name} is {t.dtype.value} {list(t.shape)}, expected "
                          f"{x.dtype.value} {want}")
    return TensorType([n, m] + out, x.dtype)


def _bilinear_zero_padded(img, ys, xs):
    """img (C, H, W) sampled at float coordinates ys, xs (same shape S): (C, *S); taps outside
    the image read 0."""
    h, w = img.shape[1:]
    y0, x0 = np.floor(ys), np.floor(xs)
    out = 0
    for dy in (0, 1):
        for dx in (0, 1):
            yi, xi = y0 + dy, x0 + dx
            weight = (1 - np.abs(ys - yi)) * (1 - np.abs(xs - xi))
            inside = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
            yc = np.clip(yi, 0, h - 1).astype(np.int64)
            xc = np.clip(xi, 0, w - 1).astype(np.int64)
            out = out + img[:, yc, xc] * np.where(inside, weight, 0)
    return out


@define_op("DeformConv", inputs=("X", "W", "offset", "B?", "mask?"),
           attrs={**_CONV_ATTRS,
                  "offset_group": Attr("int", 1, check=lambda g: None if g >= 1
                                       else "must be >= 1")},
           infer=_deform_conv_type)
def deform_conv(x, w, offset, b=None, mask=None, **attrs_):
    """ONNX DeformConv (2-D): Conv whose tap (i, j) at output (p, q) reads x bilinearly at
    (p*sh - pad_top + i*dh + offset_y, q*sw - pad_left + j*dw + offset_x) (0 outside the image),
    times mask; offset holds (dy, dx) per offset group and tap, each offset group serving C /
    offset_group consecutive input channels. Computed in float64."""
    f64 = np.float64
    n, c, _, _ = x.shape
    m, cg, kh, kw = w.shape
    g, og = attrs_["group"], attrs_["offset_group"]
    (sh, sw), (dh, dw), pads = attrs_["strides"], attrs_["dilations"], attrs_["pads"]
    oh, ow = offset.shape[2:]
    off = offset.astype(f64).reshape(n, og, kh, kw, 2, oh, ow)
    msk = (np.ones((n, og, kh, kw, oh, ow)) if mask is None
           else mask.astype(f64).reshape(n, og, kh, kw, oh, ow))
    base_y = (np.arange(oh) * sh - pads[0])[None, None, :, None] + \
        (np.arange(kh) * dh)[:, None, None, None]  # (kh, 1, oh, 1)
    base_x = (np.arange(ow) * sw - pads[1])[None, None, None, :] + \
        (np.arange(kw) * dw)[None, :, None, None]  # (1, kw, 1, ow)
    per_og = c // og
    cols = np.empty((n, c, kh, kw, oh, ow))
    for i in range(n):
        for k in range(og):
            ys = base_y + off[i, k, :, :, 0]
            xs = base_x + off[i, k, :, :, 1]
            chans = x[i, k * per_og:(k + 1) * per_og].astype(f64)
            cols[i, k * per_og:(k + 1) * per_og] = \
                _bilinear_zero_padded(chans, ys, xs) * msk[i, k]
    cols = cols.reshape(n, g, cg, kh, kw, oh, ow)
    wg = w.astype(f64).reshape(g, m // g, cg, kh, kw)
    y = np.einsum("ngcijpq,gmcij->ngmpq", cols, wg, optimize=True).reshape(n, m, oh, ow)
    if b is not None:
        y = y + b.astype(f64).reshape(1, -1, 1, 1)
    return y.astype(x.dtype)
