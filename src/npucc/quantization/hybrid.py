"""Hybrid quantization: some layers in another precision than the rest.

    write_hybrid_config("model.hybrid.yaml", q, analysis)   # step 1: every quantizable layer
    layer_dtypes = read_hybrid_config("model.hybrid.yaml")  # step 2: the dtypes the user edited
    q2 = quantize_model(graph, stats=q.stats, layer_dtypes=layer_dtypes)
    layer_dtypes = propose_layer_dtypes(q, inputs, threshold=0.99)   # or let npucc choose

Unlike RKNN's cfg (post-fusion tensor names), the step-1 file keys each node by a layer name of
the source model (one of the layers fused into it: Node.provenance, see layer_keys), and lists
the fused node's output value, every source layer it holds, its op, dtype and scheme, the
observed range (calibration min/max), the range the selector chose for it (`selected`), the
range its params represent (`clipped`: values beyond saturate; a node that keeps its input's
params, as MaxPool, clips to its input's range), the scale and zero point (or fl) and, given a
single-mode analysis, its own error. The user edits `dtype` (u8, i8, dfp8, dfp16, fp16, f32
or an RKNN spelling). RKNN's `customized_quantize_layers` (Toolkit v1) and `custom_quantize_layers`
(Toolkit2) `{layer: dtype}` keys are read too, and win over `layers`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter

import numpy as np

from ..atomic import write_atomic
from ..errors import NpuccError
from ..ir.graph import Graph, Node
from ..ir.types import DType, QuantScheme
from ..numerics import run_graph
from ..passes.quantize_params import PRECISIONS
from .analysis import AccuracyReport, accuracy_analysis, analysed_rows
from .analysis_metrics import metrics
from .quantize_model import QuantizedModel, quantize_model
from .schemes import ALIASES

log = logging.getLogger("npucc.quantization")

RKNN_KEYS = ("customized_quantize_layers", "custom_quantize_layers")
_KEYS = {"model", "default_dtype", "algorithm", "layers", *RKNN_KEYS}  # what step 2 reads
# spellings beyond schemes.ALIASES: RKNN's float32 / int16 and npucc's own names
_MORE = {"float32": "f32", "float": "f32", "fp32": "f32", "int16": "dfp16",
         "asymmetric_affine-i8": "i8"}


class HybridConfigError(NpuccError):
    """A hybrid quantization file is unreadable or names an unknown dtype or layer."""


def dtype_name(text, where: str) -> str:
    """An npucc precision name for a dtype spelling (npucc or RKNN)."""
    from ..yaml_mapping import brief

    s = text.strip().lower() if isinstance(text, str) else None
    name = ALIASES.get(s, _MORE.get(s, s))
    if name not in PRECISIONS:
        raise HybridConfigError(f"{where}: unknown dtype {brief(text)}; one of "
                                f"{', '.join(PRECISIONS)} or RKNN's "
                                f"{', '.join(sorted({*ALIASES, *_MORE}))}")
    return name


def precision_of(t) -> str:
    """The precision name of a value's type in a quantized graph."""
    if t.quant is not None:
        if t.quant.scheme is QuantScheme.dfp:
            return "dfp16" if t.dtype.bits == 16 else "dfp8"
        return "u8" if t.dtype is DType.u8 else "i8"
    return "fp16" if t.dtype is DType.f16 else "f32"


def layer_keys(nodes: list[Node], graph: Graph) -> dict[int, str]:
    """id(node) -> the name a hybrid file gives it: one of its source layers that no other node
    of `graph` holds (those naming the node's op first, e.g. the Conv of a Conv+Relu, then by
    name), else the name its first output has in the float graph (a key must select this node
    alone, and layer_dtypes reads keys against the float graph: a quantized graph's own value
    names, such as 'y_i8', select nothing there)."""
    counts = Counter(p for n in graph.nodes for p in n.provenance)
    keys = {}
    for n in nodes:
        own = [p for p in n.provenance if counts[p] == 1]
        op = n.op.lower()
        out = n.outputs[0]
        keys[id(n)] = min(own, key=lambda p: (op not in p.lower(), p)) if own \
            else out.meta.get("float_value", out.name)
    return keys


def _quantizable(q: QuantizedModel) -> list[Node]:
    seen, nodes = set(), []
    for r in analysed_rows(q.float_graph, q.graph):
        n = r.node
        if n.meta.get("conversion") or n.opdef.quant is None or id(n) in seen:
            continue
        seen.add(id(n))
        nodes.append(n)
    return nodes


def _floats(*xs) -> list[float]:
    return [float(np.float64(x)) for x in xs]


