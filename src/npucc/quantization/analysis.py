"""Accuracy analysis: how far each quantized value is from its float counterpart, per layer.

    from npucc.quantization.analysis import accuracy_analysis
    report = accuracy_analysis(q.float_graph, q.graph, samples, mode="entire")
    print(report.to_text()); report.write_html("report.html"); report.to_json()

Layers are aligned by value names: the quantize pass keeps every node's output name (and marks
each quantized value with the float value it stands for, `Value.meta["float_value"]`), and each
row names the source-model layers fused into the node (Node.provenance), so a row can be found in
the model the user exported. Modes (RKNN's): `entire` runs both graphs on the same inputs, so
errors accumulate through the quantized graph; `single` feeds every quantized node the float
values of its inputs (quantized with its input params), so a row shows that layer's own error.
Metrics: see analysis_metrics. Several samples add up (the sums run over all of them).

With `executor` (a dask.distributed Client or a scheduler address, as for `calibrate`) the
samples are split into shards run on the cluster's workers (distributed.map_shards); each
worker returns every sample's per-layer terms and they are folded in sample order, so the
report is bit-identical to one process. The first shard also returns the dumps.

With `output_dir`, the analysis also writes RKNN-Toolkit's files (`rknn_version` 2: Toolkit2's
error_analysis.txt, golden/, simulator/, map_name_to_file.txt; 1: Toolkit v1's fp32/,
entire_qnt/, individual_qnt/ and their *_error_analysis.txt), report.html, report.json, and
float/ and quantized/ .npy dumps of every layer for the first sample (analysis_output).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import attrs
import numpy as np

from ..ir.graph import Graph, Node, Value
from ..numerics import Interpreter
from ..passes.quantize_params import PRECISIONS, quantize_array
from .analysis_metrics import TERMS, AnalysisError, ErrorAccumulator, LayerError
from .calibrate import progress_bar
from .dataset import Dataset

MODES = ("entire", "single")


@attrs.frozen
class Row:
    """One analysed value of the quantized graph: `value` (quantized graph) stands for `ref`
    (float graph)."""

    node: Node
    value: Value
    ref: str
    name: str
    source_layers: tuple[str, ...]


@attrs.define
class AccuracyReport:
    """layers: one LayerError per analysed value in graph order; outputs: the rows of the
    graph's outputs; samples: how many inputs were analysed."""

    graph: str
    mode: str
    layers: list[LayerError]
    outputs: list[LayerError]
    samples: int

    def to_json(self) -> dict:
        return {"graph": self.graph, "mode": self.mode, "samples": self.samples,
                "layers": [r.to_json() for r in self.layers],
                "outputs": [r.to_json() for r in self.outputs]}

    def to_text(self, width: int = 160) -> str:
        from .analysis_output import format_table

        return format_table(self, width)

    def write_html(self, path) -> None:
        from ..atomic import write_atomic
        from .analysis_output import html_page

        write_atomic(path, html_page(self).encode())

    def worst(self, n: int = 5) -> list[LayerError]:
        """The n layers with the lowest cosine."""
        return sorted(self.layers, key=lambda r: (r.cosine, r.name))[:n]


def float_name(v: Value, float_graph: Graph) -> str:
    """The float value `v` stands for: its meta["float_value"] (set by the quantize pass), else
    (a graph read back from IR text) its name without the precision suffix the pass adds."""
    ref = v.meta.get("float_value")
    if ref is not None:
        return ref
    stem, _, suffix = v.name.rpartition("_")
    if not float_graph.has_value(v.name) and suffix in PRECISIONS and float_graph.has_value(stem):
        return stem
    if v.producer is not None and v.producer.meta.get("conversion") and v.producer.inputs:
        return float_name(v.producer.inputs[0], float_graph)
    return v.name


def analysed_rows(float_graph: Graph, quant_graph: Graph) -> list[Row]:
    """The values of `quant_graph` to compare: every output of its computing nodes and the
    conversions of its graph inputs, each aligned with the float value it stands for."""
    inputs = {id(v) for v in quant_graph.inputs}
    rows = []
    for node in quant_graph.nodes:
        conversion = node.meta.get("conversion", False)
        if conversion and not (node.inputs and id(node.inputs[0]) in inputs):
            continue
        for v in node.outputs:
            ref = float_name(v, float_graph)
            if not float_graph.has_value(ref):
                raise AnalysisError(
                    f"{node.describe()}: its output %{v.name} stands for %{ref}, which graph "
                    f"{float_graph.name} does not have (give the float graph the quantized "
                    "graph was made from: QuantizedModel.float_graph)")
            if not float_graph.value(ref).dtype.is_float:
                continue
            if conversion:
                rows.append(Row(node, v, ref, v.name, (ref,)))
            else:
                rows.append(Row(node, v, ref, ref, tuple(sorted(node.provenance))))
    return rows


