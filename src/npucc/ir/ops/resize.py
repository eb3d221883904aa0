"""Resize on the two last axes (ONNX Resize with `sizes`): nearest or linear (bilinear).

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
from npucc.ir.types import TensorType

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
