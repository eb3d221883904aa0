"""Calibration and accuracy analysis sharded over a Dask cluster.

A graph travels as IR text (`format_graph`, payloads elided) plus its constants, and its plain
(str, number, bool) Node.meta / Value.meta entries as JSON, in one .npz (read back with
allow_pickle=False): a model is never pickled. It goes with each shard; a worker thread parses
it once per graph (cached by digest, per thread: a plan's buffers serve one run at a time, so
the threads of a threaded worker each have their own). A shard is a slice of a file dataset
(the worker reads the files; the cluster needs the same filesystem) or a block of in-memory
samples. `map_shards` runs a task over the shards, a bounded number in flight, and yields
(shard index, result) as they finish. Calibration merges shard statistics as they arrive
(`CalibrationStats.to_state`; the merge is exact and order-independent); the analysis folds
per-sample terms in sample order (analysis.py). Either way the result is bit-identical to a
run in one process.

Needs the `dask` extra (`pip install npucc[dask]`).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import threading
from collections.abc import Callable, Iterator

import numpy as np

from ..backends.simulator import compile_plan
from ..ir.graph import Graph
from ..ir.text import format_graph, parse
from ..npyio import npz_from_bytes
from .calibration_stats import CalibrationStats
from .dataset import Dataset
from .stats import CalibrationError

# per worker thread (a plan's buffers and an analysis runner's sums serve one run at a time):
# (kind, digests) -> what was built
_LOCAL = threading.local()
_PLAIN = (str, bool, int, float, type(None))


def _plain(meta: dict) -> dict:
    return {k: v for k, v in meta.items() if isinstance(v, _PLAIN)}


def pack_graph(graph: Graph) -> tuple[str, bytes]:
    """(IR text with elided payloads, .npz bytes of the constants, their names and the plain
    meta entries: {"nodes": {index: meta}, "values": {name: meta}} as JSON)."""
    buf = io.BytesIO()
    consts = {f"c{i}": c.const for i, c in enumerate(graph.constants)}
    meta = {"nodes": {i: m for i, n in enumerate(graph.nodes) if (m := _plain(n.meta))},
            "values": {v.name: m for v in graph.values() if (m := _plain(v.meta))}}
    np.savez(buf, names=np.array([c.name for c in graph.constants], dtype=str),
             meta=np.array(json.dumps(meta)), **consts)
    return format_graph(graph, max_inline=0), buf.getvalue()


def digest(packed: tuple[str, bytes]) -> str:
    text, data = packed
    return hashlib.sha256(text.encode() + data).hexdigest()


def cached(key: tuple, build: Callable[[], object]) -> object:
    """build(), kept per thread under `key` (its last few): threads of a worker never share
    what was built."""
    cache = _LOCAL.__dict__.setdefault("cache", {})
    hit = cache.get(key)
    if hit is None:
        while len(cache) >= 4:
            cache.pop(next(iter(cache)))
        hit = cache[key] = build()
    return hit


def parse_packed(packed: tuple[str, bytes]) -> Graph:
    """The graph of `pack_graph`, with its meta entries back."""
    text, data = packed
    arrays = npz_from_bytes(data)
    consts = {str(n): arrays[f"c{i}"] for i, n in enumerate(arrays["names"])}
    meta = json.loads(str(arrays["meta"])) if "meta" in arrays else {}
    graph = parse(text, consts, source="<shipped graph>")
    nodes = list(graph.nodes)
    for i, m in meta.get("nodes", {}).items():
        nodes[int(i)].meta.update(m)
    for name, m in meta.get("values", {}).items():
        graph.value(name).meta.update(m)
    return graph


def unpack_graph(packed: tuple[str, bytes]) -> tuple[Graph, object]:
    """The graph and its compiled plan, cached per thread by the packed digest."""
    def build():
        graph = parse_packed(packed)
        return graph, compile_plan(graph)

    return cached(("plan", digest(packed)), build)


def calibrate_shard(packed, samples=None, dataset: Dataset | None = None,
                    histogram_sample: int | None = None) -> tuple[dict, dict]:
    """Worker side: statistics of one shard, in plain form."""
    from .calibrate import run_shard

    graph, plan = unpack_graph(packed)
    it = dataset.samples(graph) if dataset is not None else samples
    return run_shard(graph, it, plan, histogram_sample=histogram_sample).to_state()


def _client(executor):
    from dask.distributed import Client

    if isinstance(executor, str):
        return Client(executor), True
    if not isinstance(executor, Client):
        raise CalibrationError(f"executor must be a dask.distributed Client or a scheduler "
                               f"address, got {type(executor).__name__}")
    return executor, False


def map_shards(executor, task: Callable, graph: Graph, dataset: Dataset, *, what: str,
               progress: bool = True, shard_size: int | None = None, first: dict | None = None,
               **kwargs) -> Iterator[tuple[int, object]]:
    """Run `task(samples=block | dataset=slice, **kwargs)` on the cluster for each shard of
    `dataset` (samples for `graph`; the first shard also gets the keywords `first`); yields
    (shard index, result) as shards finish."""
    from dask.distributed import as_completed

    from .calibrate import progress_bar

    client, own = _client(executor)
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        if dataset.entries is not None:
            n = len(dataset.entries)
            size = shard_size or max(1, -(-n // (4 * workers)))
            jobs = ((min(size, n - i), {"dataset": dataset.subset(i, i + size)})
                    for i in range(0, n, size))
        else:  # in-memory samples: converted here, shipped in blocks
            n, size = None, shard_size or 8
            it = dataset.samples(graph)
            blocks = iter(lambda: list(itertools.islice(it, size)), [])
            jobs = ((len(b), {"samples": b}) for b in blocks)
        jobs = enumerate(jobs)
        with progress_bar(progress, n, f"{what} on {workers} workers") as advance:
            running, started = as_completed(), {}

            def submit_next() -> None:
                job = next(jobs, None)
                if job is not None:
                    index, (count, shard) = job
                    if index == 0 and first:
                        shard = {**shard, **first}
                    # the graphs go with each shard, not scattered: a broadcast scatter
                    # (worker-to-worker copies) hung once in the suite under load
                    f = client.submit(task, pure=False, **kwargs, **shard)
                    started[f.key] = index, count
                    running.add(f)

            for _ in range(2 * workers):  # a bounded number of shards in flight
                submit_next()
            for f in running:
                result = f.result()
                index, count = started.pop(f.key)
                f.release()
                yield index, result
                advance(count)
                submit_next()
    finally:
        if own:
            client.close()


def calibrate_distributed(graph: Graph, dataset: Dataset, executor, *, progress: bool = True,
                          shard_size: int | None = None,
                          histogram_sample: int | None = None) -> CalibrationStats:
    result = None
    for _, (meta, arrays) in map_shards(executor, calibrate_shard, graph, dataset,
                                        what=f"calibrating {graph.name}", progress=progress,
                                        shard_size=shard_size, packed=pack_graph(graph),
                                        histogram_sample=histogram_sample):
        part = CalibrationStats.from_state(meta, arrays, "a calibration shard")
        result = part if result is None else result.merged(part)
    if result is None:
        raise CalibrationError("the dataset has no sample")
    return result