def _entry(q: QuantizedModel, node: Node, errors: dict) -> dict:
    v = node.outputs[0]
    ref = v.meta.get("float_value", v.name)
    e = {"dtype": precision_of(v.type), "node": ref, "op": node.op,
         "source_layers": sorted(node.provenance)}
    quant = v.type.quant
    e["scheme"] = ("float16" if v.dtype is DType.f16 else "float32") if quant is None else \
        "asymmetric_affine" if quant.scheme is QuantScheme.affine else "dynamic_fixed_point"
    if q.stats is not None and ref in q.stats.values:
        s = q.stats.values[ref]
        if math.isfinite(s.min) and math.isfinite(s.max):
            e["observed"] = _floats(s.min, s.max)
    if q.ranges is not None and ref in q.ranges:
        lo, hi = q.ranges[ref]
        e["selected"] = _floats(lo, hi)
    if quant is not None:
        scale, zp, _ = quant.as_affine()
        qmin, qmax = quant.int_range(v.dtype)
        e["clipped"] = _floats((qmin - zp[0]) * scale[0], (qmax - zp[0]) * scale[0])
        if quant.scheme is QuantScheme.dfp:
            e["fl"] = int(quant.frac_length)
        else:
            e["scale"], e["zero_point"] = float(scale[0]), int(zp[0])
    asked = set(q.options.get("layer_dtypes") or {})
    why = node.meta.get("quantize")
    if why and not asked & {*node.provenance, *(o.name for o in node.outputs)}:
        e["automatic"] = e["dtype"]  # the quantizer chose it, nobody asked: not an edit
        e["why"] = why
    row = errors.get(ref)
    if row is not None:
        e["single_cosine"] = round(row.cosine, 6)
        e["single_sqnr_db"] = round(row.sqnr_db, 2) if math.isfinite(row.sqnr_db) else None
    return e


def write_hybrid_config(path, q: QuantizedModel, analysis: AccuracyReport | None = None) -> None:
    """Step 1: write the YAML file described in the module docstring (atomically). `analysis`:
    a single-mode AccuracyReport of `q` for the per-layer errors."""
    import yaml

    nodes = _quantizable(q)
    keys = layer_keys(nodes, q.graph)
    errors = {r.name: r for r in analysis.layers} if analysis is not None else {}
    layers = {keys[id(n)]: _entry(q, n, errors) for n in nodes}
    doc = {"model": q.graph.name, "default_dtype": q.options.get("dtype"),
           "algorithm": q.options.get("algorithm"), "layers": layers,
           "custom_quantize_layers": {}}
    head = ("# npucc hybrid quantization, step 1. Edit the `dtype` of any layer (u8, i8, dfp8,\n"
            "# dfp16, fp16 or f32), or add `layer: dtype` lines under custom_quantize_layers\n"
            "# (RKNN style), then build with npucc.quantization.hybrid.read_hybrid_config\n"
            "# (`npucc quantize --hybrid FILE`). Keys are source-model layer names; `node` is\n"
            "# the value of the fused node the layer ended in.\n")
    if analysis is not None:
        head += f"# single_*: the layer's own error ({analysis.mode} analysis, " \
                f"{analysis.samples} samples).\n"
    text = head + yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=100)
    write_atomic(path, text.encode())


def read_hybrid_config(path, graph: Graph | None = None) -> dict[str, str]:
    """Step 2: {layer or value name: dtype} from a step-1 file (the layers whose dtype differs
    from its default_dtype and from the one the quantizer chose on its own, `automatic`: a
    MaxPool after a float layer stays float) and RKNN's customized_quantize_layers /
    custom_quantize_layers. With `graph` (the float graph), names that are neither a source
    layer nor a value of it are an error naming the file and the layer."""
    from ..yaml_mapping import read_yaml_mapping

    data = read_yaml_mapping(path, HybridConfigError, "hybrid quantization file", empty_ok=True)
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if "quantize_parameters" in data:
        log.warning("%s: quantize_parameters (RKNN's table of computed scales) is ignored: npucc "
                    "computes every layer's parameters from the statistics; set dtypes under "
                    "`layers` or custom_quantize_layers", path)
    if [k for k in unknown if k != "quantize_parameters"]:
        log.warning("%s: unknown key(s) ignored: %s (known: %s)", path,
                    ", ".join(k for k in unknown if k != "quantize_parameters"),
                    ", ".join(sorted(_KEYS)))
    out: dict[str, str] = {}
    default = data.get("default_dtype")
    default = dtype_name(default, f"{path}: default_dtype") if default is not None else None
    layers = data.get("layers") or {}
    if not isinstance(layers, dict):
        raise HybridConfigError(f"{path}: `layers` must map layer names to entries")
    for name, entry in layers.items():
        if not isinstance(entry, dict) or "dtype" not in entry:
            raise HybridConfigError(f"{path}: layer {name!r} needs a `dtype`")
        dt = dtype_name(entry["dtype"], f"{path}: layer {name!r}")
        if dt != default and dt != entry.get("automatic"):
            out[str(name)] = dt
    for key in RKNN_KEYS:
        custom = data.get(key) or {}
        if not isinstance(custom, dict):
            raise HybridConfigError(f"{path}: `{key}` must map layer names to dtypes")
        for name, dt in custom.items():
            out[_rknn_name(str(name))] = dtype_name(dt, f"{path}: {key} layer {name!r}")
    if graph is not None:
        check_layer_names(out, graph, str(path))
    return out


