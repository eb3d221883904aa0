"""cse: common subexpression elimination."""

from __future__ import annotations

import attrs
import numpy as np

from npucc.ir.graph import Graph, Value

from .base import Pass, PassResult, register_pass


def _merge(graph: Graph, keep: list[Value], drop: list[Value]) -> bool:
    """Make readers of `drop` read `keep`; False (and nothing done) if that would merge two graph
    outputs, which would change the graph's interface."""
    if any(graph.is_output(d) and graph.is_output(k) for k, d in zip(keep, drop)):
        return False
    for k, d in zip(keep, drop):
        graph.replace_all_uses_with(d, k)
    return True


def _fingerprint(c: Value) -> bytes:
    """A cheap key: up to 64 evenly spaced elements. Equal constants have equal fingerprints;
    candidates with equal fingerprints are then compared byte for byte."""
    flat = c.const.reshape(-1)
    return flat[:: max(1, flat.size // 64)].tobytes()


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    return np.array_equal(np.ascontiguousarray(a).view(np.uint8),
                          np.ascontiguousarray(b).view(np.uint8))


@register_pass
@attrs.frozen
class CommonSubexpressionElimination(Pass):
    """Merge identical constants and nodes that compute the same thing.

    Guarantee: constants with equal type (dtype, shape, quantization) and bytes are merged, then
    nodes with the same op, the same input values (in any order for ops the registry declares
    commutative), equal attributes and equal output types:
    readers of the later one read the first, which also takes the later one's provenance. Two graph
    outputs are never merged into one. Linear in the graph size (hashing, no pairwise compare)."""

    name = "cse"

    def run(self, graph: Graph) -> PassResult:
        constants = 0
        by_type: dict[object, list[Value]] = {}
        for c in graph.constants:
            by_type.setdefault(c.type, []).append(c)
        for group in by_type.values():
            if len(group) < 2:  # a constant whose type no other has cannot be a duplicate
                continue
            seen_c: dict[bytes, Value] = {}
            for c in group:
                first = seen_c.setdefault(_fingerprint(c), c)
                if first is not c and _same_bytes(first.const, c.const) \
                        and _merge(graph, [first], [c]):
                    graph.remove_constant(c)
                    constants += 1
        nodes = 0
        seen: dict[tuple, object] = {}
        for node in graph.nodes:
            inputs = tuple(id(v) if v is not None else None for v in node.inputs)
            if node.opdef.commutative:  # a + b and b + a are the same computation
                inputs = tuple(sorted(inputs, key=lambda i: -1 if i is None else i))
            key = (node.op, inputs, tuple(sorted(node.attrs.items())),
                   tuple(v.type for v in node.outputs))
            try:
                first = seen.setdefault(key, node)
            except TypeError:  # an unhashable attribute value: leave the node alone
                continue
            if first is not node and _merge(graph, list(first.outputs), list(node.outputs)):
                first.provenance = first.provenance | node.provenance
                graph.erase(node)
                nodes += 1
        return PassResult(constants + nodes > 0, {"constants": constants, "nodes": nodes})
