"""Resizing, space/depth rearrangement, box ops (NonMaxSuppression, RoI pooling) and grid
sampling."""

from __future__ import annotations

import math

import numpy as np

from ..importer import invalid, unsupported
from . import converter

# ---- resizing ----
_COORD_MODES = ("half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel",
                "tf_half_pixel_for_nn")
_NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _resized_shape(cx, shape, scales=None, sizes=None, axes=None):
    """Full output shape from scales or sizes (with optional axes), checked for the core op."""
    rank = len(shape)
    axes = list(range(rank)) if axes is None else [a + rank if a < 0 else a for a in axes]
    out = list(shape)
    if sizes is not None:
        if len(sizes) != len(axes):
            raise invalid(f"sizes {list(sizes)} does not match {len(axes)} axes")
        for a, s in zip(axes, sizes):
            out[a] = int(s)
    else:
        if len(scales) != len(axes):
            raise invalid(f"scales {list(scales)} does not match {len(axes)} axes")
        for a, s in zip(axes, scales):
            if not (math.isfinite(float(s)) and float(s) > 0):
                raise invalid(f"scale {float(s)} on axis {a} must be finite and > 0")
            out[a] = int(math.floor(shape[a] * float(s)))
            if shape[a] and not math.isclose(out[a] / shape[a], float(s), rel_tol=1e-6):
                raise unsupported(f"scale {float(s)} on axis {a} does not give a whole output "
                                  f"size ({shape[a]} * {float(s)}); npucc resizes to sizes, "
                                  "which would shift the sampling grid")
    moved = [a for a in range(rank) if out[a] != shape[a] and a < rank - 2]
    if moved:
        raise unsupported(f"resizing axes {moved} (shape {list(shape)} -> {out}) is not "
                          "supported; npucc resizes only the last two axes")
    return out


def _resize(cx, x, out_shape, mode, coord, nearest):
    if mode not in ("nearest", "linear"):
        raise unsupported(f"mode={mode!r} is not supported (nearest, linear)")
    if coord not in _COORD_MODES:
        raise unsupported(f"coordinate_transformation_mode={coord!r} is not supported "
                          f"({', '.join(_COORD_MODES)})")
    if nearest not in _NEAREST_MODES:
        raise unsupported(f"nearest_mode={nearest!r} is not supported")
    return cx.emit("Resize", [x], sizes=list(out_shape), mode=mode,
                   coordinate_transformation_mode=coord, nearest_mode=nearest)


def _legacy_nearest_mode(scales) -> str:
    """Upsample and Resize-10 pick the source pixel by floor when enlarging, ceil when shrinking
    (onnxruntime's 'simple' rounding, which is what their reference outputs follow)."""
    scales = [float(s) for s in scales]
    if all(s >= 1 for s in scales):
        return "floor"
    if all(s <= 1 for s in scales):
        return "ceil"
    raise unsupported(f"scales {scales} both enlarge and shrink")


@converter("Upsample")
def upsample(cx):
    x = cx.input(0)
    scales = cx.attr("scales") if cx.opset < 9 else cx.static(1, "scales")
    if scales is None:
        raise invalid("scales is required")
    mode = cx.attr("mode", "nearest")
    if mode == "bilinear":
        mode = "linear"
    out = _resized_shape(cx, cx.shape(x), scales=list(np.asarray(scales).ravel()))
    return _resize(cx, x, out, mode, "asymmetric", _legacy_nearest_mode(np.ravel(scales)))


