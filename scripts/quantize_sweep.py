"""Sweep trained models through post-training quantization and the RKNN facade.

    PYTHONPATH=src python scripts/quantize_sweep.py                       # everything
    PYTHONPATH=src python scripts/quantize_sweep.py face_landmark ocr_det  # some models
    PYTHONPATH=src python scripts/quantize_sweep.py --schemes u8,fp16 --platforms rk3588
    PYTHONPATH=src python scripts/quantize_sweep.py --schemes i8 --auto-hybrid  # build(auto_hybrid)

Models: every .tflite in the mediapipe==0.10.21 wheel (fetched once with `pip download --no-deps`
into ~/.cache/npucc-test-models, unzipped, never installed) and the rapidocr-onnxruntime 1.4.4
wheel's PP-OCR det / cls / rec ONNX models (the same cache, as tests/frontends/onnx's fixture
fetches them). Calibration: four of the photos in examples/images (rendered text lines for the
OCR models), resized to the input's size; evaluation: one more, held out.

Each (model, scheme, platform) runs RKNN's PC flow through `npucc.rknn.RKNN`: config(mean_values,
std_values, target_platform, quantized_dtype) -> load_tflite / load_onnx -> build(dataset=) ->
export_rknn -> inference; then a fresh RKNN loads the blob (load_rknn, init_runtime, inference)
and `npucc.load_blob` runs it. A row says whether every call returned 0 (FAIL: an `E` line;
CRASH: a raw Python exception), the lowest cosine over the outputs (those of >= 16 values; the
detail gives the error of scores and flags) of the build's inference against the float model run
by LiteRT / onnxruntime on the same normalised image: a held-out photo, and the first calibration
image (which separates the arithmetic from how well four images cover the ranges); whether the
blob gave the same bits both ways (status BLOB if not), and the time. Schemes are RKNN's
quantized_dtype names; fp16 is RKNN's float build (do_quantization=False). Every model runs in
its own process.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("NPUCC_TEST_MODELS", Path.home() / ".cache" / "npucc-test-models"))
IMAGES = ROOT / "examples" / "images"
CALIB = ["astronaut.jpg", "coffee.jpg", "rocket.jpg", "hubble_deep_field.jpg"]
HELD_OUT = "chelsea.jpg"

# mediapipe model -> the input range MediaPipe's graphs feed it (ImageToTensorCalculator)
MEDIAPIPE = {
    "face_detection_short_range": (-1, 1), "face_detection_full_range_sparse": (-1, 1),
    "face_landmark": (0, 1), "face_landmark_with_attention": (0, 1),
    "hand_landmark_full": (0, 1), "hand_landmark_lite": (0, 1), "hand_recrop": (-1, 1),
    "iris_landmark": (0, 1), "palm_detection_full": (0, 1), "palm_detection_lite": (0, 1),
    "pose_detection": (-1, 1), "pose_landmark_full": (0, 1),
    "selfie_segmentation": (0, 1), "selfie_segmentation_landscape": (0, 1),
}
# rapidocr model -> (file, NCHW input shape, mean, std): rapidocr's own preprocessing
OCR = {
    "ocr_det": ("ch_PP-OCRv4_det_infer.onnx", [1, 3, 160, 224],
                [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]),
    "ocr_cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", [1, 3, 48, 192], [127.5] * 3, [127.5] * 3),
    "ocr_rec": ("ch_PP-OCRv4_rec_infer.onnx", [1, 3, 48, 320], [127.5] * 3, [127.5] * 3),
}
MODELS = [*MEDIAPIPE, *OCR]
SCHEMES = {"u8": "asymmetric_quantized-u8", "i8": "w8a8", "dfp8": "dynamic_fixed_point-i8",
           "dfp16": "dynamic_fixed_point-i16", "fp16": None}
PLATFORMS = ["rk3588", "rk1808"]


def _wheel(pattern: str, spec: str) -> Path:
    wheels = sorted(CACHE.glob(pattern))
    if not wheels:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", spec, "-d",
                        str(CACHE)], check=True, capture_output=True)
        wheels = sorted(CACHE.glob(pattern))
    return wheels[0]


def model_path(name: str) -> Path:
    """The model file, unzipped from its wheel into the cache on first use."""
    if name in MEDIAPIPE:
        out = CACHE / "mediapipe-0.10.21-all" / f"{name}.tflite"
        wheel, member = _wheel("mediapipe-0.10.21-*.whl", "mediapipe==0.10.21"), None
    else:
        out = CACHE / "rapidocr-1.4.4" / OCR[name][0]
        wheel = _wheel("rapidocr_onnxruntime-1.4.4-*.whl", "rapidocr-onnxruntime==1.4.4")
        member = None
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for m in z.namelist():
            if m.endswith(f"/{out.name}"):
                member = m
        out.write_bytes(z.read(member))
    return out


def text_line(rng, size):
    """A rendered line of text (the OCR models' calibration data), as an RGB image."""
    from PIL import Image, ImageDraw, ImageFont

    words = ["npucc", "compiler", "NPU", "quantize", "RK3588", "hello", "world", "2026"]
    w, h = size
    im = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(180, 256, 3)))
    draw = ImageDraw.Draw(im)
    for y in range(4, h - 12, 40):
        font = ImageFont.load_default(size=int(rng.integers(max(10, h // 4), max(12, h // 2))))
        draw.text((int(rng.integers(2, 20)), y), " ".join(rng.choice(words, 3)),
                  fill=tuple(int(v) for v in rng.integers(0, 80, 3)), font=font)
    return im


def images(name: str, h: int, w: int, folder: Path):
    """(dataset.txt, held-out NHWC uint8 image of shape (1, h, w, 3))."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    if name in OCR:
        ims = [text_line(rng, (w, h)) for _ in range(len(CALIB) + 1)]
    else:
        ims = [Image.open(IMAGES / f).convert("RGB") for f in [*CALIB, HELD_OUT]]
    ims = [im.resize((w, h), Image.BILINEAR) for im in ims]
    lines = []
    for k, im in enumerate(ims[:-1]):
        im.save(folder / f"calib_{k}.png")
        lines.append(f"calib_{k}.png")
    (folder / "dataset.txt").write_text("\n".join(lines) + "\n")
    return folder / "dataset.txt", np.asarray(ims[-1], np.uint8)[None]


def reference(name: str, path: Path, x):
    """The float model's outputs (LiteRT / onnxruntime) on the normalised NHWC image x."""
    import numpy as np

    if name in MEDIAPIPE:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        it = Interpreter(model_path=str(path), num_threads=1,
                         experimental_op_resolver_type=OpResolverType.AUTO)
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x.astype(np.float32))
        it.invoke()
        return [it.get_tensor(d["index"]) for d in it.get_output_details()]
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x.transpose(0, 3, 1, 2).astype(np.float32)})


def cosine(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den > 0 else float(np.array_equal(a, b))


def run_one(name: str, scheme: str, platform: str, folder: Path, algorithm: str = "normal",
            auto_hybrid: bool = False) -> tuple[str, str, str, str]:
    """(status, cosine on the held-out image, cosine on a calibration image, detail) of one
    sweep cell."""
    import numpy as np
    from PIL import Image

    import npucc
    from npucc.rknn import RKNN

    path = model_path(name)
    if name in MEDIAPIPE:
        lo, hi = MEDIAPIPE[name]
        mean, std = [-lo * 255.0 / (hi - lo)] * 3, [255.0 / (hi - lo)] * 3
        from ai_edge_litert.interpreter import Interpreter

        h, w = Interpreter(model_path=str(path)).get_input_details()[0]["shape"][1:3]
    else:
        _, shape, mean, std = OCR[name]
        h, w = shape[2:]
    dataset, img = images(name, h, w, folder)
    calib = np.asarray(Image.open(folder / "calib_0.png").convert("RGB"), np.uint8)[None]
    try:
        want = [reference(name, path, (x.astype(np.float32) - mean) / std) for x in (img, calib)]
    except Exception as e:  # noqa: BLE001 - the oracle cannot run it either
        want = None
        oracle_error = f"the oracle fails too: {type(e).__name__}: {str(e).splitlines()[0][:80]}"
    qdtype = SCHEMES[scheme]
    errors = []

    def facade():
        r = RKNN()
        log_error = r.log.error
        r.log.error = lambda msg: (errors.append(msg), log_error(msg))
        return r

    rknn = facade()
    calls = []

    def call(label, ret):
        calls.append((label, ret))
        if (ret is None) if label == "inference" else ret != 0:
            raise RuntimeError(f"{label} returned {'None' if ret is None else ret}: "
                               f"{errors[-1] if errors else ''}")
        return ret

    try:
        cfg = {"mean_values": [mean], "std_values": [std], "target_platform": platform}
        if algorithm != "normal":
            cfg["quantized_algorithm"] = algorithm
        if qdtype is not None:
            cfg["quantized_dtype"] = qdtype
            if scheme == "i8":
                cfg["quantized_method"] = "channel"
        call("config", rknn.config(**cfg))
        if name in MEDIAPIPE:
            call("load_tflite", rknn.load_tflite(str(path)))
        else:
            sizes = [OCR[name][1] if platform not in ("rk1808",) else OCR[name][1][1:]]
            call("load_onnx", rknn.load_onnx(str(path), inputs=["x"], input_size_list=sizes))
        hybrid = {"auto_hybrid": True} if auto_hybrid and qdtype is not None else {}
        call("build", rknn.build(do_quantization=qdtype is not None, dataset=str(dataset),
                                 **hybrid))
        blob_path = folder / f"{name}_{scheme}_{platform}.npub"
        call("export_rknn", rknn.export_rknn(str(blob_path)))
        call("init_runtime", rknn.init_runtime())
        got = call("inference", rknn.inference(inputs=[img], data_format="nhwc"))
        got_calib = call("inference", rknn.inference(inputs=[calib], data_format="nhwc"))
        again = facade()
        call("load_rknn", again.load_rknn(str(blob_path)))
        call("init_runtime", again.init_runtime())
        from_blob = call("inference", again.inference(inputs=[img], data_format="nhwc"))
        direct = npucc.load_blob(blob_path).run([img.astype(np.float32)])
    except Exception as e:  # noqa: BLE001 - the row shows it
        last = calls[-1][0] if calls else "config"
        kind = "FAIL" if isinstance(e, RuntimeError) and str(e).startswith(last) else "CRASH"
        detail = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
        return kind, "-", "-", detail if want is not None else f"{detail}; {oracle_error}"
    if want is None:
        return "NO-ORACLE", "-", "-", oracle_error
    notes = []
    if len(got) != len(want[0]) or any(g.shape != w.shape for g, w in zip(got, want[0])):
        return "SHAPE", "-", "-", (f"shapes {[g.shape for g in got]} != "
                                   f"{[w.shape for w in want[0]]}")
    if not all(np.array_equal(a, b) for a, b in zip(got, from_blob)):
        notes.append("load_rknn differs")
    if not all(np.array_equal(a, np.asarray(b, np.float32)) for a, b in zip(got, direct)):
        notes.append("load_blob differs")
    cells = []
    for outs, refs in ((got, want[0]), (got_calib, want[1])):
        # cosine over the outputs with >= 16 values (scores and flags: max |error| in the
        # detail), or over every output when all are that small
        big = [k for k, w in enumerate(refs) if w.size >= 16] or range(len(refs))
        cos = {k: cosine(outs[k], refs[k]) for k in big}
        worst = min(cos, key=cos.get)
        cells.append(f"{cos[worst]:.4f}" + (f" (out {worst})" if len(cos) > 1 else ""))
    small = [f"out {k} max abs err {np.abs(g - w).max():.3g} (max abs {np.abs(w).max():.3g})"
             for k, (g, w) in enumerate(zip(got, want[0])) if w.size < 16 and k not in big]
    return "ok" if not notes else "BLOB", cells[0], cells[1], "; ".join([*notes, *small])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=MODELS)
    ap.add_argument("--schemes", default=",".join(SCHEMES))
    ap.add_argument("--platforms", default=",".join(PLATFORMS))
    ap.add_argument("--algorithm", default="normal", help="RKNN's quantized_algorithm")
    ap.add_argument("--auto-hybrid", action="store_true",
                    help="build(auto_hybrid=True): npucc raises the worst layers to fp16 until "
                         "the output cosine on the calibration images reaches 0.99")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per model")
    ap.add_argument("--one", nargs=5, help=argparse.SUPPRESS,
                    metavar=("MODEL", "SCHEMES", "PLATFORMS", "ALGORITHM", "AUTO_HYBRID"))
    args = ap.parse_args()
    if args.one:
        name, schemes, platforms, algorithm, auto = args.one
        for platform in platforms.split(","):
            for scheme in schemes.split(","):
                t0 = time.perf_counter()
                with tempfile.TemporaryDirectory() as folder:
                    status, cos, cos_calib, detail = run_one(name, scheme, platform,
                                                             Path(folder), algorithm,
                                                             auto == "1")
                print(f"ROW | {name} | {scheme} | {platform} | {status} | {cos} | {cos_calib} | "
                      f"{time.perf_counter() - t0:.1f} | {detail.replace('|', '/')} |",
                      flush=True)
        return
    unknown = set(args.models) - set(MODELS)
    if unknown:
        sys.exit(f"unknown models {sorted(unknown)}; known: {MODELS}")
    print("| model | scheme | platform | status | cosine held-out | cosine calib | time (s) | "
          "detail |\n|---|---|---|---|---|---|---|---|", flush=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    for name in args.models:
        try:
            proc = subprocess.run([sys.executable, __file__, "--one", name, args.schemes,
                                   args.platforms, args.algorithm,
                                   "1" if args.auto_hybrid else "0"], capture_output=True,
                                  text=True, env=env, timeout=args.timeout)
            out, err, rc = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:
            out, err, rc = (e.stdout or b"").decode(), "timed out", "timeout"
        rows = [ln[4:] for ln in out.splitlines() if ln.startswith("ROW | ")]
        for row in rows:
            print(row, flush=True)
        if rc != 0:
            print(f"| {name} | - | - | CRASHED ({rc}) | - | - | - | "
                  f"{err.strip()[-200:].replace(chr(10), ' ')} |", flush=True)


if __name__ == "__main__":
    main()
