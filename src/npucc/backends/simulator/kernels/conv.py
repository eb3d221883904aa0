"""Float32 Conv (1-D and 2-D, grouped, strided, dilated, padded) without falling off a cliff.

Two paths, chosen once per node, both reading the input through its stride phases: the zero-padded
input split into sh*sw phase images (x_padded[a::sh, b::sw]) in which every kernel tap is a plain
shifted window with unit inner stride.
- `gemm`: im2col (one window copy per phase image into a (N, G, C/G*kH*kW, OH*OW) buffer),
  then one batched matmul, threaded by BLAS, with the weights laid out once, straight into the
  output buffer; a channels-last output is computed transposed (cols^T @ W^T). A 1x1 stride-1
  unpadded conv skips im2col (the input, either layout, already is the GEMM operand), and a
  strided or padded 1x1 conv's single phase image is the column matrix.
- `depthwise` (group == C == M): kH*kW multiply-adds per cache block over spans of the flattened
  phase images (see `_depthwise`), channels-last for small images.
Bias and the fused activation are then applied in place (or per cache block).
"""

from __future__ import annotations

from functools import partial

import attrs
import numpy as np

from ....ir.graph import Node
from ....numerics import accumulate, depthwise
from ....numerics.layout import is_channels_last, view_as
from . import CAN, CANNOT, PREFERS, BuildContext, activation_in_place, fast_kernel

F32 = np.dtype(np.float32)
DEPTHWISE_BLOCK_BYTES = 256 * 1024  # accumulator bytes per cache block of the depthwise path
DEPTHWISE_CHANNELS_LAST_PIXELS = 28 * 28  # output pixels up to which depthwise is channels-last


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

    @property
    def depthwise_channels_last(self) -> bool:
        """Whether the depthwise path computes channels-last: for small images, whose per-channel
        spans would be too short for numpy's loops."""
        return self.oh * self.ow <= DEPTHWISE_CHANNELS_LAST_PIXELS

    @property
    def slack(self) -> int:
        """Pixels after a flattened phase image that the last tap's span reads past its end."""
        return (self.kw - 1) * self.dw // self.sw

    @property
    def im2col(self) -> bool:
        """Whether the GEMM path copies windows into a column matrix (else the phase image of a
        strided or padded 1x1 conv is that matrix already)."""
        return self.kh * self.kw > 1

    def scratch(self) -> list[tuple[tuple[int, ...], np.dtype]]:
        n, c = self.n, self.c
        if self.path == "gemm" and self.direct:
            return []
        hq, wq = self.phase_hw
        flat = [((n, c, hq * wq + self.slack), F32) for _ in self.phases()]
        if self.path == "depthwise":
            return flat + [((n, self.oh * wq * c), F32)] * 2
        if self.im2col:  # ungrouped: plus a row of ones, for the bias (see _gemm)
            return flat + [((n, c * self.kh * self.kw + (self.g == 1), self.oh * self.ow), F32)]
        return flat


def _scratch(node: Node):
    geo = ConvGeometry.of(node)
    if geo is None:
        return []
    pooled = [((geo.n, geo.m, geo.oh, geo.ow), F32)] if node.attrs.get("pool_kernel") else []
    return geo.scratch() + pooled  # a fused pool reads the conv result from the last scratch


def _layouts(node: Node) -> tuple[int, int]:
    """Channels-last preferences (input 0, output): the depthwise path prefers the layout it
    computes in (and converts the other while copying in and out); a GEMM writes either layout
    (by choosing its product's orientation) and a direct 1x1 one reads either."""
    geo = ConvGeometry.of(node)
    if geo is None or node.attrs.get("pool_kernel") or node.inputs[0].type.rank != 4:
        return CANNOT, CANNOT
    if geo.path == "depthwise":
        return (PREFERS, PREFERS) if geo.depthwise_channels_last else (CAN, CAN)
    if geo.g != 1:
        return CANNOT, CANNOT
    return (CAN if geo.direct else CANNOT), CAN


