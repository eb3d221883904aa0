"""Default pass pipeline time on Caffe ResNet-50 (goal: <= 0.2 s).

    python benchmarks/pipeline_resnet50.py [--repeat 5] [--profile]

Imports tests/models/caffe/resnet/ResNet-50-deploy.prototxt (1x3x224x224) with random
weights once, then runs `npucc.passes.default_pipeline()` on `--repeat` fresh copies and prints
the median time per pass and in total (import time is not counted). --profile prints the top of a
cProfile of one run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

PROTOTXT = Path(__file__).resolve().parents[1] / "tests" / "models" / "caffe" / "resnet" / \
    "ResNet-50-deploy.prototxt"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)

    from npucc.frontends import caffe
    from npucc.passes import PassManager, default_pipeline

    graph = caffe.load(PROTOTXT, weights="random", input_shapes={"data": (1, 3, 224, 224)})
    per_pass: dict[str, list[float]] = {}
    totals = []
    for _ in range(args.repeat):
        g = graph.copy()
        report = PassManager(default_pipeline()).run(g)
        totals.append(report.seconds)
        for i, r in enumerate(report.records):
            per_pass.setdefault(f"{i:02d} {r.name}", []).append(r.seconds)
    print(f"ResNet-50: {len(graph)} -> {len(g)} nodes, median of {args.repeat} runs\n")
    print("| pass | ms |\n|---|---:|")
    for name, times in per_pass.items():
        print(f"| {name[3:]} | {statistics.median(times) * 1e3:.2f} |")
    print(f"| **total** | **{statistics.median(totals) * 1e3:.1f}** |")
    if args.profile:
        import cProfile
        import pstats

        g = graph.copy()
        cProfile.runctx("PassManager(default_pipeline()).run(g)", globals(), locals(), "/tmp/pp")
        pstats.Stats("/tmp/pp").sort_stats("cumulative").print_stats(20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
