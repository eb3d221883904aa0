"""The calibration runner: run the float graph over a dataset once, streaming, and collect the
statistics of every float activation (graph inputs and node outputs, by value name).

    stats = calibrate(graph, "dataset.txt")                     # in this process
    stats = calibrate(graph, "dataset.txt", executor=client)    # shards on a Dask cluster

`graph` is the graph later given to `quantize_graph` (after the default pipeline, with the
input preprocessing folded in: see dataset.py). The simulator plan runs it; `Plan.run(observe=)`
hands each value to its statistics as soon as it is computed, so memory does not grow with the
number of samples. A value that the plan computes as a view of another (Reshape, Flatten) gets a
copy of that value's statistics instead of a second pass over the same numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from ..backends.simulator import compile_plan
from ..ir.graph import Graph
from .calibration_stats import CalibrationStats
from .dataset import Dataset
from .stats import CalibrationError, ValueStats, weight_stats

# Elements of each value per run that enter its histogram (a systematic sample beyond that):
# binning costs ~2-3 ns per element (compiled loop / numpy) against ~0.1 ns for min/max, and 64k
# values per run and tensor resolve a 2048-bin histogram finely (docs/ARCHITECTURE.md).
HISTOGRAM_SAMPLE = 1 << 16


class Collector:
    """The observe callback of a plan: feeds each float activation's ValueStats."""

    def __init__(self, graph: Graph, plan, histogram_sample: int | None = None):
        self.graph = graph
        self.sample = histogram_sample
        self.stats: dict[str, ValueStats] = {}
        self.views: dict[str, str] = {}  # view output -> the value it is a view of
        view_nodes = {id(p.node) for p in plan.nodes if p.kernel == "view"}
        for v in graph.inputs:
            if v.dtype.is_float:
                self.stats[v.name] = ValueStats(tuple(v.shape))
        for n in graph.nodes:
            for v in n.outputs:
                if not v.dtype.is_float or v.type.quant is not None:
                    continue
                src = n.inputs[0]
                if id(n) in view_nodes and src.name in self.stats:
                    self.views[v.name] = self.views.get(src.name, src.name)
                self.stats[v.name] = ValueStats(tuple(v.shape))
        self._observed = {k: s for k, s in self.stats.items() if k not in self.views}

    def __call__(self, name: str, array: np.ndarray) -> None:
        s = self._observed.get(name)
        if s is not None:
            s.observe(array, self.sample)

    def result(self) -> CalibrationStats:
        values = {}
        for name, s in self.stats.items():
            src = self.views.get(name)
            if src is None:
                values[name] = s
            else:
                o = self.stats[src]
                values[name] = ValueStats(s.shape, o.count, o.runs, o.nonfinite, o.zeros, o.min,
                                          o.max,
                                          o.sum_run_min, o.sum_run_max, o.hist.copy())
        return CalibrationStats(self.graph.name, values, histogram_sample=self.sample)


@contextlib.contextmanager
def progress_bar(enabled: bool, total: int | None, what: str) -> Iterator:
    """A rich progress bar (or nothing); yields advance(n)."""
    if not enabled:
        yield lambda n=1: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n=1: bar.advance(task, n)


def run_shard(graph: Graph, samples, plan=None, advance=lambda n=1: None,
              histogram_sample: int | None = None) -> CalibrationStats:
    """Statistics of `graph` over an iterable of samples (lists of arrays in input order)."""
    plan = plan if plan is not None else compile_plan(graph)
    collector = Collector(graph, plan, histogram_sample)
    for sample in samples:
        plan.run(sample, observe=collector)
        advance()
    return collector.result()


def _length(dataset: Dataset) -> int | None:
    try:
        return len(dataset)
    except TypeError:
        return None


def calibrate(graph: Graph, dataset, *, executor=None, progress: bool = True,
              rgb2bgr: bool = False, histogram_sample: int | None = HISTOGRAM_SAMPLE,
              shard_size: int | None = None) -> CalibrationStats:
    """Statistics of every float activation of `graph` over `dataset` (a Dataset, a
    dataset.txt, a directory, or an iterable of samples; `rgb2bgr` is RKNN's
    quant_img_RGB2BGR for images when a Dataset is made here), plus the weights' ranges.

    histogram_sample: the histograms count a fixed systematic sample of at most this many
    elements of each value per run (None: all of them); min/max and the per-run min/max always
    see every element. executor: None (this process), or a dask.distributed Client or scheduler
    address: the samples are split into shards of `shard_size` run on the cluster's workers and
    the statistics are merged, bit-identical to one process (distributed.py)."""
    ds = Dataset.of(dataset, rgb2bgr)
    seen = 0  # samples run (a graph may have no float value to observe)
    if executor is not None:
        from .distributed import calibrate_distributed

        stats = calibrate_distributed(graph, ds, executor, progress=progress,
                                      shard_size=shard_size, histogram_sample=histogram_sample)
        seen = stats.runs or len(ds)
    else:
        def count(n=1):
            nonlocal seen
            seen += n
            advance(n)

        with progress_bar(progress, _length(ds), f"calibrating {graph.name}") as advance:
            stats = run_shard(graph, ds.samples(graph), advance=count,
                              histogram_sample=histogram_sample)
    if not seen:
        raise CalibrationError("the dataset has no sample")
    stats.weights = weight_stats(graph)
    return stats
