"""The Python API's build step: `compile(model) -> CompiledModel`.

    model = npucc.api.compile("resnet18.onnx")          # load -> passes -> simulator plan
    (probs,) = model.run(image)                          # list of arrays, one per graph output
    model.run(image, dump_dir="layers/")                 # plus every layer's output as .npy
    print(model.times, model.peak_activation_bytes)
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import attrs
import numpy as np

from .backends.simulator import Plan, compile_plan
from .errors import BlobError, NpuccError
from .ir.graph import Graph
from .ir.verify import verify as verify_graph


@attrs.frozen
class CompileTimes:
    """Seconds spent in each stage of `compile` (for a Graph given directly, load is the copy)."""

    load: float
    passes: float
    plan: float

    @property
    def total(self) -> float:
        return self.load + self.passes + self.plan

    def __str__(self) -> str:
        return (f"load {self.load * 1e3:.1f} ms, passes {self.passes * 1e3:.1f} ms, "
                f"plan {self.plan * 1e3:.1f} ms, total {self.total * 1e3:.1f} ms")


class CompiledModel:
    """A graph after the pass pipeline, with its simulator plan."""

    def __init__(self, graph: Graph, plan: Plan, times: CompileTimes, pass_report=None, *,
                 input_layout: str = "source", preprocess=None, pixel_order=None):
        self.graph = graph
        self.plan = plan
        self.times = times
        self.pass_report = pass_report
        self.input_layout = input_layout  # the build settings, recorded in a blob's IO section
        self.preprocess = dict(preprocess or {})
        # {input name: "bgr"}: image files are fed to that input with their channels reversed
        # (RKNN's quant_img_RGB2BGR, hb_mapper's input_type_rt bgr); recorded in a blob
        self.pixel_order = dict(pixel_order or {})

    @property
    def peak_activation_bytes(self) -> int:
        return self.plan.peak_activation_bytes

    @property
    def output_names(self) -> list[str]:
        return [v.name for v in self.graph.outputs]

    def run(self, inputs, dump_dir: str | os.PathLike | None = None, *, as_dict: bool = False
            ) -> list[np.ndarray] | dict[str, np.ndarray]:
        """Run the plan: inputs by position, by name, or one array for a one-input model.
        Returns one array per graph output (a dict by output name with `as_dict`). With
        `dump_dir`, every layer's output is saved there too."""
        outs = self.plan.run(inputs, dump_dir=dump_dir)
        if as_dict:
            return dict(zip(self.output_names, outs))
        return outs

    def nonfinite_note(self, inputs, outputs) -> str | None:
        """When `outputs` (of a run on `inputs`) hold inf or NaN: which output, and the first
        value in the model that did (re-running it observed), with the reason where it is a
        float16 node's overflow. None when every output is finite."""
        bad = [name for name, out in zip(self.output_names, outputs)
               if np.asarray(out).dtype.kind == "f" and not np.isfinite(out).all()]
        if not bad:
            return None
        note = f"output {bad[0]!r} holds inf or NaN"
        found = self.plan.first_nonfinite(inputs)
        if found is None:
            return note
        name, node = found
        if node is None:
            return f"{note}: so does the input {name!r}"
        note += f"; the first such value is %{name}, computed by {node.describe()}"
        from .numerics import profile_of

        if profile_of(node) == "fp16":
            note += (" in float16, whose largest finite magnitude is 65504: build in float32 or "
                     "quantize (ranges come from calibration)")
        return note

    def __repr__(self) -> str:
        return f"<CompiledModel {self.graph.name}: {len(self.graph)} nodes; {self.times}>"


def compile(model, pipeline=None, *, input_layout: str = "source",  # noqa: A001
            preprocess=None, target=None, bits: int = 8, verify: bool = True) -> CompiledModel:
    """Build `model` (a Graph, or anything `npucc.frontends.load` reads) for the simulator.

    pipeline: None for the default pass pipeline, a pipeline string such as
    "fold-constants,cse,dce", or a list of passes / pass names; "" or [] runs no pass.
    input_layout: "source" (keep the model's), "NCHW" or "NHWC" for 4-D image inputs.
    preprocess: {input name: npucc.passes.Preprocess(mean=, std=, reorder=)} folded into the
    model, so it takes raw pixels (`Preprocess.from_rknn(...)` reads RKNN-style settings).
    target, bits: the NPU target (a shipped name, a file or a Target) whose conv + max-pool
    fusion rules the pipeline follows at `bits` (8; 16 for int16 / fp16 builds); default rk1808.
    input_layout, preprocess and target shape the default pipeline; they cannot be combined with
    an explicit `pipeline`.
    verify: check the graph with the IR verifier before and after the passes.
    A Graph given directly is copied first: the caller's graph is left as it was.
    """
    from . import passes  # imported here: the passes import the IR, not the other way round

    start = time.perf_counter()
    if isinstance(model, Graph):
        graph = model.copy()
    else:
        from .frontends import load

        graph = load(model)
    loaded = time.perf_counter()
    if verify:
        verify_graph(graph)
    if pipeline is None:
        pipeline = passes.build_pipeline(input_layout=input_layout, preprocess=preprocess,
                                         target=target, bits=bits)
    elif input_layout != "source" or preprocess or target is not None:
        raise NpuccError("input_layout=, preprocess= and target= configure the default pipeline; "
                         "with an explicit pipeline, add set-input-layout / InsertPreprocess / "
                         "FuseConvPool(target=...) to it")
    report = None
    if not _empty(pipeline):
        report = passes.PassManager(pipeline).run(graph)
    if verify:
        verify_graph(graph)
    passed = time.perf_counter()
    plan = compile_plan(graph)
    done = time.perf_counter()
    return CompiledModel(graph, plan, CompileTimes(loaded - start, passed - loaded, done - passed),
                         report, input_layout=input_layout, preprocess=preprocess)


