"""Detection-head ops from Caffe, ONNX and TFLite models: SSD PriorBox and DetectionOutput,
Faster R-CNN Proposal, ONNX NonMaxSuppression, TFLite's DetectionPostProcess (region pooling:
roi.py; YOLO / region box decoding: box_decode.py).

They hold data-dependent control flow (sorting, NMS) or pure shape-derived constants, so NPUs do
not run them: the simulator runs these reference kernels on the CPU (a CPU-fallback partition).
Outputs with a data-dependent row count have a static maximum size; unused rows are marked
(DetectionOutput: image id -1; Proposal and DetectionPostProcess: all-zero rows;
NonMaxSuppression: rows of -1).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from npucc.errors import IRError, NpuccError
from npucc.ir.registry import Attr, define_op
from npucc.ir.types import DType, TensorType
from npucc.limits import check_shape

from .partial_sort import partial_sort_descending


def require_f32(types, *idx):
    """Inputs `idx` of a detection op must be f32 (they hold boxes and scores)."""
    for i in idx:
        if types[i].dtype is not DType.f32:
            raise IRError(f"input {i} must be f32, got {types[i].dtype.value}")


# ---- PriorBox ----
def prior_aspect_ratios(aspect_ratios, flip) -> list[float]:
    """1, then each given ratio not yet present (and its inverse when flip)."""
    out = [1.0]
    for ar in aspect_ratios:
        if any(abs(ar - a) < 1e-6 for a in out):
            continue
        out.append(ar)
        if flip:
            out.append(1.0 / ar)
    return out


def _num_priors(a) -> int:
    return len(prior_aspect_ratios(a["aspect_ratios"], a["flip"])) * len(a["min_sizes"]) \
        + len(a["max_sizes"])


def _prior_box_type(types, a):
    feat, img = types
    if feat.rank != 4 or img.rank != 4:
        raise IRError("PriorBox takes an N,C,H,W feature map and the N,C,H,W image")
    if not a["min_sizes"]:
        raise IRError("min_sizes must not be empty")
    if a["max_sizes"] and len(a["max_sizes"]) != len(a["min_sizes"]):
        raise IRError("max_sizes must be empty or match min_sizes")
    if any(mx <= mn for mn, mx in zip(a["min_sizes"], a["max_sizes"])):
        raise IRError("each max_size must be greater than its min_size")
    h, w = feat.shape[2:]
    return TensorType((1, 2, h * w * _num_priors(a) * 4), DType.f32)


@define_op("PriorBox", inputs=("feature", "image"),
           attrs={"min_sizes": Attr("floats"), "max_sizes": Attr("floats", ()),
                  "aspect_ratios": Attr("floats", ()), "flip": Attr("bool", True),
                  "clip": Attr("bool", False), "variances": Attr("floats", (0.1,)),
                  "img_h": Attr("int", 0, doc="0: the image input's height"),
                  "img_w": Attr("int", 0), "step_h": Attr("float", 0.0, doc="0: img_h / H"),
                  "step_w": Attr("float", 0.0), "offset": Attr("float", 0.5)},
           infer=_prior_box_type, shape_only_inputs=(0, 1))
def prior_box(feature, image, *, min_sizes, max_sizes, aspect_ratios, flip, clip, variances,
              img_h, img_w, step_h, step_w, offset):
    """SSD prior boxes (weiliu89 PriorBoxLayer): for each cell (row-major) and each min_size: a
    min_size square, a sqrt(min_size * max_size) square, then min_size * (sqrt(ar), 1/sqrt(ar))
    per aspect ratio != 1; corners normalised by the image size; output[0, 0] the boxes,
    output[0, 1] the variances. Only the inputs' shapes are read (constant-foldable)."""
    f32 = np.float32
    lh, lw = feature.shape[2:]
    ih = img_h or image.shape[2]
    iw = img_w or image.shape[3]
    sh = f32(step_h) if step_h else f32(ih) / f32(lh)
    sw = f32(step_w) if step_w else f32(iw) / f32(lw)
    sizes = []  # (box_w, box_h) per prior, in order
    ratios = prior_aspect_ratios(aspect_ratios, flip)
    for s, mn in enumerate(min_sizes):
        sizes.append((f32(mn), f32(mn)))
        if max_sizes:
            side = f32(math.sqrt(f32(mn) * f32(max_sizes[s])))
            sizes.append((side, side))
        for ar in ratios:
            if abs(ar - 1.0) < 1e-6:
                continue
            r = f32(math.sqrt(f32(ar)))
            sizes.append((f32(mn) * r, f32(mn) / r))
    bw = np.array([s[0] for s in sizes], f32)
    bh = np.array([s[1] for s in sizes], f32)
    cy = ((np.arange(lh, dtype=f32) + f32(offset)) * sh)[:, None, None]
    cx = ((np.arange(lw, dtype=f32) + f32(offset)) * sw)[None, :, None]
    shape = (lh, lw, len(sizes))
    boxes = np.stack([np.broadcast_to((cx - bw / 2) / f32(iw), shape),
                      np.broadcast_to((cy - bh / 2) / f32(ih), shape),
                      np.broadcast_to((cx + bw / 2) / f32(iw), shape),
                      np.broadcast_to((cy + bh / 2) / f32(ih), shape)], axis=-1).reshape(-1)
    if clip:
        boxes = np.clip(boxes, 0, 1)
    var = np.broadcast_to(np.asarray(variances, f32), (boxes.size // 4, 4)).reshape(-1)
    return np.stack([boxes, var]).reshape(1, 2, -1).astype(f32)


# ---- DetectionOutput ----
CODE_TYPES = ("corner", "center_size", "corner_size")


def _det_rows(a, num_priors) -> int:
    if a["keep_top_k"] > 0:
        return a["keep_top_k"]
    per_class = num_priors if a["top_k"] < 0 else min(a["top_k"], num_priors)
    return per_class * a["num_classes"]


def _detection_output_type(types, a):
    loc, conf, prior = types
    require_f32(types, 0, 1, 2)
    if prior.rank != 3 or prior.shape[1] != 2 or prior.shape[2] % 4:
        raise IRError(f"prior must be (1 or N, 2, 4 * priors), got {list(prior.shape)}")
    num_priors = prior.shape[2] // 4
    n = loc.shape[0]
    loc_classes = 1 if a["share_location"] else a["num_classes"]
    if math.prod(loc.shape[1:]) != num_priors * loc_classes * 4:
        raise IRError(f"loc {list(loc.shape)} does not hold {num_priors} priors x "
                      f"{loc_classes} x 4 values")
    if conf.shape[0] != n or math.prod(conf.shape[1:]) != num_priors * a["num_classes"]:
        raise IRError(f"conf {list(conf.shape)} does not hold {num_priors} priors x "
                      f"{a['num_classes']} classes")
    return TensorType((1, 1, n * _det_rows(a, num_priors), 7), DType.f32)


def decode_boxes(prior, var, loc, code_type, variance_encoded_in_target):
    """SSD DecodeBBox for arrays of (P, 4) corners: priors, variances, predicted offsets."""
    v = np.ones_like(var) if variance_encoded_in_target else var
    pw, ph = prior[:, 2] - prior[:, 0], prior[:, 3] - prior[:, 1]
    if code_type == "corner":
        return prior + v * loc
    if code_type == "corner_size":
        return prior + v * loc * np.stack([pw, ph, pw, ph], axis=1)
    pcx, pcy = (prior[:, 0] + prior[:, 2]) / 2, (prior[:, 1] + prior[:, 3]) / 2
    cx = v[:, 0] * loc[:, 0] * pw + pcx
    cy = v[:, 1] * loc[:, 1] * ph + pcy
    w = np.exp(v[:, 2] * loc[:, 2]) * pw
    h = np.exp(v[:, 3] * loc[:, 3]) * ph
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def _box_size(b):
    return np.where((b[..., 2] < b[..., 0]) | (b[..., 3] < b[..., 1]), 0,
                    (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]))


def _jaccard(box, boxes):
    """SSD JaccardOverlap (normalised boxes) of one box with each of boxes."""
    iw = np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])
    ih = np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0)
    return np.where(inter > 0, inter / (_box_size(box) + _box_size(boxes) - inter), 0)


