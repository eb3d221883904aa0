"""Cross-layer equalization where per-tensor quantization suffers: trained MediaPipe nets and a
MobileNetV2 with trained-like BatchNorm statistics, quantized u8 per tensor (and i8 with
per-channel weights for comparison) with and without equalization.

    python benchmarks/equalization.py [--models face_detection_short_range,selfie_segmentation,
                                       face_landmark,iris_landmark,mobilenet_v2_relu,
                                       mobilenet_v2_relu6] [--calib 24] [--eval 48]
                                      [--size 160] [--decades 2]

MediaPipe 0.10.21's float TFLite models (trained; unzipped from the wheel the tests cache),
imported by npucc (default pipeline), reference = LiteRT running the same .tflite. Inputs: crops
(50-100 % of the short side, half mirrored) of faces: calibration from scikit-image's astronaut
and the even-numbered faces of its LFW subset, evaluation from its camera man and the odd-numbered
LFW faces (disjoint images). MobileNetV2 (tests/models) has random conv weights and synthetic,
trained-like BN statistics (`tests.models.trained_like_bn`), once with ReLU6 as published and
once with ReLU; reference = torch's float output; inputs as benchmarks/quant_accuracy.py (photo
crops, calibration and evaluation with different seeds).

Rows come from quant_accuracy.npucc_rows: +eq = exact CLE (`equalize_graph`), +eq6 = CLE after
relaxing ReLU6 to ReLU (the `f32 eq6 float` row is that relaxed float model against the
original). The table titles give the pairs CLE finds and the spread of the BN-folded depthwise
weights (per conv: largest / median per-channel max |w|; median over the convs).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks.quant_accuracy import (  # noqa: E402
    cosine,
    crops,
    first_output_score,
    npucc_rows,
    photos,
    table,
)


def face_images(split: int) -> list[np.ndarray]:
    """split 0 (calibration): astronaut + even LFW faces; 1 (evaluation): camera + odd faces"""
    from skimage import data

    big = data.astronaut() if split == 0 else np.repeat(data.camera()[..., None], 3, axis=2)
    faces = [np.repeat((f * 255).astype(np.uint8)[..., None], 3, axis=2)
             for f in data.lfw_subset()[split:100:2]]  # the first 100 of the subset are faces
    return [big] * 8 + faces  # the large photo in about 1 crop of 7


def face_detection_metrics(outputs, reference):
    """BlazeFace: cosine of the box regressors and of the score logits; at float's best anchor on
    inputs where float finds a face (p > 0.5): % where the quantized score also passes, and the
    IoU of the two boxes (both relative to the same anchor)."""
    box_cos = np.mean([cosine(o[0], r[0]) for o, r in zip(outputs, reference)])
    score_cos = np.mean([cosine(o[1], r[1]) for o, r in zip(outputs, reference)])
    kept, ious = [], []
    for o, r in zip(outputs, reference):
        a = int(r[1].ravel().argmax())
        if r[1].ravel()[a] <= 0:  # logit 0 = p 0.5
            continue
        kept.append(o[1].ravel()[a] > 0)
        (x0, y0, w0, h0), (x1, y1, w1, h1) = r[0][0, a, :4], o[0][0, a, :4]
        iw = max(0.0, min(x0 + w0 / 2, x1 + w1 / 2) - max(x0 - w0 / 2, x1 - w1 / 2))
        ih = max(0.0, min(y0 + h0 / 2, y1 + h1 / 2) - max(y0 - h0 / 2, y1 - h1 / 2))
        ious.append(iw * ih / (w0 * h0 + w1 * h1 - iw * ih + 1e-12))
    return box_cos, score_cos, 100 * np.mean(kept), 100 * np.mean(ious)


def segmentation_metrics(outputs, reference):
    """cosine of the mask logits; IoU of the masks p > 0.5 (inputs where either is non-empty)"""
    cos = np.mean([cosine(o[0], r[0]) for o, r in zip(outputs, reference)])
    ious = [((o[0] > 0) & (r[0] > 0)).sum() / ((o[0] > 0) | (r[0] > 0)).sum()
            for o, r in zip(outputs, reference) if ((o[0] > 0) | (r[0] > 0)).any()]
    return cos, 100 * np.mean(ious)


def landmark_metrics(outputs, reference):
    """cosine of the first output (landmarks x, y, z) and the mean (x, y) error in input pixels"""
    cos = np.mean([cosine(o[0], r[0]) for o, r in zip(outputs, reference)])
    px = np.mean([np.linalg.norm(o[0].reshape(-1, 3)[:, :2] - r[0].reshape(-1, 3)[:, :2], axis=1)
                  .mean() for o, r in zip(outputs, reference)])
    return cos, px


# name: (input size, (mean, std) on 0..255, outputs, metrics, metric columns)
MEDIAPIPE = {
    "face_detection_short_range": (128, (127.5, 127.5), None, face_detection_metrics,
                                   (("box cos", ".4f"), ("score cos", ".4f"),
                                    ("face kept %", ".1f"), ("box IoU %", ".1f"))),
    "selfie_segmentation": (256, (0.0, 255.0), ["segment"], segmentation_metrics,
                            (("logits cos", ".4f"), ("mask IoU %", ".1f"))),
    "face_landmark": (192, (0.0, 255.0), None, landmark_metrics,
                      (("cos", ".4f"), ("px err", ".2f"))),
    "iris_landmark": (64, (0.0, 255.0), None, landmark_metrics,
                      (("cos", ".4f"), ("px err", ".2f"))),
}
TOP1 = (("top-1 %", ".1f"), ("cos", ".4f"))


def depthwise_spread(graph) -> float:
    """median over depthwise convs of (largest / median per-output-channel max |w|)"""
    spreads = []
    for node in graph.nodes:
        if node.op == "Conv" and node.attrs["group"] > 1 and node.inputs[1].is_constant:
            w = np.abs(node.inputs[1].const).reshape(node.inputs[1].shape[0], -1).max(axis=1)
            spreads.append(w.max() / max(np.median(w), 1e-30))
    return float(np.median(spreads)) if spreads else float("nan")


def run(title, graph, calib, evals, reference, measure, metrics, args, relu6: bool) -> None:
    from npucc.numerics import run_graph
    from npucc.passes.equalize import pairs

    variants = ["", "+eq", "+eq6"] if relu6 else ["", "+eq"]
    opts = SimpleNamespace(eq_algorithms="normal,mmse", bc_algorithms="")
    rows = [("npucc", "f32", "", "-", *measure([run_graph(graph, [x]) for x in evals],
                                                reference), 0.0)]
    rows += npucc_rows(graph, calib, evals, reference, ["u8", "i8c"], ["normal", "mmse"],
                       variants, opts, measure=measure)
    table(f"{title}: {len(calib)} calibration / {len(evals)} evaluation inputs; CLE pairs: "
          f"{len(pairs(graph))} exact, {len(pairs(graph, 'relu'))} with ReLU6 relaxed; "
          f"depthwise spread {depthwise_spread(graph):.0f}x", rows, metrics)


def run_mediapipe(name, args) -> None:
    from tests.frontends.tflite.oracle import litert, mediapipe_model_paths

    import npucc
    from npucc.passes import default_pipeline, run_passes

    paths, error = mediapipe_model_paths()
    if paths is None:
        sys.exit(error)
    size, norm, outputs, measure, metrics = MEDIAPIPE[name]
    calib, evals = (crops(face_images(split), n, seed=split + 1, size=size, zoom=(0.5, 1.0),
                          norm=norm, nhwc=True)
                    for split, n in ((0, args.calib), (1, args.eval)))
    graph = npucc.load(paths[name], outputs=outputs)
    run_passes(graph, default_pipeline())
    names = [v.name for v in graph.outputs]
    reference = []
    for x in evals:
        _, it = litert(paths[name], [x], resolver="AUTO", all_tensors=True)
        by_name = {d["name"]: d["index"] for d in it.get_tensor_details()}
        reference.append([it.get_tensor(by_name[n]).copy() for n in names])
    run(f"{name} (MediaPipe 0.10.21, trained)", graph, calib, evals, reference, measure,
        metrics, args, relu6=False)


def run_mobilenet(activation: str, args) -> None:
    import torch
    from tests.models import build, export_onnx, relu6_to_relu, trained_like_bn

    import npucc
    from npucc.passes import default_pipeline, run_passes

    images = photos()
    calib, evals = (crops(images, n, seed=s, size=args.size)
                    for n, s in ((args.calib, 1), (args.eval, 2)))
    batch = torch.from_numpy(np.concatenate(crops(images, 16, seed=3, size=args.size)))
    model, _ = build("mobilenet_v2")
    if activation == "relu":
        relu6_to_relu(model)
    trained_like_bn(model, batch, decades=args.decades)
    with torch.no_grad():
        reference = [[model(torch.from_numpy(x)).numpy()] for x in evals]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "mobilenet_v2.onnx")
        with open(path, "wb") as f:
            f.write(export_onnx(model, batch[:1], opset=13))
        graph = npucc.load(path)
    run_passes(graph, default_pipeline())
    run(f"MobileNetV2 {activation.upper()} (random conv weights, synthetic trained-like BN over "
        f"{args.decades:g} decades), {args.size} x {args.size}", graph, calib, evals, reference,
        first_output_score, TOP1, args, relu6=activation == "relu6")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join([*MEDIAPIPE, "mobilenet_v2_relu",
                                                  "mobilenet_v2_relu6"]))
    ap.add_argument("--calib", type=int, default=24)
    ap.add_argument("--eval", type=int, default=48)
    ap.add_argument("--size", type=int, default=160, help="MobileNetV2 input size")
    ap.add_argument("--decades", type=float, default=2.0,
                    help="MobileNetV2: spread of the synthetic BN gammas")
    args = ap.parse_args(argv)
    for name in args.models.split(","):
        if name in MEDIAPIPE:
            run_mediapipe(name, args)
        elif name.startswith("mobilenet_v2_"):
            run_mobilenet(name.removeprefix("mobilenet_v2_"), args)
        else:
            ap.error(f"unknown model {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
