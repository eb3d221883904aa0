"""`npucc build CONFIG.yaml`: import, preprocess, calibrate and quantize, write the .npub blob,
the quantization config and the HTML build report, from one YAML file (see build_config)."""

from __future__ import annotations

import argparse
import json
import sys
import time

from npucc.errors import NpuccError

from .build_config import BuildConfig, BuildConfigError, load_build_config
from .common import subcommand, write_text_atomic


def _configure_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="build config (.yaml): model_parameters, input_parameters, "
                                  "calibration_parameters, compiler_parameters")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")


class _Stages:
    """Times the build's stages and says what is happening on stderr."""

    def __init__(self, quiet: bool):
        self.quiet, self.times, self._t = quiet, {}, None

    def start(self, name: str, text: str) -> None:
        self._stop()
        self._name, self._t = name, time.perf_counter()
        if not self.quiet:
            print(f"npucc build: {text}", file=sys.stderr, flush=True)

    def _stop(self) -> None:
        if self._t is not None:
            self.times[self._name] = round(time.perf_counter() - self._t, 3)
            self._t = None

    def done(self) -> dict:
        self._stop()
        return self.times


def _preprocess(cfg: BuildConfig, graph) -> dict | None:
    from npucc.passes import Preprocess

    if cfg.preprocess is None:
        return None
    inputs = [v.name for v in graph.inputs]
    out = {}
    for name, p in cfg.preprocess.items():
        name = name or inputs[0]
        if name not in inputs:
            raise BuildConfigError(f"{cfg.path}: input_parameters.input_name: the model has no "
                                   f"input {name!r}; its inputs: {inputs}")
        try:
            out[name] = Preprocess(p["mean"], p["std"], p["reorder"])
        except (ValueError, TypeError) as e:
            where = f" ({name})" if len(cfg.preprocess) > 1 else ""
            raise BuildConfigError(f"{cfg.path}: input_parameters{where}: {e}") from e
    return out


def _layer_dtypes(cfg: BuildConfig, graph):
    """The hybrid file's layer dtypes, then the inline layer_dtypes (which win)."""
    from npucc.quantization.hybrid import (
        HybridConfigError,
        check_layer_names,
        read_hybrid_config,
    )

    if cfg.hybrid_config is None and not cfg.layer_dtypes:
        return None
    out = read_hybrid_config(cfg.hybrid_config, graph) if cfg.hybrid_config else {}
    try:
        check_layer_names(cfg.layer_dtypes, graph,
                          f"{cfg.path}: calibration_parameters.layer_dtypes")
    except HybridConfigError as e:
        raise BuildConfigError(str(e)) from None
    return {**out, **cfg.layer_dtypes}


def _analyse(cfg: BuildConfig, q, dataset, notes: list, quiet: bool):
    if q is None or cfg.analysis_samples <= 0:
        return None
    try:
        from npucc.quantization.analysis import accuracy_analysis
    except ImportError:
        notes.append("Quantization error not analysed: npucc.quantization.analysis is not "
                     "available in this installation.")
        return None
    samples = [s for _, s in zip(range(cfg.analysis_samples), dataset.samples(q.float_graph))]
    return accuracy_analysis(q.float_graph, q.graph, samples, progress=not quiet)


def _quant_config(cfg: BuildConfig, q) -> str:
    import yaml

    ranges = {k: [float(v[0]), float(v[1])] if isinstance(v, (tuple, list)) else str(v)
              for k, v in sorted((q.ranges or {}).items())}
    doc = {"model": str(cfg.model[0] if isinstance(cfg.model, tuple) else cfg.model),
           "dtype": q.options["dtype"], "algorithm": q.options["algorithm"],
           "per_channel": q.options["per_channel"],
           "layer_dtypes": dict(q.options.get("layer_dtypes") or {}), "ranges": ranges}
    return yaml.safe_dump(doc, sort_keys=False)


