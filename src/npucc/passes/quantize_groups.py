"""The params of the values the quantize passes quantize: groups of instances that must share
params, and each group's params from the range table (see `group_params`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ..errors import PassError
from ..ir.graph import Graph, Node, Value
from ..ir.types import QuantParams
from .quantize_params import PRECISIONS, Precision, activation_params, fixed_params

Instance = tuple[int, str]  # (id(value), precision name): a value as one precision stores it
CLAMPS = {"relu": lambda p: (0.0, np.inf), "clip": lambda p: (p[0], p[1])}
# standalone clamp ops (rule "same": they clamp integers in their input's params)
CLAMP_OPS = {"Relu": lambda a: (0.0, np.inf), "Clip": lambda a: (a["min"], a["max"])}


def weight_input(node: Node) -> int | None:
    """The rule's weights input when it is a constant (a MatMul's B may be an activation)."""
    rule = node.opdef.quant
    i = rule.weights
    return i if i is not None and i < len(node.inputs) and node.inputs[i].is_constant else None


def activation_inputs(node: Node) -> list[int]:
    rule = node.opdef.quant
    idx = [i for i in rule.activation_inputs(len(node.inputs))
           if not (i in rule.folded and node.inputs[i] is not None and node.inputs[i].is_constant)]
    if rule.weights is not None and weight_input(node) is None:
        idx.append(rule.weights)  # a computed weight operand is quantized like an activation
    return [i for i in idx if node.inputs[i] is not None]


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


def _clamp_only(graph: Graph, node: Node) -> bool:
    """The clamp `node` is the only reader of its input, which is not a graph output."""
    v = node.inputs[0]
    return len(v.uses) == 1 and not graph.is_output(v)


def group_params(graph: Graph, precision: Mapping[int, Precision], ranges: Mapping,
                 clamped: dict[Instance, tuple[float, float]] | None = None
                 ) -> dict[Instance, QuantParams]:
    """The params of every quantized instance of a value: instances that must share params
    (an output keeping its input's, Concat's operands) form a group; a group's params come from
    an explicit QuantParams in `ranges`, else from the union of its members' ranges (clipped to
    a fused clamp activation's range, and a value read only by a Relu / Clip to that clamp's
    range), else from a constant member's values. The outputs of
    ops whose rule fixes them (Softmax) get `fixed_params`, as if given explicitly.
    `clamped` (filled when given): the instances whose params cover only the range of the Relu
    / Clip that alone reads them, with that range (values beyond it saturate: the accuracy
    analysis compares them with the float value clamped)."""
    groups, clamps, values, fixed, reader_clamps = _Groups(), {}, {}, {}, {}
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
        if rule.output == "fixed":
            fixed.update((o, fixed_params(p)) for o in outs)
        if rule.output == "same":
            for o in outs:
                groups.union(o, ins[0])
            if rule.shared:
                for i in ins[1:]:
                    groups.union(i, ins[0])
        kind = node.attrs.get("activation", "none")
        if rule.activation and kind in CLAMPS:
            clamps[outs[0]] = CLAMPS[kind](node.attrs["activation_params"])
        if node.op in CLAMP_OPS and ins and _clamp_only(graph, node):
            # the input's only reader clamps it: its params need only cover the clamped range
            # (the producer's requantization, or the QuantizeLinear, saturates to them, which
            # is the clamp), as a fused activation's would; else an Add + ReLU6 kept the Add's
            # whole range and gave [0, 6] a few integers
            lo, hi = CLAMP_OPS[node.op](node.attrs)
            old = clamps.get(ins[0], (-np.inf, np.inf))
            clamps[ins[0]] = (max(lo, old[0]), min(hi, old[1]))
            reader_clamps[ins[0]] = clamps[ins[0]]
    members: dict[Instance, list[Instance]] = {}
    for inst in values:
        members.setdefault(groups.find(inst), []).append(inst)
    params: dict[Instance, QuantParams] = {}
    for root, insts in members.items():
        found = [fixed[i] if i in fixed else _range_of(values[i], ranges, clamps.get(i))
                 for i in insts]
        explicit = {r for r in found if isinstance(r, QuantParams)}
        spans = [r for r in found if isinstance(r, tuple)]
        prec = PRECISIONS[root[1]]
        if len(explicit) > 1:
            raise PassError(f"quantize: values {[values[i].name for i in insts]} must share "
                            f"params, but the ranges give several: {sorted(map(str, explicit))}")
        given = bool(explicit)
        if explicit:
            q = explicit.pop()
        elif spans:
            lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
            if not (math.isfinite(lo) and math.isfinite(hi)):
                names = ", ".join(f"%{values[i].name}" for i in insts)
                raise PassError(f"quantize: the range of {names} is [{lo}, {hi}], not finite "
                                f"(to quantize it as {prec.name}); give a finite range, or "
                                "keep the layer float (a hybrid layer dtype)")
            q = activation_params(lo, hi, prec)
        else:
            names = ", ".join(f"%{values[i].name}" for i in insts)
            raise PassError(f"quantize: no range for {names} (to quantize it as {prec.name}); "
                            "give (min, max) or QuantParams for it")
        for i in insts:
            params[i] = q
            if clamped is not None and i in reader_clamps and not given:
                clamped[i] = reader_clamps[i]
    return params
