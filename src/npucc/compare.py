"""Numerical comparison of graphs: seeded random inputs, per-dtype tolerances, and where two
graphs first differ.

Shared by the testing kit (`assert_equivalent`, `check_pass`) and the pass manager's
`ValidateEach` instrument, so both judge "the same numbers" alike; it needs only the IR.

    problem = graph_difference(before, after)   # None, or a message naming the output, the
                                                # worst element and the first differing value
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np

from npucc.ir import DType, Graph
from npucc.numerics import run_graph

INPUT_RANGE = 3.0  # float inputs are drawn from [-INPUT_RANGE, INPUT_RANGE]

# (rtol, atol) by dtype: |got - expected| <= atol + rtol * |expected|. Integers and bools are exact.
TOLERANCES: dict[DType, tuple[float, float]] = {
    DType.f32: (1e-4, 1e-5),
    DType.f16: (1e-2, 1e-3),
    DType.bf16: (2e-2, 1e-2),
}


def tolerance_for(dtype: DType) -> tuple[float, float]:
    """Default (rtol, atol) for values of `dtype`: (0, 0) for integers and bools."""
    return TOLERANCES.get(dtype, (0.0, 0.0))


# ---- inputs ----

def int_input_range(dtype: DType) -> tuple[int, int]:
    """Full range for 8-bit types (quantized data); [-1000, 1000] clipped to wider types."""
    lo, hi = dtype.int_range
    if dtype.bits <= 8:
        return lo, hi
    return max(lo, -1000), min(hi, 1000)


def random_inputs(graph: Graph, seed: int = 0) -> list[np.ndarray]:
    """One array per graph input, deterministic in `seed`: floats uniform in [-3, 3], integers
    uniform over their type's range (8-bit) or [-1000, 1000] (wider), random bools."""
    rng = np.random.default_rng(seed)
    out = []
    for v in graph.inputs:
        dt = v.dtype
        if dt.is_float:
            a = rng.uniform(-INPUT_RANGE, INPUT_RANGE, size=v.shape).astype(dt.numpy)
        elif dt is DType.bool:
            a = rng.integers(0, 2, size=v.shape).astype(bool)
        else:
            lo, hi = int_input_range(dt)
            a = rng.integers(lo, hi, size=v.shape, endpoint=True).astype(dt.numpy)
        out.append(a)
    return out


def as_input_list(graph: Graph, inputs) -> list[np.ndarray]:
    """An input set as a list in graph-input order (a mapping is read by input name)."""
    if isinstance(inputs, np.ndarray):
        return [inputs]
    if isinstance(inputs, Mapping):
        missing = [v.name for v in graph.inputs if v.name not in inputs]
        if missing:
            raise ValueError(f"inputs given by name lack {missing}; graph {graph.name} "
                             f"takes {[v.name for v in graph.inputs]}")
        return [np.asarray(inputs[v.name]) for v in graph.inputs]
    return [np.asarray(a) for a in inputs]


# ---- arrays ----

@attrs.frozen
class Mismatch:
    """Elements of `got` out of tolerance against `expected`; `index` is the worst one."""

    count: int
    size: int
    rtol: float
    atol: float
    max_abs: float
    max_rel: float
    index: tuple[int, ...]
    expected: object
    got: object

    def element(self, name: str) -> str:
        """`%name[i, j]: expected a, got b (|diff| d > allowed t = atol + rtol * |a|)`."""
        where = f"%{name}[{', '.join(map(str, self.index))}]"
        e, g = _number(self.expected), _number(self.got)
        try:
            diff = abs(float(self.got) - float(self.expected))
            allowed = self.atol + self.rtol * abs(float(self.expected))
            bound = f" (|diff| {diff:.4g} > {allowed:.4g} = atol {self.atol:g} + rtol " \
                    f"{self.rtol:g} * |expected|)"
        except (TypeError, ValueError, OverflowError):
            bound = ""
        return f"{where}: expected {e}, got {g}{bound}"

    def __str__(self) -> str:
        return (f"{self.count} of {self.size} elements out of tolerance (rtol={self.rtol:g}, "
                f"atol={self.atol:g}); max abs error {self.max_abs:.4g}, max rel error "
                f"{self.max_rel:.4g}; worst at index {self.index}: expected "
                f"{_number(self.expected)}, got {_number(self.got)}")


def _number(x) -> str:
    """The shortest text that reads back to `x` in its own type (0.1 for float32 0.1)."""
    return str(x) if isinstance(x, np.generic) else repr(x)


