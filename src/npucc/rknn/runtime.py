"""The RKNN runtime side on npucc's simulator: input conversion for `inference`, and the cost
model's figures in `eval_perf` / `eval_memory` shapes."""

from __future__ import annotations

import os

import numpy as np

from ..ir.graph import Graph
from ..passes.input_layout import source_layout
from .log import RknnError


def input_layouts(model) -> list[str | None]:
    """'nhwc' / 'nchw' for each 4-D input of a built model (a CompiledModel or a BlobModel:
    the layout it was built with), None for other inputs."""
    blob = getattr(model, "blob", None)
    out = []
    for i, v in enumerate(model.graph.inputs):
        if v.type.rank != 4:
            out.append(None)
            continue
        layout = blob.io["inputs"][i].get("layout") if blob is not None else \
            (model.input_layout if model.input_layout != "source" else None)
        out.append((layout or source_layout(v)).lower())
    return out


def prepare_inputs(model, inputs, data_format, batch: int, warn) -> list[np.ndarray]:
    """RKNN's `inference` inputs as the graph takes them: one array per input, data_format
    'nhwc' (the default for 4-D inputs) or 'nchw' per input, a missing batch axis added,
    integer pixels made float32. With rknn_batch_size `batch`, each input carries `batch` samples
    (the caller runs them one by one)."""
    graph, layouts = model.graph, input_layouts(model)
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise RknnError(f"inference: inputs must be a list of arrays, one per model input; got "
                        f"{type(inputs).__name__}")
    inputs = list(inputs)
    for i, a in enumerate(inputs):
        if isinstance(a, (str, bytes, os.PathLike)):
            raise RknnError(f"inference: input {i} is a path ({a!r}); inference takes arrays "
                            "(read the image first, e.g. cv2.imread, as RKNN does)")
    if len(inputs) < len(graph.inputs):
        raise RknnError(f"the model has {len(graph.inputs)} input(s) but {len(inputs)} were given")
    if len(inputs) > len(graph.inputs):
        warn(f"inference: {len(inputs)} inputs given to a model with {len(graph.inputs)}; the "
             "extra ones are ignored")
    formats = data_format if isinstance(data_format, (list, tuple)) else \
        [data_format] * len(graph.inputs)
    if data_format is None and any(v.type.rank == 4 for v in graph.inputs):
        warn("inference: data_format is None, using 'nhwc' for 4-D inputs (RKNN's default)")
    out = []
    for i, v in enumerate(graph.inputs):
        a = np.asarray(inputs[i])
        fmt = (formats[i] or "nhwc").lower() if v.type.rank == 4 else None
        if fmt not in (None, "nhwc", "nchw"):
            raise RknnError(f"data_format {formats[i]!r} for input {i}: use 'nhwc' or 'nchw'")
        want = tuple(v.shape)
        if fmt is not None and a.ndim == 3 and batch > 1 and a.shape[0] % batch == 0:
            # RKNN v1's batch example concatenates HWC images on axis 0: (batch*H, W, C)
            a = a.reshape(batch, a.shape[0] // batch, *a.shape[1:])
        elif fmt is not None and a.ndim == 3:
            a = a[None]
        elif fmt is None and a.ndim == len(want) - 1:
            a = a[None]
        layout = layouts[i]
        if fmt is not None and fmt != layout:
            a = a.transpose((0, 2, 3, 1) if layout == "nhwc" else (0, 3, 1, 2))
        expect = (batch * want[0],) + want[1:] if want else want  # (a scalar: no batch)
        if a.shape != expect:
            shown = a.shape if fmt is None or fmt == layout else \
                tuple(np.asarray(inputs[i]).shape)
            like = expect if fmt is None or fmt == layout else \
                tuple(expect[j] for j in ((0, 3, 1, 2) if layout == "nhwc" else (0, 2, 3, 1)))
            raise RknnError(f"The input(ndarray) shape {shown} is wrong, expect "
                            f"'{fmt or 'tensor'}' like {like}!")
        out.append(np.asarray(a, v.dtype.numpy if v.dtype.is_float else a.dtype,
                              order="C"))
    return out


def run_batched(model, arrays: list[np.ndarray], batch: int) -> list[np.ndarray]:
    """Run `model` on `batch` samples stacked on axis 0, one sample at a time."""
    if batch == 1:
        return [np.asarray(o, np.float32) for o in model.run(arrays)]
    per = [a.shape[0] // batch for a in arrays]
    runs = [model.run([a[k * n:(k + 1) * n] for a, n in zip(arrays, per)]) for k in range(batch)]
    return [np.concatenate([r[j] for r in runs]).astype(np.float32) for j in range(len(runs[0]))]


def perf_result(report, generation: int, per_layer: bool):
    """eval_perf's return value: RKNN v1's {'total_time': us[, 'layers': ...]}, or v2's text."""
    if generation == 1:
        result = {"total_time": round(report.total_time_us, 3)}
        if per_layer:
            result["layers"] = {i: {"name": x.name, "operation": x.op, "time": round(x.time_us, 3)}
                                for i, x in enumerate(report.layers)}
        return result
    return perf_text(report)


def perf_text(report) -> str:
    lines = [f"Performance estimated by npucc's cost model for {report.target} "
             f"({report.precision}, {report.clock_mhz:g} MHz): not measured on a board",
             f"{'ID':>4}  {'OpType':<18}{'DataType':<10}{'Target':<8}{'Time(us)':>10}  FullName"]
    for i, x in enumerate(report.layers):
        lines.append(f"{i:>4}  {x.op:<18}{x.precision:<10}{x.device:<8}{x.time_us:>10.1f}  "
                     f"{x.name}")
    lines.append(f"Total Time(us): {report.total_time_us:.1f}")
    lines.append(f"FPS: {report.fps:.2f}")
    return "\n".join(lines)


def memory_result(report, graph: Graph, generation: int) -> dict:
    """eval_memory's dict from the cost model's memory plan: v1's system/npu/total
    allocations, or v2's weight/internal/other/total memory (bytes)."""
    m = report.memory
    io = sum(v.type.nbytes for v in (*graph.inputs, *graph.outputs))
    if generation == 1:
        npu = m.weights_bytes + m.peak_activation_bytes
        return {"system_memory": {"maximum_allocation": io, "total_allocation": io},
                "npu_memory": {"maximum_allocation": npu, "total_allocation": npu},
                "total_memory": {"maximum_allocation": npu + io, "total_allocation": npu + io}}
    return {"weight_memory": m.weights_bytes, "internal_memory": m.peak_activation_bytes,
            "other_memory": io, "total_memory": m.weights_bytes + m.peak_activation_bytes + io}


def memory_text(result: dict) -> str:
    def fmt(n):
        return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 1024:.2f} KiB"

    lines = ["Memory estimated by npucc's cost model (not measured on a board)"]
    for key, val in result.items():
        if isinstance(val, dict):
            val = val["maximum_allocation"]
        lines.append(f"  {key:<18}{fmt(val)}")
    return "\n".join(lines)