def nms_fast(boxes, scores, score_threshold, nms_threshold, eta, top_k) -> list[int]:
    """SSD ApplyNMSFast: candidates above the threshold by descending score (stable), at most
    top_k; keep each that overlaps no kept box by more than the (adaptive) threshold."""
    cand = np.nonzero(scores > score_threshold)[0]
    cand = cand[np.argsort(-scores[cand], kind="stable")]
    if top_k > -1:
        cand = cand[:top_k]
    keep: list[int] = []
    thr = nms_threshold
    for i in cand:
        if keep and np.any(_jaccard(boxes[i], boxes[keep]) > thr):
            continue
        keep.append(int(i))
        if eta < 1 and thr > 0.5:
            thr *= eta
    return keep


@define_op("DetectionOutput", inputs=("loc", "conf", "prior"),
           attrs={"num_classes": Attr("int"), "share_location": Attr("bool", True),
                  "background_label_id": Attr("int", 0),
                  "nms_threshold": Attr("float", 0.3), "top_k": Attr("int", -1),
                  "eta": Attr("float", 1.0),
                  "code_type": Attr("str", "corner", choices=CODE_TYPES),
                  "variance_encoded_in_target": Attr("bool", False),
                  "keep_top_k": Attr("int", -1),
                  "confidence_threshold": Attr("float", float("-inf"))},
           infer=_detection_output_type)
