"""fold-constants: evaluate nodes whose inputs are all constants."""

from __future__ import annotations

import attrs

from npucc.errors import IRError
from npucc.ir.graph import Graph, Node

from .base import Pass, PassResult, register_pass


def _foldable(node: Node, max_elements: int) -> bool:
    ins = [v for v in node.inputs if v is not None]
    return (bool(ins) and all(v.is_constant for v in ins)
            and all(v.type.quant is None for v in (*ins, *node.outputs))
            and all(v.type.size <= max_elements for v in node.outputs))


@register_pass
@attrs.frozen
class FoldConstants(Pass):
    """Evaluate nodes whose inputs are all constants and replace them by constants.

    Guarantee: every node whose inputs are all constants is replaced by constants holding its
    outputs, computed with the op's reference kernel, so the graph computes exactly the same
    values. Left alone: nodes with an output of more than `max_elements` elements, and nodes
    touching quantized tensors (their meaning depends on quantized arithmetic, not the raw
    kernel). Input constants that become unused are removed; folded constants take the node's
    output names. Linear in the number of nodes."""

    name = "fold-constants"
    max_elements: int = attrs.field(default=1 << 24, validator=attrs.validators.ge(0))

    def run(self, graph: Graph) -> PassResult:
        folded = 0
        for node in graph.nodes:  # topological: a folded result is a constant for its users
            if not _foldable(node, self.max_elements):
                continue
            results = node.opdef.evaluate([None if v is None else v.const for v in node.inputs],
                                          node.attrs)
            for v, arr in zip(node.outputs, results):
                if arr.shape != v.shape or arr.dtype != v.dtype.numpy:
                    raise IRError(f"fold-constants: kernel of {node.describe()} returned "
                                  f"{arr.dtype}{list(arr.shape)} for %{v.name}: {v.type}")
            consts = [graph.add_constant(arr, dtype=v.dtype)
                      for v, arr in zip(node.outputs, results)]
            names = [v.name for v in node.outputs]
            for v, c in zip(node.outputs, consts):
                graph.replace_all_uses_with(v, c)
            inputs = [v for v in node.inputs if v is not None]
            graph.erase(node)
            for name, c in zip(names, consts):
                if not graph.has_value(name):
                    graph.rename(c, name)
            for v in inputs:
                if v.is_constant and not v.uses and not graph.is_output(v) \
                        and graph.has_value(v.name) and graph.value(v.name) is v:
                    graph.remove_constant(v)
            folded += 1
        return PassResult(folded > 0, {"folded": folded})
