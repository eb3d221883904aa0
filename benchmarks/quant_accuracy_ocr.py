"""PP-OCR quantization accuracy: npucc's schemes x range selectors (with and without bias
correction) side by side with onnxruntime's static quantizer, on rendered text.

    python benchmarks/quant_accuracy_ocr.py [--models det,cls] [--size 480]
        [--det-calib 24] [--det-eval 24] [--cls-calib 64] [--cls-eval 200]
        [--schemes u8,i8c,dfp8,dfp16] [--algorithms normal,mmse,percentile,kl_divergence]
        [--variants=-,+bc] [--bc-samples 8] [--no-ort] [--no-npucc]

Models: the rapidocr-onnxruntime 1.4.4 wheel's ch_PP-OCRv4_det_infer.onnx (text detector) and
ch_ppocr_mobile_v2.0_cls_infer.onnx (text direction classifier, 0 / 180 degrees, 3 x 48 x 192;
`pip install --no-deps rapidocr-onnxruntime==1.4.4`; only the .onnx files are used). Each is cut
before its last activation (the detector's Sigmoid, the classifier's Softmax) so the logits are
compared. Inputs from benchmarks/ocr_images.py; calibration and evaluation sets use different
seeds. Reference: the float model in onnxruntime. npucc rows run the quantized graph in the
simulator plan (`compile_plan`; bit-equal to `npucc.numerics.run_graph`, 2x faster).

Detector: *cos* = mean cosine of the logit maps; *IoU* = mean IoU of the text masks p > 0.3
(rapidocr's binarisation threshold) against float's. Classifier: *top-1* = % of lines whose
direction equals float's; *cos* = mean cosine of the two logits; *acc* = % equal to the truth.

onnxruntime rows: `quantize_static`, QDQ, the same calibration inputs, after the preparation
ORT's documentation asks for (`quant_pre_process`: shape inference + ORT's graph optimizer,
which folds BatchNormalization and constants). The paddle2onnx models keep every weight in a
Constant node, not an initializer; ORT quantizes only initializers as weights, so on the raw file
it quantized weights as *activations* (per tensor, activation type, calibrated range) and biases
to 8 bits, and `per_channel` had no effect at all. The benchmark first turns Constant nodes into
initializers (the same function). u8 = QUInt8 activations and weights per tensor; i8c = QInt8
activations, QInt8 weights per channel.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from benchmarks.ocr_images import text_lines, text_pages  # noqa: E402
from benchmarks.quant_accuracy import SCHEMES, photos  # noqa: E402

MODELS = {"det": ("ch_PP-OCRv4_det_infer.onnx", "Sigmoid"),
          "cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", "Softmax")}
ALGORITHMS = ("normal", "mmse", "percentile", "kl_divergence")
CUT = math.log(0.3 / 0.7)  # p > 0.3 on the logits


def wheel_model(file: str) -> str:
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None:
        sys.exit("needs `pip install --no-deps rapidocr-onnxruntime==1.4.4`")
    return os.path.join(spec.submodule_search_locations[0], "models", file)


def cut_model(path: str, before: str, shape, out: str) -> str:
    """Save the model with a static input shape, Constant nodes as initializers, the input of its
    last `before` node as the only output (the nodes after it dropped), opset >= 13; returns the
    output's name."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(path)
    g = model.graph
    logits = [n for n in g.node if n.op_type == before][-1].input[0]
    for d, n in zip(g.input[0].type.tensor_type.shape.dim, shape):
        d.Clear()
        d.dim_value = n
    keep, need = [], {logits}
    for node in reversed(list(g.node)):
        if need & set(node.output):
            keep.append(node)
            need |= {i for i in node.input if i}
    constants = [n for n in keep if n.op_type == "Constant"]
    for n in constants:
        value = next(a for a in n.attribute if a.name == "value")
        g.initializer.append(numpy_helper.from_array(numpy_helper.to_array(value.t),
                                                     n.output[0]))
    del g.node[:]
    g.node.extend(n for n in reversed(keep) if n.op_type != "Constant")
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(logits, onnx.TensorProto.FLOAT, None))
    del g.value_info[:]
    if model.opset_import[0].version < 13:  # per-axis Q/DQ (ORT's per_channel) needs opset 13
        model = onnx.version_converter.convert_version(model, 13)
    onnx.save(model, out)
    return logits