@converter("Resize")
def resize(cx):
    x = cx.input(0)
    shape = cx.shape(x)
    mode = cx.attr("mode", "nearest")
    if cx.opset < 11:
        scales = cx.static(1, "scales").ravel()
        out = _resized_shape(cx, shape, scales=list(scales))
        return _resize(cx, x, out, mode, "asymmetric", _legacy_nearest_mode(scales))
    coord = cx.attr("coordinate_transformation_mode", "half_pixel")
    nearest = cx.attr("nearest_mode", "round_prefer_floor")
    if mode != "cubic":
        cx.ignore("cubic_coeff_a", "exclude_outside")
    if coord != "tf_crop_and_resize":
        cx.ignore("extrapolation_value")
    if cx.attr("antialias", 0):
        raise unsupported("antialias=1 is not supported")
    axes = cx.attr("axes")
    policy = cx.attr("keep_aspect_ratio_policy", "stretch")
    scales = cx.optional_static(2, "scales")
    sizes = cx.optional_static(3, "sizes")
    if sizes is not None:
        if policy != "stretch":
            raise unsupported(f"keep_aspect_ratio_policy={policy!r} is not supported")
        out = _resized_shape(cx, shape, sizes=list(sizes.ravel()), axes=axes)
    elif scales is not None:
        out = _resized_shape(cx, shape, scales=list(scales.ravel()), axes=axes)
    else:
        raise invalid("one of scales and sizes is required")
    return _resize(cx, x, out, mode, coord, nearest)


@converter("DepthToSpace", "SpaceToDepth")
def depth_space(cx):
    attrs = {"blocksize": cx.attr("blocksize")}
    if cx.op_type == "DepthToSpace":
        attrs["mode"] = cx.attr("mode", "DCR")
    return cx.emit(cx.op_type, [cx.input(0)], **attrs)


@converter("NonMaxSuppression")
def non_max_suppression(cx):
    """The thresholds must be constants. selected_indices has the static maximal row count;
    unused rows are -1 (see the core op)."""
    boxes, scores = cx.input(0), cx.input(1)
    max_out = cx.optional_scalar(2, "max_output_boxes_per_class")
    iou = cx.optional_scalar(3, "iou_threshold")
    score = cx.optional_scalar(4, "score_threshold")
    center = cx.attr("center_point_box", 0)
    shape = cx.shape(boxes)
    # exporters write INT64_MAX for "all": no more than the boxes can be selected
    max_out = 0 if max_out is None else min(max(int(max_out), 0), shape[1] if shape else 0)
    if max_out == 0:  # ONNX: no output
        return np.zeros((0, 3), np.int64)
    return cx.emit("NonMaxSuppression", [boxes, scores], max_output_boxes_per_class=max_out,
                   iou_threshold=0.0 if iou is None else float(iou),
                   score_threshold=score, center_point_box=center)


@converter("MaxRoiPool")
def max_roi_pool(cx):
    """Fast R-CNN ROI max pooling: the core ROIPooling (rois [batch, x1, y1, x2, y2])."""
    shape = cx.attr("pooled_shape")
    if len(shape) != 2:
        raise invalid(f"pooled_shape must be [height, width], got {list(shape)}")
    return cx.emit("ROIPooling", [cx.input(0), cx.input(1)], pooled_h=shape[0],
                   pooled_w=shape[1], spatial_scale=cx.attr("spatial_scale", 1.0))


_ROI_ALIGN_MODES = ("half_pixel", "output_half_pixel")


@converter("RoiAlign")
def roi_align(cx):
    """Opset 10 has no coordinate_transformation_mode: it samples as output_half_pixel."""
    coords = cx.attr("coordinate_transformation_mode",
                     "half_pixel" if cx.opset >= 16 else "output_half_pixel")
    if coords not in _ROI_ALIGN_MODES:
        raise invalid(f"coordinate_transformation_mode {coords!r} is not one of "
                      f"{_ROI_ALIGN_MODES}")
    return cx.emit("RoiAlign", [cx.input(0), cx.input(1), cx.input(2)],
                   output_height=cx.attr("output_height", 1),
                   output_width=cx.attr("output_width", 1),
                   sampling_ratio=cx.attr("sampling_ratio", 0),
                   spatial_scale=cx.attr("spatial_scale", 1.0), mode=cx.attr("mode", "avg"),
                   half_pixel=coords == "half_pixel")


_GRID_MODES = {"bilinear": "linear", "bicubic": "cubic"}  # opset 16 names -> opset 20 names


