"""Resize on the two last axes (ONNX Resize with `sizes`): nearest or linear (bilinear); and
GridSample (sampling at the locations a grid gives).

Output coordinate x maps to the input coordinate given by coordinate_transformation_mode
(scale = out / in), evaluated in float32 in the order onnxruntime 1.31 uses, so that nearest
rounding ties fall the same way:
  half_pixel:           (x + 0.5) / scale - 0.5
  align_corners:        x * (in - 1) / (out - 1)      (0 when out == 1)
  asymmetric:           x * in / out
  pytorch_half_pixel:   (x + 0.5) / scale - 0.5       (0 when out == 1)
  tf_half_pixel_for_nn: (x + 0.5) * in / out
An axis whose size does not change is copied unchanged (as onnxruntime does; this differs from
the formula only for tf_half_pixel_for_nn).
"""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.quant_rule import SAME
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import DType, TensorType

from .shape import positive

COORDINATE_MODES = ("half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel",
                    "tf_half_pixel_for_nn")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def source_coordinates(out_size: int, in_size: int, mode: str) -> np.ndarray:
    """Input coordinate (float32, unclamped) of each output index along one axis."""
    x = np.arange(out_size, dtype=np.float32)
    scale = np.float32(out_size) / np.float32(in_size)
    half = np.float32(0.5)
    if mode == "half_pixel":
        return (x + half) / scale - half
    if mode == "pytorch_half_pixel":
        return (x + half) / scale - half if out_size > 1 else np.zeros_like(x)
    if mode == "align_corners":
        if out_size == 1:
            return np.zeros_like(x)
        return x * np.float32(in_size - 1) / np.float32(out_size - 1)
    if mode == "asymmetric":
        return x * np.float32(in_size) / np.float32(out_size)
    if mode == "tf_half_pixel_for_nn":
        return (x + half) * np.float32(in_size) / np.float32(out_size)
    raise IRError(f"unknown coordinate_transformation_mode {mode!r}")


def nearest_indices(coords: np.ndarray, in_size: int, nearest_mode: str) -> np.ndarray:
    """Round input coordinates to pixel indices by nearest_mode, then clamp into the input."""
    c = coords.astype(np.float64)  # exact: ±0.5 below cannot round
    if nearest_mode == "round_prefer_floor":
        i = np.ceil(c - 0.5)
    elif nearest_mode == "round_prefer_ceil":
        i = np.floor(c + 0.5)
    elif nearest_mode == "floor":
        i = np.floor(c)
    else:
        i = np.ceil(c)
    return np.clip(i, 0, in_size - 1).astype(np.intp)