@fast_kernel("Conv", scratch=_scratch, channels_last=_layouts)
def conv(ctx: BuildContext):
    geo = ConvGeometry.of(ctx.node)
    if geo is None or not all(v is None or v.is_constant for v in ctx.node.inputs[1:]):
        return None  # the paths prepare the weights and bias once, at build time
    x, w, b = (ctx.inputs + [None])[:3]
    (out,) = ctx.outputs
    scratch = ctx.scratch
    pool = None
    if ctx.attrs.get("pool_kernel"):  # conv into scratch, then max-pool it into the output
        kernel = ctx.attrs["pool_kernel"]
        pool = _max_pool_step(scratch[-1], out, kernel, ctx.attrs["pool_strides"] or kernel)
        out, scratch = scratch[-1], scratch[:-1]
    x = x.reshape(geo.n, geo.c, geo.h, geo.w)
    out = view_as(out, (geo.n, geo.m, geo.oh, geo.ow))
    w = w.reshape(geo.m, w.shape[1], geo.kh, geo.kw)
    act = activation_in_place(ctx.attrs["activation"], ctx.attrs["activation_params"])
    if geo.path == "depthwise":
        step = None if pool else _compiled_depthwise(ctx, geo, x, w, b, out, act)
        return step or _then(_depthwise(geo, x, w, b, out, scratch, act), pool)
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
    """im2col (the input split into zero-padded stride phases, then one window copy per phase),
    one batched matmul (threaded by BLAS) straight into the output, then bias (unless folded into
    the matmul: ungrouped im2col) and activation in place. A channels-last output is computed
    transposed, cols^T @ W^T, so that BLAS writes it contiguously; a direct conv's channels-last
    input is cols^T as it is."""
    n, g, p = geo.n, geo.g, geo.oh * geo.ow
    k = w.shape[1] * geo.kh * geo.kw
    fills, copies = [], []
    if geo.direct:
        if is_channels_last(x):
            cols_mat = view_as(x.transpose(0, 2, 3, 1), (n, p, k)).swapaxes(1, 2)[:, None]
        else:
            cols_mat = x.reshape(n, g, geo.c // g, p)
    else:
        fills, images, _ = _phase_images(geo, x, scratch, channels_last=False)
        if geo.im2col:
            cols, rows = scratch[len(images)], geo.c * geo.kh * geo.kw
            windows = view_as(cols[:, :rows], (n, geo.c, geo.kh, geo.kw, geo.oh, geo.ow))
            if g == 1 and b is not None:  # the bias as one more column of W, times a row of ones
                w = np.concatenate([w.reshape(geo.m, k), b.reshape(geo.m, 1)], axis=1)
                fills.append(partial(cols[:, rows].fill, 1))
                rows, k, b = rows + 1, k + 1, None
            cols_mat = view_as(cols[:, :rows], (n, g, k, p))
            copies = accumulate.window_copies(images, windows, (geo.kh, geo.kw),
                                              (geo.dh, geo.dw), (geo.sh, geo.sw))
        else:
            (image,) = images.values()
            cols_mat = view_as(image, (n, g, geo.c // g, p))
    channel_axis = 1
    if is_channels_last(out):  # g == 1 (see _layouts)
        result, channel_axis = view_as(out.transpose(0, 2, 3, 1), (n, p, geo.m)), 2
        matmul = partial(np.matmul, cols_mat[:, 0].swapaxes(1, 2),
                         np.ascontiguousarray(w.reshape(geo.m, k).T), out=result)
        bias = None if b is None else np.ascontiguousarray(b)
    else:
        result = out
        matmul = partial(np.matmul, np.ascontiguousarray(w.reshape(g, geo.m // g, k)), cols_mat,
                         out=view_as(out, (n, g, geo.m // g, p)))
        bias = None if b is None else np.ascontiguousarray(b).reshape(1, -1, 1, 1)

    def step():
        for f in fills:
            f()
        for dst, src in copies:
            np.copyto(dst, src)
        matmul()
        if bias is not None:
            np.add(result, bias, out=result)
        if act is not None:
            act(result, channel_axis)

    return step


def _compiled_depthwise(ctx: BuildContext, geo: ConvGeometry, x, w, b, out, act):
    """The depthwise conv as numerics' compiled loop (numerics/depthwise.py: phases, taps over
    spans, bias and clamp, one channel at a time while it is in cache), for images the numpy
    path computes channel by channel (not channels-last) when both buffers are contiguous NCHW;
    None where it does not apply."""
    if (geo.depthwise_channels_last or not x.flags.c_contiguous or not out.flags.c_contiguous
            or not depthwise.applies(ctx.node, ctx.node.outputs[0].shape)):
        return None
    loop, after = depthwise.float_depthwise(ctx.node, w, b, ctx.attrs["activation"],
                                            ctx.attrs["activation_params"]), None
    if loop is None:  # an activation the loop does not apply: after it, in place
        loop, after = depthwise.float_depthwise(ctx.node, w, b, "none"), act

    def step():
        loop(x, out)
        if after is not None:
            after(out)
    return step


def _depthwise(geo: ConvGeometry, x, w, b, out, scratch, act):
    """Per cache block (small enough that its accumulator, temporary and spans stay in cache), one
    multiply and one add per tap, each over spans of a flattened phase image, then bias,
    activation and the crop of the rows' extra columns, written into the output. Channels-last
    (`ConvGeometry.depthwise_channels_last`), a block is output rows, each wq*C contiguous values
    times the tap's weights tiled along the row; else a block is channels, each a span of
    OH*wq values times the channel's weight."""
    n, c = geo.n, geo.c
    hq, wq = geo.phase_hw
    channels_last = geo.depthwise_channels_last
    fills, _, flats = _phase_images(geo, x, scratch, channels_last)
    acc, tmp = scratch[len(flats)], scratch[len(flats) + 1]
    wt = w.reshape(c, geo.kh * geo.kw)
    blocks = []
    if channels_last:
        row = wq * c
        tiled = [np.tile(wt[:, t], wq) for t in range(geo.kh * geo.kw)]
        bias = None if b is None else np.ascontiguousarray(b)
        out_rows = out.transpose(0, 2, 3, 1)  # (N, OH, OW, C), contiguous if out is channels-last
        per_block = max(1, DEPTHWISE_BLOCK_BYTES // (row * 4))
        for i in range(n):
            for r0 in range(0, geo.oh, per_block):
                r1 = min(geo.oh, r0 + per_block)
                terms = []
                for t, ph, dr, dc in geo.taps():
                    start = ((dr + r0) * wq + dc) * c
                    terms.append((flats[ph][i, start:start + (r1 - r0) * row].reshape(-1, row),
                                  tiled[t]))
                acc_b = acc[i, r0 * row:r1 * row].reshape(-1, row)
                tmp_b = tmp[i, r0 * row:r1 * row].reshape(-1, row)
                cropped = acc_b.reshape(-1, wq, c)[:, :geo.ow]
                blocks.append((terms, acc_b, tmp_b, cropped, out_rows[i, r0:r1], bias,
                               (2, slice(None))))  # (rows, OW, C): channels on axis 2
    else:
        span = geo.oh * wq
        acc, tmp = (view_as(a, (n, c, span)) for a in (acc, tmp))
        per_block = max(1, DEPTHWISE_BLOCK_BYTES // (span * 4))
        for i in range(n):
            for c0 in range(0, c, per_block):
                cs = slice(c0, min(c, c0 + per_block))
                terms = []
                for t, ph, dr, dc in geo.taps():
                    off = dr * wq + dc
                    terms.append((flats[ph][i, cs, off:off + span],
                                  np.ascontiguousarray(wt[cs, t:t + 1])))
                cropped = acc[i, cs].reshape(-1, geo.oh, wq)[:, :, :geo.ow]
                bias = None if b is None else np.ascontiguousarray(b[cs]).reshape(-1, 1, 1)
                blocks.append((terms, acc[i, cs], tmp[i, cs], cropped, out[i, cs], bias,
                               (0, cs)))  # (channels cs, OH, OW)
    blocks = [(terms[0], terms[1:], *rest) for terms, *rest in blocks]

    def step():
        for f in fills:
            f()
        for (v0, w0), rest, acc_b, tmp_b, cropped, dst, bias, channels in blocks:
            np.multiply(v0, w0, out=acc_b)
            for v, wv in rest:
                np.multiply(v, wv, out=tmp_b)
                np.add(acc_b, tmp_b, out=acc_b)
            if bias is None:
                np.copyto(dst, cropped)
            else:
                np.add(cropped, bias, out=dst)
            if act is not None:
                act(dst, *channels)

    return step


def _phase_images(geo: ConvGeometry, x, scratch, channels_last: bool):
    """Steps filling the first scratch arrays with the stride phases of the zero-padded input x
    (phase (a, b) is x_padded[a::sh, b::sw], `phase_hw` large, flattened per image (channels-last)
    or per channel, with `slack` zero pixels after it); the phase images as (N, C, hq, wq) arrays
    and the flat arrays, by phase."""
    n, c = geo.n, geo.c
    hq, wq = geo.phase_hw
    fills, images, flats = [], {}, {}
    for (a, bb), flat in zip(geo.phases(), scratch):
        if channels_last:
            flat = view_as(flat, (n, (hq * wq + geo.slack) * c))
            img = view_as(flat[:, :hq * wq * c], (n, hq, wq, c)).transpose(0, 3, 1, 2)
            tail = flat[:, hq * wq * c:]
        else:
            img = view_as(flat[:, :, :hq * wq], (n, c, hq, wq))
            tail = flat[:, :, hq * wq:]
        # phase[q, r] = x_padded[a + sh*q, bb + sw*r] = x[a + sh*q - pt, bb + sw*r - pl]
        q0 = max(0, -(-(geo.pt - a) // geo.sh))
        q1 = min(hq, -(-(geo.h + geo.pt - a) // geo.sh))
        r0 = max(0, -(-(geo.pl - bb) // geo.sw))
        r1 = min(wq, -(-(geo.w + geo.pl - bb) // geo.sw))
        src = x[:, :, a + geo.sh * q0 - geo.pt::geo.sh, bb + geo.sw * r0 - geo.pl::geo.sw]
        src = src[:, :, :max(0, q1 - q0), :max(0, r1 - r0)]
        fills.append(_phase_filler(img, tail, src, q0, r0))
        images[(a, bb)], flats[(a, bb)] = img, flat
    return fills, images, flats


def _phase_filler(img, tail, src, q0, r0):
    """Copy `src` into img[q0:, r0:] and zero the rest of the image and `tail` around it."""
    qn, rn = src.shape[2:]
    inner = img[:, :, q0:q0 + qn, r0:r0 + rn]
    borders = [img[:, :, :q0], img[:, :, q0 + qn:], img[:, :, q0:q0 + qn, :r0],
               img[:, :, q0:q0 + qn, r0 + rn:], tail]
    borders = [v for v in borders if v.size]

    def step():
        for v in borders:
            v.fill(0)
        np.copyto(inner, src)

    return step
