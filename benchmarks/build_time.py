"""Compile time of a full NPU build: quantized ResNet-18 -> .npub blob (goal: <= 1 s excluding
calibration).

    python benchmarks/build_time.py [--repeat 5] [--target rk3588] [--dtype i8] [--profile STAGE]

ResNet-18 from tests/models (random weights, 1x3x224x224) is exported to ONNX once (not timed).
Each repeat then runs the whole build from the file and times every stage:

    load       npucc.frontends.load (ONNX -> IR)
    pipeline   the default pass pipeline
    calibrate  20 random inputs through the float graph (reported, not counted in the build)
    quantize   range selection + quantize_graph (quantize_model with the calibration's stats)
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

STAGES = ("load", "pipeline", "calibrate", "quantize", "legalize", "partition", "cost", "blob")
CALIBRATION_SAMPLES = 20


def build(onnx_path: Path, out: Path, target: str, dtype: str, profile: str | None = None):
    """One full build; returns ({stage: (wall s, CPU s)}, a summary line of the blob)."""
    import numpy as np

    import npucc
    from npucc.backends.npu.blob import io_table, write_blob
    from npucc.backends.npu.cost import estimate
    from npucc.backends.npu.partition import partition, partitions
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
        onnx_path = Path(tmp) / "resnet18.onnx"
        model, example = build_torch("resnet18")
        onnx_path.write_bytes(export_onnx(model, example))
        for _ in range(args.repeat):
            times, summary = build(onnx_path, Path(tmp) / "resnet18.npub", args.target,
                                       args.dtype)
            for s in STAGES:
                runs[s].append(times[s])
        if args.profile:
            build(onnx_path, Path(tmp) / "resnet18.npub", args.target, args.dtype, args.profile)
    med = {s: [statistics.median(t[k] for t in v) for k in (0, 1)] for s, v in runs.items()}
    total = [sum(t[k] for s, t in med.items() if s != "calibrate") for k in (0, 1)]
    print(f"ResNet-18 {args.dtype} -> {args.target} blob: {summary}; median of {args.repeat} "
          f"builds; load average {os.getloadavg()[0]:.2f}\n")
    print("| stage | wall ms | CPU ms |\n|---|---:|---:|")
    for s in STAGES:
        note = f" (excluded; {CALIBRATION_SAMPLES} inputs)" if s == "calibrate" else ""
        print(f"| {s}{note} | {med[s][0] * 1e3:.1f} | {med[s][1] * 1e3:.1f} |")
    print(f"| **build, excluding calibration** | **{total[0] * 1e3:.1f}** | "
          f"**{total[1] * 1e3:.1f}** |")
    print(f"\ngoal <= 1000 ms wall: {'met' if total[0] <= 1.0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
