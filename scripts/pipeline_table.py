"""Write docs/PIPELINE_RESULTS.md: what the default pass pipeline does to the real models of the
frontend work (random weights, since no weights are downloaded).

    python scripts/pipeline_table.py [--out docs/PIPELINE_RESULTS.md] [--models resnet50,...]

For each model: node count before and after `npucc.passes.default_pipeline()`, Transposes before
and after, what was fused, the pipeline time, and the max relative difference between the outputs
of the unoptimized and the optimized graph (both run by the reference interpreter on the same
random input; relative to the output's largest magnitude). Models whose architecture file or
frontend is missing are listed as missing, with the reason.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL_DEFS = ROOT / "tests" / "models"  # public model definitions (see SOURCES.md there)
TF = ROOT / "tests" / "fixtures" / "tf"


def _caffe(rel, shapes, outputs=None):
    def load():
        from npucc.frontends import caffe
        return caffe.load(MODEL_DEFS / "caffe" / rel, weights="random", input_shapes=shapes,
                          outputs=outputs)
    return load


def _darknet(cfg, size):
    def load():
        from npucc.frontends import darknet
        return darknet.load(MODEL_DEFS / "darknet" / cfg, "random", input_size=size)
    return load


def _file(path):
    def load():
        from npucc.frontends import load as load_any
        return load_any(path)
    return load


def _tf_pb(name):
    def load():
        from npucc.frontends import tensorflow
        data = np.load(TF / f"{name}.npz")
        return tensorflow.load(TF / f"{name}.pb", inputs=[str(n) for n in data["input_names"]],
                               outputs=[str(n) for n in data["output_names"]],
                               input_shapes=[list(data["input_0"].shape)])
    return load


def _torch(name):
    def load():
        sys.path.insert(0, str(ROOT))
        from tests.models import build

        from npucc.frontends import pytorch
        model, example = build(name)
        return pytorch.load(model, example_inputs=(example,))
    return load


SSD_OUTPUTS = ["detection_out", "mbox_priorbox", "mbox_loc", "mbox_conf_flatten"]
MODELS = {
    "resnet50": ("Caffe ResNet-50 (BatchNorm + Scale layers)",
                 _caffe("resnet/ResNet-50-deploy.prototxt", {"data": (1, 3, 224, 224)})),
    "mobilenet_ssd": ("Caffe MobileNet-SSD, BatchNorm + Scale kept (deploy.prototxt)",
                      _caffe("mobilenet_ssd/deploy.prototxt", {"data": (1, 3, 300, 300)},
                             SSD_OUTPUTS)),
    "mobilenet_ssd_merged": ("Caffe MobileNet-SSD, BN merged (MobileNetSSD_deploy.prototxt)",
                             _caffe("mobilenet_ssd/MobileNetSSD_deploy.prototxt",
                                    {"data": (1, 3, 300, 300)}, SSD_OUTPUTS)),
    "squeezenet": ("Caffe SqueezeNet v1.1",
                   _caffe("squeezenet/SqueezeNet_v1.1_deploy.prototxt",
                          {"data": (1, 3, 227, 227)})),
    "yolov3_tiny": ("Darknet yolov3-tiny (416x416)", _darknet("yolov3-tiny.cfg", (416, 416))),
    "tflite_mobilenet_v2": ("TFLite MobileNetV2 (NHWC, float)",
                            _file(TF / "mobilenet_v2_float.tflite")),
    "tf_mobilenet_v2": ("TensorFlow MobileNetV2 frozen GraphDef (NHWC)",
                        _tf_pb("mobilenet_v2_pb")),
    "torch_resnet18": ("PyTorch ResNet-18 (torch.export)", _torch("resnet18")),
    "torch_mobilenet_v2": ("PyTorch MobileNetV2 (torch.export)", _torch("mobilenet_v2")),
}


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b))) / max(scale, 1e-12) if a.size else 0.0


def measure(load):
    from npucc.ir import run_graph
    from npucc.passes import PassManager, default_pipeline

    graph = load()
    before = graph.copy()
    start = time.perf_counter()
    PassManager(default_pipeline()).run(graph)
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    feeds = [rng.uniform(0, 1, v.shape).astype(v.dtype.numpy) for v in before.inputs]
    want, got = run_graph(before, feeds), run_graph(graph, feeds)
    diffs = {v.name: rel_diff(a, b) for v, a, b in zip(before.outputs, want, got)}
    ops = collections.Counter(n.op for n in graph.nodes)
    fused = collections.Counter()
    for n in graph.nodes:
        if n.attrs.get("activation", "none") != "none":
            fused["activation"] += 1
        if n.attrs.get("pool_kernel"):
            fused["pool"] += 1
    return {
        "nodes": (len(before), len(graph)),
        "transposes": (sum(n.op == "Transpose" for n in before.nodes), ops["Transpose"]),
        "bn": (sum(n.op == "BatchNorm" for n in before.nodes), ops["BatchNorm"]),
        "priors": [v.name for v in graph.outputs if v.is_constant],
        "fused": fused, "seconds": seconds, "diffs": diffs,
    }


def table(results: dict, missing: dict) -> str:
    lines = [
        "# Default pipeline on the real models",
        "",
        "Generated by `python scripts/pipeline_table.py` (random weights; the input is uniform in "
        "[0, 1]). *max rel diff* is max |optimized - unoptimized| / max |unoptimized| over each "
        "output, both run by the reference interpreter; the goal is <= 1e-4 in float.",
        "",
        "| model | nodes before | nodes after | BatchNorm before/after | Transposes before/after "
        "| fused activations / pools | constant outputs | pipeline s | max rel diff |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        worst = max(r["diffs"].values()) if r["diffs"] else 0.0
        lines.append(
            f"| {MODELS[name][0]} | {r['nodes'][0]} | {r['nodes'][1]} | {r['bn'][0]} / {r['bn'][1]}"
            f" | {r['transposes'][0]} / {r['transposes'][1]} | {r['fused']['activation']} / "
            f"{r['fused']['pool']} | {', '.join(r['priors']) or '-'} | {r['seconds']:.3f} "
            f"| {worst:.1e} |")
    lines += ["", "Per output:", ""]
    for name, r in results.items():
        per = ", ".join(f"`{k}` {v:.1e}" for k, v in r["diffs"].items())
        lines.append(f"- {MODELS[name][0]}: {per}")
    lines += ["", "Notes:", "",
              "- Transposes left: MobileNet-SSD's are its Caffe Permute layers (NCHW -> NHWC "
              "before each head's Flatten): real data movement, not layout wrapping. The TF/TFLite "
              "MobileNetV2 keeps one, on the NHWC graph input (the source layout is kept by "
              "default); built with `input_layout=\"NCHW\"` it has none.",
              "- *constant outputs*: graph outputs served from a constant after the pipeline "
              "(SSD's prior boxes, folded by fold-shape-only, are still returned).",
              "- Pools fused: 4 of yolov3-tiny's 5 2x2/2 max-pools (Darknet's unread end padding "
              "is dropped first; the fifth's conv output also feeds a route layer, and its "
              "2x2/1 pool does not meet the rules). ResNet-50's 3x3/2 pool "
              "runs in ceil mode over an even size, which the rules exclude."]
    if missing:
        lines += ["", "Not measured:", ""]
        lines += [f"- {MODELS[name][0]}: {why}" for name, why in missing.items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "PIPELINE_RESULTS.md"))
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args(argv)
    results, missing = {}, {}
    for name in args.models.split(","):
        try:
            results[name] = measure(MODELS[name][1])
        except Exception as e:  # a missing file or frontend: reported, not fatal
            missing[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        print(name, "ok" if name in results else missing[name], file=sys.stderr)
    text = table(results, missing)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
