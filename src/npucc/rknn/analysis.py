"""RKNN's accuracy_analysis and hybrid quantization steps on npucc's quantization analysis
(`npucc.quantization.analysis`, `npucc.quantization.hybrid`).

Hybrid step 1 writes, into the current directory like RKNN, `<name>.model` (the float graph
after the pipeline, as npucc IR text with every constant inline), `<name>.data` (JSON: the
quantization settings and the calibration statistics file beside it, `<name>.calib.npz`) and
`<name>.quantization.cfg` (the YAML the user edits). Step 2 reads the three back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..atomic import write_atomic
from ..ir.graph import Graph
from ..quantization.dataset import InputAdapter
from .log import RknnError


def sample(graph: Graph, inputs, info=None, rgb2bgr: bool = False) -> list[np.ndarray]:
    """RKNN's analysis `inputs` (image/npy paths or arrays, one per model input) as one sample
    in the graph's layout. RKNN v1 takes a dataset file instead (a .txt path): its first row."""
    if isinstance(inputs, (str, os.PathLike)) and Path(inputs).suffix.lower() == ".txt":
        if not Path(inputs).is_file():
            raise RknnError(f"accuracy_analysis: no such dataset file {inputs}")
        rows = first_samples(inputs, graph, 1, rgb2bgr)
        if not rows:
            raise RknnError(f"accuracy_analysis: the dataset file {inputs} has no sample")
        if info is not None:
            info(f"accuracy_analysis: analysing the first sample of {inputs}")
        return rows[0]
    if isinstance(inputs, (str, os.PathLike, np.ndarray)):
        inputs = [inputs]
    inputs = list(inputs)
    if len(inputs) != len(graph.inputs):
        raise RknnError(f"accuracy_analysis: {len(inputs)} input(s) for a model with "
                        f"{len(graph.inputs)}")
    out = []
    for v, x in zip(graph.inputs, inputs):
        adapter = InputAdapter(v)
        if isinstance(x, (str, os.PathLike)):
            if not Path(x).is_file():
                raise RknnError(f"accuracy_analysis: no such input file {x}")
            out.append(adapter.load(Path(x), rgb2bgr))  # quant_img_RGB2BGR: images only
        else:
            out.append(adapter.array(x, f"input {v.name}"))
    return out


RKNN_FILES = {1: "entire_qnt_error_analysis.txt, individual_qnt_error_analysis.txt, fp32/, "
                 "entire_qnt/, individual_qnt/",
              2: "error_analysis.txt, golden/, simulator/"}


def accuracy_analysis(rknn, inputs, output_dir) -> None:
    """One sample (RKNN: "inputs can only contain one row"), in process; the files of the
    toolkit generation the config picked (v1's or Toolkit2's), plus npucc's report."""
    from ..quantization.analysis import accuracy_analysis as analyse

    q = rknn._quantized
    generation = rknn._config().generation
    x = sample(q.float_graph, inputs, rknn.log.info, rknn._config().rgb2bgr)
    report = analyse(q.float_graph, q.graph, [x], output_dir=os.fspath(output_dir),
                     progress=rknn.log.verbose, rknn_version=generation)
    rknn._analysis = report
    print(report.to_text())
    rknn.log.info(f"accuracy_analysis: wrote {output_dir} ({RKNN_FILES[generation]}, "
                  "report.html)")


def _atomic_write(path: Path, text: str) -> None:
    write_atomic(path, text)


