"""Caffe detection heads (SSD, Faster R-CNN: ops the simulator runs on the CPU), including the
Python layer of py-faster-rcnn's ProposalLayer."""

from __future__ import annotations

import ast

from .importer import caffe_layer


# ---- detection heads (ops the simulator runs on the CPU) ----
@caffe_layer("PriorBox", param="prior_box_param",
             fields=("min_size", "max_size", "aspect_ratio", "flip", "clip", "variance",
                     "img_size", "img_h", "img_w", "step", "step_h", "step_w", "offset"))
def prior_box(ctx, p):
    """PriorBox op: SSD prior boxes from the feature map and image shapes (constant-foldable)."""
    feat, img = ctx.expect_inputs(2)
    img_h = p.img_h if p.HasField("img_h") else (p.img_size if p.HasField("img_size") else 0)
    img_w = p.img_w if p.HasField("img_w") else (p.img_size if p.HasField("img_size") else 0)
    step_h = p.step_h if p.HasField("step_h") else (p.step if p.HasField("step") else 0.0)
    step_w = p.step_w if p.HasField("step_w") else (p.step if p.HasField("step") else 0.0)
    variance = list(p.variance) or [0.1]
    if len(variance) not in (1, 4):
        raise ctx.error(f"variance needs 1 or 4 values, got {len(variance)}")
    if len(p.max_size) and len(p.max_size) != len(p.min_size):
        raise ctx.error(f"{len(p.max_size)} max_size for {len(p.min_size)} min_size values")
    if any(v <= 0 for v in list(p.min_size) + list(p.aspect_ratio)) or \
            any(hi <= lo for lo, hi in zip(p.min_size, p.max_size)):
        raise ctx.error(f"min_size {list(p.min_size)}, max_size {list(p.max_size)} and "
                        f"aspect_ratio {list(p.aspect_ratio)} must be positive, max above min")
    return ctx.op("PriorBox", feat, img, min_sizes=tuple(p.min_size),
                  max_sizes=tuple(p.max_size), aspect_ratios=tuple(p.aspect_ratio),
                  flip=p.flip, clip=p.clip, variances=tuple(variance), img_h=img_h,
                  img_w=img_w, step_h=step_h, step_w=step_w, offset=p.offset)


@caffe_layer("DetectionOutput", param="detection_output_param",
             fields=("num_classes", "share_location", "background_label_id", "nms_param",
                     "code_type", "variance_encoded_in_target", "keep_top_k",
                     "confidence_threshold"),
             ignored=("save_output_param", "visualize", "visualize_threshold", "save_file"))
def detection_output(ctx, p):
    """DetectionOutput op (decode + per-class NMS + top-k): (1, 1, keep_top_k, 7) rows of
    [image, label, score, xmin, ymin, xmax, ymax], unused rows have image = -1."""
    loc, conf, prior = ctx.expect_inputs(3)
    nms = p.nms_param
    code = {1: "corner", 2: "center_size", 3: "corner_size"}[p.code_type]
    return ctx.op("DetectionOutput", loc, conf, prior, num_classes=p.num_classes,
                  share_location=p.share_location, background_label_id=p.background_label_id,
                  nms_threshold=nms.nms_threshold, top_k=nms.top_k if nms.HasField("top_k")
                  else -1, eta=nms.eta, code_type=code,
                  variance_encoded_in_target=p.variance_encoded_in_target,
                  keep_top_k=p.keep_top_k, confidence_threshold=p.confidence_threshold
                  if p.HasField("confidence_threshold") else -float("inf"))


@caffe_layer("ROIPooling", param="roi_pooling_param",
             fields=("pooled_h", "pooled_w", "spatial_scale"))
def roi_pooling(ctx, p):
    """ROIPooling op (Fast R-CNN max pooling of each ROI into pooled_h x pooled_w bins)."""
    x, rois = ctx.expect_inputs(2)
    return ctx.op("ROIPooling", x, rois, pooled_h=p.pooled_h, pooled_w=p.pooled_w,
                  spatial_scale=p.spatial_scale)


@caffe_layer("Python", param="python_param", fields=("module", "layer", "param_str"),
             ignored=("share_in_parallel",))
def python_layer(ctx, p):
    """Only py-faster-rcnn's ProposalLayer (param_str: a Python dict literal, with or without
    braces: feat_stride, scales, ratios) becomes the Proposal op; other Python layers are
    user code and are refused."""
    if p.layer != "ProposalLayer":
        raise ctx.error(f"Python layer {p.module}.{p.layer} is user code; only "
                        "ProposalLayer (py-faster-rcnn) is supported")
    text = p.param_str.strip()
    try:
        params = ast.literal_eval(text if text.startswith("{") else "{" + text + "}") \
            if text else {}
    except (ValueError, SyntaxError) as e:
        raise ctx.error(f"param_str {p.param_str!r} is not a Python dict literal: {e}") \
            from None
    unknown = set(params) - {"feat_stride", "scales", "ratios"}
    if unknown:
        raise ctx.error(f"param_str keys {sorted(unknown)} are not supported")
    ins = ctx.expect_inputs(3)
    opts = ctx.importer.options.get("proposal", {})
    outs = ctx.op("Proposal", *ins, feat_stride=int(params.get("feat_stride", 16)),
                  scales=tuple(float(s) for s in params.get("scales", (8, 16, 32))),
                  ratios=tuple(float(r) for r in params.get("ratios", (0.5, 1, 2))), **opts)
    tops = len(ctx.layer.top)
    if tops not in (1, 2):
        raise ctx.error(f"ProposalLayer has 1 or 2 tops (rois, scores), got {tops}")
    return list(outs[:tops])
