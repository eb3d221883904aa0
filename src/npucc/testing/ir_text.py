"""Pass tests written as IR text: text in, a pipeline, text (or CHECK lines) expected out.

    check_rewrite('''
    graph g(%x: f32[2,3]) -> (%y) {
      %w = const f32[3,4] elided          # elided payloads: seeded random data
      %b = const f32[4] elided
      %m = MatMul(%x, %w)
      %y = Add(%b, %m)
      return %y
    }''', "fuse-matmul-add", '''
      CHECK: %y = Gemm(%x, %w, %b)
      CHECK-NOT: Add''')

The expected text is either a whole graph, compared exactly with the result (names, types,
payload bits, order, attributes, provenance), or CHECK / CHECK-NEXT / CHECK-NOT lines matched
against the result's text (`npucc.testing.filecheck`). Either way the run is also a `check_pass`:
the result verifies, the pass is honest about changes, the outputs agree on random inputs (or
bit for bit with `exact=True`) and, if declared, a second run changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from npucc.compare import random_inputs
from npucc.ir import Graph
from npucc.ir.text import describe_difference, format_graph, parse
from npucc.numerics import run_graph
from npucc.passes import Pass, PassRecord, Pipeline

from .equivalence import PassCheck, check_pass, show_graph
from .filecheck import CheckFailure, assert_checks, parse_checks


def parse_ir(text: str) -> Graph:
    """Parse IR text; elided payloads get seeded random data (the same for the same name)."""
    return parse(text, "random")


def assert_ir(graph: Graph, expected: str) -> None:
    """`graph` equals the graph `expected` describes: names, types, payloads, order, provenance."""
    want = parse_ir(expected)
    problem = describe_difference(graph, want)
    if problem is not None:
        raise AssertionError(f"{problem}\n--- got:\n{graph}\n--- expected:\n{want}")


def assert_same_outputs(before: Graph, after: Graph, seed: int = 0) -> None:
    """Both graphs compute identical outputs (NaN matching NaN) on the same random inputs."""
    inputs = random_inputs(before, seed)
    for i, (a, b) in enumerate(zip(run_graph(before, inputs), run_graph(after, inputs),
                                   strict=True)):
        if a.dtype != b.dtype or a.shape != b.shape:
            raise AssertionError(f"output {i}: {a.dtype}{list(a.shape)} became "
                                 f"{b.dtype}{list(b.shape)}")
        np.testing.assert_array_equal(a, b, err_msg=f"output {i} (seed {seed})")


def run_pass(pipeline: str | Pass | Sequence[Pass | str], text: str
             ) -> tuple[Graph, Graph, PassRecord]:
    """Parse `text`, run `pipeline` through `check_pass` (without the numerical check); return
    (before, after, the first pass's record)."""
    report = check_pass(pipeline, parse_ir(text), numerics=False, idempotent=False)
    return report.before, report.after, report.records[0]


def check_rewrite(before: str, pipeline: str | Pass | Sequence[Pass | str] | Pipeline,
                  expected: str | None, *, counts: Mapping[str, int] | None = None,
                  exact: bool = False, inputs: Any = None, rtol: float | None = None,
                  atol: float | None = None, idempotent: bool | None = None) -> PassCheck:
    """Run `pipeline` on the graph `before` describes and check the result against `expected`:
    a whole graph (exact comparison), CHECK lines, or None for "unchanged".

    counts: the counts the passes must report (e.g. {"matmul-add": 1}).
    exact: outputs must agree bit for bit (default: within the dtype's tolerance, as check_pass).
    Returns the PassCheck; failures are AssertionErrors showing the graphs before and after.
    """
    graph = parse_ir(before)
    tol = (0.0, 0.0) if exact else (rtol, atol)
    report = check_pass(pipeline, graph, inputs=inputs, rtol=tol[0], atol=tol[1],
                        idempotent=idempotent)
    problem = _expectation_problem(report, expected)
    if problem is None and counts is not None and dict(report.counts) != dict(counts):
        problem = f"the counts are {dict(report.counts)}, expected {dict(counts)}"
    if problem is not None:
        raise AssertionError(f"check_rewrite, pipeline {report.pipeline}: {problem}\n\n"
                             f"--- graph before ---\n{show_graph(report.before)}\n"
                             f"--- graph after ---\n{show_graph(report.after)}")
    return report


def _expectation_problem(report: PassCheck, expected: str | None) -> str | None:
    if expected is None:
        if report.changed:
            return "the graph changed, expected no change"
        return None
    checks = parse_checks(expected)
    if checks:
        try:
            assert_checks(format_graph(report.after), checks)
        except CheckFailure as e:
            return str(e)
        return None
    want = parse_ir(expected)
    problem = describe_difference(report.after, want)
    if problem is not None:
        return f"{problem}\n--- expected ---\n{show_graph(want)}"
    return None


__all__ = ["assert_ir", "assert_same_outputs", "check_rewrite", "parse_ir", "run_pass"]