def detection_output(loc, conf, prior, *, num_classes, share_location, background_label_id,
                     nms_threshold, top_k, eta, code_type, variance_encoded_in_target,
                     keep_top_k, confidence_threshold):
    """SSD DetectionOutput: decode every prior's box, per-class NMS, keep the keep_top_k best
    per image; rows [image, label, score, xmin, ymin, xmax, ymax] ordered by image, label,
    then descending score; the remaining rows have image = -1 and zeros."""
    n = loc.shape[0]
    num_priors = prior.shape[2] // 4
    loc_classes = 1 if share_location else num_classes
    locs = loc.reshape(n, num_priors, loc_classes, 4).astype(np.float32)
    confs = conf.reshape(n, num_priors, num_classes).astype(np.float32)
    pri = prior[0, 0].reshape(num_priors, 4)
    var = prior[0, 1].reshape(num_priors, 4)
    rows = _det_rows(dict(keep_top_k=keep_top_k, top_k=top_k, num_classes=num_classes),
                     num_priors)
    out = np.zeros((n, rows, 7), np.float32)
    out[:, :, 0] = -1
    for i in range(n):
        decoded = [decode_boxes(pri, var, locs[i, :, c], code_type, variance_encoded_in_target)
                   for c in range(loc_classes)]
        picks = []  # (score, label, prior index)
        for c in range(num_classes):
            if c == background_label_id:
                continue
            boxes = decoded[0 if share_location else c]
            for j in nms_fast(boxes, confs[i, :, c], confidence_threshold, nms_threshold, eta,
                              top_k):
                picks.append((float(confs[i, j, c]), c, j))
        if keep_top_k > -1 and len(picks) > keep_top_k:
            order = sorted(range(len(picks)), key=lambda k: -picks[k][0])[:keep_top_k]
            picks = [picks[k] for k in order]
        picks.sort(key=lambda p: (p[1], -p[0]))
        for r, (score, c, j) in enumerate(picks):
            box = decoded[0 if share_location else c][j]
            out[i, r] = (i, c, score, *box)
    return out.reshape(1, 1, n * rows, 7)


