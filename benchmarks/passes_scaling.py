"""How the cleanup passes and the verifier scale with graph size.

Builds generated graphs of 1k, 2k, 5k and 10k nodes with a realistic mix (conv/activation chains,
joins, dead branches, duplicated subexpressions, foldable constant subexpressions), then times
fold-constants, cse and dce (one PassManager run of `fold-constants,cse,dce` on a fresh copy,
median of --repeat runs) and the verifier. Prints a table of seconds and the growth ratio
(time ratio / size ratio against the previous row: ~1.0 means linear scaling).

A second table times the verifier on a Relu/Add chain whose Adds all read one shared constant
(half the nodes use it) against its peer, the same chain with a constant per Add: the ratio stays
near 1.0 at every size when long use lists cost nothing extra (quadratic use-list checks grow it
with the size).

    python benchmarks/passes_scaling.py [--sizes 1000,2000,5000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from npucc.ir import Graph, TensorType
from npucc.ir.verify import verify
from npucc.passes import PassManager

PIPELINE = "fold-constants,cse,dce"
PASSES = ("fold-constants", "cse", "dce")
C, HW = 4, 6  # small tensors: the passes' cost, not the kernels', is what is measured


def build_graph(n_nodes: int, seed: int = 0) -> Graph:
    """A connected graph of about `n_nodes` nodes: a main chain of conv blocks and joins, with
    ~10% dead branches, ~10% duplicated nodes (CSE bait) and ~10% constant subexpressions."""
    rng = np.random.default_rng(seed)
    g = Graph(f"scaling{n_nodes}")
    x = g.add_input("x", TensorType((1, C, HW, HW), "f32"))
    recent = [x]

    def pick():
        return recent[-1] if rng.random() < 0.6 else recent[-int(rng.integers(1, len(recent) + 1))]

    def keep(v):
        recent.append(v)
        del recent[:-16]  # joins reach back a little, like skip connections

    while len(g) < n_nodes:
        r = rng.random()
        v = pick()
        if r < 0.25:  # conv block
            w = g.add_constant(rng.uniform(-0.3, 0.3, (C, C, 3, 3)).astype(np.float32))
            b = g.add_constant(rng.uniform(-0.1, 0.1, (C,)).astype(np.float32))
            keep(g.op("Relu", g.op("Conv", v, w, b, pads=(1, 1, 1, 1))))
        elif r < 0.40:  # scale by a constant subexpression: fold bait
            c1 = g.add_constant(rng.uniform(0.5, 1.5, (C, 1, 1)).astype(np.float32))
            c2 = g.add_constant(rng.uniform(0.5, 1.5, (C, 1, 1)).astype(np.float32))
            keep(g.op("Mul", v, g.op("Add", c1, c2)))
        elif r < 0.50:  # duplicate a recent node: CSE bait
            producers = [u.producer for u in recent if u.producer is not None]
            if producers:
                n = producers[int(rng.integers(len(producers)))]
                keep(g.add_node(n.op, n.inputs, dict(n.attrs)).outputs[0])
        elif r < 0.60:  # a dead branch of one to three nodes
            d = v
            for _ in range(int(rng.integers(1, 4))):
                d = g.op(["Sigmoid", "Tanh", "Relu"][int(rng.integers(3))], d)
        elif r < 0.80:  # join two values
            keep(g.op(["Add", "Max", "Mul"][int(rng.integers(3))], v, pick()))
        else:
            keep(g.op(["Sigmoid", "Tanh", "HardSwish", "LeakyRelu"][int(rng.integers(4))], v))
    g.set_outputs(list(dict.fromkeys(recent[-4:])))  # a few heads, like a detector
    return g


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(n_nodes: int, repeat: int) -> dict:
    graph = build_graph(n_nodes)
    verify(graph)
    per_pass: dict[str, list[float]] = {p: [] for p in PASSES}
    totals, after = [], None
    for _ in range(repeat):
        work = graph.copy()
        report = PassManager(PIPELINE).run(work)
        for rec in report.records:
            per_pass[rec.name].append(rec.seconds)
        totals.append(report.seconds)
        after = work
    return {
        "nodes": len(graph), "after": len(after),
        **{p: statistics.median(ts) for p, ts in per_pass.items()},
        "total": statistics.median(totals),
        "verify": median_seconds(lambda: verify(graph), repeat),
    }


def chain(n_nodes: int, shared: bool) -> Graph:
    """Relu and Add alternating; every Add reads one shared constant, or its own."""
    g = Graph(f"chain{n_nodes}")
    v = g.add_input("x", TensorType((1, 8), "f32"))
    one = g.add_constant(np.ones((1, 8), np.float32), "c")
    for i in range(n_nodes):
        c = one if shared else g.add_constant(np.ones((1, 8), np.float32))
        v = g.op("Add", v, c) if i % 2 else g.op("Relu", v)
    g.set_outputs([v])
    return g


def shared_constant_rows(sizes, repeat: int) -> list[dict]:
    rows = []
    for n in sizes:
        shared, peer = chain(n, shared=True), chain(n, shared=False)
        t_shared = median_seconds(lambda: verify(shared), repeat)
        t_peer = median_seconds(lambda: verify(peer), repeat)
        rows.append({"nodes": n, "shared": t_shared, "peer": t_peer, "ratio": t_shared / t_peer})
    return rows


def shared_table(rows: list[dict]) -> str:
    lines = ["| nodes | uses of the shared constant | verify s (shared) | verify s (peer) "
             "| ratio |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['nodes']} | {r['nodes'] // 2} | {r['shared']:.4f} | {r['peer']:.4f} | "
                     f"{r['ratio']:.2f} |")
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    head = ["nodes", "after", *PASSES, "total s", "growth", "verify s", "growth"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    prev = None
    for r in rows:
        def growth(key):
            if prev is None:
                return "-"
            return f"{(r[key] / prev[key]) / (r['nodes'] / prev['nodes']):.2f}"
        cells = [str(r["nodes"]), str(r["after"]), *(f"{r[p]:.4f}" for p in PASSES),
                 f"{r['total']:.4f}", growth("total"), f"{r['verify']:.4f}", growth("verify")]
        lines.append("| " + " | ".join(cells) + " |")
        prev = r
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,2000,5000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = [measure(int(n), args.repeat) for n in args.sizes.split(",")]
    print(f"pipeline {PIPELINE}; seconds are medians of {args.repeat} runs; growth = time "
          "ratio / size ratio against the previous row (1.00 = linear)")
    print(table(rows))
    print("\nverify on a chain whose Adds share one constant vs the same chain with a constant per "
          "Add (ratio ~1.0: long use lists cost nothing extra)")
    print(shared_table(shared_constant_rows([int(n) for n in args.sizes.split(",")], args.repeat)))


if __name__ == "__main__":
    main()
