"""npucc simulator plan vs onnxruntime: latency at 1x3x224x224, and npucc's compile time.

    python benchmarks/simulator_vs_ort.py [--runs 40] [--threads 2] [--models resnet18,mobilenet_v2]
                                          [--blas-coretype env|native|NAME]

Each zoo model (tests/models, random weights) is exported with torch.onnx.export (opset 17) to a
temporary file; onnxruntime runs that file, npucc compiles it (load -> passes -> plan). Both use the
same number of threads (numpy's BLAS via threadpoolctl / environment variables set before numpy is
imported, the simulator's own threads via NPUCC_NUM_THREADS, ORT intra_op_num_threads). Latencies
are medians over `--runs` runs after a warmup, taken in alternating blocks of 10 so that both
runtimes see the same machine load, with a pause between blocks so that the idle threads of one
(ORT's and OpenBLAS's spin-wait after their work) do not steal cores from the other. Compile
time is the median of three compiles.

numpy's OpenBLAS picks its kernels from the CPU unless OPENBLAS_CORETYPE names them. Some
environments pin it (this project's workplace sets OPENBLAS_CORETYPE=Haswell: AVX2 kernels on an
AVX-512 CPU, about half the GEMM throughput, while onnxruntime's MLAS uses AVX-512).
`--blas-coretype env` (default) keeps the environment's choice, `native` lets OpenBLAS detect the
CPU, a NAME (e.g. SkylakeX) forces those kernels; the line printed first says which are in use.
"""

from __future__ import annotations

import argparse
import os
import sys


def _set_threads(n: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NPUCC_NUM_THREADS"):
        os.environ[var] = str(n)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--profile", action="store_true", help="print the slowest plan steps")
    ap.add_argument("--blas-coretype", default="env",
                    help="OpenBLAS kernels: env (as the environment says), native (detect the "
                         "CPU), or a core name such as SkylakeX or Haswell")
    args = ap.parse_args(argv)
    _set_threads(args.threads)  # before numpy is imported, so its BLAS reads them
    if args.blas_coretype == "native":
        os.environ.pop("OPENBLAS_CORETYPE", None)
    elif args.blas_coretype != "env":
        os.environ["OPENBLAS_CORETYPE"] = args.blas_coretype

    import tempfile
    import time
    from pathlib import Path

    import numpy as np
    import onnxruntime as ort

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.models import build, export_onnx, relative_error

    import npucc.api

    limits = None
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(args.threads)
    except ImportError:
        pass

    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    try:
        from threadpoolctl import threadpool_info

        arch = next((i.get("architecture") for i in threadpool_info()
                     if i["user_api"] == "blas"), "?")
    except ImportError:
        arch = "?"
    print(f"numpy {np.__version__}, BLAS {blas.get('name')} {blas.get('version')} "
          f"({arch} kernels; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}); "
          f"onnxruntime {ort.__version__}; {args.threads} threads; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            model, example = build(name)
            path = Path(tmp) / f"{name}.onnx"
            path.write_bytes(export_onnx(model, example))
            x = example.numpy()

            compiles = []
            for _ in range(3):
                compiled = npucc.api.compile(path)
                compiles.append(compiled.times)
            times = sorted(compiles, key=lambda t: t.total)[1]

            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            feed = {session.get_inputs()[0].name: x}

            def run_ort(session=session, feed=feed):
                return session.run(None, feed)[0]

            def run_npucc(compiled=compiled, x=x):
                return compiled.run([x])[0]

            err = relative_error(run_npucc(), run_ort())
            lat = {"ort": [], "npucc": []}
            for f in (run_ort, run_npucc):
                for _ in range(args.warmup):
                    f()
            block = 10
            for _ in range(max(1, args.runs // block)):
                for key, f in (("ort", run_ort), ("npucc", run_npucc)):
                    time.sleep(0.3)  # let the other runtime's idle threads stop spinning
                    f()
                    for _ in range(block):
                        t0 = time.perf_counter()
                        f()
                        lat[key].append(time.perf_counter() - t0)
            ort_ms, np_ms = (float(np.median(lat[k])) * 1e3 for k in ("ort", "npucc"))
            rows.append((name, ort_ms, np_ms, np_ms / ort_ms, times, err,
                         compiled.peak_activation_bytes, compiled.plan.naive_activation_bytes))
            if args.profile:
                _profile(compiled.plan, [x])
    if limits is not None:
        limits.restore_original_limits()

    print()
    print("| model | ORT ms | npucc ms | ratio | compile s (load / passes / plan) | "
          "max rel. err | peak act. MB (naive) |")
    print("|---|---:|---:|---:|---|---:|---|")
    for name, o, n, r, t, err, peak, naive in rows:
        print(f"| {name} | {o:.2f} | {n:.2f} | {r:.2f} | {t.total:.3f} ({t.load:.3f} / "
              f"{t.passes:.3f} / {t.plan:.3f}) | {err:.1e} | {peak / 2**20:.1f} "
              f"({naive / 2**20:.1f}) |")
    return 0


def _profile(plan, inputs, repeats: int = 10, top: int = 12) -> None:
    """Mean milliseconds per run of the slowest plan steps (Plan.profile), by op and input shape."""
    from collections import defaultdict

    totals = defaultdict(float)
    for node, seconds in plan.profile(inputs, repeats).items():
        totals[(node.op, tuple(node.inputs[0].shape))] += seconds
    print(f"  slowest steps of {plan.graph.name} (ms per run):")
    for (op, shape), s in sorted(totals.items(), key=lambda kv: -kv[1])[:top]:
        print(f"    {s * 1e3:7.3f}  {op} {list(shape)}")


if __name__ == "__main__":
    raise SystemExit(main())
