"""`npucc quantize` and `npucc analyze`: post-training quantization and its accuracy analysis.

    npucc quantize model.onnx --dataset dataset.txt --dtype u8 --algorithm kl_divergence \
        [--per-channel] [--hybrid model.hybrid.yaml] [--hybrid-step1 out.yaml] \
        [--cluster tcp://host:8786] [--ranges-out r.json] [--stats-out calib.npz] -o model.npuir
    npucc analyze model.onnx --dataset dataset.txt --dtype u8 --mode single -o snapshot/ [--json] \
        [--rknn-version 1] [--cluster tcp://host:8786]
"""

from __future__ import annotations

import argparse
import json
import sys

from .common import configure_model, load_model, subcommand, write_text_atomic

DTYPES = ("u8", "i8", "dfp8", "dfp16", "fp16", "asymmetric_quantized-u8",
          "asymmetric_quantized-8", "w8a8", "dynamic_fixed_point-i8", "dynamic_fixed_point-i16",
          "w16a16i_dfp", "float16")


def _configure_common(p: argparse.ArgumentParser) -> None:
    configure_model(p)
    p.add_argument("--dataset", metavar="DATASET",
                   help="calibration samples: RKNN's dataset.txt (one sample per line, "
                        "image or .npy paths), or a directory of them (not needed for fp16)")
    p.add_argument("--dtype", default="u8", choices=DTYPES,
                   help="precision, npucc or RKNN spelling (default u8)")
    p.add_argument("--algorithm", default="normal",
                   help="range selector: normal, percentile, kl_divergence, mmse, ... "
                        "(default normal)")
    p.add_argument("--per-channel", action="store_true",
                   help="weights per output channel (RKNN's quantized_method=channel)")
    p.add_argument("--rgb2bgr", action="store_true",
                   help="reverse image channels (RKNN's quant_img_RGB2BGR)")
    p.add_argument("--raw-dtype", choices=("float32", "uint8"),
                   help="read dataset files other than images and .npy as headerless binaries "
                        "of this type, one input each (hb_mapper's calibration data, numpy "
                        "tofile); their size must match the input exactly")
    p.add_argument("--raw-layout", choices=("NCHW", "NHWC"),
                   help="layout of those raw files for 4-D inputs (default: the input's own)")
    p.add_argument("--hybrid", metavar="FILE.yaml",
                   help="layer precisions from a hybrid file (step 2; npucc's step-1 file or "
                        "RKNN's custom(ized)_quantize_layers)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run the calibration and the accuracy analysis on this Dask scheduler "
                        "(default: in process)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _quantize(args: argparse.Namespace):
    """The float graph after the default pipeline, quantized as the arguments say."""
    from npucc.errors import NpuccError
    from npucc.passes import default_pipeline, run_passes
    from npucc.quantization import quantize_model, scheme_for
    from npucc.quantization.hybrid import read_hybrid_config

    if args.dataset is None and scheme_for(args.dtype).calibrated:
        raise NpuccError(f"{args.model}: quantizing to {args.dtype} needs a calibration "
                         "dataset: give --dataset dataset.txt (fp16 needs none)")
    graph = load_model(args)
    run_passes(graph, default_pipeline())
    layer_dtypes = read_hybrid_config(args.hybrid, graph) if args.hybrid else None
    dataset = _dataset(args, args.dataset) if args.dataset is not None else None
    return quantize_model(graph, dataset, dtype=args.dtype, algorithm=args.algorithm,
                          per_channel=args.per_channel, layer_dtypes=layer_dtypes,
                          rgb2bgr=args.rgb2bgr, executor=args.cluster,
                          progress=not args.quiet)


def _analysis_samples(args: argparse.Namespace, source: str | None):
    from npucc.errors import NpuccError

    if source is None:
        raise NpuccError("the accuracy analysis needs samples: give --dataset (or "
                         "--eval-dataset)")
    ds = _dataset(args, source)
    return ds.subset(0, args.samples) if args.samples else ds


def _dataset(args: argparse.Namespace, source: str):
    from npucc.errors import NpuccError
    from npucc.quantization import Dataset
    from npucc.quantization.dataset import RawFormat

    if args.raw_layout and not args.raw_dtype:
        raise NpuccError("--raw-layout describes raw dataset files: give --raw-dtype too")
    raw = RawFormat(args.raw_dtype, args.raw_layout) if args.raw_dtype else None
    return Dataset(source, rgb2bgr=args.rgb2bgr, raw=raw)


def _configure_quantize(p: argparse.ArgumentParser) -> None:
    _configure_common(p)
    p.add_argument("-o", "--output", metavar="OUT.npuir", required=True,
                   help="write the quantized graph as IR text (every constant in full)")
    p.add_argument("--hybrid-step1", metavar="OUT.yaml",
                   help="also write a hybrid step-1 file: every quantizable layer by its source "
                        "layer name with ranges, params and its single-mode error")
    p.add_argument("--samples", type=int, metavar="N", default=8,
                   help="samples of the dataset the step-1 error analysis runs (default 8)")
    p.add_argument("--ranges-out", metavar="RANGES.json",
                   help="write the selected ranges {value name: [min, max]}")
    p.add_argument("--stats-out", metavar="CALIB.npz",
                   help="write the calibration statistics (.npz + .json) to reuse")


@subcommand("quantize", "calibrate and quantize a model, write the quantized IR",
            _configure_quantize)
def cmd_quantize(args: argparse.Namespace) -> int:
    """Import a model, run the default pipeline, calibrate it on --dataset, select ranges with
    --algorithm, quantize to --dtype (layer precisions from --hybrid) and write the quantized
    graph as IR text (every subcommand that takes a model reads it: run, export, perf, opt)."""
    from npucc.ir.text import format_graph

    q = _quantize(args)
    write_text_atomic(args.output, format_graph(q.graph, max_inline=None) + "\n")
    if args.ranges_out and q.ranges is not None:
        write_text_atomic(args.ranges_out, json.dumps(
            {k: [float(lo), float(hi)] for k, (lo, hi) in q.ranges.items()}, indent=1) + "\n")
    if args.stats_out and q.stats is not None:
        q.stats.save(args.stats_out)
    if args.hybrid_step1:
        from npucc.quantization.analysis import accuracy_analysis
        from npucc.quantization.hybrid import write_hybrid_config

        single = accuracy_analysis(q.float_graph, q.graph,
                                   _analysis_samples(args, args.dataset), mode="single",
                                   executor=args.cluster, progress=not args.quiet)
        write_hybrid_config(args.hybrid_step1, q, single)
    quantized = sum(1 for n in q.graph.nodes if not n.meta.get("conversion") and any(
        v.type.quant is not None or v.dtype.value == "f16" for v in n.outputs))
    print(f"{args.model}: {len(q.graph)} nodes ({quantized} quantized, {q.options['dtype']}, "
          f"{q.options['algorithm'] or 'no calibration'}) written to {args.output}",
          file=sys.stderr)
    return 0


def _configure_analyze(p: argparse.ArgumentParser) -> None:
    _configure_common(p)
    p.add_argument("--mode", choices=("entire", "single"), default="entire",
                   help="entire: errors accumulate through the quantized graph; single: each "
                        "layer is fed the float values of its inputs (default entire)")
    p.add_argument("--eval-dataset", metavar="DATASET",
                   help="samples to analyse (default: the calibration --dataset)")
    p.add_argument("--samples", type=int, metavar="N", default=0,
                   help="analyse only the first N samples (default all)")
    p.add_argument("-o", "--output", metavar="DIR",
                   help="write RKNN's files, report.html, report.json and per-layer .npy dumps "
                        "into DIR")
    p.add_argument("--rknn-version", type=int, choices=(1, 2), default=2,
                   help="RKNN-Toolkit files in DIR: 2 (error_analysis.txt, golden/, "
                        "simulator/) or 1 (entire_qnt_error_analysis.txt, "
                        "individual_qnt_error_analysis.txt, fp32/, entire_qnt/, "
                        "individual_qnt/) (default 2)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


@subcommand("analyze", "per-layer accuracy of a quantized model against its float graph",
            _configure_analyze)
def cmd_analyze(args: argparse.Namespace) -> int:
    """Quantize the model as `npucc quantize` does, run it and its float graph on the samples
    and print the error of every layer (cosine, euclidean, relative error, SQNR, max error in
    LSBs, % saturated), named by the source model's layers."""
    from npucc.quantization.analysis import accuracy_analysis

    q = _quantize(args)
    report = accuracy_analysis(q.float_graph, q.graph,
                               _analysis_samples(args, args.eval_dataset or args.dataset),
                               mode=args.mode, output_dir=args.output, executor=args.cluster,
                               rknn_version=args.rknn_version, progress=not args.quiet)
    if args.json:
        print(json.dumps(report.to_json(), indent=1))
    else:
        sys.stdout.write(report.to_text())
    if args.output:
        rknn = ("error_analysis.txt" if args.rknn_version == 2 else
                "entire_qnt_error_analysis.txt and individual_qnt_error_analysis.txt")
        print(f"wrote {args.output}/report.html and RKNN's {rknn}", file=sys.stderr)
    return 0
