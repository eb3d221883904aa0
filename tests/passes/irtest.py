"""Helpers for pass tests: IR text in, IR text expected out, and a numerical before/after check."""

from __future__ import annotations

import numpy as np

from npucc.ir import run_graph
from npucc.ir.text import describe_difference, parse
from npucc.testing import random_inputs


def ir(text: str):
    """Parse IR text (elided payloads get seeded random data)."""
    return parse(text, "random")


def assert_ir(graph, expected: str) -> None:
    """`graph` equals the graph `expected` describes: names, types, payloads, order, provenance."""
    want = ir(expected)
    problem = describe_difference(graph, want)
    assert problem is None, f"{problem}\n--- got:\n{graph}\n--- expected:\n{want}"


def assert_same_outputs(before, after, seed: int = 0) -> None:
    """Both graphs compute bit-identical outputs on the same seeded random inputs."""
    inputs = random_inputs(before, seed)
    for a, b in zip(run_graph(before, inputs), run_graph(after, inputs), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def run_pass(pass_name: str, text: str):
    """Parse `text`, run one pass (verifying after it); return (before, after, its record)."""
    from npucc.passes import PassManager, VerifyEach

    graph = ir(text)
    before = graph.copy()
    report = PassManager(pass_name, [VerifyEach()]).run(graph)
    return before, graph, report.records[0]
