"""Float32 pools, separably: the window's rows combined first (one whole-tensor ufunc per kernel
row, into a scratch of the output's rows at the padded width), then its columns (one per kernel
column, into the output): max, or sum then divide by the precomputed per-position count. The
input is padded once into scratch when needed (with -inf for max, 0 for average, plus the extra
end positions ceil_mode windows reach)."""

from __future__ import annotations

import numpy as np

from ....ir.graph import Node
from ....ir.ops.pool import padded, windows
from . import BuildContext, fast_kernel

F32 = np.dtype(np.float32)


def _geometry(node: Node):
    """(kernel, strides, pads, dilations, padded extent) of a float32 2-D pool, else None."""
    x, y = node.inputs[0], node.outputs[0]
    if x.type.dtype.numpy != F32 or x.type.rank != 4:
        return None
    at = node.attrs
    k, s, p = at["kernel_shape"], at["strides"], at["pads"]
    d = at.get("dilations", (1, 1))
    oh, ow = y.shape[2:]
    hp = max(x.shape[2] + p[0] + p[2], (oh - 1) * s[0] + (k[0] - 1) * d[0] + 1)
    wp = max(x.shape[3] + p[1] + p[3], (ow - 1) * s[1] + (k[1] - 1) * d[1] + 1)
    return k, s, p, d, (hp, wp)


def _needs_padding(node: Node, geo) -> bool:
    return any(geo[2]) or geo[4] != node.inputs[0].shape[2:]


def _scratch(node: Node):
    geo = _geometry(node)
    if geo is None:
        return []
    rows = [(node.inputs[0].shape[:2] + (node.outputs[0].shape[2], geo[4][1]), F32)]
    return rows + ([(node.inputs[0].shape[:2] + geo[4], F32)] if _needs_padding(node, geo) else [])


@fast_kernel("MaxPool", "AveragePool", scratch=_scratch)
def pool(ctx: BuildContext):
    geo = _geometry(ctx.node)
    if geo is None:
        return None
    k, s, p, d, _ = geo
    (x,) = ctx.inputs
    (out,) = ctx.outputs
    is_max = ctx.node.op == "MaxPool"
    oh, ow = out.shape[2:]
    rows = ctx.scratch[0]
    src, fill_padded = x, None
    if _needs_padding(ctx.node, geo):
        src = ctx.scratch[1]
        fill_padded = _padded_filler(x, src, p[0], p[1], -np.inf if is_max else 0.0)
    row_taps = [src[:, :, i * d[0]:i * d[0] + (oh - 1) * s[0] + 1:s[0]] for i in range(k[0])]
    col_taps = [rows[:, :, :, j * d[1]:j * d[1] + (ow - 1) * s[1] + 1:s[1]] for j in range(k[1])]
    combine = np.maximum if is_max else np.add
    count = None if is_max else _average_count(ctx.node, x.shape[2:], (oh, ow))

    def step():
        if fill_padded is not None:
            fill_padded()
        np.copyto(rows, row_taps[0])
        for v in row_taps[1:]:
            combine(rows, v, out=rows)
        np.copyto(out, col_taps[0])
        for v in col_taps[1:]:
            combine(out, v, out=out)
        if count is not None:
            np.divide(out, count, out=out)

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


def _average_count(node: Node, spatial, out) -> np.ndarray:
    """Per output position, the number of elements AveragePool divides by: the reference's own
    rule (input elements, plus explicit pads if count_include_pad; never the ceil_mode extra)."""
    at = node.attrs
    k, s, p = at["kernel_shape"], at["strides"], at["pads"]
    ones = (1, 1)
    mask = np.ones(spatial, F32)
    if at["count_include_pad"]:
        mask = np.pad(mask, [(p[0], p[2]), (p[1], p[3])], constant_values=1)
        mask = padded(mask, (0, 0, 0, 0), out, k, s, ones, 0)
    else:
        mask = padded(mask, p, out, k, s, ones, 0)
    return windows(mask, k, s, ones, out).sum(axis=(-2, -1)).astype(F32)


@fast_kernel("GlobalAveragePool", "GlobalMaxPool")
def global_pool(ctx: BuildContext):
    (x,) = ctx.inputs
    (out,) = ctx.outputs
    if x.dtype != F32:
        return None
    n, c = x.shape[:2]
    flat, res = x.reshape(n, c, -1), out.reshape(n, c)
    if ctx.node.op == "GlobalMaxPool":
        return lambda: np.max(flat, axis=2, out=res)
    return lambda: np.mean(flat, axis=2, out=res)