def mismatch(expected: np.ndarray, got: np.ndarray, rtol: float, atol: float) -> Mismatch | None:
    """None if `got` matches `expected` within tolerance (NaNs must match NaNs, infinities must
    match exactly), else the Mismatch with its worst element."""
    if expected.dtype.kind in "fc":
        e = expected.astype(np.float64)
        g = got.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            diff = np.abs(g - e)
            same = (e == g) | (np.isnan(e) & np.isnan(g))  # equal infinities, matching NaNs
            diff = np.where(same, 0.0, np.where(np.isfinite(diff), diff, np.inf))
            excess = diff - (atol + rtol * np.where(np.isfinite(e), np.abs(e), 0.0))
            rel = np.where(diff == 0, 0.0, np.where(e == 0, np.inf, diff / np.abs(e)))
    else:
        diff = np.abs(got.astype(np.int64) - expected.astype(np.int64)).astype(np.float64)
        excess = diff - atol
        rel = np.zeros_like(diff)
    bad = excess > 0
    if not bad.any():
        return None
    worst = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.ndim else ()
    return Mismatch(int(bad.sum()), int(bad.size), rtol, atol, float(np.max(diff)),
                    float(np.max(rel)), tuple(int(i) for i in worst), expected[worst], got[worst])


# ---- graphs ----

def _signature(graph: Graph) -> list[tuple[tuple[int, ...], str]]:
    return [(v.shape, v.dtype.value) for v in graph.inputs]


def _tolerance(dtype: DType, rtol: float | None, atol: float | None) -> tuple[float, float]:
    d_rtol, d_atol = tolerance_for(dtype)
    return (d_rtol if rtol is None else rtol), (d_atol if atol is None else atol)


def _values(graph: Graph, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], dict]:
    """The outputs and every node output by value name (kept only when asked for)."""
    seen: dict[str, np.ndarray] = {}

    def hook(node, outs):
        for v, a in zip(node.outputs, outs):
            seen[v.name] = a

    return run_graph(graph, inputs, hook), seen


def first_difference(before: Graph, after: Graph, inputs: list[np.ndarray], *,
                     rtol: float | None = None, atol: float | None = None) -> str | None:
    """The first node output of `after` (in its order) that differs beyond tolerance from the
    value of the same name, shape and dtype in `before`: where a wrong rewrite shows first.
    None when no such value differs (e.g. the pass renamed everything)."""
    _, want = _values(before, inputs)
    _, got = _values(after, inputs)
    for node in after.nodes:
        for v in node.outputs:
            a, b = want.get(v.name), got.get(v.name)
            if a is None or b is None or a.shape != b.shape or a.dtype != b.dtype:
                continue
            m = mismatch(a, b, *_tolerance(v.dtype, rtol, atol))
            if m is not None:
                return f"first differing value: {m.element(v.name)}, computed by " \
                       f"{node.op} ({m.count} of {m.size} elements differ)"
    return None


def graph_difference(g1: Graph, g2: Graph, inputs=None, *, rtol: float | None = None,
                     atol: float | None = None, seed: int = 0, n_inputs: int = 2,
                     locate: bool = True) -> str | None:
    """None if `g1` and `g2` compute the same outputs, else a message saying how they differ.

    inputs: one input set (arrays in graph-input order, or a mapping by input name); when None,
      `n_inputs` sets from `random_inputs(g1, seed + k)`.
    rtol, atol: override the per-dtype defaults (`TOLERANCES`; integers compare exactly).
    locate: also name the first differing value (`first_difference`).
    """
    if _signature(g1) != _signature(g2):
        return f"the graphs take different inputs: {_signature(g1)} vs {_signature(g2)}"
    if inputs is not None:
        sets = [(as_input_list(g1, inputs), "the given inputs")]
    else:
        sets = [(random_inputs(g1, seed + k), f"random inputs (seed {seed + k})")
                for k in range(n_inputs)]
    for arrays, where in sets:
        want = _run(g1, arrays, "the first", where)
        got = _run(g2, arrays, "the second", where)
        if len(want) != len(got):
            return f"the graphs give {len(want)} and {len(got)} outputs"
        for i, (v1, v2, a, b) in enumerate(zip(g1.outputs, g2.outputs, want, got)):
            also = "" if v1.name == v2.name else f" / %{v2.name}"
            name = f"output {i} (%{v1.name}{also})"
            if a.shape != b.shape or a.dtype != b.dtype:
                return f"{name}: {a.dtype}{list(a.shape)} became {b.dtype}{list(b.shape)}"
            m = mismatch(a, b, *_tolerance(v1.dtype, rtol, atol))
            if m is not None:
                text = f"{name} differs on {where}: {m}"
                first = first_difference(g1, g2, arrays, rtol=rtol, atol=atol) if locate else None
                return text + (f"\n  {first}" if first else "")
    return None


class RunError(Exception):
    """One of the compared graphs failed to run (the message says which, on which inputs)."""


def _run(graph: Graph, inputs: list[np.ndarray], label: str, where: str) -> list[np.ndarray]:
    try:
        return run_graph(graph, inputs)
    except Exception as e:
        raise RunError(f"{label} graph failed to run on {where}: {type(e).__name__}: {e}") from e