# ---- NonMaxSuppression (ONNX) ----
def nms_rows(types, max_output_boxes_per_class) -> int:
    """The static row count of NonMaxSuppression: batches * classes * min(max output, boxes)."""
    boxes, scores = types
    return scores.shape[0] * scores.shape[1] * min(max_output_boxes_per_class, scores.shape[2])


def _nms_type(types, a):
    boxes, scores = types
    require_f32(types, 0, 1)
    if boxes.rank != 3 or boxes.shape[2] != 4 or scores.rank != 3 \
            or scores.shape[0] != boxes.shape[0] or scores.shape[2] != boxes.shape[1]:
        raise IRError(f"takes boxes [B, N, 4] and scores [B, C, N], got {list(boxes.shape)} and "
                      f"{list(scores.shape)}")
    return TensorType((nms_rows(types, a["max_output_boxes_per_class"]), 3), DType.i64)


def _corners(boxes, center_point_box):
    """(N, 4) boxes as float32 x_min, y_min, x_max, y_max arrays, as onnxruntime computes them:
    [y1, x1, y2, x2] of any two opposite corners, or [x_center, y_center, width, height]."""
    b = boxes.astype(np.float32)
    if center_point_box:
        hw, hh = b[:, 2] / np.float32(2), b[:, 3] / np.float32(2)
        return b[:, 0] - hw, b[:, 1] - hh, b[:, 0] + hw, b[:, 1] + hh
    return (np.minimum(b[:, 1], b[:, 3]), np.minimum(b[:, 0], b[:, 2]),
            np.maximum(b[:, 1], b[:, 3]), np.maximum(b[:, 0], b[:, 2]))


