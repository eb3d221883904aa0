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
import threading
from collections.abc import Iterator

import numpy as np

from ..backends.simulator import compile_plan
from ..backends.simulator.kernels.parallel import one_blas_thread_each, threads
from ..ir.graph import Graph
from .calibration_stats import CalibrationStats, merge_all
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
    """Statistics of `graph` over an iterable of samples (lists of arrays in input order), with
    BLAS on one thread: its float sums then do not depend on the thread count, so statistics
    are the same bits from one thread, `run_threads` or Dask workers (with two BLAS threads,
    some of ResNet-18's GEMM outputs differ in the last bit)."""
    plan = plan if plan is not None else compile_plan(graph)
    collector = Collector(graph, plan, histogram_sample)
    with one_blas_thread_each():
        for sample in samples:
            plan.run(sample, observe=collector)
            advance()
    return collector.result()


_END = object()


def run_threads(graph: Graph, samples, workers: int, advance=lambda n=1: None,
                histogram_sample: int | None = None) -> CalibrationStats:
    """`run_shard` on `workers` threads, each with its own plan and BLAS on one thread, taking
    samples from one iterator as they finish: the statistics merge exactly (histogram counts,
    min/max, exact sums), so they are the same bits as one thread's, whichever thread ran which
    sample. The first error raised in a thread is raised here (the others stop)."""
    lock, it = threading.Lock(), iter(samples)
    errors: list[BaseException] = []
    results: list[CalibrationStats | None] = [None] * workers

    def next_sample():
        with lock:  # (samples are decoded here, one at a time)
            return _END if errors else next(it, _END)

    def counted(n=1):
        with lock:
            advance(n)

    def work(k: int) -> None:
        try:
            results[k] = run_shard(graph, iter(next_sample, _END), advance=counted,
                                   histogram_sample=histogram_sample)
        except BaseException as e:  # noqa: BLE001 - handed to the calling thread
            with lock:
                errors.append(e)

    pool = [threading.Thread(target=work, args=(k,), name=f"npucc-calibrate-{k}", daemon=True)
            for k in range(workers)]
    for t in pool:
        t.start()
    try:
        for t in pool:
            t.join()
    except BaseException:
        with lock:
            errors.append(KeyboardInterrupt())  # the others stop at their next sample
        raise
    if errors:
        raise errors[0]
    ran = [r for r in results if r is not None and r.runs]  # (a thread may have got none)
    return merge_all(ran) if ran else results[0]


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
    see every element. executor: None (this process: samples run on `threads()` threads at once,
    NPUCC_NUM_THREADS or 2, see `run_threads`), or a dask.distributed Client or scheduler
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

        workers = threads() if (_length(ds) or 0) > 1 else 1
        with progress_bar(progress, _length(ds), f"calibrating {graph.name}") as advance:
            if workers > 1:
                stats = run_threads(graph, ds.samples(graph), min(workers, len(ds)),
                                    advance=count, histogram_sample=histogram_sample)
            else:
                stats = run_shard(graph, ds.samples(graph), advance=count,
                                  histogram_sample=histogram_sample)
    if not seen:
        raise CalibrationError("the dataset has no sample")
    stats.weights = weight_stats(graph)
    return stats
