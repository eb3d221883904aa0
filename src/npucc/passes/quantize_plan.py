"""Which nodes of a float graph the quantize passes quantize, in which precision, and the params
of every quantized value: read from the ops' quantization rules (`npucc.ir.quant_rule`) and the
numerics profiles' limits, never from a table of ops here."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np

from ..errors import IRError, PassError
from ..ir.graph import Graph, Node
from ..ir.types import DType, QuantParams, TensorType
from ..numerics.profiles import unsupported
from .quantize_groups import activation_inputs, group_params, weight_input
from .quantize_params import PRECISIONS, Precision


@attrs.define
class QuantizePlan:
    precision: dict[int, Precision]  # id(node) -> the precision it computes in
    reasons: dict[int, str]  # id(node) -> why it stays float (for nodes asked to quantize)
    params: dict[tuple[int, str], QuantParams]  # (id(value), precision): quantized instances
    # instances whose params cover only the range of the Relu / Clip that alone reads them
    clamped: dict[tuple[int, str], tuple[float, float]] = attrs.field(factory=dict)


MASK_SENTINEL = 1e30  # constants holding values this large (float32's lowest, -inf) stay float


def _explicit(node: Node, layer_dtypes: Mapping[str, str], used: set) -> str | None:
    """The dtype layer_dtypes gives the node through any of its source layers (a fused node has
    several: a config may name each) or output values; they must agree."""
    keys = [k for k in (*sorted(node.provenance), *(v.name for v in node.outputs))
            if k in layer_dtypes]
    used.update(keys)
    dtypes = {layer_dtypes[k] for k in keys}
    if len(dtypes) > 1:
        raise PassError(f"quantize: layer_dtypes gives {node.describe()} different dtypes through "
                        f"the layers fused into it: "
                        f"{', '.join(f'{k}: {layer_dtypes[k]}' for k in keys)}")
    return layer_dtypes[keys[0]] if keys else None


def _why_float(node: Node, prec: Precision, inherited: Precision | None, numerics: str
               ) -> str | None:
    rule = node.opdef.quant
    if rule is None:
        return f"{node.op} has no quantization rule"
    if rule.output == "convert":
        return f"{node.op} converts types itself"
    if rule.output == "same" and not rule.shared and inherited is not prec:
        return "it keeps its input's params, and its input is not quantized in this precision"
    values = [node.inputs[i] for i in activation_inputs(node)] + list(node.outputs)
    if any(not v.dtype.is_float or v.type.quant is not None for v in values):
        return "its activations are not float"
    for v in node.inputs:
        if v is not None and v.is_constant and v.dtype.is_float and v.const.size and \
                not np.all(np.abs(v.const) < MASK_SENTINEL):
            return (f"its constant %{v.name} holds inf, NaN or values past "
                    f"{MASK_SENTINEL:.0e} (a mask's sentinel?), which no integer range holds")
    if rule.weights is not None and node.op != "MatMul" and weight_input(node) is None:
        return "its weights are not constant"
    bias = node.inputs[rule.bias] if rule.bias is not None and len(node.inputs) > rule.bias \
        else None
    if bias is not None and not bias.is_constant:
        return "its bias is not constant"
    if bias is not None and bias.type.size != node.outputs[0].shape[
            -1 if node.op in ("Gemm", "MatMul") else 1]:
        return "its bias is not one value per output channel"
    return unsupported(numerics if prec.scheme == "affine" else prec.scheme, node)


def _takes_float16(node: Node) -> bool:
    """Whether the op's type inference accepts the node's float inputs as float16 (the core ops'
    convention; a few, such as the detection ops, compute in float32 only)."""
    types = [None if v is None else TensorType(v.shape, DType.f16) if v.dtype.is_float else v.type
             for v in node.inputs]
    try:
        node.opdef.infer_types(types, node.attrs)
    except IRError:
        return False
    return True


def node_precisions(graph: Graph, default: Precision, layer_dtypes: Mapping[str, str],
                    numerics: str) -> tuple[dict[int, Precision], dict[int, str]]:
    """Each node's precision: layer_dtypes (by provenance or output name), else `default`;
    integer precisions only where the op's rule and its profile's kernel allow, and nodes that
    keep their input's params follow their input's producer."""
    bad = {k: v for k, v in layer_dtypes.items() if v not in PRECISIONS}
    if bad:
        raise PassError(f"quantize: unknown dtype(s) {bad}; known: {', '.join(PRECISIONS)}")
    used: set[str] = set()
    precision: dict[int, Precision] = {}
    reasons: dict[int, str] = {}
    for node in graph.nodes:
        name = _explicit(node, layer_dtypes, used)
        prec = PRECISIONS[name] if name else default
        if prec.integer:
            x = node.inputs[0] if node.inputs else None
            inherited = None if x is None or x.is_constant else \
                precision.get(id(x.producer)) if x.producer else prec  # a graph input: any
            why = _why_float(node, prec, prec if name else inherited, numerics)
            if why:
                reasons[id(node)] = why
                prec = PRECISIONS["f32"]
        elif prec.name == "fp16" and not _takes_float16(node):
            reasons[id(node)] = f"{node.op} takes no float16 tensors"
            prec = PRECISIONS["f32"]
        precision[id(node)] = prec
    unknown = sorted(set(layer_dtypes) - used)
    if unknown:
        raise PassError(f"quantize: layer_dtypes names no node of graph {graph.name}: {unknown} "
                        "(keys are source layer names, as in loc(...), or value names)")
    return precision, reasons


def plan_quantization(graph: Graph, ranges: Mapping, default: Precision,
                      layer_dtypes: Mapping[str, str], numerics: str = "affine"
                      ) -> QuantizePlan:
    """Precisions of the nodes, then the params of every quantized value (`quantize_groups`)."""
    precision, reasons = node_precisions(graph, default, layer_dtypes, numerics)
    clamped: dict = {}
    params = group_params(graph, precision, ranges, clamped)
    return QuantizePlan(precision, reasons, params, clamped)
