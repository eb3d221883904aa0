"""Numerical equivalence of graphs, and the checks every pass must pass.

    from npucc.testing import assert_equivalent, check_pass

    assert_equivalent(original, optimized)            # same outputs on random inputs
    report = check_pass("fold-constants,cse", graph)  # valid, honest, equivalent, idempotent

Both run graphs with the reference interpreter (`npucc.numerics.run_graph`, each node in its
numerics profile) and compare outputs with a
tolerance that fits each output's dtype (`TOLERANCES`); failures are AssertionErrors that say which
output, how far off, where, and (for `check_pass`) show the graph before and after.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from npucc.compare import TOLERANCES, RunError, graph_difference, tolerance_for
from npucc.ir import Graph
from npucc.ir.text import describe_difference, format_graph
from npucc.ir.verify import verify
from npucc.passes import Pass, PassRecord, PassResult, Pipeline

__all__ = ["TOLERANCES", "PassCheck", "assert_equivalent", "check_pass", "show_graph",
           "tolerance_for"]
SHOW_LINES = 60  # graph text lines shown in a failure message


def show_graph(graph: Graph, limit: int = SHOW_LINES) -> str:
    """The graph's text form (large payloads elided), cut to `limit` lines."""
    try:
        lines = format_graph(graph).splitlines()
    except Exception as e:  # a graph broken badly enough may not print
        return f"<graph {graph.name} cannot be printed: {type(e).__name__}: {e}>"
    if len(lines) > limit:
        lines = lines[:limit - 1] + [f"  ... ({len(lines) - limit + 1} more lines)"]
    return "\n".join(lines)


def assert_equivalent(g1: Graph, g2: Graph, inputs=None, *, rtol: float | None = None,
                      atol: float | None = None, seed: int = 0, n_inputs: int = 2) -> None:
    """Assert that `g1` and `g2` compute the same outputs.

    inputs: one input set (arrays in graph-input order, or a mapping by input name). When None,
      `n_inputs` sets are drawn with `random_inputs(g1, seed + k)`.
    rtol, atol: override the per-dtype defaults (`TOLERANCES`; integers are compared exactly).

    Both graphs must take inputs of the same shapes and dtypes and give the same number of outputs
    with the same shapes and dtypes; values must agree within tolerance. The AssertionError names
    the output, its max abs/rel error and the worst element, and the first value (by name, in
    `g2`'s order) that differs from `g1`'s value of that name (`npucc.compare`).
    """
    try:
        problem = graph_difference(g1, g2, inputs, rtol=rtol, atol=atol, seed=seed,
                                   n_inputs=n_inputs)
    except (RunError, ValueError) as e:
        raise AssertionError(str(e)) from e
    if problem is not None:
        raise AssertionError(problem)


# --------------------------------------------------------------------------------------------
# check_pass
# --------------------------------------------------------------------------------------------

@attrs.frozen
class PassCheck:
    """What `check_pass` observed: the pipeline run, whether it changed the graph, the counts
    its passes reported, the graphs before and after, and which optional checks ran."""

    pipeline: str
    changed: bool
    counts: Mapping[str, int]
    records: tuple[PassRecord, ...]
    before: Graph
    after: Graph
    idempotence_checked: bool
    numerics_checked: bool

    def __str__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items()) or "no counts"
        return (f"{self.pipeline}: {'changed' if self.changed else 'unchanged'} ({counts}); "
                f"{len(self.before)} -> {len(self.after)} nodes")


def _pipeline(spec) -> Pipeline:
    if isinstance(spec, Pass):
        return Pipeline([spec])
    try:
        return Pipeline.of(spec)
    except Exception as e:
        raise AssertionError(f"check_pass: cannot build a pipeline from {spec!r}: {e}") from e


def _failure(what: str, before: Graph, after: Graph | None, detail: str = "") -> AssertionError:
    text = f"{what}{(':' + chr(10) + '  ' + detail) if detail else ''}\n\n" \
           f"--- graph before ---\n{show_graph(before)}"
    if after is not None:
        text += f"\n--- graph after ---\n{show_graph(after)}"
    return AssertionError(text)