class BlobModel(CompiledModel):
    """A model loaded from an .npub blob: `blob` holds its header fields and descriptors; `run`
    gives exactly what the simulator plan the blob was built from gives."""

    def __init__(self, blob, plan: Plan, times: CompileTimes):
        pixels = {e["name"]: e["preprocess"]["pixels"] for e in blob.io["inputs"]
                  if (e.get("preprocess") or {}).get("pixels")}
        super().__init__(blob.graph, plan, times, pixel_order=pixels)
        self.blob = blob

    @property
    def target(self) -> str:
        return self.blob.target

    def __repr__(self) -> str:
        return f"<BlobModel {self.blob.path}: {self.graph.name} for {self.target}; {self.times}>"


def load_blob(path, target=None, *, limits=None) -> BlobModel:
    """Load and check an .npub blob (see `npucc.backends.npu.blob_reader`) and compile its
    simulator plan. `target`, when given, must be the blob's target. Raises BlobError naming the
    file for a truncated, corrupted or tampered file, another format version or target."""
    from .backends.npu.blob_reader import read_blob

    start = time.perf_counter()
    blob = read_blob(path, target, limits=limits)
    loaded = time.perf_counter()
    try:
        plan = compile_plan(blob.graph)
    except NpuccError as e:  # a program the reader's checks pass but the simulator refuses
        raise BlobError(f"{path}: the program does not compile: {e}") from None
    return BlobModel(blob, plan, CompileTimes(loaded - start, 0.0, time.perf_counter() - loaded))


def write_blob(path, model, target, *, supported=None, cost=None, cost_report=None):
    """Write `model` (a CompiledModel, a Graph, or a QuantizedModel: its quantized graph) for
    `target` as an .npub blob at `path`:
    partitioned by `supported` (node -> reasons it cannot run on the NPU; see
    `npucc.backends.npu.partition`; by default `npucc.legalize(graph, target)`) with `cost` (by
    default the target's cost model), its IO descriptors recording the model's input layout and
    preprocessing. Returns the path."""
    from .backends.npu.blob import io_table
    from .backends.npu.blob import write_blob as write

    graph = model if isinstance(model, Graph) else model.graph
    layouts, preprocess, pixels = {}, {}, {}
    if isinstance(model, CompiledModel):
        if model.input_layout != "source":
            layouts = {v.name: model.input_layout for v in graph.inputs if v.type.rank == 4}
        preprocess, pixels = model.preprocess, model.pixel_order
    return write(path, graph, target, supported=supported, cost=cost,
                 io=io_table(graph, layouts, preprocess, pixels), cost_report=cost_report)


def perf(model, target, dtype: str | None = None, *, profiling: bool = False):
    """Estimate per-layer time and memory of `model` (a Graph or a model file) on `target` (a
    shipped target name or a target file): the default pipeline with the target's pool fusion
    rules, legalization, then the cost model. Returns a `npucc.backends.npu.CostReport`.
    dtype: the precision a float model is built in (int8, int16, fp16; default the target's)."""
    from . import passes
    from .backends.npu import estimate
    from .targets import get_target
    from .targets.legalize import normalize_precision

    target = get_target(target)
    precision = normalize_precision(dtype, target)
    if isinstance(model, Graph):
        graph = model.copy()
    else:
        from .frontends import load

        graph = load(model)
    bits = 8 if precision == "int8" else 16
    passes.PassManager(passes.build_pipeline(target=target, bits=bits)).run(graph)
    return estimate(graph, target, precision, profiling=profiling)


def fusion_bits(dtype: str | None, target) -> int:
    """The bits at which a build in `dtype` (a quantized dtype or "fp16"; None or "f32": the
    target's default precision) reads the target's conv + max-pool fusion rules."""
    if dtype in (None, "f32", "float32"):
        return 8 if target.default_precision == "int8" else 16
    from .quantization import scheme_for

    return scheme_for(dtype).bits


def _empty(pipeline) -> bool:
    if isinstance(pipeline, str):
        return not pipeline.strip()
    return isinstance(pipeline, Sequence) and len(pipeline) == 0


def quantize(model, ranges=None, dtype: str = "u8", *, per_channel: bool = False,
             layer_dtypes=None, numerics: str = "affine") -> Graph:
    """A quantized graph of `model` (a Graph, or anything `npucc.frontends.load` reads) after the
    default pass pipeline: `npucc.passes.quantize.quantize_graph` with the range table `ranges`
    ({value name: (min, max)}, from calibration; not needed for dtype "fp16")."""
    from .passes import default_pipeline, run_passes
    from .passes.quantize import quantize_graph

    graph = model.copy() if isinstance(model, Graph) else _load(model)
    run_passes(graph, default_pipeline())
    return quantize_graph(graph, ranges, dtype, per_channel, layer_dtypes, numerics=numerics)


def export_qdq(graph: Graph, path: str | os.PathLike):
    """Write `graph` (quantized or float) as a QDQ ONNX model that onnxruntime runs; returns the
    path. See `npucc.exporters.onnx_qdq`."""
    from .exporters.onnx_qdq import export_qdq as write

    return write(graph, path)


def _load(model) -> Graph:
    from .frontends import load

    return load(model)
