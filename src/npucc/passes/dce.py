"""dce: dead code elimination."""

from __future__ import annotations

import attrs

from npucc.ir.graph import Graph

from .base import Pass, PassResult, register_pass


@register_pass
@attrs.frozen
class DeadCodeElimination(Pass):
    """Remove nodes and constants that no graph output depends on.

    Guarantee: erases every node none of whose outputs reaches a graph output, and every constant
    nothing reads; the graph's outputs are unchanged. Graph inputs are never removed, even when
    unused. Linear in the graph size."""

    name = "dce"

    def run(self, graph: Graph) -> PassResult:
        live = {id(v) for v in graph.outputs}
        nodes = 0
        for node in reversed(list(graph.nodes)):  # users come after producers: erase them first
            if any(id(v) in live for v in node.outputs):
                live.update(id(v) for v in node.inputs if v is not None)
            else:
                graph.erase(node)
                nodes += 1
        constants = 0
        for c in graph.constants:
            if id(c) not in live:
                graph.remove_constant(c)
                constants += 1
        return PassResult(nodes + constants > 0, {"nodes": nodes, "constants": constants})