@converter("GridSample")
def grid_sample(cx):
    x = cx.input(0)
    if len(cx.shape(x)) != 4:
        raise unsupported(f"GridSample of a rank-{len(cx.shape(x))} input is not supported "
                          "(2-D: N,C,H,W)")
    mode = cx.attr("mode", "bilinear" if cx.opset < 20 else "linear")
    return cx.emit("GridSample", [x, cx.input(1)], mode=_GRID_MODES.get(mode, mode),
                   padding_mode=cx.attr("padding_mode", "zeros"),
                   align_corners=bool(cx.attr("align_corners", 0)))


@converter("AffineGrid")
def affine_grid(cx):
    """theta [N, 2, 3] applied to the base grid of (x, y, 1) pixel locations in [-1, 1] of the
    static size [N, C, H, W]: a MatMul with the base grid as a constant."""
    theta = cx.input(0)
    size = [int(v) for v in cx.static(1, "size").ravel()]
    align = cx.attr("align_corners", 0)
    if len(size) != 4 or min(size) < 1 or list(cx.shape(theta)) != [size[0], 2, 3]:
        raise unsupported(f"AffineGrid takes a 2-D size [N, C, H, W] and theta [N, 2, 3], got "
                          f"{size} and {list(cx.shape(theta))} (3-D grids are not supported)")
    h, w = size[2:]
    if align and min(h, w) == 1:
        raise unsupported("align_corners with a size-1 axis (the ONNX reference and "
                          "onnxruntime disagree)")
    cx.check_size([h * w, 3], 4, "the AffineGrid base grid")

    def coords(n):
        i = np.arange(n, dtype=np.float64)
        return -1 + 2 * i / (n - 1) if align else (2 * i + 1) / n - 1
    ys, xs = np.meshgrid(coords(h), coords(w), indexing="ij")
    base = np.stack([xs.ravel(), ys.ravel(), np.ones(h * w)], axis=1).astype(np.float32)
    grid = cx.emit("MatMul", [base, cx.emit("Transpose", [theta], perm=[0, 2, 1])])
    return cx.emit("Reshape", [grid], shape=[size[0], h, w, 2])


@converter("Col2Im")
def col2im(cx):
    """The sum of overlapping blocks: a grouped ConvTranspose (one group per channel) whose
    kernels each put one block column back at its offset."""
    x = cx.input(0)
    image = [int(v) for v in cx.static(1, "image_shape").ravel()]
    block = [int(v) for v in cx.static(2, "block_shape").ravel()]
    n, cols, length = (list(cx.shape(x)) + [0, 0, 0])[:3]
    if len(cx.shape(x)) != 3 or len(image) != 2 or len(block) != 2 or min(block) < 1 \
            or cols % math.prod(block):
        raise unsupported(f"Col2Im takes [N, C * block size, L] and a 2-D image and block, got "
                          f"{list(cx.shape(x))}, image_shape {image}, block_shape {block}")
    strides = list(cx.attr("strides", [1, 1]))
    dilations = list(cx.attr("dilations", [1, 1]))
    pads = list(cx.attr("pads", [0, 0, 0, 0]))
    span = [(size + pads[i] + pads[i + 2] - (k - 1) * d - 1) // s + 1
            for i, (size, k, d, s) in enumerate(zip(image, block, dilations, strides))]
    if min(span) < 1 or math.prod(span) != length:
        raise invalid(f"L={length} is not the {span} blocks image_shape {image} holds")
    k = math.prod(block)
    cx.check_size([cols, k], 4, "the Col2Im kernels")
    ones = np.tile(np.eye(k, dtype=cx.np_dtype(x)).reshape(k, 1, *block), (cols // k, 1, 1, 1))
    out_pad = [size + pads[i] + pads[i + 2] - ((m - 1) * s + (b - 1) * d + 1)
               for i, (size, m, s, b, d) in enumerate(zip(image, span, strides, block, dilations))]
    grid = cx.emit("Reshape", [x], shape=[n, cols, *span])
    return cx.emit("ConvTranspose", [grid, ones, None], strides=strides, pads=pads,
                   dilations=dilations, group=cols // k, output_padding=out_pad)
