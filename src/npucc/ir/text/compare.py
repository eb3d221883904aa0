"""Structural equality of graphs and the first difference between two of them."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .printer import _bits, _format_node, _is_graph

# ---------------------------------------------------------------------------------------------

def same_attr_value(a, b) -> bool:
    """Equality of attribute values that tells kinds apart (1 vs 1.0 vs True), NaN equal to NaN
    and -0.0 from 0.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1.0, a) == math.copysign(1.0, b))
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same_attr_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, str)):
        return a == b
    return graphs_equal(a, b) if _is_graph(a) else a == b


def same_attrs(a: Mapping, b: Mapping) -> bool:
    return list(a) == list(b) and all(same_attr_value(a[k], b[k]) for k in a)


def describe_difference(a, b) -> str | None:
    """The first structural difference between two graphs (names, types, payload bits, node
    order, attributes, provenance, outputs), or None when they are equal."""
    def vals(vs):
        return [(v.name, v.type) for v in vs]

    if a.name != b.name:
        return f"graph names differ: {a.name!r} vs {b.name!r}"
    if a.numerics != b.numerics:
        return f"graph numerics differ: {a.numerics!r} vs {b.numerics!r}"
    if vals(a.inputs) != vals(b.inputs):
        return f"inputs differ: {vals(a.inputs)} vs {vals(b.inputs)}"
    if vals(a.constants) != vals(b.constants):
        return f"constants differ: {vals(a.constants)} vs {vals(b.constants)}"
    for x, y in zip(a.constants, b.constants):
        if x.const.dtype != y.const.dtype or x.const.shape != y.const.shape or \
                not np.array_equal(_bits(x.const), _bits(y.const)):
            return f"payloads of constant %{x.name} differ"
    na, nb = list(a.nodes), list(b.nodes)
    if len(na) != len(nb):
        return f"node counts differ: {len(na)} vs {len(nb)}"
    for x, y in zip(na, nb):
        ins = [[None if v is None else v.name for v in n.inputs] for n in (x, y)]
        if x.op != y.op or ins[0] != ins[1] or vals(x.outputs) != vals(y.outputs) or \
                not same_attrs(x.attrs, y.attrs) or x.provenance != y.provenance:
            bodies = [(k, v, y.attrs.get(k)) for k, v in x.attrs.items()
                      if _is_graph(v) and _is_graph(y.attrs.get(k))]
            for k, gx, gy in bodies:
                inner = describe_difference(gx, gy)
                if inner is not None:
                    return f"in attribute {k} of {x.describe()}: {inner}"
            return f"nodes differ: {_format_node(x)} vs {_format_node(y)}"
    if [v.name for v in a.outputs] != [v.name for v in b.outputs]:
        return f"outputs differ: {[v.name for v in a.outputs]} vs {[v.name for v in b.outputs]}"
    return None


def graphs_equal(a, b) -> bool:
    """Structural and payload equality, names included, node order included."""
    return describe_difference(a, b) is None
