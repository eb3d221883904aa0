"""Which nodes of a float graph the quantize passes quantize, in which precision, and the params
of every quantized value: read from the ops' quantization rules (`npucc.ir.quant_rule`) and the
numerics profiles' limits, never from a table of ops here."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np

from ..errors import PassError
from ..ir.graph import Graph, Node, Value
from ..ir.types import QuantParams
from ..numerics.profiles import unsupported
from .quantize_params import PRECISIONS, Precision, activation_params

Instance = tuple[int, str]  # (id(value), precision name): a value as one precision stores it
CLAMPS = {"relu": lambda p: (0.0, np.inf), "clip": lambda p: (p[0], p[1])}


@attrs.define
class QuantizePlan:
    precision: dict[int, Precision]  # id(node) -> the precision it computes in
    reasons: dict[int, str]  # id(node) -> why it stays float (for nodes asked to quantize)
    params: dict[Instance, QuantParams]  # quantized instances of activation values


def weight_input(node: Node) -> int | None:
    """The rule's weights input when it is a constant (a MatMul's B may be an activation)."""
    rule = node.opdef.quant
    i = rule.weights
    return i if i is not None and i < len(node.inputs) and node.inputs[i].is_constant else None


def activation_inputs(node: Node) -> list[int]:
    rule = node.opdef.quant
    idx = list(rule.activation_inputs(len(node.inputs)))
    if rule.weights is not None and weight_input(node) is None:
        idx.append(rule.weights)  # a computed weight operand is quantized like an activation
    return [i for i in idx if node.inputs[i] is not None]


def _explicit(node: Node, layer_dtypes: Mapping[str, str], used: set) -> str | None:
    for key in (*sorted(node.provenance), *(v.name for v in node.outputs)):
        if key in layer_dtypes:
            used.add(key)
            return layer_dtypes[key]
    return None


def _why_float(node: Node, prec: Precision, inherited: Precision | None, numerics: str
               ) -> str | None:
    rule = node.opdef.quant
    if rule is None:
        return f"{node.op} has no quantization rule"
    if rule.output in ("fixed", "convert"):
        return f"{node.op} fixes or converts its own types"
    if rule.output == "same" and not rule.shared and inherited is not prec:
        return "it keeps its input's params, and its input is not quantized in this precision"
    values = [node.inputs[i] for i in activation_inputs(node)] + list(node.outputs)
    if any(not v.dtype.is_float or v.type.quant is not None for v in values):
        return "its activations are not float"
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
            inherited = precision.get(id(x.producer)) if x is not None and x.producer else None
            why = _why_float(node, prec, prec if name else inherited, numerics)
            if why:
                reasons[id(node)] = why
                prec = PRECISIONS["f32"]
        precision[id(node)] = prec
    unknown = sorted(set(layer_dtypes) - used)
    if unknown:
        raise PassError(f"quantize: layer_dtypes names no node of graph {graph.name}: {unknown} "
                        "(keys are source layer names, as in loc(...), or value names)")
    return precision, reasons


class _Groups:
    """Union-find over instances that must share params."""

    def __init__(self):
        self.parent: dict[Instance, Instance] = {}

    def find(self, a: Instance) -> Instance:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: Instance, b: Instance) -> None:
        self.parent[self.find(a)] = self.find(b)


def _range_of(v: Value, ranges, clamp) -> tuple[float, float] | QuantParams | None:
    r = ranges.get(v.name)
    if isinstance(r, QuantParams) or (r is None and not v.is_constant):
        return r
    lo, hi = r if r is not None else (float(np.min(v.const)), float(np.max(v.const)))
    if clamp is not None:
        lo, hi = max(lo, clamp[0]), min(hi, clamp[1])
    return float(lo), float(hi)


def plan_quantization(graph: Graph, ranges: Mapping, default: Precision,
                      layer_dtypes: Mapping[str, str], numerics: str = "affine"
                      ) -> QuantizePlan:
    precision, reasons = node_precisions(graph, default, layer_dtypes, numerics)
    groups, clamps, values = _Groups(), {}, {}
    for node in graph.nodes:
        p = precision[id(node)]
        if not p.integer:
            continue
        rule = node.opdef.quant
        ins = [(id(node.inputs[i]), p.name) for i in activation_inputs(node)]
        outs = [(id(v), p.name) for v in node.outputs]
        for i in activation_inputs(node):
            values[(id(node.inputs[i]), p.name)] = node.inputs[i]
        for v in node.outputs:
            values[(id(v), p.name)] = v
            groups.find((id(v), p.name))
        if rule.output == "same":
            for o in outs:
                groups.union(o, ins[0])
            if rule.shared:
                for i in ins[1:]:
                    groups.union(i, ins[0])
        kind = node.attrs.get("activation", "none")
        if rule.activation and kind in CLAMPS:
            clamps[outs[0]] = CLAMPS[kind](node.attrs["activation_params"])
    members: dict[Instance, list[Instance]] = {}
    for inst in values:
        members.setdefault(groups.find(inst), []).append(inst)
    params: dict[Instance, QuantParams] = {}
    for root, insts in members.items():
        found = [_range_of(values[i], ranges, clamps.get(i)) for i in insts]
        explicit = {r for r in found if isinstance(r, QuantParams)}
        spans = [r for r in found if isinstance(r, tuple)]
        prec = PRECISIONS[root[1]]
        if len(explicit) > 1:
            raise PassError(f"quantize: values {[values[i].name for i in insts]} must share "
                            f"params, but the ranges give several: {sorted(map(str, explicit))}")
        if explicit:
            q = explicit.pop()
        elif spans:
            q = activation_params(min(s[0] for s in spans), max(s[1] for s in spans), prec)
        else:
            names = ", ".join(f"%{values[i].name}" for i in insts)
            raise PassError(f"quantize: no range for {names} (to quantize it as {prec.name}); "
                            "give (min, max) or QuantParams for it")
        for i in insts:
            params[i] = q
    return QuantizePlan(precision, reasons, params)