def hybrid_step1(rknn, dataset, proposal: bool, proposal_size: int) -> None:
    from ..backends.npu.blob import preprocess_json
    from ..ir.text import format_graph
    from ..quantization import quantize_model
    from ..quantization.hybrid import propose_layer_dtypes, write_hybrid_config

    if rknn._graph is None:
        raise RknnError("hybrid_quantization_step1 needs a load_* call first")
    if dataset is None:
        raise RknnError("hybrid_quantization_step1 needs a dataset")
    s = rknn._config()
    built = rknn._compile_float(do_quantization=True)
    float_graph = built.graph
    q = quantize_model(float_graph, dataset, dtype=s.dtype, algorithm=s.algorithm,
                       per_channel=s.per_channel, rgb2bgr=s.rgb2bgr, progress=rknn.log.verbose)
    name = hybrid_name(rknn._graph, rknn._source, rknn._framework, s.generation)
    model, data, cfg = (Path(f"{name}{ext}") for ext in (
        ".json" if s.generation == 1 else ".model", ".data", ".quantization.cfg"))
    _atomic_write(model, format_graph(float_graph, max_inline=None) + "\n")
    q.stats.save(f"{name}.calib.npz")
    _atomic_write(data, json.dumps({"format": "npucc-hybrid-1", "stats": f"{name}.calib.npz",
                                    "dtype": s.dtype, "algorithm": s.algorithm,
                                    "per_channel": s.per_channel,
                                    "input_layout": built.input_layout,
                                    "preprocess": {k: preprocess_json(v)
                                                   for k, v in built.preprocess.items()},
                                    "pixel_order": built.pixel_order}, indent=1) + "\n")
    write_hybrid_config(cfg, q)
    if proposal:
        samples = first_samples(dataset, float_graph, proposal_size, s.rgb2bgr)
        dtypes = propose_layer_dtypes(q, samples, high="fp16")
        q = quantize_model(float_graph, stats=q.stats, dtype=s.dtype, algorithm=s.algorithm,
                           per_channel=s.per_channel, layer_dtypes=dtypes, progress=False)
        write_hybrid_config(cfg, q)
    rknn._install(built, q, 1)  # like a build: export_rknn / inference work after step 1
    rknn.log.info(f"hybrid_quantization_step1: wrote {model}, {data} and {cfg}")


def _recorded_input_settings(data: dict, where) -> tuple[dict, dict]:
    """The preprocessing and pixel order step 1 folded in (the .data file records them: the IR
    text does not), for the blob's IO section; absent in older .data files."""
    from ..passes import Preprocess

    try:
        pre = {str(k): Preprocess(v["mean"], v["std"], v["reorder"])
               for k, v in (data.get("preprocess") or {}).items()}
        pixels = {str(k): v for k, v in (data.get("pixel_order") or {}).items() if v == "bgr"}
    except (TypeError, KeyError, ValueError, AttributeError) as e:
        raise RknnError(f"{where}: bad preprocess / pixel_order record: {e}") from None
    return pre, pixels


def hybrid_name(graph: Graph, source, framework: str | None, generation: int) -> str:
    """The stem of the hybrid files: RKNN v1 names them after an ONNX model's graph name with
    the characters that are not letters, digits or '_' dropped ('torch-jit-export' ->
    torchjitexport), Toolkit2 and other frameworks after the model file."""
    import re

    stem = Path(str(source)).stem
    if generation == 1 and framework == "onnx":
        return re.sub(r"\W", "", getattr(graph, "name", "") or "") or stem
    return stem


def first_samples(dataset, graph: Graph, n: int, rgb2bgr: bool = False) -> list:
    """The first `n` samples of a dataset (what calibration reads) as input lists."""
    from ..quantization import Dataset

    return [x for _, x in zip(range(n), Dataset.of(dataset, rgb2bgr).samples(graph))]


def hybrid_step2(rknn, model_input, data_input, cfg_path) -> None:
    from ..ir.text import parse
    from ..quantization import CalibrationStats, quantize_model
    from ..quantization.hybrid import read_hybrid_config

    try:
        graph = parse(Path(model_input).read_text(), source=os.fspath(model_input))
        data = json.loads(Path(data_input).read_text())
    except (OSError, ValueError) as e:
        raise RknnError(f"hybrid_quantization_step2: cannot read {model_input} / "
                        f"{data_input}: {e}") from e
    if not isinstance(data, dict) or data.get("format") != "npucc-hybrid-1":
        raise RknnError(f"{data_input} is not an npucc hybrid .data file (written by npucc's "
                        "hybrid_quantization_step1)")
    stats = CalibrationStats.load(Path(data_input).parent / data["stats"])
    layer_dtypes = read_hybrid_config(cfg_path, graph)
    q = quantize_model(graph, stats=stats, dtype=data["dtype"], algorithm=data["algorithm"],
                       per_channel=data["per_channel"], layer_dtypes=layer_dtypes,
                       progress=False)
    from ..api import compile as npucc_compile

    built = npucc_compile(graph, pipeline="")
    layout = data.get("input_layout", "source")  # the layout step 1 built the inputs in
    if layout in ("NCHW", "NHWC"):
        built.input_layout = layout
        for v in (*graph.inputs, *q.graph.inputs):  # (IR text does not keep it, and a
            if v.type.rank == 4:                      # folded Transpose leaves it to guess)
                v.meta["layout"] = layout
    built.preprocess, built.pixel_order = _recorded_input_settings(data, data_input)
    rknn._install(built, q, 1)
    rknn.log.info(f"hybrid_quantization_step2: built with {len(layer_dtypes)} custom layer "
                  "dtype(s)")
