"""Region-of-interest pooling from Caffe (Faster R-CNN's ROIPooling) and ONNX (RoiAlign):
fixed-size features cropped from a feature map per box. Run on the CPU like the other detection ops
(detection.py)."""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import DType, TensorType
from npucc.limits import check_shape

from .detection import require_f32


# ---- ROIPooling ----
def _roi_pooling_type(types, a):
    x, rois = types
    require_f32(types, 0, 1)
    if x.rank != 4 or rois.rank != 2 or rois.shape[1] != 5:
        raise IRError(f"takes N,C,H,W features and (R, 5) rois, got {list(x.shape)} and "
                      f"{list(rois.shape)}")
    if a["pooled_h"] < 1 or a["pooled_w"] < 1:
        raise IRError("pooled_h and pooled_w must be >= 1")
    return TensorType((rois.shape[0], x.shape[1], a["pooled_h"], a["pooled_w"]), DType.f32)


def _c_round(v):
    """C round(): half away from zero."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


@define_op("ROIPooling", inputs=("X", "rois"),
           attrs={"pooled_h": Attr("int"), "pooled_w": Attr("int"),
                  "spatial_scale": Attr("float", 1.0)},
           infer=_roi_pooling_type)
def roi_pooling(x, rois, *, pooled_h, pooled_w, spatial_scale):
    """Fast R-CNN ROIPooling: each roi (batch, x1, y1, x2, y2) scaled and rounded to feature
    cells, split into pooled_h x pooled_w bins (floor/ceil bounds), max per bin (0 if empty)."""
    f32 = np.float32
    r, (_, c, h, w) = rois.shape[0], x.shape
    out = np.zeros((r, c, pooled_h, pooled_w), np.float32)
    for k in range(r):
        b = int(rois[k, 0])
        if not 0 <= b < x.shape[0]:
            raise IRError(f"ROIPooling: batch index {b} of roi {k} is out of range for "
                          f"{x.shape[0]} images")
        x1, y1, x2, y2 = (int(_c_round(f32(v) * f32(spatial_scale))) for v in rois[k, 1:])
        bin_h = f32(max(y2 - y1 + 1, 1)) / f32(pooled_h)
        bin_w = f32(max(x2 - x1 + 1, 1)) / f32(pooled_w)
        for ph in range(pooled_h):
            hs = min(max(int(np.floor(f32(ph) * bin_h)) + y1, 0), h)
            he = min(max(int(np.ceil(f32(ph + 1) * bin_h)) + y1, 0), h)
            for pw in range(pooled_w):
                ws = min(max(int(np.floor(f32(pw) * bin_w)) + x1, 0), w)
                we = min(max(int(np.ceil(f32(pw + 1) * bin_w)) + x1, 0), w)
                if he > hs and we > ws:
                    out[k, :, ph, pw] = x[b, :, hs:he, ws:we].max(axis=(1, 2))
    return out


# ---- RoiAlign (ONNX) ----
def _roi_align_type(types, a):
    x, rois, idx = types
    require_f32(types, 0, 1)
    if x.rank != 4 or rois.rank != 2 or rois.shape[1] != 4 or idx.rank != 1 \
            or idx.shape[0] != rois.shape[0] or not idx.dtype.is_int:
        raise IRError(f"takes N,C,H,W features, (R, 4) rois and R integer batch indices, got "
                      f"{list(x.shape)}, {list(rois.shape)} and {idx}")
    return TensorType((rois.shape[0], x.shape[1], a["output_height"], a["output_width"]),
                      DType.f32)


def _roi_samples(start, size, bins: int, sampling_ratio: int, n: int):
    """One axis of a roi's sampling grid, in float32 as onnxruntime computes it: the samples'
    low and high neighbour indices and bilinear weights, [bins, grid] each (a sample more than
    one cell outside the features weighs 0), and the grid size."""
    f32 = np.float32
    bin_size = size / f32(bins)
    grid = sampling_ratio if sampling_ratio > 0 else int(np.ceil(size / f32(bins)))
    grid = max(grid, 0)
    pos = start + np.arange(bins, dtype=f32)[:, None] * bin_size \
        + (np.arange(grid, dtype=f32) + f32(0.5)) * bin_size / f32(grid or 1)
    valid = (pos >= -1) & (pos <= n)
    pos = np.maximum(pos, f32(0))
    low = pos.astype(np.int64)
    at_end = low >= n - 1
    low = np.where(at_end, n - 1, low)
    frac = np.where(at_end, f32(0), pos - low.astype(f32))
    high = np.where(at_end, n - 1, low + 1)
    return low, high, np.where(valid, f32(1) - frac, 0), np.where(valid, frac, 0), grid


@define_op("RoiAlign", inputs=("X", "rois", "batch_indices"),
           attrs={"output_height": Attr("int", 1, check=lambda v: None if v >= 1 else
                                        "must be >= 1"),
                  "output_width": Attr("int", 1, check=lambda v: None if v >= 1 else
                                       "must be >= 1"),
                  "sampling_ratio": Attr("int", 0, doc="samples per bin and axis; 0: "
                                         "ceil(roi size / bins)"),
                  "spatial_scale": Attr("float", 1.0), "mode": Attr("str", "avg",
                                                                     choices=("avg", "max")),
                  "half_pixel": Attr("bool", True, doc="False: ONNX output_half_pixel (rois "
                                     "not shifted by -0.5, sides at least 1)")},
           infer=_roi_align_type)
def roi_align(x, rois, batch_indices, *, output_height, output_width, sampling_ratio,
              spatial_scale, mode, half_pixel):
    """ONNX RoiAlign (as onnxruntime computes it): each roi (x1, y1, x2, y2) * spatial_scale
    (- 0.5 with half_pixel) split into output_height x output_width bins, each sampled on a
    regular grid by bilinear interpolation; avg: the mean of the samples; max: the max over the
    samples of the largest of the four weighted neighbours (onnxruntime's rule)."""
    f32 = np.float32
    n, c, h, w = x.shape
    out = np.zeros((len(rois), c, output_height, output_width), f32)
    offset = f32(0.5) if half_pixel else f32(0)
    for k, (roi, b) in enumerate(zip(rois.astype(f32), batch_indices)):
        if not 0 <= b < n:
            raise IRError(f"RoiAlign: batch index {b} of roi {k} is out of range for {n} images")
        x1, y1, x2, y2 = roi * f32(spatial_scale) - offset
        rw, rh = x2 - x1, y2 - y1
        if not half_pixel:
            rw, rh = max(rw, f32(1)), max(rh, f32(1))
        *ys, gy = _roi_samples(y1, rh, output_height, sampling_ratio, h)
        *xs, gx = _roi_samples(x1, rw, output_width, sampling_ratio, w)
        if gy == 0 or gx == 0:
            continue
        check_shape((c, ys[0].size, xs[0].size), 4, f"the sampling grid of RoiAlign roi {k}")
        img = x[int(b)].astype(f32)
        corners = [(yi, wy, xi, wx) for yi, wy in ((ys[0], ys[2]), (ys[1], ys[3]))
                   for xi, wx in ((xs[0], xs[2]), (xs[1], xs[3]))]
        # each neighbour's weighted values: [C, samples along y, samples along x]
        vals = [np.outer(wy, wx) * img[:, yi.reshape(-1)][:, :, xi.reshape(-1)]
                for yi, wy, xi, wx in corners]
        if mode == "avg":
            v = sum(vals).reshape(c, output_height, gy, output_width, gx)
            out[k] = v.sum(axis=(2, 4), dtype=np.float64) / (gy * gx)
        else:
            v = np.maximum.reduce(vals).reshape(c, output_height, gy, output_width, gx)
            out[k] = v.max(axis=(2, 4))
    return out


