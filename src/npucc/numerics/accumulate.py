"""Exact integer accumulation of Conv / Gemm / MatMul, fast: in float32 or float64 BLAS.

Sums of products of integers are exact in float32 while every partial sum stays below 2**24
(then BLAS sums exactly, in any order) and in float64 below 2**53. With constant weights the GEMM
runs on x - c, c the centre of x's storage range (0 for int8, 128 for uint8), so magnitudes and
bounds stay small, and the zero point returns as a per-channel constant:
    sum((x - zx) * w') = sum((x - c) * w') - (zx - c) * sum(w'),   w' = w - zw,
padding x with zx - c. Every profile's linear kernel accumulates here and requantizes its own way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import attrs
import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..ir.graph import Node, Value
from . import jit
from .params import storage_range

DEPTHWISE_BLOCK_BYTES = 256 * 1024  # accumulator bytes per channel block of depthwise convs


def float_for(bound) -> np.dtype:
    """The float type whose sums of integers bounded by `bound` are exact."""
    return np.dtype(np.float32) if np.max(bound) < 2 ** 24 else np.dtype(np.float64)


def exact_accumulator(node: Node, x: Value, w: Value, zx: int, wz) -> np.dtype:
    """float32 when every partial sum of the node's dot products is an integer below 2**24,
    else float64 (exact below 2**53): for the general (non-constant weight) path."""
    lo, hi = x.dtype.int_range
    x_max = max(abs(lo - zx), abs(hi - zx))
    if w.is_constant:
        wd = np.abs(np.asarray(w.const, np.float64) - wz)
        k = int(np.prod(w.shape[1:])) if node.op != "ConvTranspose" else int(np.prod(w.shape))
        bound = x_max * float(wd.max()) * k
    else:
        wlo, whi = w.dtype.int_range
        bound = x_max * max(abs(wlo), abs(whi)) * float(np.prod(w.shape))
    return float_for(bound)


def storage_centre(v: Value) -> int:
    """The integer subtracted from raw values before the GEMM (0 for int8/int16, 128 for uint8),
    so their magnitudes, and the exactness bounds, stay small."""
    lo, hi = storage_range(v)
    return (lo + hi + 1) // 2


def _load_into(buf: np.ndarray, centre: int) -> Callable[[np.ndarray], None]:
    if centre == 0:  # (float16 is widened by a table gather: numpy's cast is slow)
        return lambda xa: np.copyto(buf, (jit.to_float32(xa) if xa.dtype == np.float16 else xa)
                                    .reshape(buf.shape), casting="unsafe")
    c = buf.dtype.type(centre)
    return lambda xa: np.subtract(xa.reshape(buf.shape), c, out=buf, dtype=buf.dtype)


def conv_accumulator(node: Node, wq: np.ndarray, pad: int, centre: int, dtype: np.dtype,
                     out_spatial, splits: tuple[int, ...] = (),
                     channels_last: tuple[bool, bool] = (False, False)
                     ) -> Callable[[np.ndarray], np.ndarray] | None:
    """Sum over taps of (x - centre) * wq for a Conv with constant weights, x padded with `pad`
    (= x_zero_point - centre), before any fused pool: returns acc(xa) -> (N, M, *out_spatial)
    array of exact integers in `dtype`, or None for shapes this path does not take (3-D convs).

    Depthwise (group == C == M): one multiply-add per tap, per block of channels that stays in
    cache. Otherwise im2col into a buffer prepared once (through the padded input's stride
    phases, one window copy per phase; skipped for 1x1 convs) and one batched GEMM per group;
    `splits` (offsets into the reduction) cut it into GEMMs summed in float64 (`split_gemm`).

    channels_last (input, output), for an ungrouped 1x1 stride-1 unpadded conv without splits:
    the input is an (N, C, H, W) view of NHWC bytes, and / or the accumulator comes back as
    (N, H*W, M), channels last: the one GEMM is oriented by the layouts ((pixels x C) @ W^T for
    a channels-last output)."""
    x = node.inputs[0]
    at = node.attrs
    if x.type.rank not in (3, 4):
        return None
    if x.type.rank == 3:
        (n, c, h, wd), (m, cg, kh, kw), (oh, ow) = (x.shape[0], x.shape[1], 1, x.shape[2]), \
            (*wq.shape[:2], 1, wq.shape[2]), (1, out_spatial[0])
        (sh, sw), (dh, dw) = (1, at["strides"][0]), (1, at["dilations"][0])
        pt, pl, pb, pr = 0, at["pads"][0], 0, at["pads"][1]
    else:
        (n, c, h, wd), (m, cg, kh, kw), (oh, ow) = x.shape, wq.shape, tuple(out_spatial)
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = at["strides"], at["dilations"], at["pads"]
    g = at["group"]
    padded = any((pt, pl, pb, pr))
    out_shape = (n, m, *out_spatial)
    if g == c == m and kh * kw > 1:
        return _depthwise_spans(x.shape[0], c, h, wd, (kh, kw), (dh, dw), (pt, pl, pb, pr),
                                (oh, ow), wq.reshape(m, kh * kw).astype(dtype, copy=False), pad,
                                centre, dtype, out_shape, (sh, sw))
    k = cg * kh * kw
    wg = np.ascontiguousarray(wq.reshape(g, m // g, k).astype(dtype, copy=False))
    gemm = split_gemm(wg, (n, g, m // g, oh * ow), dtype, splits)
    if (kh, kw, sh, sw) == (1, 1, 1, 1) and not padded:
        x_last, out_last = channels_last
        if x_last or out_last:
            return _oriented_pointwise(wg[0], (n, c, h * wd), out_shape, centre, dtype,
                                       x_last, out_last)
        xp = np.empty((n, c, h, wd), dtype)
        load = _load_into(xp, centre)
        cols = xp.reshape(n, g, cg, h * wd)

        def pointwise(xa):
            load(xa)
            return gemm(cols).reshape(out_shape)
        return pointwise

    # the padded input, read through its stride phases (phase (a, b) = xp[:, :, a::sh, b::sw]),
    # in which every tap's windows are unit-stride: one window copy per phase (`window_copies`)
    (hq, wq), taps = phase_taps((kh, kw), (dh, dw), (sh, sw), (oh, ow))
    hp, wp = max(h + pt + pb, sh * hq), max(wd + pl + pr, sw * wq)
    xp = np.full((n, c, hp, wp), pad, dtype)
    load = _load_into(xp[:, :, pt:pt + h, pl:pl + wd], centre)
    if (sh, sw) == (1, 1):
        images, copies = {(0, 0): xp}, []
    else:  # contiguous phase images, filled from the padded input at each run
        images = {ph: np.empty((n, c, hq, wq), dtype) for ph in sorted({ph for ph, _ in taps})}
        copies = [(img, xp[:, :, a:a + sh * hq:sh, b:b + sw * wq:sw])
                  for (a, b), img in images.items()]
    if kh * kw == 1:  # a strided or padded 1x1 conv: its phase image (OH x OW) is the matrix
        cols_mat = images[(0, 0)].reshape(n, g, cg, oh * ow)
    else:
        cols = np.empty((n, c, kh, kw, oh, ow), dtype)
        cols_mat = cols.reshape(n, g, k, oh * ow)
        copies += window_copies(images, cols, (kh, kw), (dh, dw), (sh, sw))

    def im2col(xa):
        load(xa)
        for dst, src in copies:
            np.copyto(dst, src)
        return gemm(cols_mat).reshape(out_shape)
    return im2col


def _oriented_pointwise(w: np.ndarray, shape, out_shape, centre: int, dtype: np.dtype,
                        x_last: bool, out_last: bool) -> Callable[[np.ndarray], np.ndarray]:
    """A 1x1 conv's GEMM (w: (M, C) in `dtype`) on x (N, C, H, W), NHWC bytes when x_last,
    into an accumulator (N, H*W, M) when out_last, else (N, M, H, W) (`out_shape`): the
    layouts pick the orientation, BLAS takes the transposed operands as they are."""
    n, c, pixels = shape
    m = w.shape[0]
    xp = np.empty((n, pixels, c) if x_last else (n, c, pixels), dtype)  # x - centre
    load = _load_into(xp, centre)
    if out_last:
        acc = np.empty((n, pixels, m), dtype)
        product = partial(np.matmul, xp if x_last else xp.swapaxes(1, 2),
                          np.ascontiguousarray(w.T), out=acc)
    else:
        acc = np.empty((n, m, pixels), dtype)
        product = partial(np.matmul, w, xp.swapaxes(1, 2) if x_last else xp, out=acc)
    result = acc if out_last else acc.reshape(out_shape)

    def pointwise(xa):
        load(xa.transpose(0, 2, 3, 1) if x_last else xa)
        product()
        return result
    return pointwise


def window_copies(images: dict, cols: np.ndarray, kernel, dilations, strides) -> list:
    """(destination, source) pairs filling the column matrix `cols` (N, C, kH, kW, OH, OW) of a
    conv from the stride-phase images of its padded input (`images[(a, b)]` = x_padded[:, :,
    a::sh, b::sw], at least as large as `phase_taps` says): one copy per phase, of an as_strided
    view of all its taps' windows. The taps of one phase are the kernel rows i0, i0 + sh/g, ...
    (g = gcd(sh, dh); columns likewise), their windows dh/g phase rows apart."""
    (kh, kw), (dh, dw), (sh, sw) = kernel, dilations, strides
    gh, gw = math.gcd(sh, dh), math.gcd(sw, dw)
    first: dict = {}
    for i in range(kh):
        for j in range(kw):
            first.setdefault(((i * dh) % sh, (j * dw) % sw), (i, j, i * dh // sh, j * dw // sw))
    copies = []
    for ph, (i0, j0, dr, dc) in first.items():
        dst = cols[:, :, i0::sh // gh, j0::sw // gw]
        img = images[ph]
        s = img.strides
        src = as_strided(img[:, :, dr:, dc:], dst.shape,
                         (s[0], s[1], dh // gh * s[2], dw // gw * s[3], s[2], s[3]),
                         writeable=False)
        copies.append((dst, src))
    return copies


def phase_taps(kernel, dilations, strides, out):
    """A conv read through its input's stride phases (phase (a, b) = x_padded[a::sh, b::sw]):
    the size (hq, wq) of a phase image, in which every tap is a shifted window, and per tap
    (kernel row-major) its phase and its offset in the flattened phase image, where output
    (r, j) reads position r * wq + j + offset."""
    (kh, kw), (dh, dw), (sh, sw), (oh, ow) = kernel, dilations, strides, out
    hq, wq = oh + (kh - 1) * dh // sh, ow + (kw - 1) * dw // sw
    taps = [((i * dh % sh, j * dw % sw), (i * dh // sh) * wq + j * dw // sw)
            for i in range(kh) for j in range(kw)]
    return (hq, wq), taps


def _depthwise_spans(n, c, h, wd, kernel, dilations, pads, out, wt, pad, centre, dtype,
                     out_shape, strides=(1, 1)):
    """A depthwise conv on flattened phase images: the padded input split into its stride
    phases (x_padded[a::sh, b::sw]; for stride 1 the padded input itself), in which output
    (r, j), on a grid as wide as the phase image, is sum_t w_t * phase_t[r * Wq + j + offset_t].
    Every tap is then one contiguous span per channel (multiply, add), per block of channels kept
    in cache; the columns past the output width are cropped."""
    (_, kw), (_, dw), (pt, pl, pb, pr), (oh, ow), (sh, sw) = kernel, dilations, pads, out, strides
    (hq, wq), taps = phase_taps(kernel, dilations, strides, out)
    span = oh * wq
    flats = {ph: np.full((n, c, hq * wq + (kw - 1) * dw // sw), pad, dtype)
             for ph, _ in taps}
    if (sh, sw) == (1, 1):  # the one phase is the padded input
        image = flats[(0, 0)][:, :, :hq * wq].reshape(n, c, hq, wq)
        load = _load_into(image[:, :, pt:pt + h, pl:pl + wd], centre)
    else:
        xp = np.full((n, c, max(sh * (hq + 1), pt + h + pb), max(sw * (wq + 1), pl + wd + pr)),
                     pad, dtype)
        fill = _load_into(xp[:, :, pt:pt + h, pl:pl + wd], centre)
        copies = [(flat[:, :, :hq * wq].reshape(n, c, hq, wq),
                   xp[:, :, a:a + sh * hq:sh, b:b + sw * wq:sw]) for (a, b), flat in flats.items()]

        def load(xa):
            fill(xa)
            for dst, src in copies:
                np.copyto(dst, src)
    acc = np.empty((n, c, span), dtype)
    per_block = max(1, DEPTHWISE_BLOCK_BYTES // (n * span * acc.itemsize))
    blocks = []
    for c0 in range(0, c, per_block):
        cs = slice(c0, min(c, c0 + per_block))
        terms = [(flats[ph][:, cs, o:o + span], np.ascontiguousarray(wt[cs, t:t + 1]))
                 for t, (ph, o) in enumerate(taps)]
        cropped = acc[:, cs].reshape(n, -1, oh, wq)[:, :, :, :ow]
        blocks.append((cs, terms[0], terms[1:], acc[:, cs], np.empty_like(acc[:, cs]), cropped))
    whole = acc.reshape(n, c, oh, wq)[:, :, :, :ow]

    def run(xa, finish=None):
        """The accumulator (N, C, OH, OW); with `finish(("channels", cs), block)`, each block is
        handed over while still in cache instead (and nothing is returned)."""
        load(xa)
        for cs, (v0, w0), rest, acc_b, tmp, cropped in blocks:
            np.multiply(v0, w0, out=acc_b)
            for v, wv in rest:
                np.multiply(v, wv, out=tmp)
                np.add(acc_b, tmp, out=acc_b)
            if finish is not None:
                finish(("channels", cs), cropped)
        return None if finish is not None else whole.reshape(out_shape)
    run.blocks = [("channels", b[0]) for b in blocks]  # what `finish` receives
    return run


def split_gemm(w: np.ndarray, out_shape, dtype: np.dtype, splits: tuple[int, ...]):
    """cols -> w @ cols into a buffer prepared once; with `splits`, one GEMM per slice of the
    reduction axis, each exact in `dtype` (float32), summed exactly in float64."""
    acc = np.empty(out_shape, dtype)
    if not splits:
        return lambda cols: np.matmul(w, cols, out=acc)
    edges = (0, *splits, w.shape[-1])
    parts = [(slice(a, b), np.empty(out_shape, dtype)) for a, b in zip(edges, edges[1:])]
    total = np.empty(out_shape, np.float64)

    def run(cols):
        for ks, buf in parts:
            np.matmul(w[..., ks], cols[..., ks, :], out=buf)
        np.add(parts[0][1], parts[1][1], out=total, dtype=np.float64)
        for _, buf in parts[2:]:
            np.add(total, buf, out=total)
        return total
    return run


def matmul_accumulator(node: Node, wkn: np.ndarray, centre: int, dtype: np.dtype,
                       splits: tuple[int, ...] = ()):
    """(x - centre) @ wkn for a Gemm / 2-D MatMul with constant (K, N) weights."""
    x, y = node.inputs[0], node.outputs[0]
    xbuf = np.empty(x.shape, dtype)
    load = _load_into(xbuf, centre)
    # x (..., K) @ w (K, N) computed as w^T (N, K) @ x^T (K, rows), the reduction last in w
    rows = int(np.prod(x.shape[:-1]))
    gemm = split_gemm(np.ascontiguousarray(wkn.T.astype(dtype, copy=False)), (y.shape[-1], rows),
                      dtype, splits)
    x2 = xbuf.reshape(rows, x.shape[-1]).T

    def run(xa):
        load(xa)
        return gemm(x2).T.reshape(y.shape)
    return run


def _float32_splits(abs_w: np.ndarray, scale: int, totals: np.ndarray, node: Node,
                    most: int = 8) -> tuple[int, ...] | None:
    """Offsets cutting the reduction axis of the weights (`abs_w`: |w'| as (M, K); `totals`: its
    row sums; each product bounded by scale * |w'|) into equal parts whose bounds all stay below
    2**24, so each part is an exact float32 GEMM: () when one part does, None when more than
    `most` would be needed (or for depthwise and grouped convs, whose reduction is not one axis
    of the GEMM operand). The bounds are integers below 2**53: exact in float64."""
    if scale * float(totals.max(initial=0.0)) < 2 ** 24:
        return ()
    if node.op == "Conv" and node.attrs["group"] != 1:
        return None
    k = abs_w.shape[1]
    for parts in range(2, most + 1):
        edges = np.linspace(0, k, parts + 1).round().astype(int)
        bounds = (abs_w[:, a:b].sum(axis=1, dtype=np.float64).max(initial=0.0)
                  for a, b in zip(edges, edges[1:]))
        if all(scale * float(bound) < 2 ** 24 for bound in bounds):
            return tuple(int(e) for e in edges[1:-1])
    return None


@attrs.frozen
class ConstantWeightGemm:
    """The accumulation of a linear node with constant weights (and bias), per output channel
    (arrays shaped to broadcast against the output): acc(x) + offset is the exact
    sum((x - zx) * (w - zw)) + bias."""

    accumulate: Callable[[np.ndarray], np.ndarray]  # x integers -> exact integers (float array)
    offset: np.ndarray  # int64: bias - (zx - c) * sum(w')
    raw_bound: np.ndarray  # bound on |acc(x)|
    total_bound: np.ndarray  # bound on |acc(x) + offset|


def constant_weight_gemm(node: Node, zx: int, wz, bshape, out_spatial=None,
                         channels_last: tuple[bool, bool] = (False, False)
                         ) -> ConstantWeightGemm | None:
    """The fast accumulation of Conv / Gemm / 2-D MatMul with constant weights and bias, or None
    (non-constant operands, ConvTranspose, 3-D convs). wz: the weights' zero point(s) shaped to
    broadcast against them; bshape: the per-channel broadcast shape of the output;
    out_spatial: the conv's spatial output size before a fused pool (default: the output's);
    channels_last: `conv_accumulator`'s layouts of a 1x1 conv (its one GEMM exact in float32
    or else float64, without splits)."""
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if not w.is_constant or (b is not None and not b.is_constant) or node.op == "ConvTranspose":
        return None
    # w - zw, exact integers: float32 for 8- and 16-bit weights (|w - zw| < 2**17), which
    # halves the passes over the weights (ResNet-18 has 11 M); the sums below in float64
    wide = np.float32 if w.const.dtype.kind in "iu" and w.const.dtype.itemsize <= 2 else \
        np.float64
    wq = np.subtract(w.const, wz, dtype=wide)
    absq = np.abs(wq)
    k_max = int(np.prod(w.shape)) // max(1, min(w.shape))  # >= any reduction's length
    total = np.float32 if wide is np.float32 and 256 * k_max < 2 ** 24 and \
        w.const.dtype.itemsize == 1 else np.float64  # sums of 8-bit |w - zw| exact in float32
    if node.op == "Gemm":
        wkn = wq.T if node.attrs["transB"] else wq
    elif node.op == "MatMul":
        if w.type.rank != 2:
            return None
        wkn = wq
    else:
        wkn = None
    # per output channel: sum of |w'| and of w' over the reduction; |w'| as (M, K)
    if wkn is not None:
        abs_mk = absq.T if wkn is wq else absq  # wkn is (K, N): wq, or wq.T (transB)
        w_abs, w_sum = abs_mk.sum(axis=1, dtype=total), wkn.sum(axis=0, dtype=total)
    else:
        abs_mk = absq.reshape(wq.shape[0], -1)
        w_abs = abs_mk.sum(axis=1, dtype=total)
        w_sum = wq.reshape(wq.shape[0], -1).sum(axis=1, dtype=total)
    w_abs, w_sum = w_abs.astype(np.float64), w_sum.astype(np.float64)
    n_out = node.outputs[0].shape[bshape.index(-1)]
    if w_abs.size != n_out:
        return None
    bias = np.zeros(n_out, np.int64)
    if b is not None:
        bc = np.asarray(b.const, np.int64)
        if bc.size != n_out:
            return None
        bias = bc.reshape(-1)
    c = storage_centre(x)
    lo_x, hi_x = storage_range(x)
    raw_max = max(abs(lo_x - c), abs(hi_x - c), abs(zx - c))
    dev_max = max(abs(lo_x - zx), abs(hi_x - zx))
    raw_bound = raw_max * w_abs
    splits = _float32_splits(abs_mk, raw_max, w_abs, node) if not any(channels_last) else None
    dtype = np.dtype(np.float32) if splits is not None else float_for(raw_bound)
    w_sum = np.rint(w_sum).astype(np.int64)
    offset = bias - (zx - c) * w_sum
    if wkn is not None:
        accumulate = matmul_accumulator(node, wkn, c, dtype, splits or ())
    else:
        spatial = node.outputs[0].shape[2:] if out_spatial is None else out_spatial
        accumulate = conv_accumulator(node, wq, zx - c, c, dtype, spatial, splits or (),
                                      channels_last)
    if accumulate is None:
        return None
    return ConstantWeightGemm(accumulate, offset.reshape(bshape), raw_bound.reshape(bshape),
                              (dev_max * w_abs + np.abs(bias)).reshape(bshape))