def check_layer_names(names, graph: Graph, where: str) -> None:
    """Every name is a source layer (a node's provenance) or a value of `graph`; else a
    HybridConfigError naming `where` and the layer."""
    known = {p for n in graph.nodes for p in n.provenance} | {v.name for v in graph.values()}
    for name in names:
        if name not in known:
            raise HybridConfigError(f"{where}: layer {name!r} is neither a source layer nor a "
                                    f"value of graph {graph.name}")


def _rknn_name(name: str) -> str:
    """RKNN v1 writes layers as `@name_id:out0`; keep `name_id`."""
    return name[1:].split(":")[0] if name.startswith("@") else name


# ---- auto-proposal ----

def _output_cosine(graph: Graph, samples: list, floats: list) -> float:
    """The lowest, over the graph's outputs, cosine of its outputs against `floats` (all
    samples together)."""
    sums = None
    for sample, ref in zip(samples, floats):
        got = run_graph(graph, sample)
        part = [(float(f.ravel() @ d.ravel()), float(f.ravel() @ f.ravel()),
                 float(d.ravel() @ d.ravel())) for f, d in
                ((np.asarray(f, np.float64), np.asarray(d, np.float64))
                 for f, d in zip(ref, got))]
        sums = part if sums is None else [tuple(a + b for a, b in zip(s, p))
                                          for s, p in zip(sums, part)]
    return min(metrics(dot, f2, d2, 0.0)[0] for dot, f2, d2 in sums)


def propose_layer_dtypes(q: QuantizedModel, inputs, *, threshold: float = 0.99,
                         high: str = "dfp16", progress: bool = False) -> dict[str, str]:
    """Raise the worst layers (by their own, single-mode, cosine on `inputs`) to `high` until
    the output cosine against the float graph reaches `threshold`; the fewest such layers in
    that order (a doubling then a bisection search). Returns q's layer_dtypes plus the raised
    layers ({} added when q already reaches it); logs a warning when raising every layer is
    not enough."""
    from .dataset import Dataset

    high = dtype_name(high, "propose_layer_dtypes: high")
    samples = list(Dataset.of([inputs] if isinstance(inputs, np.ndarray) else inputs)
                   .samples(q.float_graph))
    floats = [run_graph(q.float_graph, s) for s in samples]
    base = dict(q.options.get("layer_dtypes") or {})
    base_cos = _output_cosine(q.graph, samples, floats)
    if base_cos >= threshold:
        return base
    best = [base_cos if math.isfinite(base_cos) else -math.inf, base]  # the best choice tried
    single = accuracy_analysis(q.float_graph, q.graph, samples, mode="single",
                               progress=progress)
    errors = {r.name: r.cosine for r in single.layers}
    nodes = [n for n in _quantizable(q) if precision_of(n.outputs[0].type) not in (high, "f32")]
    keys = layer_keys(_quantizable(q), q.graph)
    order = sorted(nodes, key=lambda n: (errors.get(n.outputs[0].meta.get(
        "float_value", n.outputs[0].name), 1.0), keys[id(n)]))
    options = {k: v for k, v in q.options.items() if k != "layer_dtypes"}
    options["algorithm"] = options.get("algorithm") or "normal"

    def with_top(k: int) -> tuple[dict[str, str], float]:
        dts = {**base, **{keys[id(n)]: high for n in order[:k]}}
        g = quantize_model(q.float_graph, stats=q.stats, layer_dtypes=dts, progress=False,
                           **options).graph
        cos = _output_cosine(g, samples, floats)
        if math.isfinite(cos) and cos > best[0]:
            best[:] = [cos, dts]
        return dts, cos

    lo, k, found = 0, 1, None
    while found is None:
        k = min(k, len(order))
        dts, cos = with_top(k)
        log.info("propose_layer_dtypes: %d layer(s) at %s: output cosine %.6f", k, high, cos)
        if cos >= threshold:
            found = (k, dts)
        elif k == len(order):  # raising more made it no better (fp16 overflow: NaN, say)
            log.warning("propose_layer_dtypes: every layer at %s gives an output cosine %.6f, "
                        "below %.4f; keeping the best choice tried: %d layer(s) raised, output "
                        "cosine %.6f", high, cos, threshold, len(best[1]) - len(base), best[0])
            return best[1]
        else:
            lo, k = k, k * 2
    hi, best = found
    while hi - lo > 1:  # the fewest layers that still reach the threshold
        mid = (lo + hi) // 2
        dts, cos = with_top(mid)
        if cos >= threshold:
            hi, best = mid, dts
        else:
            lo = mid
    return best
