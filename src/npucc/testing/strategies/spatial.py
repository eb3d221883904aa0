"""Appliers of spatial ops: pools, Resize, DepthToSpace / SpaceToDepth, RoiAlign, GridSample (on
NCHW, wrapped in Transposes for NHWC values)."""

from __future__ import annotations

import numpy as np

from npucc.ir import DType, Value

from .appliers import ANY, FLOAT, applier, nchw_shape, spatial, window
from .builder import MAX_DIM, MAX_SIDE, GraphBuilder

# ---- pooling ----

def _pool_axis(b: GraphBuilder, size: int, dilation: bool):
    """One axis of a pool window, with a valid ceil_mode choice: (k, s, d, p0, p1, ceil_ok).
    Pads stay <= k // 2 (the rule most frameworks share), and ceil mode is only allowed when
    the extra window it adds starts inside the input or its begin padding."""
    k, s, d, p0, p1 = window(b, size, dilation=dilation, pad_limit=lambda k: k // 2)
    ek = (k - 1) * d + 1
    span = size + p0 + p1 - ek
    ceil_out = -(-span // s) + 1
    ceil_ok = (ceil_out - 1) * s < size + p0
    return k, s, d, p0, p1, ceil_ok


def _make_pool(op: str):
    def apply(b: GraphBuilder, v: Value):
        x = b.to_nchw(v)
        kh, sh, dh, pt, pb, ok_h = _pool_axis(b, x.shape[2], op == "MaxPool")
        kw, sw, dw, pl, pr, ok_w = _pool_axis(b, x.shape[3], op == "MaxPool")
        ceil_mode = int(ok_h and ok_w and b.chance(3))
        attrs_ = dict(kernel_shape=(kh, kw), strides=(sh, sw), pads=(pt, pl, pb, pr),
                      ceil_mode=ceil_mode)
        if op == "MaxPool":
            attrs_["dilations"] = (dh, dw)
        else:
            attrs_["count_include_pad"] = int(b.chance(2))
        b.restore(b.emit(op, [x], layout="NCHW", **attrs_), v)
    applier(op, accepts=spatial, kinds=ANY if op == "MaxPool" else FLOAT
            )(apply)


for _op in ("MaxPool", "AveragePool"):
    _make_pool(_op)

for _op in ("GlobalAveragePool", "GlobalMaxPool"):
    def _global_pool(b: GraphBuilder, v: Value, _op=_op):
        b.restore(b.emit(_op, [b.to_nchw(v)], layout="NCHW"), v)
    applier(_op, accepts=spatial)(_global_pool)


@applier("Resize", accepts=spatial)
def _resize(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    n, c, h, w = x.shape
    if b.chance(5):
        oh, ow = h, w  # no-op resize
    else:
        oh, ow = b.int_(1, MAX_SIDE), b.int_(1, MAX_SIDE)
    mode = b.pick(["nearest", "linear"])
    ctms = ["half_pixel", "asymmetric", "pytorch_half_pixel"]
    if min(oh, ow) > 1:
        ctms.append("align_corners")  # divides by (output size - 1)
    if mode == "nearest":
        ctms.append("tf_half_pixel_for_nn")
    out = b.emit("Resize", [x], sizes=(n, c, oh, ow), mode=mode,
                 coordinate_transformation_mode=b.pick(ctms),
                 nearest_mode=b.pick(["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]),
                 layout="NCHW")
    b.restore(out, v)


@applier("DepthToSpace", accepts=lambda b, v: spatial(b, v) and nchw_shape(b, v)[1] % 4 == 0
         and 2 * max(nchw_shape(b, v)[2:]) <= MAX_DIM)


def _depth_to_space(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    out = b.emit("DepthToSpace", [x], blocksize=2, mode=b.pick(["DCR", "CRD"]), layout="NCHW")
    b.restore(out, v)


def _even_spatial(b, v):
    if not spatial(b, v):
        return False
    n, c, h, w = nchw_shape(b, v)
    return h % 2 == 0 and w % 2 == 0 and c * 4 <= MAX_DIM


@applier("SpaceToDepth", accepts=_even_spatial)
def _space_to_depth(b: GraphBuilder, v: Value):
    b.restore(b.emit("SpaceToDepth", [b.to_nchw(v)], blocksize=2, layout="NCHW"), v)


@applier("RoiAlign", accepts=lambda b, v: spatial(b, v) and v.dtype is DType.f32)
def _roi_align(b: GraphBuilder, v: Value):
    """Constant rois over (and partly beyond) the feature map, ordered corners."""
    x = b.to_nchw(v)
    n, _, h, w = x.shape
    r = b.int_(1, 3)
    corners = b.rng.uniform(-1, 1.2, (r, 2, 2)) * np.asarray([w, h])
    rois = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    idx = b.rng.integers(0, n, r)
    out = b.emit("RoiAlign", [x, b.const(rois, DType.f32), b.const(idx, DType.i64)],
                 output_height=b.int_(1, 3), output_width=b.int_(1, 3),
                 sampling_ratio=b.int_(0, 2), mode=b.pick(["avg", "max"]),
                 half_pixel=b.chance(2), layout="NCHW")
    b.restore(out, v)


@applier("GridSample", accepts=lambda b, v: spatial(b, v) and v.dtype is DType.f32)
def _grid_sample(b: GraphBuilder, v: Value):
    """A constant grid of locations inside and around the feature map."""
    x = b.to_nchw(v)
    grid = b.rng.uniform(-1.2, 1.2, (x.shape[0], b.int_(1, 4), b.int_(1, 4), 2))
    out = b.emit("GridSample", [x, b.const(grid, DType.f32)],
                 mode=b.pick(["linear", "nearest", "cubic"]),
                 padding_mode=b.pick(["zeros", "border", "reflection"]),
                 align_corners=b.chance(2), layout="NCHW")
    b.restore(out, v)
