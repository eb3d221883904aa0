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
import numpy as np

from npucc.ir import DType, Graph
from npucc.ir.text import describe_difference, format_graph
from npucc.ir.verify import verify
from npucc.numerics import run_graph
from npucc.passes import Pass, PassRecord, PassResult, Pipeline
from npucc.testing.inputs import random_inputs

# (rtol, atol) by dtype: |got - expected| <= atol + rtol * |expected|. Integers and bools are exact.
TOLERANCES: dict[DType, tuple[float, float]] = {
    DType.f32: (1e-4, 1e-5),
    DType.f16: (1e-2, 1e-3),
    DType.bf16: (2e-2, 1e-2),
}
SHOW_LINES = 60  # graph text lines shown in a failure message


def tolerance_for(dtype: DType) -> tuple[float, float]:
    """Default (rtol, atol) for outputs of `dtype`: (0, 0) for integers and bools."""
    return TOLERANCES.get(dtype, (0.0, 0.0))


def show_graph(graph: Graph, limit: int = SHOW_LINES) -> str:
    """The graph's text form (large payloads elided), cut to `limit` lines."""
    try:
        lines = format_graph(graph).splitlines()
    except Exception as e:  # a graph broken badly enough may not print
        return f"<graph {graph.name} cannot be printed: {type(e).__name__}: {e}>"
    if len(lines) > limit:
        lines = lines[:limit - 1] + [f"  ... ({len(lines) - limit + 1} more lines)"]
    return "\n".join(lines)


def _signature(graph: Graph) -> list[tuple[tuple[int, ...], str]]:
    return [(v.shape, v.dtype.value) for v in graph.inputs]


def _as_input_list(graph: Graph, inputs) -> list[np.ndarray]:
    """An input set as a list in graph-input order (a mapping is read by input name)."""
    if isinstance(inputs, np.ndarray):
        return [inputs]
    if isinstance(inputs, Mapping):
        missing = [v.name for v in graph.inputs if v.name not in inputs]
        if missing:
            raise AssertionError(f"inputs given by name lack {missing}; graph {graph.name} "
                                 f"takes {[v.name for v in graph.inputs]}")
        return [np.asarray(inputs[v.name]) for v in graph.inputs]
    return [np.asarray(a) for a in inputs]


def _mismatch(expected: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> str | None:
    """None if `got` matches `expected` within tolerance (NaNs must match NaNs, infinities must
    match exactly), else a description of the worst element."""
    if expected.dtype.kind in "fc":
        e = expected.astype(np.float64)
        g = got.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(g - e)
            same = (e == g) | (np.isnan(e) & np.isnan(g))  # equal infinities, matching NaNs
            diff = np.where(same, 0.0, np.where(np.isfinite(diff), diff, np.inf))
            excess = diff - (atol + rtol * np.where(np.isfinite(e), np.abs(e), 0.0))
            rel = np.where(diff == 0, 0.0, diff / np.maximum(np.abs(e), np.finfo(np.float64).tiny))
    else:
        diff = np.abs(got.astype(np.int64) - expected.astype(np.int64)).astype(np.float64)
        excess = diff - atol
        rel = np.zeros_like(diff)
    bad = excess > 0
    if not bad.any():
        return None
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.ndim else ()
    idx = tuple(int(i) for i in worst)
    return (f"{int(bad.sum())} of {bad.size} elements out of tolerance (rtol={rtol:g}, "
            f"atol={atol:g}); max abs error {float(np.max(diff)):.4g}, max rel error "
            f"{float(np.max(rel)):.4g}; worst at index {idx}: expected {expected[worst]!r}, "
            f"got {got[worst]!r}")


def _run(graph: Graph, inputs: list[np.ndarray], label: str, where: str) -> list[np.ndarray]:
    try:
        return run_graph(graph, inputs)
    except Exception as e:
        raise AssertionError(f"{label} graph failed to run on {where}: "
                             f"{type(e).__name__}: {e}") from e


def assert_equivalent(g1: Graph, g2: Graph, inputs=None, *, rtol: float | None = None,
                      atol: float | None = None, seed: int = 0, n_inputs: int = 2) -> None:
    """Assert that `g1` and `g2` compute the same outputs.

    inputs: one input set (arrays in graph-input order, or a mapping by input name). When None,
      `n_inputs` sets are drawn with `random_inputs(g1, seed + k)`.
    rtol, atol: override the per-dtype defaults (`TOLERANCES`; integers are compared exactly).

    Both graphs must take inputs of the same shapes and dtypes and give the same number of outputs
    with the same shapes and dtypes; values must agree within tolerance. The AssertionError names
    the output, its max abs/rel error and the worst index.
    """
    if _signature(g1) != _signature(g2):
        raise AssertionError(f"the graphs take different inputs: {_signature(g1)} vs "
                             f"{_signature(g2)}")
    if inputs is not None:
        sets = [(_as_input_list(g1, inputs), "the given inputs")]
    else:
        sets = [(random_inputs(g1, seed + k), f"random inputs (seed {seed + k})")
                for k in range(n_inputs)]
    for arrays, where in sets:
        want = _run(g1, arrays, "the first", where)
        got = _run(g2, arrays, "the second", where)
        if len(want) != len(got):
            raise AssertionError(f"the graphs give {len(want)} and {len(got)} outputs")
        for i, (v1, v2, a, b) in enumerate(zip(g1.outputs, g2.outputs, want, got)):
            also = "" if v1.name == v2.name else f" / %{v2.name}"
            name = f"output {i} (%{v1.name}{also})"
            if a.shape != b.shape or a.dtype != b.dtype:
                raise AssertionError(f"{name}: {a.dtype}{list(a.shape)} became "
                                     f"{b.dtype}{list(b.shape)}")
            d_rtol, d_atol = tolerance_for(v1.dtype)
            problem = _mismatch(a, b, d_rtol if rtol is None else rtol,
                                d_atol if atol is None else atol)
            if problem:
                raise AssertionError(f"{name} differs on {where}: {problem}")


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
