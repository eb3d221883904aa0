"""Quantized models in the npucc simulator vs onnxruntime running the exported QDQ model.

    python benchmarks/quantized_vs_ort.py [--runs 30] [--threads 2] [--models resnet18,mobilenet_v2]
                                          [--precisions i8c,u8,dfp8,dfp16,fp16]
                                          [--blas-coretype env|native|NAME]

Each zoo model (tests/models, random weights, 1x3x224x224) is exported by torch.onnx, imported by
npucc and run through the default pass pipeline; ranges come from one random input (a latency
benchmark needs no real calibration). For each precision (i8c: i8 activations with per-channel
symmetric weights, RKNN-Toolkit2 w8a8; u8: per-tensor asymmetric u8, RKNN-Toolkit v1; dfp8,
dfp16: dynamic fixed point; fp16) `quantize_graph` makes the quantized graph, `compile_plan`
compiles it, and `npucc.exporters.onnx_qdq` writes the QDQ model onnxruntime runs (CPU EP,
default optimizations: it fuses the QDQ patterns into its integer kernels). Baselines in the same
process: onnxruntime on the float model, and npucc's float plan. Latencies are medians over
`--runs` runs in alternating blocks of 10 (as simulator_vs_ort.py); *no-jit* is npucc's plan
with the numpy form of the requantization instead of the compiled loop (npucc/numerics/jit.py).
*LSB* is the largest difference of the model output's integers between npucc and onnxruntime
(see the QDQ tests for why it is not 0 for u8 / i8 / dfp16); for fp16, the max relative
difference.
"""

from __future__ import annotations

import argparse
import os
import sys

PRECISIONS = {"i8c": ("i8", True), "u8": ("u8", False), "dfp8": ("dfp8", False),
              "dfp16": ("dfp16", False), "fp16": ("fp16", False)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--precisions", default=",".join(PRECISIONS))
    ap.add_argument("--profile", action="store_true", help="print the slowest plan steps")
    ap.add_argument("--blas-coretype", default="env",
                    help="OpenBLAS kernels: env, native or a core name (see simulator_vs_ort.py)")
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NPUCC_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy is imported
    if args.blas_coretype == "native":
        os.environ.pop("OPENBLAS_CORETYPE", None)
    elif args.blas_coretype != "env":
        os.environ["OPENBLAS_CORETYPE"] = args.blas_coretype

    import time
    from pathlib import Path

    import numpy as np
    import onnx
    import onnxruntime as ort

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.models import build, export_onnx

    from npucc.backends.simulator import compile_plan
    from npucc.exporters.onnx_qdq import to_onnx
    from npucc.frontends import load
    from npucc.ir import run_graph
    from npucc.numerics import jit
    from npucc.passes import default_pipeline, run_passes
    from npucc.passes.quantize import quantize_graph

    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:
        pass
    print(f"numpy {np.__version__} (OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')}), onnxruntime {ort.__version__}, "
          f"{args.threads} threads, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")

    def session(data: bytes):
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])

    def median_ms(runners: dict) -> dict:
        """Medians of the runners, timed in alternating blocks of 10."""
        lat = {k: [] for k in runners}
        for f in runners.values():
            for _ in range(args.warmup):
                f()
        for _ in range(max(1, args.runs // 10)):
            for k, f in runners.items():
                time.sleep(0.2)  # let the other runtime's idle threads stop spinning
                f()
                for _ in range(10):
                    t0 = time.perf_counter()
                    f()
                    lat[k].append(time.perf_counter() - t0)
        return {k: float(np.median(v)) * 1e3 for k, v in lat.items()}

    rows = []
    for name in args.models.split(","):
        model, example = build(name)
        data = export_onnx(model, example)
        x = example.numpy()
        g = load(onnx.load_from_string(data))
        run_passes(g, default_pipeline())
        ranges = {g.inputs[0].name: (float(x.min()), float(x.max()))}
        run_graph(g, [x], hook=lambda node, outs: ranges.update(
            {v.name: (float(a.min()), float(a.max())) for v, a in zip(node.outputs, outs)}))
        float_plan = compile_plan(g)
        ort_float = session(data)
        feed = {ort_float.get_inputs()[0].name: x}
        for label in args.precisions.split(","):
            dtype, per_channel = PRECISIONS[label]
            q = quantize_graph(g, ranges, dtype, per_channel)
            plan = compile_plan(q)
            jit.enabled()
            saved, jit._state["numba"] = jit._state["numba"], False
            plan_nojit = compile_plan(q)  # requantizers made without the compiled loop
            jit._state["numba"] = saved
            ort_qdq = session(to_onnx(q).SerializeToString())
            ours, theirs = plan.run([x])[0], ort_qdq.run(None, feed)[0]
            out = q.outputs[0].producer.inputs[0]
            if out.type.quant is not None:
                step = np.float32(out.type.quant.as_affine()[0][0])
                diff = f"{np.abs(np.rint(ours / step) - np.rint(theirs / step)).max():.0f}"
            else:
                diff = f"{np.abs(ours - theirs).max() / np.abs(ours).max():.1e}"
            assert all(np.array_equal(a, b) for a, b in zip(plan.run([x]), plan_nojit.run([x])))
            ms = median_ms({"npucc": lambda plan=plan: plan.run([x]),
                            "npucc_nojit": lambda p=plan_nojit: p.run([x]),
                            "ort_qdq": lambda s=ort_qdq: s.run(None, feed),
                            "ort_float": lambda: ort_float.run(None, feed),
                            "npucc_float": lambda: float_plan.run([x])})
            rows.append((name, label, ms, diff))
            print(f"  {name} {label}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in ms.items()),
                  flush=True)
            if args.profile:
                _profile(plan, [x])

    print()
    print("| model | precision | npucc ms | no-jit ms | ORT QDQ ms | ORT float ms | "
          "npucc float ms | npucc / ORT QDQ | npucc / ORT float | npucc / npucc float | "
          "LSB vs ORT |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, label, ms, diff in rows:
        n, o, of, nf = ms["npucc"], ms["ort_qdq"], ms["ort_float"], ms["npucc_float"]
        print(f"| {name} | {label} | {n:.2f} | {ms['npucc_nojit']:.2f} | {o:.2f} | {of:.2f} | "
              f"{nf:.2f} | {n / o:.2f} | {n / of:.2f} | {n / nf:.2f} | {diff} |")
    return 0


def _profile(plan, inputs, repeats: int = 5, top: int = 10) -> None:
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