def _run_checked(pipeline: Pipeline, graph: Graph, label: str) -> list[PassRecord]:
    """Run each pass of `pipeline` on `graph` in place, checking after each that the graph
    verifies and that a pass reporting no change left it identical.

    Passes are called directly (not through a PassManager), so the instruments of the caller's
    scope do not pre-empt these checks with their own errors."""
    records = []
    for p in pipeline:
        snapshot = graph.copy()
        start = time.perf_counter()
        try:
            result = PassResult.of(p(graph))
        except Exception as e:
            raise _failure(f"{label}: pass {p.name} raised {type(e).__name__}: {e}",
                           snapshot, graph) from e
        records.append(PassRecord(p.name, result.changed, dict(result.counts),
                                  time.perf_counter() - start))
        try:
            verify(graph)
        except Exception as e:
            raise _failure(f"{label}: pass {p.name} left an invalid graph", snapshot, graph,
                           str(e)) from e
        if not result.changed:
            diff = describe_difference(snapshot, graph)
            if diff is not None:
                raise _failure(f"{label}: pass {p.name} reported no change but changed the graph",
                               snapshot, graph, diff)
    return records


def check_pass(pass_or_pipeline: Pass | str | Sequence[Pass | str] | Pipeline, graph: Graph, *,
               inputs: Any = None, idempotent: bool | None = None, rtol: float | None = None,
               atol: float | None = None, numerics: bool = True, seed: int = 0,
               n_inputs: int = 2) -> PassCheck:
    """Run a pass (a Pass instance, a registered name, or a pipeline string/list) on a copy of
    `graph` and check the contract every pass must keep:

    - the result verifies (npucc.ir.verify), after each pass of a pipeline;
    - a pass that reports no change leaves the graph identical (names, order, payload bits);
    - the graph inputs keep their names and types;
    - the outputs are numerically equivalent (`assert_equivalent` with `inputs`, or `n_inputs`
      random input sets from `seed`, and `rtol`/`atol`); skip with numerics=False;
    - idempotence: a second run reports no change. Checked when `idempotent=True`, or when it is
      None and the pipeline is a single pass declaring `idempotent = True`.

    Returns a PassCheck report; raises AssertionError showing the graph before and after.
    `graph` itself is not modified.
    """
    pipeline = _pipeline(pass_or_pipeline)
    try:
        verify(graph)
    except Exception as e:
        raise _failure("check_pass was given an invalid graph", graph, None, str(e)) from e
    before, after = graph.copy(), graph.copy()
    label = f"pipeline {pipeline}" if len(pipeline) > 1 else f"pass {pipeline}"
    records = _run_checked(pipeline, after, label)
    sig = [(v.name, v.type) for v in before.inputs]
    if [(v.name, v.type) for v in after.inputs] != sig:
        raise _failure(f"{label} changed the graph inputs", before, after,
                       f"{sig} became {[(v.name, v.type) for v in after.inputs]}")
    if numerics:
        try:
            assert_equivalent(before, after, inputs, rtol=rtol, atol=atol, seed=seed,
                              n_inputs=n_inputs)
        except AssertionError as e:
            raise _failure(f"{label} changed the numerics", before, after, str(e)) from e
    if idempotent is None:
        idempotent = len(pipeline) == 1 and bool(type(pipeline.passes[0]).idempotent)
    if idempotent:
        again = after.copy()
        second = _run_checked(pipeline, again, f"{label} (second run)")
        if any(r.changed for r in second):
            changed = [r.name for r in second if r.changed]
            raise _failure(f"{label} is not idempotent: a second run changed the graph "
                           f"(passes {changed})", after, again)
    counts: dict[str, int] = {}
    for r in records:
        for k, v in r.counts.items():
            counts[k] = counts.get(k, 0) + v
    return PassCheck(str(pipeline), any(r.changed for r in records), counts, tuple(records),
                     before, after, bool(idempotent), numerics)