def cosine(a, b) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def det_scores(got, want, labels=None) -> dict:
    iou = [((g > CUT) & (w > CUT)).sum() / max(((g > CUT) | (w > CUT)).sum(), 1)
           for g, w in zip(got, want)]
    return {"cos": np.mean([cosine(g, w) for g, w in zip(got, want)]),
            "IoU %": 100 * float(np.mean(iou))}


def cls_scores(got, want, labels) -> dict:
    g, w = np.concatenate(got), np.concatenate(want)
    return {"top-1 %": 100 * float(np.mean(g.argmax(1) == w.argmax(1))),
            "cos": np.mean([cosine(a, b) for a, b in zip(g, w)]),
            "acc %": 100 * float(np.mean(g.argmax(1) == labels))}


def ort_rows(float_path, d, calib, evals, want, labels, scores, schemes):
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    prepared = os.path.join(d, "prepared.onnx")
    quant_pre_process(float_path, prepared, skip_symbolic_shape=True)  # CNNs: ONNX's is enough
    name = ort.InferenceSession(prepared, providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        """ORT's strided calibration (CalibStridedMinMax, any method) feeds `stride` inputs at a
        time; its histogram calibrators otherwise keep every activation of every input (17 GB
        for 24 pages at 640 x 640)."""

        def __init__(self):
            self.set_range(0, len(calib))

        def __len__(self):
            return len(calib)

        def set_range(self, start_index, end_index):
            self.it = iter([{name: x} for x in calib[start_index:end_index]])

        def get_next(self):
            return next(self.it, None)

    types = {"u8": (QuantType.QUInt8, False), "i8c": (QuantType.QInt8, True)}
    rows = []
    for scheme in [s for s in schemes if s in types]:
        qtype, pc = types[scheme]
        for method in ("MinMax", "Entropy", "Percentile"):
            out = os.path.join(d, f"ort_{scheme}_{method}.onnx")
            t = time.perf_counter()
            stride = max(k for k in range(1, 5) if len(calib) % k == 0)
            quantize_static(prepared, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=pc,
                            activation_type=qtype, weight_type=qtype,
                            calibrate_method=getattr(CalibrationMethod, method),
                            calibration_cache_path=os.path.join(d, f"ranges_{method}.json"),
                            extra_options={"CalibStridedMinMax": stride})
            build_s = time.perf_counter() - t
            sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
            got = [sess.run(None, {name: x})[0] for x in evals]
            rows.append(("onnxruntime", scheme, method, "", scores(got, want, labels), build_s))
            print(*rows[-1], sep="\t", file=sys.stderr, flush=True)
    return rows


def npucc_rows(graph, calib, evals, want, labels, scores, args):
    from npucc.backends.simulator import compile_plan
    from npucc.quantization import calibrate, quantize_model
    from npucc.quantization.bias_correction import correct_bias

    t = time.perf_counter()
    stats = calibrate(graph, calib, progress=False)
    print(f"calibration {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    got = [compile_plan(graph).run([x])[0] for x in evals]
    rows = [("npucc", "f32", "", "", scores(got, want, labels), 0.0)]
    print(*rows[-1], sep="\t", file=sys.stderr, flush=True)
    for scheme in args.schemes.split(","):
        dtype, pc = SCHEMES[scheme]
        for algorithm in args.algorithms.split(","):
            for variant in args.variants.split(","):
                t = time.perf_counter()
                q = quantize_model(graph, dtype=dtype, per_channel=pc, algorithm=algorithm,
                                   stats=stats, progress=False)
                if variant == "+bc":
                    q = correct_bias(q, calib[:args.bc_samples])
                build_s = time.perf_counter() - t
                plan = compile_plan(q.graph)
                got = [plan.run([x])[0] for x in evals]
                rows.append(("npucc", scheme, algorithm, variant,
                             scores(got, want, labels), build_s))
                print(*rows[-1], sep="\t", file=sys.stderr, flush=True)
    return rows


def run(kind: str, args) -> None:
    import onnxruntime as ort

    import npucc
    from npucc.passes import default_pipeline, run_passes

    file, before = MODELS[kind]
    images = photos()
    if kind == "det":
        shape = (1, 3, args.size, args.size)
        calib = text_pages(args.det_calib, 1, args.size, images)
        evals = text_pages(args.det_eval, 2, args.size, images)
        labels, scores = None, det_scores
        title = (f"PP-OCRv4 det: {len(calib)} calibration / {len(evals)} evaluation rendered "
                 f"pages, {args.size} x {args.size}")
    else:
        shape = (1, 3, 48, 192)
        calib, _ = text_lines(args.cls_calib, 1, images)
        evals, labels = text_lines(args.cls_eval, 2, images)
        scores = cls_scores
        title = (f"PP-OCR mobile v2.0 cls: {len(calib)} calibration / {len(evals)} evaluation "
                 "rendered lines (half turned 180 degrees), 48 x 192")
    with tempfile.TemporaryDirectory() as d:
        float_path = os.path.join(d, "float.onnx")
        logits = cut_model(wheel_model(file), before, shape, float_path)
        sess = ort.InferenceSession(float_path, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        want = [sess.run(None, {name: x})[0] for x in evals]
        rows = [("onnxruntime", "f32", "", "", scores(want, want, labels), 0.0)]
        if args.ort:
            rows += ort_rows(float_path, d, calib, evals, want, labels, scores,
                             args.schemes.split(","))
    if args.npucc:
        graph = npucc.load(wheel_model(file), input_shapes={name: shape}, outputs=[logits])
        run_passes(graph, default_pipeline())
        rows += npucc_rows(graph, calib, evals, want, labels, scores, args)
    table(title, rows)


def table(title, rows) -> None:
    metrics = list(rows[0][4])
    print(f"\n#### {title}\n")
    print("| tool | scheme | algorithm | variant | " + " | ".join(metrics) + " | build s |")
    print("|---|---|---|---|" + "---:|" * (len(metrics) + 1))
    for tool, scheme, alg, var, got, s in rows:
        cells = [f"{got[m]:.4f}" if m == "cos" else f"{got[m]:.1f}" for m in metrics]
        print(f"| {tool} | {scheme} | {alg} | {var or '-'} | " + " | ".join(cells) +
              f" | {s:.1f} |")
    sys.stdout.flush()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="det,cls")
    ap.add_argument("--size", type=int, default=480, help="detector input side")
    ap.add_argument("--det-calib", type=int, default=24)
    ap.add_argument("--det-eval", type=int, default=24)
    ap.add_argument("--cls-calib", type=int, default=64)
    ap.add_argument("--cls-eval", type=int, default=200)
    ap.add_argument("--schemes", default=",".join(SCHEMES))
    ap.add_argument("--algorithms", default=",".join(ALGORITHMS))
    ap.add_argument("--variants", default="-,+bc")
    ap.add_argument("--bc-samples", type=int, default=8,
                    help="calibration inputs bias correction measures on (the first ones; "
                         "quantize_model's default is 16)")
    ap.add_argument("--no-ort", dest="ort", action="store_false")
    ap.add_argument("--no-npucc", dest="npucc", action="store_false")
    args = ap.parse_args(argv)
    args.variants = ",".join("" if v == "-" else v for v in args.variants.split(","))
    for kind in args.models.split(","):
        run(kind, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
