"""`npucc export`: quantize a model and write it as QDQ ONNX."""

from __future__ import annotations

import argparse
import sys

from npucc.errors import NpuccError

from .common import configure_model, load_model, subcommand


def _configure_export(p: argparse.ArgumentParser) -> None:
    configure_model(p)
    p.add_argument("--qdq", metavar="OUT.onnx", required=True,
                   help="write a QDQ ONNX model (onnxruntime runs it, Netron opens it)")
    p.add_argument("--dtype", default="u8", choices=("u8", "i8", "dfp8", "dfp16", "fp16", "f32"),
                   help="precision (default u8); f32 writes the float graph after the passes")
    p.add_argument("--per-channel", action="store_true", help="weights per output channel")
    p.add_argument("--ranges", metavar="RANGES.json",
                   help="range table {value name: [min, max]} from calibration")
    p.add_argument("--random-calibration", type=int, metavar="N", default=0,
                   help="DEMO ONLY: take ranges from N random inputs (meaningless for accuracy)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")


@subcommand("export", "quantize a model and write it as QDQ ONNX", _configure_export)
def cmd_export(args: argparse.Namespace) -> int:
    """Import a model, run the default pipeline, quantize it to --dtype with the ranges of
    --ranges (or, for a demo, --random-calibration N random inputs) and write QDQ ONNX. A model
    that is already quantized (a TFLite int8 model) is written as it is."""
    from npucc.api import export_qdq
    from npucc.numerics import is_quantized
    from npucc.passes import default_pipeline, run_passes
    from npucc.passes.quantize import quantize_graph, read_ranges

    graph = load_model(args)
    if not any(is_quantized(n) for n in graph.nodes):
        run_passes(graph, default_pipeline())
        if args.dtype == "f32" or args.dtype == "fp16":
            ranges = None
        elif args.ranges:
            ranges = read_ranges(args.ranges)
        elif args.random_calibration > 0:
            print(f"npucc: ranges from {args.random_calibration} random inputs: a demo, not a "
                  "calibration (give --ranges for a real one)", file=sys.stderr)
            ranges = _random_ranges(graph, args.random_calibration, args.seed)
        else:
            raise NpuccError(f"quantizing to {args.dtype} needs ranges: give --ranges "
                             "RANGES.json, or calibrate on a dataset first (npucc quantize "
                             "MODEL --dataset dataset.txt -o q.npuir) and export q.npuir "
                             "(--random-calibration N: a demo)")
        if args.dtype != "f32":
            graph = quantize_graph(graph, ranges, args.dtype, args.per_channel)
    path = export_qdq(graph, args.qdq)
    quantized = sum(1 for n in graph.nodes if is_quantized(n))
    print(f"{args.model}: {len(graph)} nodes ({quantized} quantized, numerics "
          f"{graph.numerics if quantized else 'float'}) written to {path}")
    return 0


def _random_ranges(graph, n: int, seed: int) -> dict:
    from npucc.ir.interpreter import run_graph
    from npucc.testing.inputs import random_inputs

    ranges: dict = {}

    def note(name, a):
        if a.dtype.kind == "f" and a.size:
            lo, hi = ranges.get(name, (float(a.min()), float(a.max())))
            ranges[name] = (min(lo, float(a.min())), max(hi, float(a.max())))

    for k in range(n):
        inputs = random_inputs(graph, seed + k)
        for v, a in zip(graph.inputs, inputs):
            note(v.name, a)
        run_graph(graph, inputs, hook=lambda node, outs: [note(v.name, a) for v, a in
                                                          zip(node.outputs, outs)])
    return ranges


# ---- npucc perf ----
