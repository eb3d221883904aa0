"""Fitting the cost model's free parameters to published figures.

    figures = [Figure("mobilenetv2, 450.7 FPS", graph, 1e6 / 450.7)]
    params, rows = fit(target, figures, free=("depthwise_efficiency", "layer_overhead_us"))

A Figure is one published number (a whole-model time, or one layer's time or cycle count) and
how to read the same quantity off a CostReport. `fit` minimises the sum of squared log errors
over the `free` parameters (Nelder-Mead in log space, so every parameter stays positive), the
other parameters kept at the target's values. It is deterministic. `compare` prints the
predicted values next to the published ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import attrs
import numpy as np

from ...ir.graph import Graph
from ...targets import CostParams, Target, get_target
from .cost import CostReport, estimate


def total_time(report: CostReport) -> float:
    return report.total_time_us


@attrs.frozen
class Figure:
    """A published figure: `value` (us or cycles) that `measure(estimate(graph, ...))` should
    reproduce; `profiling` estimates with the per-layer profiling overhead on."""

    name: str
    graph: Graph = attrs.field(repr=False)
    value: float
    measure: Callable[[CostReport], float] = total_time
    dtype: str | None = None
    profiling: bool = False
    unit: str = "us"


@attrs.frozen
class FitRow:
    figure: str
    published: float
    predicted: float
    unit: str

    @property
    def error(self) -> float:
        """Relative error of the prediction."""
        return self.predicted / self.published - 1


def with_cost(target: Target, **params) -> Target:
    return attrs.evolve(target, cost=attrs.evolve(target.cost, **params))


def compare(target, figures: Sequence[Figure]) -> list[FitRow]:
    """Each figure next to the cost model's prediction with the target's parameters."""
    target = get_target(target)
    rows = []
    for f in figures:
        report = estimate(f.graph, target, f.dtype, profiling=f.profiling)
        rows.append(FitRow(f.name, f.value, float(f.measure(report)), f.unit))
    return rows


def fit(target, figures: Sequence[Figure], free: Sequence[str], *,
        tie: Mapping[str, str] | None = None, iterations: int = 400
        ) -> tuple[CostParams, list[FitRow]]:
    """The target's cost parameters with `free` ones fitted to `figures` (least squares on log
    errors), and the resulting comparison rows. `tie` maps a parameter to a free one it equals
    (e.g. {"depthwise_efficiency": "mac_efficiency"})."""
    target = get_target(target)
    tie = dict(tie or {})
    known = {f.name for f in attrs.fields(CostParams)}
    unknown = [p for p in [*free, *tie, *tie.values()] if p not in known]
    if unknown or any(p not in free for p in tie.values()):
        raise ValueError(f"unknown or unfitted cost parameter(s) {unknown or list(tie.values())};"
                         f" known: {sorted(known)}")
    start = np.log([max(getattr(target.cost, p), 1e-6) for p in free])

    def fitted(logs) -> Target:
        values = dict(zip(free, np.exp(logs).tolist()))
        return with_cost(target, **values, **{k: values[v] for k, v in tie.items()})

    def loss(logs) -> float:
        return sum(math.log(r.predicted / r.published) ** 2
                   for r in compare(fitted(logs), figures))

    best = fitted(_nelder_mead(loss, start, iterations))
    return best.cost, compare(best, figures)


def _nelder_mead(f, x0: np.ndarray, iterations: int, step: float = 0.5) -> np.ndarray:
    """Minimise f from x0 (the textbook simplex method: reflect, expand, contract, shrink)."""
    n = len(x0)
    simplex = [x0] + [x0 + step * np.eye(n)[i] for i in range(n)]
    values = [f(x) for x in simplex]
    for _ in range(iterations):
        order = np.argsort(values)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        if values[-1] - values[0] < 1e-12:
            break
        centroid = np.mean(simplex[:-1], axis=0)
        reflected = centroid + (centroid - simplex[-1])
        fr = f(reflected)
        if fr < values[0]:
            expanded = centroid + 2 * (centroid - simplex[-1])
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        else:
            contracted = centroid + 0.5 * (simplex[-1] - centroid)
            fc = f(contracted)
            if fc < values[-1]:
                simplex[-1], values[-1] = contracted, fc
            else:
                simplex = [simplex[0] + 0.5 * (x - simplex[0]) for x in simplex]
                values = [values[0]] + [f(x) for x in simplex[1:]]
    return simplex[int(np.argmin(values))]
