"""dce + fold-constants + cse on a 10,000-node graph remove exactly the dead, foldable and
duplicate nodes. (Their speed is measured in benchmarks/passes_scaling.py, not timed here.)"""

import numpy as np

from npucc.ir import Graph, TensorType
from npucc.passes import run_passes


def big_graph(n_blocks: int) -> Graph:
    """Blocks of 10 nodes: a constant subexpression (foldable), two equal Adds (one merges), a dead
    branch, and a running value chained through every block."""
    g = Graph("big")
    x = g.add_input("x", TensorType((8,), "f32"))
    rng = np.random.default_rng(0)
    v = x
    for i in range(n_blocks):
        a = g.add_constant(rng.standard_normal(8).astype(np.float32))
        b = g.add_constant(rng.standard_normal(8).astype(np.float32))
        k = g.op("Mul", g.op("Add", a, b), b)              # 2 foldable nodes
        s1, s2 = g.op("Add", v, k), g.op("Add", v, k)      # equal: cse merges
        g.op("Sigmoid", g.op("Tanh", s1))                  # dead branch
        m = g.op("Max", s1, s2)
        v = g.op("Relu", g.op("Sub", m, v))
        g.op("Mish", v)                                    # dead
    g.set_outputs([v])
    return g


def test_dce_fold_cse_on_10k_nodes(monkeypatch):
    monkeypatch.setattr("npucc.passes.manager.current_default_instruments", lambda: ())
    g = big_graph(1000)
    assert len(g) == 10_000
    report = run_passes(g, "dce,fold-constants,cse,dce")
    counts = {r.name + str(i): r.counts for i, r in enumerate(report.records)}
    assert counts["dce0"] == {"nodes": 3000, "constants": 0}
    assert counts["fold-constants1"] == {"folded": 2000}
    assert counts["cse2"]["nodes"] == 1000
    assert len(g) == 4000