def _samples(graph: Graph, inputs) -> Dataset:
    """`inputs` as a Dataset: one sample (an array, or a dict by input name) or many (anything
    `calibrate` takes: an iterable of samples, a dataset.txt, a directory)."""
    if isinstance(inputs, (np.ndarray, Mapping)):
        inputs = [inputs]
    return Dataset.of(inputs)


def _as_stored(ref: np.ndarray, v: Value) -> np.ndarray:
    """A float array as value `v` of the quantized graph stores it."""
    if v.type.quant is not None:
        return quantize_array(ref, v.type.quant, v.dtype)
    return np.asarray(ref).astype(v.dtype.numpy)


class _Runner:
    """Runs the modes on one sample at a time; `terms[mode]` holds the sample's TERMS per row
    (rows x TERMS), which `fold` adds to the accumulators."""

    def __init__(self, float_graph: Graph, quant_graph: Graph, modes):
        self.fg, self.qg, self.modes = float_graph, quant_graph, modes
        self.rows = analysed_rows(float_graph, quant_graph)
        if not self.rows:
            logging.getLogger("npucc.quantization").warning(
                "accuracy analysis: graph %s has no quantized value (every float value stayed "
                "float): the table is empty", quant_graph.name)
        self.by_node: dict[int, list[int]] = {}
        for i, r in enumerate(self.rows):
            self.by_node.setdefault(id(r.node), []).append(i)
        # interpreters made once: kernels (integer tables) are prepared on the first sample
        self.interp = Interpreter(quant_graph)
        self.entire = Interpreter(quant_graph, self._entire_hook)
        self.float = Interpreter(float_graph, self._float_hook)
        self.floats: dict[str, np.ndarray] = {}
        self.terms = {m: np.zeros((len(self.rows), len(TERMS))) for m in modes}
        self.reset(False)

    def reset(self, dump: bool) -> None:
        """Fresh accumulators; `dump`: keep every layer's arrays of the next sample."""
        self.acc = {m: [ErrorAccumulator(r.value.type) for r in self.rows] for m in self.modes}
        self.dump = dump
        self.dumps: dict[str, dict[str, np.ndarray]] = {m: {} for m in ("float", *self.modes)}

    def fold(self, terms: dict[str, np.ndarray]) -> None:
        for m in self.modes:
            for acc, t in zip(self.acc[m], terms[m]):
                acc.fold(t)

    def _float_hook(self, node: Node, outs) -> None:
        for v, a in zip(node.outputs, outs):
            self.floats[v.name] = a

    def _entire_hook(self, node: Node, outs) -> None:
        for i in self.by_node.get(id(node), ()):
            r = self.rows[i]
            self._account("entire", i, self.floats[r.ref], outs[node.outputs.index(r.value)])

    def run(self, sample: list[np.ndarray]) -> None:
        self.floats = floats = {v.name: a for v, a in zip(self.fg.inputs, sample)}
        self.float.run(sample)
        if self.dump:
            self.dumps["float"] = {r.name: np.asarray(floats[r.ref], np.float32)
                                   for r in self.rows}
        if "entire" in self.modes:
            self.entire.run(sample)
        if "single" in self.modes:
            self._single(floats)
        self.dump = False
        self.floats = {}

    def _account(self, mode: str, i: int, ref: np.ndarray, stored: np.ndarray) -> None:
        v = self.rows[i].value
        if "clamp_min" in v.meta:
            # its params cover only the range of the Relu / Clip that alone reads it (values
            # beyond saturate): compare what that reader sees, both sides clamped
            bounds = (v.meta["clamp_min"], v.meta["clamp_max"])
            ref = np.clip(ref, *bounds)
            with np.errstate(invalid="ignore", over="ignore"):
                stored = np.clip(stored, *quantize_array(np.array(bounds), v.type.quant,
                                                         v.dtype))
        self.terms[mode][i], deq = self.acc[mode][i].terms(ref, stored)
        if self.dump:
            self.dumps[mode][self.rows[i].name] = deq.astype(np.float32)

    def _single(self, floats) -> None:
        done: dict[int, list[np.ndarray]] = {}
        for i, r in enumerate(self.rows):
            node = r.node
            if id(node) not in done:
                done[id(node)] = self._run_alone(node, floats)
            self._account("single", i, floats[r.ref], done[id(node)][node.outputs.index(r.value)])

    def _run_alone(self, node: Node, floats) -> list[np.ndarray]:
        args = []
        for v in node.inputs:
            if v is None:
                args.append(None)
            elif v.is_constant:
                args.append(v.const)
            else:
                ref = float_name(v, self.fg)
                if ref not in floats:
                    raise AnalysisError(f"{node.describe()}: input %{v.name} stands for %{ref}, "
                                        f"which graph {self.fg.name} does not compute")
                args.append(_as_stored(floats[ref], v))
        try:
            return self.interp.run_node(node, args)
        except AnalysisError:
            raise
        except Exception as e:
            raise AnalysisError(f"{node.describe()} failed when run alone: "
                                f"{type(e).__name__}: {e}") from e

    def results(self, mode: str) -> list[LayerError]:
        return [a.result(r.name, r.source_layers, r.node.op)
                for r, a in zip(self.rows, self.acc[mode])]


