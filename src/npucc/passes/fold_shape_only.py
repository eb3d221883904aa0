"""fold-shape-only: evaluate nodes that depend only on shapes and constants (SSD PriorBox reads its
feature map and image only for their sizes) and replace them by constants."""

from __future__ import annotations

import attrs
import numpy as np

from npucc.errors import IRError
from npucc.ir.graph import Graph, Node

from .base import Pass, PassResult, register_pass


def shape_only(node: Node) -> bool:
    """Whether every input of `node` is absent, a constant, or one the op reads only for its
    shape (OpDef.shape_only_inputs), with at least one of the latter that is not a constant."""
    only = node.opdef.shape_only_inputs
    if not only:
        return False
    live = [i for i, v in enumerate(node.inputs) if v is not None and not v.is_constant]
    return bool(live) and all(i in only for i in live) \
        and all(v.type.quant is None for v in node.outputs)


@register_pass
@attrs.frozen
class FoldShapeOnly(Pass):
    """Replace nodes whose result depends only on shapes and constants by constants.

    Guarantee: every node whose non-constant inputs are all shape-only inputs of its op
    (`OpDef.shape_only_inputs`, e.g. PriorBox's feature map and image) is evaluated once with
    the op's reference kernel (shape-only inputs given as zeros of their type) and replaced by
    constants holding its outputs; so the graph computes exactly the same values. A graph
    output computed by such a node stays a graph output (same name), now served from the
    constant; later all-constant nodes are left to fold-constants. Linear in the graph size."""

    name = "fold-shape-only"

    def run(self, graph: Graph) -> PassResult:
        folded = 0
        for node in graph.nodes:
            if not shape_only(node):
                continue
            args = [None if v is None else v.const if v.is_constant
                    else np.zeros(v.shape, v.dtype.numpy) for v in node.inputs]
            results = node.opdef.evaluate(args, node.attrs)
            for v, arr in zip(node.outputs, results):
                if arr.shape != v.shape or arr.dtype != v.dtype.numpy:
                    raise IRError(f"fold-shape-only: kernel of {node.describe()} returned "
                                  f"{arr.dtype}{list(arr.shape)} for %{v.name}: {v.type}")
            names = [v.name for v in node.outputs]
            consts = [graph.add_constant(a, dtype=v.dtype) for v, a in zip(node.outputs, results)]
            for v, c in zip(node.outputs, consts):
                graph.replace_all_uses_with(v, c)
            graph.erase(node)
            for name, c in zip(names, consts):
                if not graph.has_value(name):
                    graph.rename(c, name)
            folded += 1
        return PassResult(folded > 0, {"folded": folded})