def _resize_axis_linear(x: np.ndarray, axis: int, out_size: int, mode: str) -> np.ndarray:
    in_size = x.shape[axis]
    c = np.clip(source_coordinates(out_size, in_size, mode), 0, in_size - 1)
    i0 = np.minimum(np.floor(c).astype(np.intp), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    shape = [1] * x.ndim
    shape[axis] = out_size
    w1 = (c - i0).astype(x.dtype).reshape(shape)
    return x.take(i0, axis=axis) * (1 - w1) + x.take(i1, axis=axis) * w1


def _resize_type(types, attrs_):
    x, sizes = types[0], attrs_["sizes"]
    if x.rank < 2:
        raise IRError(f"input must have rank >= 2, got shape {list(x.shape)}")
    if len(sizes) != x.rank:
        raise IRError(f"sizes {sizes} must give the full output shape (rank {x.rank})")
    if tuple(sizes[:-2]) != x.shape[:-2]:
        raise IRError(f"sizes {sizes} may change only the two last axes of {list(x.shape)}")
    if attrs_["mode"] == "linear" and not x.dtype.is_float:
        raise IRError(f"linear mode takes a float tensor, got {x.dtype.value}")
    if min(x.shape[-2:]) == 0:
        raise IRError(f"cannot resize the empty input {list(x.shape)}")
    return TensorType(sizes, x.dtype)


@define_op("Resize", inputs=("X",),
           attrs={"sizes": Attr("ints", check=positive, doc="full output shape"),
                  "mode": Attr("str", "nearest", choices=("nearest", "linear")),
                  "coordinate_transformation_mode": Attr("str", "half_pixel",
                                                         choices=COORDINATE_MODES),
                  "nearest_mode": Attr("str", "round_prefer_floor", choices=NEAREST_MODES)},
           infer=_resize_type, quant=SAME)
def resize(x, *, sizes, mode, coordinate_transformation_mode, nearest_mode):
    """ONNX Resize on the two last axes to `sizes`. nearest: the input pixel at the transformed
    coordinate rounded by nearest_mode (clamped into the input); linear: bilinear
    interpolation at the transformed coordinate clamped to [0, in-1]. Axes whose size does not
    change are copied."""
    ctm = coordinate_transformation_mode
    axes = [a for a in (x.ndim - 2, x.ndim - 1) if sizes[a] != x.shape[a]]
    if mode == "nearest":
        y = x
        for axis in axes:
            idx = nearest_indices(source_coordinates(sizes[axis], x.shape[axis], ctm),
                                  x.shape[axis], nearest_mode)
            y = y.take(idx, axis=axis)
        return y
    acc = np.float32 if x.dtype == np.float16 else x.dtype
    y = x.astype(acc)
    for axis in axes:
        y = _resize_axis_linear(y, axis, sizes[axis], ctm)
    return y.astype(x.dtype)


# ---- GridSample ----
def _grid_sample_type(types, attrs_):
    x, grid = types
    if x.dtype is not DType.f32 or grid.dtype is not DType.f32:
        raise IRError(f"takes f32 tensors, got {x.dtype.value} and {grid.dtype.value}")
    if x.rank != 4 or grid.rank != 4 or grid.shape[3] != 2 or grid.shape[0] != x.shape[0]:
        raise IRError(f"takes N,C,H,W features and an N,H_out,W_out,2 grid, got "
                      f"{list(x.shape)} and {list(grid.shape)}")
    return TensorType((*x.shape[:2], *grid.shape[1:3]), DType.f32)


def _reflect(f, lo, hi):
    """onnxruntime's GsReflect: f reflected by the nearer border until within [lo, hi]."""
    span = hi - lo
    if span <= 0:
        return np.full_like(f, lo)
    below, above = f < lo, f > hi
    d = np.where(below, lo - f, np.where(above, f - hi, 0)).astype(np.float32)
    n = (d / span).astype(np.int64)
    r = d - n.astype(np.float32) * span
    even = n % 2 == 0
    return np.where(below, np.where(even, lo + r, hi - r),
                    np.where(above, np.where(even, hi - r, lo + r), f))


def _cubic_coeffs(t):
    """Keys cubic convolution weights (A = -0.75) of the 4 taps around fraction t."""
    a = np.float32(-0.75)
    t = np.abs(t)
    return [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
            ((a + 2) * t - (a + 3)) * t * t + 1,
            ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
            ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]


@define_op("GridSample", inputs=("X", "grid"),
           attrs={"mode": Attr("str", "linear", choices=("linear", "nearest", "cubic")),
                  "padding_mode": Attr("str", "zeros", choices=("zeros", "border",
                                                                "reflection")),
                  "align_corners": Attr("bool", False)},
           infer=_grid_sample_type)
def grid_sample(x, grid, *, mode, padding_mode, align_corners):
    """ONNX GridSample (2-D, as onnxruntime computes it in float32): output[n, c, i, j] samples
    x[n, c] at grid[n, i, j] = (x, y) in [-1, 1] (the corner pixels' centres with
    align_corners, else their outer edges); nearest rounds half to even; linear and cubic
    (Keys, A = -0.75) read their taps through the padding: zeros, the border pixel, or the
    pixel reflected into the image."""
    f32 = np.float32
    n, c, h, w = x.shape
    out = np.empty((n, c, *grid.shape[1:3]), f32)
    lo = (f32(0), f32(0)) if align_corners else (f32(-0.5), f32(-0.5))
    hi = (f32(w - 1), f32(h - 1)) if align_corners else (f32(w) - f32(0.5), f32(h) - f32(0.5))

    def denormalize(v, size):
        if align_corners:
            return ((v + f32(1)) / f32(2) * f32(size - 1)).astype(f32)
        return (((v + f32(1)) * f32(size) - f32(1)) / f32(2)).astype(f32)

    for b in range(n):
        img = x[b].astype(f32)
        gx, gy = denormalize(grid[b, ..., 0], w), denormalize(grid[b, ..., 1], h)

        def pixel(r, col):  # [C, H_out, W_out]: x[b] at integer taps, through the padding
            if padding_mode == "zeros":
                inside = (r >= 0) & (r < h) & (col >= 0) & (col < w)
                return np.where(inside, img[:, np.clip(r, 0, h - 1), np.clip(col, 0, w - 1)],
                                f32(0))
            if padding_mode == "border":
                return img[:, np.clip(r, 0, h - 1), np.clip(col, 0, w - 1)]
            rr = _reflect(r.astype(f32), lo[1], hi[1]).astype(np.int64)
            cc = _reflect(col.astype(f32), lo[0], hi[0]).astype(np.int64)
            return img[:, np.clip(rr, 0, h - 1), np.clip(cc, 0, w - 1)]

        if mode == "nearest":
            out[b] = pixel(np.rint(gy).astype(np.int64), np.rint(gx).astype(np.int64))
        elif mode == "linear":
            x1, y1 = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
            dx1, dy1 = gx - x1.astype(f32), gy - y1.astype(f32)
            dx2, dy2 = (x1 + 1).astype(f32) - gx, (y1 + 1).astype(f32) - gy
            out[b] = dy2 * (dx2 * pixel(y1, x1) + dx1 * pixel(y1, x1 + 1)) \
                + dy1 * (dx2 * pixel(y1 + 1, x1) + dx1 * pixel(y1 + 1, x1 + 1))
        else:
            x0, y0 = np.floor(gx).astype(np.int64) - 1, np.floor(gy).astype(np.int64) - 1
            cx = _cubic_coeffs(gx - x0.astype(f32) - f32(1))
            cy = _cubic_coeffs(gy - y0.astype(f32) - f32(1))
            rows = [cx[0] * pixel(y0 + i, x0) + cx[1] * pixel(y0 + i, x0 + 1)
                    + cx[2] * pixel(y0 + i, x0 + 2) + cx[3] * pixel(y0 + i, x0 + 3)
                    for i in range(4)]
            out[b] = cy[0] * rows[0] + cy[1] * rows[1] + cy[2] * rows[2] + cy[3] * rows[3]
    return out
