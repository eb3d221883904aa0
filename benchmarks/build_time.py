"""Compile time of a full NPU build: quantized model -> .npub blob and simulator plan.

    python benchmarks/build_time.py [--model resnet18|mobilenet_v2] [--repeat 5] [--target rk3588]
                                    [--dtype i8] [--profile STAGE]

Two goals are checked: issue 12's NPU build (everything but calibration, <= 1 s) and issue 11's
quantized build (calibration on 20 inputs + quantize + simulator plan, <= 1 s).
The model from tests/models (random weights, 1x3x224x224) is exported to ONNX once (not timed).
Each repeat then runs the whole build from the file and times every stage:

    load       npucc.frontends.load (ONNX -> IR)
    pipeline   the default pass pipeline
    calibrate  20 random inputs through the float graph (not counted in the NPU build)
    quantize   range selection + quantize_graph (quantize_model with the calibration's stats)
    plan       compile_plan of the quantized graph (the bit-exact simulator; issue 11's total)
    legalize   npucc.legalize for the target
    partition  partition() with the target cost model
    cost       the cost report (npucc.backends.npu.cost.estimate)
    blob       write_blob of the partitioned graph (IO table, weights, checksums, atomic write)

and prints the median of each stage over the repeats: wall time, and this process's CPU time
(less sensitive to other jobs on a shared machine). --profile STAGE prints the top of a
cProfile of that stage in one more build.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("load", "pipeline", "calibrate", "quantize", "plan", "legalize", "partition", "cost",
          "blob")
NPU_BUILD = ("load", "pipeline", "quantize", "legalize", "partition", "cost", "blob")
QUANTIZED_BUILD = ("load", "pipeline", "calibrate", "quantize", "plan")
CALIBRATION_SAMPLES = 20


def build(onnx_path: Path, out: Path, target: str, dtype: str, profile: str | None = None):
    """One full build; returns ({stage: (wall s, CPU s)}, a summary line of the blob)."""
    import numpy as np

    import npucc
    from npucc.backends.npu.blob import io_table, write_blob
    from npucc.backends.npu.cost import estimate
    from npucc.backends.npu.partition import partition, partitions
    from npucc.backends.simulator.plan import compile_plan
    from npucc.frontends import load
    from npucc.passes import PassManager, default_pipeline
    from npucc.quantization import calibrate, quantize_model

    times: dict[str, tuple[float, float]] = {}
    state: dict = {}

    def stage(name, fn):
        start, cpu = time.perf_counter(), time.process_time()
        if name == profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            state[name] = prof.runcall(fn)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
        else:
            state[name] = fn()
        times[name] = (time.perf_counter() - start, time.process_time() - cpu)
        return state[name]

    graph = stage("load", lambda: load(onnx_path))
    stage("pipeline", lambda: PassManager(default_pipeline()).run(graph))
    rng = np.random.default_rng(0)
    shape = graph.inputs[0].shape
    samples = [rng.standard_normal(shape).astype(np.float32) for _ in range(CALIBRATION_SAMPLES)]
    stats = stage("calibrate", lambda: calibrate(graph, samples, progress=False))
    q = stage("quantize", lambda: quantize_model(graph, dtype=dtype, stats=stats,
                                                 progress=False)).graph
    stage("plan", lambda: compile_plan(q))
    leg = stage("legalize", lambda: npucc.legalize(q, target))
    parted = stage("partition", lambda: partition(q, leg))
    report = stage("cost", lambda: estimate(q, target, legalization=leg))
    stage("blob", lambda: write_blob(out, parted, target, io=io_table(q), cost_report=report))
    parts = ", ".join(f"{p.device} {p.nodes}" for p in partitions(parted))
    summary = (f"{len(q)} nodes (partitions: {parts}), {out.stat().st_size / 2**20:.1f} MiB, "
               f"estimated {report.total_time_us:,.0f} us on the target")
    return times, summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet18", choices=("resnet18", "mobilenet_v2"))
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--target", default="rk3588")
    ap.add_argument("--dtype", default="i8", help="u8, i8, dfp8, dfp16 (what the target runs)")
    ap.add_argument("--profile", choices=STAGES, help="cProfile one stage of one more build")
    args = ap.parse_args(argv)

    import os

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.models import build as build_torch
    from tests.models import export_onnx

    runs: dict[str, list[tuple[float, float]]] = {s: [] for s in STAGES}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / f"{args.model}.onnx"
        blob_path = Path(tmp) / f"{args.model}.npub"
        model, example = build_torch(args.model)
        onnx_path.write_bytes(export_onnx(model, example))
        for _ in range(args.repeat):
            times, summary = build(onnx_path, blob_path, args.target, args.dtype)
            for s in STAGES:
                runs[s].append(times[s])
        if args.profile:
            build(onnx_path, blob_path, args.target, args.dtype, args.profile)
    med = {s: [statistics.median(t[k] for t in v) for k in (0, 1)] for s, v in runs.items()}
    totals = {name: [sum(med[s][k] for s in group) for k in (0, 1)]
              for name, group in (("NPU build (issue 12: all but calibrate and plan)", NPU_BUILD),
                                  ("quantized build (issue 11: load + calibrate + quantize + plan)",
                                   QUANTIZED_BUILD))}
    print(f"{args.model} {args.dtype} -> {args.target} blob: {summary}; median of "
          f"{args.repeat} builds; load average {os.getloadavg()[0]:.2f}\n")
    print("| stage | wall ms | CPU ms |\n|---|---:|---:|")
    for s in STAGES:
        note = f" ({CALIBRATION_SAMPLES} inputs)" if s == "calibrate" else ""
        print(f"| {s}{note} | {med[s][0] * 1e3:.1f} | {med[s][1] * 1e3:.1f} |")
    for name, (wall, cpu) in totals.items():
        print(f"| **{name}** | **{wall * 1e3:.1f}** | **{cpu * 1e3:.1f}** |")
    print()
    for name, (wall, _) in totals.items():
        print(f"goal <= 1000 ms wall, {name}: {'met' if wall <= 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
