"""YOLO / region box decoding from Darknet heads ([yolo], [region]): the raw head tensor to
boxes, objectness and class scores. Run on the CPU like the other detection ops (detection.py)."""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import DType, TensorType

from .detection import require_f32


# ---- YOLO / region decoding ----
def _decode_type(types, a):
    x = types[0]
    require_f32(types, 0)
    na = len(a["anchors"]) // 2
    if len(a["anchors"]) % 2 or na == 0:
        raise IRError(f"anchors must be (w, h) pairs, got {a['anchors']}")
    per = 5 + a["num_classes"]
    if x.rank != 4 or x.shape[1] != na * per:
        raise IRError(f"input must be (N, {na} * {per}, H, W), got {list(x.shape)}")
    n, _, h, w = x.shape
    return TensorType((n, h * w * na, per), DType.f32)


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


_DECODE_ATTRS = {
    "anchors": Attr("floats", doc="(w, h) pairs of this head's anchors"),
    "num_classes": Attr("int"),
}


def _rows(x, na, per):
    """(N, A*per, H, W) -> (N, H, W, A, per)."""
    n, _, h, w = x.shape
    return x.reshape(n, na, per, h, w).transpose(0, 3, 4, 1, 2).astype(np.float64)


@define_op("YoloDecode", inputs=("X",),
           attrs={**_DECODE_ATTRS, "img_w": Attr("int", doc="network input width"),
                  "img_h": Attr("int"), "scale_x_y": Attr("float", 1.0)},
           infer=_decode_type)
def yolo_decode(x, *, anchors, num_classes, img_w, img_h, scale_x_y):
    """Darknet [yolo] boxes from the raw conv output: rows (cell row-major, anchor) of
    [cx, cy, w, h] normalised to the image, objectness, class probabilities (sigmoids);
    cx = (col + sigmoid(tx) * scale_x_y - (scale_x_y - 1) / 2) / W,
    w = exp(tw) * anchor_w / img_w."""
    na, per = len(anchors) // 2, 5 + num_classes
    n, _, h, w = x.shape
    r = _rows(x, na, per)
    aw = np.asarray(anchors[0::2])
    ah = np.asarray(anchors[1::2])
    off = (scale_x_y - 1) / 2
    col = np.arange(w)[None, None, :, None]
    row = np.arange(h)[None, :, None, None]
    out = np.empty_like(r)
    out[..., 0] = (col + _sigmoid(r[..., 0]) * scale_x_y - off) / w
    out[..., 1] = (row + _sigmoid(r[..., 1]) * scale_x_y - off) / h
    out[..., 2] = np.exp(r[..., 2]) * aw / img_w
    out[..., 3] = np.exp(r[..., 3]) * ah / img_h
    out[..., 4:] = _sigmoid(r[..., 4:])
    return out.reshape(n, h * w * na, per).astype(np.float32)


def _region_decode_type(types, a):
    groups = a["class_groups"]
    if groups and (min(groups) < 1 or sum(groups) != a["num_classes"]):
        raise IRError(f"class_groups {list(groups)} must be sizes >= 1 adding up to "
                      f"num_classes={a['num_classes']}")
    return _decode_type(types, a)


@define_op("RegionDecode", inputs=("X",),
           attrs={**_DECODE_ATTRS,
                  "class_groups": Attr("ints", (), doc="sizes of consecutive class groups, "
                                       "each soft-maxed on its own (darknet's tree softmax); "
                                       "empty: one softmax over all classes")},
           infer=_region_decode_type)
def region_decode(x, *, anchors, num_classes, class_groups):
    """Darknet [region] (YOLOv2) boxes: rows (cell row-major, anchor) of [cx, cy, w, h]
    normalised to the grid, objectness (sigmoid), class probabilities (softmax over the classes,
    or within each of class_groups); w = exp(tw) * anchor_w / W (anchors are in grid cells)."""
    na, per = len(anchors) // 2, 5 + num_classes
    n, _, h, w = x.shape
    r = _rows(x, na, per)
    out = np.empty_like(r)
    out[..., 0] = (np.arange(w)[None, None, :, None] + _sigmoid(r[..., 0])) / w
    out[..., 1] = (np.arange(h)[None, :, None, None] + _sigmoid(r[..., 1])) / h
    out[..., 2] = np.exp(r[..., 2]) * np.asarray(anchors[0::2]) / w
    out[..., 3] = np.exp(r[..., 3]) * np.asarray(anchors[1::2]) / h
    out[..., 4] = _sigmoid(r[..., 4])
    start = 5
    for size in class_groups or ([num_classes] if num_classes else []):
        logits = r[..., start:start + size]
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        out[..., start:start + size] = e / e.sum(axis=-1, keepdims=True)
        start += size
    return out.reshape(n, h * w * na, per).astype(np.float32)


