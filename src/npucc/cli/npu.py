"""`npucc perf` (the cost model on a target) and `npucc inspect` (an .npub blob)."""

from __future__ import annotations

import argparse

from .common import configure_model, load_ir, load_model, subcommand


def _configure_perf(p: argparse.ArgumentParser) -> None:
    configure_model(p)  # also takes IR text (.npuir; elided constants filled at random)
    p.add_argument("--target", "-t", required=True, metavar="TARGET",
                   help="a shipped target (generic, rk1808, rk3566, rk3588, rv1126) or a target "
                        "file (.yaml)")
    p.add_argument("--dtype", choices=("int8", "int16", "fp16"),
                   help="precision a float model is built in (default: the target's); "
                        "quantized models compute in their own types")
    p.add_argument("--profiling", action="store_true",
                   help="add the per-layer overhead of RKNN's per-op profiling mode")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")


@subcommand("perf", "estimate per-layer time and memory on an NPU target", _configure_perf)
def cmd_perf(args: argparse.Namespace) -> int:
    """Import a model, run the default pipeline with the target's fusion rules, legalize it for
    the target and estimate each layer's time, MACs and DRAM traffic with the target's cost model
    (RKNN's eval_perf and eval_memory). Layers are named by their source-model layers; a layer
    on the CPU lists every reason."""
    import json

    from npucc.api import perf

    model = load_ir(args.model, "random") if args.model.endswith(".npuir") else load_model(args)
    report = perf(model, args.target, args.dtype, profiling=args.profiling)
    if args.json:
        print(json.dumps({"model": args.model, **report.to_dict()}, indent=1))
        return 0
    from npucc.backends.npu.report import print_report

    print_report(report, title=args.model)


# ---- npucc inspect ----

def _configure_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="an .npub blob")
    p.add_argument("--target", help="check that the blob was built for this target")
    p.add_argument("--json", action="store_true", help="print one JSON object")


@subcommand("inspect", "check an .npub blob and print what it holds", _configure_inspect)
def cmd_inspect(args: argparse.Namespace) -> int:
    """Read and check an .npub blob (every checksum and bound), then print its header, sections,
    partitions (NPU/CPU, node counts, why each CPU partition is on the CPU), the conversions at
    the partition boundaries, inputs and outputs, weights and the cost summary."""
    import json

    from npucc.backends.npu.blob_reader import read_blob
    from npucc.backends.npu.inspect import blob_summary, format_summary

    summary = blob_summary(read_blob(args.file, args.target))
    print(json.dumps(summary, indent=2, sort_keys=True) if args.json else format_summary(summary))
    return 0