def accuracy_analysis(float_graph: Graph, quant_graph: Graph, inputs, *, mode: str = "entire",
                      output_dir=None, progress: bool = True, executor=None,
                      shard_size: int | None = None, rknn_version: int = 2) -> AccuracyReport:
    """Per-layer errors of `quant_graph` against `float_graph` (the graph it was quantized
    from) on `inputs` (one sample, or what `calibrate` takes); see the module docstring.
    executor: None (this process), or a dask.distributed Client or scheduler address (shards of
    `shard_size` samples). rknn_version: which RKNN-Toolkit files `output_dir` gets (1 or 2)."""
    if mode not in MODES:
        raise AnalysisError(f"accuracy analysis mode must be one of {MODES}, got {mode!r}")
    if rknn_version not in (1, 2):
        raise AnalysisError(f"rknn_version must be 1 or 2, got {rknn_version!r}")
    modes = MODES if output_dir is not None else (mode,)
    runner = _Runner(float_graph, quant_graph, modes)
    runner.reset(dump=output_dir is not None)
    ds = _samples(float_graph, inputs)
    what = f"analysing {quant_graph.name} ({mode})"
    if executor is not None:
        n = _run_distributed(runner, ds, executor, what, progress, shard_size)
    else:
        n = 0
        try:
            total = len(ds)
        except TypeError:
            total = None
        with progress_bar(progress, total, what) as advance:
            for sample in ds.samples(float_graph):
                runner.run(sample)
                runner.fold(runner.terms)
                n += 1
                advance()
    if n == 0:
        raise AnalysisError("the accuracy analysis got no input sample")
    reports = {m: _report(float_graph, quant_graph, m, runner.results(m), n) for m in modes}
    if output_dir is not None:
        from .analysis_output import write_output_dir

        write_output_dir(output_dir, reports, runner.dumps, mode, rknn_version)
    return reports[mode]


def analyse_shard(float_packed, quant_packed, modes: tuple[str, ...], dump: bool = False,
                  samples=None, dataset: Dataset | None = None):
    """Worker side: ({mode: samples x rows x TERMS}, the dumps of the first sample or None)."""
    from .distributed import cached, digest, parse_packed

    runner = cached(("analysis", digest(float_packed), digest(quant_packed), modes),
                    lambda: _Runner(parse_packed(float_packed), parse_packed(quant_packed),
                                    modes))
    runner.reset(dump)
    terms: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    for sample in dataset.samples(runner.fg) if dataset is not None else samples:
        runner.run(sample)
        for m in modes:
            terms[m].append(runner.terms[m].copy())
    shape = (0, len(runner.rows), len(TERMS))
    return ({m: np.stack(t) if t else np.zeros(shape) for m, t in terms.items()},
            runner.dumps if dump else None)


def _run_distributed(runner: _Runner, ds: Dataset, executor, what: str, progress: bool,
                     shard_size: int | None) -> int:
    """Shards on the cluster; their per-sample terms folded in sample order. Returns the
    number of samples."""
    from .distributed import map_shards, pack_graph

    pending: dict[int, dict[str, np.ndarray]] = {}
    n = following = 0
    for index, (terms, dumps) in map_shards(
            executor, analyse_shard, runner.fg, ds, what=what, progress=progress,
            shard_size=shard_size, first={"dump": runner.dump},
            float_packed=pack_graph(runner.fg), quant_packed=pack_graph(runner.qg),
            modes=runner.modes):
        if dumps is not None:
            runner.dumps = dumps
        pending[index] = terms
        while following in pending:  # fold every finished shard that is next in order
            shard = pending.pop(following)
            for k in range(len(shard[runner.modes[0]])):
                runner.fold({m: shard[m][k] for m in runner.modes})
                n += 1
            following += 1
    return n


def _report(fg: Graph, qg: Graph, mode: str, layers: list[LayerError], n: int
            ) -> AccuracyReport:
    by_name = {r.name: r for r in layers}
    outputs = [by_name[v.name] for v in fg.outputs if v.name in by_name]
    return AccuracyReport(qg.name, mode, layers, outputs, n)