def run_build(cfg: BuildConfig, quiet: bool = False) -> dict:
    """Do the build `cfg` describes; returns the summary (what --json prints)."""
    from npucc.api import CompiledModel, fusion_bits, write_blob
    from npucc.api import compile as compile_model
    from npucc.backends.npu.cost import estimate
    from npucc.backends.simulator import compile_plan
    from npucc.frontends import load
    from npucc.quantization import Dataset, quantize_model
    from npucc.report import layer_rows, write_build_report
    from npucc.targets import get_target
    from npucc.targets.nodeinfo import imported_precision

    stages = _Stages(quiet)
    notes = list(cfg.warnings)
    for warning in cfg.warnings:  # hb_mapper keys npucc ignores
        print(f"npucc build: warning: {cfg.path}: {warning}", file=sys.stderr)
    target = get_target(cfg.target)
    cfg.working_dir.mkdir(parents=True, exist_ok=True)
    model_files = cfg.model
    if isinstance(cfg.model, tuple):  # (cfg, weights), (prototxt, caffemodel)
        model_files = f"{cfg.model[0]} (random weights)" if cfg.model[1] == "random" else \
            " + ".join(map(str, cfg.model))
    stages.start("load", f"loading {cfg.model_key} {model_files}")
    graph = load(cfg.model, framework=cfg.framework, input_shapes=cfg.input_shapes,
                 inputs=cfg.inputs, outputs=cfg.outputs)
    imported = len(graph)
    stages.start("compile", f"compiling ({len(graph)} nodes; input layout {cfg.input_layout})")
    built = compile_model(graph, input_layout=cfg.input_layout, preprocess=_preprocess(cfg, graph),
                          target=target, bits=fusion_bits(cfg.dtype, target))
    if cfg.rgb2bgr:  # image files go in as BGR, in calibration and in `npucc run` of the blob
        built.pixel_order = {v.name: "bgr" for v in built.graph.inputs if v.type.rank == 4}
    q, dataset = None, None
    own = imported_precision(built.graph)  # a quantized model keeps its own parameters
    if own == "fp16" and cfg.dtype not in ("f32", "float32", "fp16", "float16"):
        own = None  # a half-precision export: quantized from its float32 form
    if own is not None and cfg.dtype not in ("f32", "float32"):
        notes.append(f"the model is already quantized ({own}): its own parameters are kept; "
                     f"quantized_dtype {cfg.dtype} and the calibration dataset are not used")
        if not quiet:
            print(f"npucc build: {notes[-1]}", file=sys.stderr)
    elif cfg.dtype not in ("f32", "float32"):
        if isinstance(cfg.dataset, tuple):  # one folder per input
            dataset = Dataset.of_folders(cfg.dataset, cfg.dataset_inputs, rgb2bgr=cfg.rgb2bgr,
                                         raw=cfg.raw)
        elif cfg.dataset is not None:
            dataset = Dataset(cfg.dataset, rgb2bgr=cfg.rgb2bgr, raw=cfg.raw)
        if dataset is not None and cfg.max_samples is not None:
            dataset = dataset.subset(0, cfg.max_samples)
        n = len(dataset) if dataset is not None else 0
        stages.start("quantize", f"calibrating on {n} samples and quantizing to {cfg.dtype} "
                                 f"({cfg.algorithm})")
        layer_dtypes = _layer_dtypes(cfg, built.graph)
        q = quantize_model(built.graph, dataset, dtype=cfg.dtype, algorithm=cfg.algorithm,
                           per_channel=cfg.per_channel, layer_dtypes=layer_dtypes,
                           progress=not quiet, **cfg.selector_options)
        built = CompiledModel(q.graph, compile_plan(q.graph), built.times, built.pass_report,
                              input_layout=built.input_layout, preprocess=built.preprocess,
                              pixel_order=built.pixel_order)
    stages.start("write", f"writing the blob for {target.name}")
    out = cfg.working_dir / cfg.prefix
    blob = write_blob(out.with_suffix(".npub"), built, target)
    cost = estimate(built.graph, target)
    files = {"blob": str(blob)}
    if q is not None:
        qpath = out.with_name(out.name + ".quant.yaml")
        write_text_atomic(str(qpath), _quant_config(cfg, q))
        files["quant_config"] = str(qpath)
    analysis = None
    if cfg.report and q is not None and dataset is not None:
        stages.start("analyse", "analysing per-layer quantization error")
        analysis = _analyse(cfg, q, dataset, notes, quiet)
    times = stages.done()
    on_cpu = [x for x in cost.layers if x.device == "CPU"]
    summary = {"model": str(cfg.model[0] if isinstance(cfg.model, tuple) else cfg.model),
               "config": str(cfg.path), "target": target.name,
               "dtype": q.options["dtype"] if q else own or "f32",
               "algorithm": q.options["algorithm"] if q else None,
               "calibration_samples": len(dataset) if dataset is not None else 0,
               "nodes_imported": imported, "nodes_built": len(built.graph),
               "blob_bytes": blob.stat().st_size,
               "estimated_time_us": round(cost.total_time_us, 3),
               "estimated_fps": round(cost.fps, 2),
               "layers_npu": len(cost.layers) - len(on_cpu), "layers_cpu": len(on_cpu),
               "weights_bytes": cost.memory.weights_bytes,
               "peak_activation_bytes": cost.memory.peak_activation_bytes,
               "stage_seconds": times, "build_seconds": round(sum(times.values()), 3),
               "warnings": list(cfg.warnings), "files": files}
    if cfg.report:
        rpath = out.with_name(out.name + ".report.html")
        shown = {k: v for k, v in summary.items()
                 if k not in ("files", "stage_seconds", "warnings")}
        shown["stage_seconds"] = ", ".join(f"{k} {v:.2f}" for k, v in times.items())
        write_build_report(rpath, f"npucc build report: {cfg.prefix}", shown,
                           layer_rows(cost, analysis), notes)
        files["report"] = str(rpath)
    return summary


@subcommand("build", "build a model from a YAML config: quantize, write blob, report",
            _configure_build)
def cmd_build(args: argparse.Namespace) -> int:
    """Build the model a YAML config describes (hb_mapper-style sections: model_parameters,
    input_parameters, calibration_parameters, compiler_parameters): import, fold the input
    preprocessing into the model, calibrate on the dataset and quantize, write the .npub blob,
    the quantization config (.quant.yaml) and the HTML build report into working_dir. Every key
    is described in the docstring of npucc.cli.build_config; examples/build.yaml is a sample."""
    cfg = load_build_config(args.config)
    try:
        summary = run_build(cfg, quiet=args.quiet or args.json)
    except BuildConfigError:
        raise
    except NpuccError as e:
        raise NpuccError(f"{args.config}: build failed: {e}") from e
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    print(f"built {summary['model']} for {summary['target']} ({summary['dtype']}) in "
          f"{summary['build_seconds']:.2f} s")
    print(f"  blob         {summary['files']['blob']} ({summary['blob_bytes']} bytes)")
    for key in ("quant_config", "report"):
        if key in summary["files"]:
            print(f"  {key:<12} {summary['files'][key]}")
    print(f"  estimated    {summary['estimated_time_us']:.1f} us ({summary['estimated_fps']} "
          f"FPS); {summary['layers_npu']} layers on the NPU, {summary['layers_cpu']} on the CPU")
    return 0
