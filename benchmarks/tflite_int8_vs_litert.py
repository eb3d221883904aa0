"""Latency of full-int8 TFLite models: npucc (integer kernels, bit-exact with LiteRT's reference
kernels) against LiteRT (reference kernels, and its default optimized kernels).

npucc runs the frontend's graph (no passes) compiled by the simulator's `compile_plan`: each
quantized node gets its integer kernel from npucc.numerics.select_kernel, prepared once, and
numpy's BLAS is held to one thread while the plan runs; LiteRT runs with num_threads=1.

    python benchmarks/tflite_int8_vs_litert.py [--runs 20] [--model tests/fixtures/tf/x.tflite]

Prints median milliseconds per inference and the npucc / LiteRT ratio (goal: <= 3x LiteRT's
reference kernels, the ones npucc reproduces bit for bit). Needs ai-edge-litert.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = [ROOT / "tests/fixtures/tf/small_int8.tflite",
                  ROOT / "tests/fixtures/tf/mobilenet_v2_int8.tflite"]


def median_ms(fn, runs: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench(path: Path, runs: int) -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from npucc.backends.simulator import compile_plan
    from npucc.frontends.tflite import load

    g = load(path)
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-128, 128, v.shape).astype(v.dtype.numpy) for v in g.inputs]
    plan = compile_plan(g)
    row = {"npucc": median_ms(lambda: plan.run(inputs), runs)}
    outs = plan.run(inputs)
    for label, resolver in (("litert-ref", "BUILTIN_REF"), ("litert-opt", "AUTO")):
        it = Interpreter(model_path=str(path), num_threads=1,
                         experimental_op_resolver_type=getattr(OpResolverType, resolver))
        it.allocate_tensors()
        for d, x in zip(it.get_input_details(), inputs):
            it.set_tensor(d["index"], x)
        row[label] = median_ms(it.invoke, runs)
        if label == "litert-ref":
            want = [it.get_tensor(d["index"]) for d in it.get_output_details()]
            row["differing"] = sum(int((a != w).sum()) for a, w in zip(outs, want))
    print(f"{path.name:28s} npucc {row['npucc']:8.2f} ms | LiteRT ref {row['litert-ref']:8.2f} ms "
          f"({row['npucc'] / row['litert-ref']:.2f}x) | LiteRT default {row['litert-opt']:8.2f} ms "
          f"({row['npucc'] / row['litert-opt']:.2f}x) | differing elements vs ref: "
          f"{row['differing']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--model", type=Path, action="append")
    args = ap.parse_args(argv)
    for path in args.model or DEFAULT_MODELS:
        bench(path, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