def _suppresses(c, i, rest, iou_threshold):
    """Which boxes `rest` box i suppresses: float32 IoU > the threshold; boxes that do not
    overlap or have no area suppress nothing."""
    x0, y0, x1, y1 = c
    f32 = np.float32
    iw = np.minimum(x1[i], x1[rest]) - np.maximum(x0[i], x0[rest])
    ih = np.minimum(y1[i], y1[rest]) - np.maximum(y0[i], y0[rest])
    inter = (iw * ih).astype(f32)
    area_i = (x1[i] - x0[i]) * (y1[i] - y0[i])
    area = (x1[rest] - x0[rest]) * (y1[rest] - y0[rest])
    union = (area_i + area - inter).astype(f32)
    valid = (iw > 0) & (ih > 0) & (inter > 0) & (area_i > 0) & (area > 0) & (union > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return valid & (inter / np.where(valid, union, f32(1)) > f32(iou_threshold))


def nms_onnx(boxes, scores, max_output, iou_threshold, score_threshold, center_point_box):
    """Indices of the boxes one class keeps: candidates (score > score_threshold, if given) by
    descending score, ties by lower index; each kept box suppresses the later candidates whose
    IoU with it is above iou_threshold; at most max_output."""
    scores = scores.astype(np.float32)
    cand = np.arange(len(scores)) if score_threshold is None else \
        np.nonzero(scores > np.float32(score_threshold))[0]
    cand = cand[np.argsort(-scores[cand], kind="stable")]
    c = _corners(boxes, center_point_box)
    keep: list[int] = []
    while cand.size and len(keep) < max_output:
        i, cand = cand[0], cand[1:]
        keep.append(int(i))
        cand = cand[~_suppresses(c, i, cand, iou_threshold)]
    return keep


@define_op("NonMaxSuppression", inputs=("boxes", "scores"),
           attrs={"max_output_boxes_per_class": Attr("int", check=lambda v: None if v >= 0
                                                     else "must be >= 0"),
                  "iou_threshold": Attr("float", 0.0, check=lambda v: None if 0 <= v <= 1
                                        else "must be in [0, 1]"),
                  "score_threshold": Attr("float", None, doc="None: no score filter"),
                  "center_point_box": Attr("bool", False,
                                           doc="boxes are [xc, yc, w, h], not [y1, x1, y2, x2]")},
           infer=_nms_type)
def non_max_suppression(boxes, scores, *, max_output_boxes_per_class, iou_threshold,
                        score_threshold, center_point_box):
    """ONNX NonMaxSuppression (as onnxruntime computes it): per batch, per class, greedy NMS of
    boxes[b] by scores[b, c] (see the IoU and ordering rules of nms_onnx); rows
    [batch, class, box] ordered by batch, class, then selection order. The row count is static:
    B * C * min(max_output_boxes_per_class, N); rows past the selected ones are -1 (an index
    that Gather reads as the last box: mask them by the -1 batch column)."""
    out = np.full((nms_rows([boxes, scores], max_output_boxes_per_class), 3), -1, np.int64)
    rows = [(b, c, i) for b in range(scores.shape[0]) for c in range(scores.shape[1])
            for i in nms_onnx(boxes[b], scores[b, c], max_output_boxes_per_class,
                              iou_threshold, score_threshold, center_point_box)]
    if rows:
        out[:len(rows)] = rows
    return out


# ---- Proposal ----
def _proposal_type(types, a):
    scores, deltas, info = types
    require_f32(types, 0, 1, 2)
    na = len(a["scales"]) * len(a["ratios"])
    if scores.rank != 4 or scores.shape[1] != 2 * na or deltas.rank != 4 \
            or deltas.shape[1] != 4 * na or deltas.shape[2:] != scores.shape[2:]:
        raise IRError(f"for {na} anchors, scores must be (1, {2 * na}, H, W) and deltas "
                      f"(1, {4 * na}, H, W), got {list(scores.shape)} and {list(deltas.shape)}")
    if scores.shape[0] != 1:
        raise IRError("Proposal handles a single image (batch 1)")
    if math.prod(info.shape) < 3:
        raise IRError(f"im_info must hold (height, width, scale), got {list(info.shape)}")
    n = a["post_nms_topn"]
    return [TensorType((n, 5), DType.f32), TensorType((n, 1), DType.f32)]


def generate_anchors(base_size, ratios, scales) -> np.ndarray:
    """py-faster-rcnn anchors: (len(ratios) * len(scales), 4) corners around the base cell,
    ratios outer, scales inner; sides rounded half to even."""
    def whctr(a):
        w, h = a[2] - a[0] + 1, a[3] - a[1] + 1
        return w, h, a[0] + 0.5 * (w - 1), a[1] + 0.5 * (h - 1)

    def corners(ws, hs, cx, cy):
        return np.stack([cx - 0.5 * (ws - 1), cy - 0.5 * (hs - 1), cx + 0.5 * (ws - 1),
                         cy + 0.5 * (hs - 1)], axis=1)

    w, h, cx, cy = whctr(np.array([0, 0, base_size - 1, base_size - 1], np.float64))
    ratios = np.asarray(ratios, np.float64)
    ws = np.round(np.sqrt(w * h / ratios))
    hs = np.round(ws * ratios)
    out = []
    for a in corners(ws, hs, cx, cy):
        w, h, cx, cy = whctr(a)
        out.append(corners(w * np.asarray(scales), h * np.asarray(scales), cx, cy))
    return np.concatenate(out)


def nms_greedy(boxes, scores, thresh) -> list[int]:
    """py-faster-rcnn nms: pixel boxes (+1 in widths), by descending score."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= thresh]
    return keep


@define_op("Proposal", inputs=("scores", "deltas", "im_info"),
           attrs={"feat_stride": Attr("int", 16), "base_size": Attr("int", 16),
                  "scales": Attr("floats", (8.0, 16.0, 32.0)),
                  "ratios": Attr("floats", (0.5, 1.0, 2.0)),
                  "pre_nms_topn": Attr("int", 6000), "post_nms_topn": Attr("int", 300),
                  "nms_thresh": Attr("float", 0.7), "min_size": Attr("float", 16.0)},
           infer=_proposal_type)
def proposal(scores, deltas, im_info, *, feat_stride, base_size, scales, ratios, pre_nms_topn,
             post_nms_topn, nms_thresh, min_size):
    """py-faster-rcnn ProposalLayer (TEST config defaults): anchors at every cell, shifted by
    the predicted deltas, clipped to the image, boxes under min_size * scale dropped, the
    pre_nms_topn best by foreground score, NMS, the post_nms_topn best. Outputs rois
    (batch 0, x1, y1, x2, y2) and their scores; rows past the kept count are zero."""
    na = len(scales) * len(ratios)
    h, w = scores.shape[2:]
    info = im_info.reshape(-1)
    anchors = generate_anchors(base_size, ratios, scales)
    sx, sy = np.meshgrid(np.arange(w) * feat_stride, np.arange(h) * feat_stride)
    shifts = np.stack([sx.ravel(), sy.ravel(), sx.ravel(), sy.ravel()], axis=1)
    anchors = (anchors[None] + shifts[:, None]).reshape(-1, 4)
    d = deltas.transpose(0, 2, 3, 1).reshape(-1, 4).astype(np.float64)
    fg = scores[:, na:].transpose(0, 2, 3, 1).reshape(-1)
    aw = anchors[:, 2] - anchors[:, 0] + 1.0
    ah = anchors[:, 3] - anchors[:, 1] + 1.0
    cx = anchors[:, 0] + 0.5 * aw + d[:, 0] * aw
    cy = anchors[:, 1] + 0.5 * ah + d[:, 1] * ah
    pw, ph = np.exp(d[:, 2]) * aw, np.exp(d[:, 3]) * ah
    boxes = np.stack([cx - 0.5 * pw, cy - 0.5 * ph, cx + 0.5 * pw, cy + 0.5 * ph], axis=1)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, info[1] - 1)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, info[0] - 1)
    ms = min_size * info[2]
    keep = np.nonzero((boxes[:, 2] - boxes[:, 0] + 1 >= ms)
                      & (boxes[:, 3] - boxes[:, 1] + 1 >= ms))[0]
    boxes, fg = boxes[keep], fg[keep]
    order = np.argsort(-fg, kind="stable")
    if pre_nms_topn > 0:
        order = order[:pre_nms_topn]
    boxes, fg = boxes[order], fg[order]
    keep = nms_greedy(boxes, fg, nms_thresh)[:post_nms_topn]
    rois = np.zeros((post_nms_topn, 5), np.float32)
    out_scores = np.zeros((post_nms_topn, 1), np.float32)
    rois[:len(keep), 1:] = boxes[keep]
    out_scores[:len(keep), 0] = fg[keep]
    return rois, out_scores


# ---- DetectionPostProcess (TFLite's TFLite_Detection_PostProcess) ----
def _at_least_1(v):
    return None if v >= 1 else "must be >= 1"


def _positive_finite(v):
    return None if 0 < v < math.inf else "must be finite and > 0"


def _postprocess_type(types, a):
    enc, scores, anchors = types
    require_f32(types, 0, 1, 2)
    if enc.rank != 3 or enc.shape[0] != 1 or enc.shape[2] < 4:
        raise IRError(f"box_encodings must be [1, N, 4 or more], got {list(enc.shape)}")
    n, nc = enc.shape[1], a["num_classes"]
    if scores.rank != 3 or scores.shape[:2] != (1, n) or scores.shape[2] - nc not in (0, 1):
        raise IRError(f"class_predictions must be [1, {n}, {nc} or {nc + 1}] for num_classes "
                      f"{nc} (the extra column first: background), got {list(scores.shape)}")
    if anchors.shape != (n, 4):
        raise IRError(f"anchors must be [{n}, 4], got {list(anchors.shape)}")
    rows = a["max_detections"] * a["max_classes_per_detection"]
    try:
        check_shape((1, rows, 4), 4, "the detection boxes (max_detections * "
                    "max_classes_per_detection rows)")
    except NpuccError as e:
        raise IRError(str(e)) from None
    f32 = DType.f32
    return [TensorType((1, rows, 4), f32), TensorType((1, rows), f32),
            TensorType((1, rows), f32), TensorType((1,), f32)]


def _decode_tflite(enc, anchors, scales):
    """(N, 4) float32 corners (ymin, xmin, ymax, xmax) of center-size encodings (y, x, h, w) on
    anchors (y, x, h, w) and the four scales: centres and half sizes in float64, each rounded
    to float32, corners in float32 (TFLite's DecodeCenterSizeBoxes)."""
    f32 = np.float32
    e = enc[0, :, :4].astype(np.float64)
    ay, ax, ah, aw = anchors.astype(np.float64).T
    ys, xs, hs, ws = scales
    with np.errstate(over="ignore"):
        yc = (e[:, 0] / ys * ah + ay).astype(f32)
        xc = (e[:, 1] / xs * aw + ax).astype(f32)
        hh = (0.5 * np.exp(e[:, 2] / hs) * ah).astype(f32)
        hw = (0.5 * np.exp(e[:, 3] / ws) * aw).astype(f32)
    return np.stack([yc - hh, xc - hw, yc + hh, xc + hw], axis=1)


def _iou_tflite(boxes, area, i, rest):
    """float32 IoU of box i with boxes `rest`, 0 where either has no area (TFLite's rule)."""
    b, c = boxes[i], boxes[rest]
    ih = np.maximum(np.minimum(b[2], c[:, 2]) - np.maximum(b[0], c[:, 0]), np.float32(0))
    iw = np.maximum(np.minimum(b[3], c[:, 3]) - np.maximum(b[1], c[:, 1]), np.float32(0))
    inter = ih * iw
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area[i] + area[rest] - inter)
    return np.where((area[i] <= 0) | (area[rest] <= 0), np.float32(0), iou)


def nms_tflite(boxes, area, scores, max_out, score_threshold, iou_threshold) -> list[int]:
    """TFLite's single-class NMS: the boxes scoring >= the (float32) score threshold by
    descending score (stable: ties by lower index); each kept box drops the later ones whose
    IoU with it is > the (float32) IoU threshold; at most max_out."""
    cand = np.nonzero(scores >= score_threshold)[0]
    cand = cand[np.argsort(-scores[cand], kind="stable")]
    keep: list[int] = []
    while cand.size and len(keep) < max_out:
        i, cand = cand[0], cand[1:]
        keep.append(int(i))
        cand = cand[~(_iou_tflite(boxes, area, i, cand) > iou_threshold)]
    return keep


def _first_max(s):
    """Per row, the index of the first largest score (TFLite's ArgMaxVector: NaNs never win,
    except in column 0)."""
    idx = np.argmax(np.where(np.isnan(s), -np.inf, s), axis=1)
    return np.where(np.isnan(s[:, 0]), 0, idx)


@define_op("DetectionPostProcess", inputs=("box_encodings", "class_predictions", "anchors"),
           attrs={"max_detections": Attr("int", check=_at_least_1),
                  "max_classes_per_detection": Attr("int", 1, check=_at_least_1,
                                                    doc="fast NMS: classes kept per box"),
                  "detections_per_class": Attr("int", 100, check=_at_least_1,
                                               doc="regular NMS: boxes kept per class"),
                  "use_regular_nms": Attr("bool", False, doc="NMS per class; False: fast "
                                          "NMS, one NMS over each box's best class score"),
                  "nms_score_threshold": Attr("float", 0.0, check=lambda v: None if v == v
                                              else "must not be NaN"),
                  "nms_iou_threshold": Attr("float", check=lambda v: None if 0 < v <= 1
                                            else "must be in (0, 1]"),
                  "num_classes": Attr("int", check=_at_least_1,
                                      doc="classes without the background column"),
                  "y_scale": Attr("float", check=_positive_finite),
                  "x_scale": Attr("float", check=_positive_finite),
                  "h_scale": Attr("float", check=_positive_finite),
                  "w_scale": Attr("float", check=_positive_finite)},
           infer=_postprocess_type)
def detection_post_process(box_encodings, class_predictions, anchors, *, max_detections,
                           max_classes_per_detection, detections_per_class, use_regular_nms,
                           nms_score_threshold, nms_iou_threshold, num_classes, y_scale,
                           x_scale, h_scale, w_scale):
    """TFLite_Detection_PostProcess (SSD heads of the TF Object Detection API), as LiteRT
    computes it. Boxes decode from (y, x, h, w) encodings on (y, x, h, w) anchors:
    yc = y / y_scale * ah + ay, half_h = 0.5 * exp(h / h_scale) * ah (x, w alike; in float64,
    rounded to float32) to ymin, xmin, ymax, xmax. Class scores skip a background column when
    there are num_classes + 1. Fast NMS: each box's best class score, one NMS over them, and
    per kept box its max_classes_per_detection best classes in consecutive rows (ties in the
    order libstdc++'s std::partial_sort leaves; the first maximum when 1 class is kept).
    Regular NMS: NMS per class (at most min(detections_per_class, max_detections) boxes), then
    the max_detections best over all classes by descending score (ties: lower class, then NMS
    order). NMS keeps scores >= nms_score_threshold, by descending score (ties: lower box
    index), and drops the boxes whose float32 IoU with a kept one is > nms_iou_threshold.
    Outputs: boxes [1, R, 4], classes [1, R] (0-based, background excluded), scores [1, R],
    num_detections [1] (the boxes kept), R = max_detections * max_classes_per_detection; rows
    no detection fills are zeros (TFLite's fast NMS leaves them unwritten). Thresholds and
    scales are used as float32, as TFLite reads them."""
    f32 = np.float32
    with np.errstate(over="ignore"):  # as float32, what TFLite reads (beyond its range: inf)
        scales = f32([y_scale, x_scale, h_scale, w_scale]).astype(np.float64)
        score_threshold, iou_threshold = f32(nms_score_threshold), f32(nms_iou_threshold)
    boxes = _decode_tflite(box_encodings, anchors, scales)
    if np.any((boxes[:, 0] > boxes[:, 2]) | (boxes[:, 1] > boxes[:, 3])):
        raise IRError("DetectionPostProcess: an anchor with a negative height or width decodes "
                      "to a box with min > max (TFLite refuses it)")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    cls = class_predictions[0, :, class_predictions.shape[2] - num_classes:].astype(f32)
    nms = functools.partial(nms_tflite, boxes, area, score_threshold=score_threshold,
                            iou_threshold=iou_threshold)
    rows = max_detections * max_classes_per_detection
    out_boxes = np.zeros((rows, 4), f32)
    out_classes = np.zeros(rows, f32)
    out_scores = np.zeros(rows, f32)
    if use_regular_nms:
        per_class = min(detections_per_class, max_detections)
        picks = np.array([(c, j) for c in range(num_classes)  # (class, box), NMS order
                          for j in nms(scores=cls[:, c], max_out=per_class)], np.int64)
        c, j = picks.reshape(-1, 2).T
        order = np.argsort(-cls[j, c], kind="stable")[:max_detections]
        c, j, at = c[order], j[order], np.arange(len(order))
        count = len(order)
    else:
        k = min(max_classes_per_detection, num_classes)
        best = _first_max(cls)
        kept = np.array(nms(scores=cls[np.arange(len(cls)), best], max_out=max_detections),
                        np.int64)
        top = best[kept, None] if k == 1 else \
            np.array([partial_sort_descending(cls[b].tolist(), k)[:k] for b in kept], np.int64)
        j = np.repeat(kept, k)
        c = top.reshape(-1)
        at = (max_classes_per_detection * np.arange(len(kept))[:, None]
              + np.arange(k)).reshape(-1)
        count = len(kept)
    out_boxes[at] = boxes[j]
    out_classes[at] = c
    out_scores[at] = cls[j, c]
    return (out_boxes[None], out_classes[None], out_scores[None],
            np.array([count], f32))
