"""Float32 Conv (1-D and 2-D, grouped, strided, dilated, padded) without falling off a cliff.

Three paths, chosen once per node:
- `gemm`: im2col into a preallocated (N, G, C/G*kH*kW, OH*OW) buffer (one strided copy through an
  as_strided window view of the zero-padded input), then one batched matmul with the weights laid
  out as (G, M/G, C/G*kH*kW) written straight into the output buffer. A 1x1 stride-1 unpadded conv
  skips im2col: the input already is the GEMM operand.
- `depthwise` (group == C == M): kH*kW vectorised multiply-adds over the whole tensor. The padded
  input is split into stride phases (polyphase) so every tap reads one contiguous span per channel
  of a phase image flattened with its row padding; the rows' extra columns are cropped at the end.
Bias and the fused activation are then applied in place.
"""

from __future__ import annotations

import attrs
import numpy as np
from numpy.lib.stride_tricks import as_strided

from ....ir.graph import Node
from . import BuildContext, activation_in_place, fast_kernel
from .parallel import can_split_blas, channel_ranges, in_parallel, view_as

F32 = np.dtype(np.float32)
DEPTHWISE_BLOCK_BYTES = 256 * 1024


@attrs.frozen
class ConvGeometry:
    n: int
    c: int
    h: int
    w: int
    m: int
    g: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    pt: int
    pl: int
    pb: int
    pr: int
    oh: int
    ow: int

    @classmethod
    def of(cls, node: Node) -> ConvGeometry | None:
        """The 2-D geometry of a float32 Conv node (1-D as height 1), None if not fast-pathable."""
        x, w = node.inputs[0], node.inputs[1]
        y = node.outputs[0]
        if x.type.dtype.numpy != F32 or w.type.dtype.numpy != F32 or x.type.rank not in (3, 4):
            return None
        at = node.attrs
        if x.type.rank == 3:
            if at.get("pool_kernel"):  # a fused pool is 2-D only
                return None
            (n, c, wd), (m, _, kw), (_, _, ow) = x.shape, w.shape, y.shape
            return cls(n, c, 1, wd, m, at["group"], 1, kw, 1, at["strides"][0], 1,
                       at["dilations"][0], 0, at["pads"][0], 0, at["pads"][1], 1, ow)
        (n, c, h, wd), (m, _, kh, kw) = x.shape, w.shape
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = at["strides"], at["dilations"], at["pads"]
        # the convolution's own output size (before a fused pool, which the kernel applies after)
        oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
        ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
        return cls(n, c, h, wd, m, at["group"], kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oh, ow)

    @property
    def padded(self) -> bool:
        return any((self.pt, self.pl, self.pb, self.pr))

    @property
    def path(self) -> str:
        if self.g == self.c == self.m and self.kh * self.kw > 1:
            return "depthwise"
        return "gemm"

    @property
    def direct(self) -> bool:
        """A 1x1 stride-1 unpadded conv: the input is the GEMM operand as it is."""
        return (self.kh, self.kw, self.sh, self.sw) == (1, 1, 1, 1) and not self.padded

    # ---- depthwise phase geometry ----
    def taps(self):
        """(tap index, phase (a, b), row shift, column shift) for each kernel tap."""
        for i in range(self.kh):
            for j in range(self.kw):
                yield (i * self.kw + j, ((i * self.dh) % self.sh, (j * self.dw) % self.sw),
                       (i * self.dh) // self.sh, (j * self.dw) // self.sw)

    def phases(self) -> list[tuple[int, int]]:
        return sorted({p for _, p, _, _ in self.taps()})

    @property
    def phase_hw(self) -> tuple[int, int]:
        """Rows and columns of a phase image: the output size plus the largest tap shift."""
        return (self.oh + (self.kh - 1) * self.dh // self.sh,
                self.ow + (self.kw - 1) * self.dw // self.sw)

    def scratch(self) -> list[tuple[tuple[int, ...], np.dtype]]:
        n, c = self.n, self.c
        if self.path == "depthwise":
            hq, wq = self.phase_hw
            slack = (self.kw - 1) * self.dw // self.sw
            flat = [((n, c, hq * wq + slack), F32) for _ in self.phases()]
            return flat + [((n, c, self.oh * wq), F32)] * 2
        if self.direct:
            return []
        out = [((n, c, self.kh, self.kw, self.oh, self.ow), F32)]
        if self.padded:
            out.append(((n, c, self.h + self.pt + self.pb, self.w + self.pl + self.pr), F32))
        return out


def _scratch(node: Node):
    geo = ConvGeometry.of(node)
    if geo is None:
        return []
    pooled = [((geo.n, geo.m, geo.oh, geo.ow), F32)] if node.attrs.get("pool_kernel") else []
    return geo.scratch() + pooled  # a fused pool reads the conv result from the last scratch


@fast_kernel("Conv", scratch=_scratch)
def conv(ctx: BuildContext):
    geo = ConvGeometry.of(ctx.node)
    if geo is None:
        return None
    x, w, b = (ctx.inputs + [None])[:3]
    (out,) = ctx.outputs
    scratch = ctx.scratch
    pool = None
    if ctx.attrs.get("pool_kernel"):  # conv into scratch, then max-pool it into the output
        pool = _max_pool_step(scratch[-1], out, ctx.attrs["pool_kernel"], ctx.attrs["pool_strides"])
        out, scratch = scratch[-1], scratch[:-1]
    x = x.reshape(geo.n, geo.c, geo.h, geo.w)
    out = view_as(out, (geo.n, geo.m, geo.oh, geo.ow))
    w = w.reshape(geo.m, w.shape[1], geo.kh, geo.kw)
    act = activation_in_place(ctx.attrs["activation"], ctx.attrs["activation_params"])
    if geo.path == "depthwise":
        # independent channel ranges, one per thread; each adds its bias and activates itself
        parts = []
        for c0, c1 in channel_ranges(geo.c, geo.n * geo.oh * geo.phase_hw[1]):
            part = attrs.evolve(geo, c=c1 - c0, m=c1 - c0, g=c1 - c0)
            parts.append(_with_activation(_depthwise(
                part, x[:, c0:c1], w[c0:c1], None if b is None else b[c0:c1], out[:, c0:c1],
                [a[:, c0:c1] for a in scratch]), act, out[:, c0:c1]))
        return _then(in_parallel(parts), pool)
    return _then(_gemm(geo, x, w, b, out, scratch, act), pool)


def _then(step, after):
    if after is None:
        return step

    def both():
        step()
        after()

    return both


def _max_pool_step(src: np.ndarray, out: np.ndarray, kernel, strides):
    """Unpadded floor-mode max pool of `src` into `out`, one strided maximum per window tap."""
    (kh, kw), (sh, sw) = kernel, strides
    oh, ow = out.shape[2:]
    taps = [src[:, :, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw]
            for i in range(kh) for j in range(kw)]

    def step():
        np.copyto(out, taps[0])
        for t in taps[1:]:
            np.maximum(out, t, out=out)

    return step


def _gemm(geo: ConvGeometry, x, w, b, out, scratch, act):
    """im2col + matmul, split by output rows into one part per thread (each part copies its own
    columns, multiplies into its own output columns, adds bias and activates them)."""
    g, p = geo.g, geo.oh * geo.ow
    k = w.shape[1] * geo.kh * geo.kw
    wg = np.ascontiguousarray(w.reshape(g, geo.m // g, k))
    out_mat = view_as(out, (geo.n, g, geo.m // g, p))
    out_rows = view_as(out, (geo.n, geo.m, geo.oh, geo.ow))
    bias = None if b is None else np.ascontiguousarray(b).reshape(1, -1, 1, 1)
    fill_padded, windows, cols = None, None, None
    if geo.direct:
        cols_mat = x.reshape(geo.n, g, geo.c // g, p)
    else:
        cols = scratch[0]
        cols_mat = view_as(cols, (geo.n, g, k, p))
        src = x
        if geo.padded:
            fill_padded = _padded_filler(x, scratch[1], geo.pt, geo.pl)
            src = scratch[1]
        s = src.strides
        windows = as_strided(src, cols.shape, (s[0], s[1], geo.dh * s[2], geo.dw * s[3],
                                               geo.sh * s[2], geo.sw * s[3]), writeable=False)
    parts = []
    n_parts = None if can_split_blas() else 1  # else BLAS threads each matmul itself
    for r0, r1 in channel_ranges(geo.oh, geo.n * geo.m * geo.ow * k // 64, n_parts):
        cs = slice(r0 * geo.ow, r1 * geo.ow)
        parts.append(_gemm_part(
            wg, cols_mat[..., cs], out_mat[..., cs], out_rows[:, :, r0:r1],
            None if cols is None else (cols[..., r0:r1, :], windows[..., r0:r1, :]), bias, act))
    run_parts = in_parallel(parts)
    if fill_padded is None:
        return run_parts

    def step():
        fill_padded()
        run_parts()

    return step


def _with_activation(core, act, out):
    if act is None:
        return core

    def step():
        core()
        act(out)

    return step


def _gemm_part(wg, cols_mat, out_mat, out_rows, im2col, bias, act):
    def step():
        if im2col is not None:
            np.copyto(*im2col)
        np.matmul(wg, cols_mat, out=out_mat)
        if bias is not None:
            np.add(out_rows, bias, out=out_rows)
        if act is not None:
            act(out_rows)

    return step


def _padded_filler(x: np.ndarray, xp: np.ndarray, top: int, left: int, fill=0.0):
    """A function copying x (N, C, H, W) into the middle of xp (N, C, Hp, Wp), `fill` around it.
    Only the border is filled: xp is scratch shared with other steps."""
    h, w = x.shape[2:]
    hp, wp = xp.shape[2:]
    inner = xp[:, :, top:top + h, left:left + w]
    borders = [xp[:, :, :top], xp[:, :, top + h:], xp[:, :, top:top + h, :left],
               xp[:, :, top:top + h, left + w:]]
    borders = [v for v in borders if v.size]
    fill = xp.dtype.type(fill)

    def step():
        for v in borders:
            v.fill(fill)
        np.copyto(inner, x)

    return step


def _depthwise(geo: ConvGeometry, x, w, b, out, scratch):
    n, c = geo.n, geo.c
    hq, wq = geo.phase_hw
    phases = geo.phases()
    flats = dict(zip(phases, scratch[:len(phases)]))
    acc, tmp = scratch[len(phases)], scratch[len(phases) + 1]
    fills = []
    for (a, bb), flat in flats.items():
        img = view_as(flat[:, :, :hq * wq], (n, c, hq, wq))
        # phase[q, r] = x_padded[a + sh*q, bb + sw*r] = x[a + sh*q - pt, bb + sw*r - pl]
        q0 = max(0, -(-(geo.pt - a) // geo.sh))
        q1 = min(hq, -(-(geo.h + geo.pt - a) // geo.sh))
        r0 = max(0, -(-(geo.pl - bb) // geo.sw))
        r1 = min(wq, -(-(geo.w + geo.pl - bb) // geo.sw))
        src = x[:, :, a + geo.sh * q0 - geo.pt::geo.sh, bb + geo.sw * r0 - geo.pl::geo.sw]
        src = src[:, :, :max(0, q1 - q0), :max(0, r1 - r0)]
        fills.append(_phase_filler(flat, img, src, q0, r0))
    wt = w.reshape(c, geo.kh * geo.kw)
    span = geo.oh * wq
    # channel blocks small enough that a block's accumulator and temporary stay in cache
    block = max(1, DEPTHWISE_BLOCK_BYTES // (n * span * 4))
    blocks = []
    for c0 in range(0, c, block):
        cs = slice(c0, min(c, c0 + block))
        terms = []
        for t, ph, dr, dc in geo.taps():
            off = dr * wq + dc
            terms.append((flats[ph][:, cs, off:off + span],
                          np.ascontiguousarray(wt[cs, t:t + 1])))
        blocks.append((terms[0], terms[1:], acc[:, cs], tmp[:, cs]))
    cropped = view_as(acc, (n, c, geo.oh, wq))[:, :, :, :geo.ow]
    bias = None if b is None else np.ascontiguousarray(b).reshape(1, -1, 1, 1)

    def step():
        for f in fills:
            f()
        for (v0, w0), rest, acc_b, tmp_b in blocks:
            np.multiply(v0, w0, out=acc_b)
            for v, wv in rest:
                np.multiply(v, wv, out=tmp_b)
                np.add(acc_b, tmp_b, out=acc_b)
        if bias is None:
            np.copyto(out, cropped)
        else:
            np.add(cropped, bias, out=out)

    return step


def _phase_filler(flat, img, src, q0, r0):
    """Copy `src` into img[q0:, r0:] and zero the rest of the flat phase buffer around it."""
    qn, rn = src.shape[2:]
    inner = img[:, :, q0:q0 + qn, r0:r0 + rn]
    hq, wq = img.shape[2:]
    borders = [img[:, :, :q0], img[:, :, q0 + qn:], img[:, :, q0:q0 + qn, :r0],
               img[:, :, q0:q0 + qn, r0 + rn:], flat[:, :, hq * wq:]]
    borders = [v for v in borders if v.size]

    def step():
        for v in borders:
            v.fill(0)
        np.copyto(inner, src)

    return step
