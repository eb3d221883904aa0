"""eliminate-noops: remove ops that do nothing, and compose chains of layout ops."""

from __future__ import annotations

import attrs

from .base import register_pass
from .rewrite import Any, Op, RewritePass, Rule

RESHAPES = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")


def _x_if_same_type(m, rw):
    """The input itself, when the node's output has exactly its type (incl. quantization)."""
    return m["x"] if m.root.output.type == m["x"].type else None


def _identity_perm(node):
    """perm is not the identity"""
    return tuple(node.attrs["perm"]) == tuple(range(len(node.attrs["perm"])))


def _zero_pads(node):
    """pads are not all zero"""
    return not any(node.attrs["pads"])


def _unit_steps(node):
    """steps are not all 1"""
    return all(s == 1 for s in node.attrs.get("steps") or ())


def _compose_transposes(m, rw):
    p, q = m["inner"].attrs["perm"], m.root.attrs["perm"]
    perm = tuple(p[i] for i in q)
    if perm == tuple(range(len(perm))) and m["x"].type == m.root.output.type:
        return m["x"]
    return rw.op("Transpose", m["x"], perm=perm, out_type=m.root.output.type)


def _merge_reshapes(m, rw):
    if m["x"].type == m.root.output.type:
        return m["x"]
    return rw.op("Reshape", m["x"], shape=m.root.output.shape, out_type=m.root.output.type)


X = Any("x")
RULES = (
    # identity(x) -> x
    Rule("identity", Op("Identity", X), _x_if_same_type),
    # reshape(x) -> x  when shape(reshape(x)) == shape(x)   (also Flatten, Squeeze, Unsqueeze)
    Rule("same-shape-reshape", Op(RESHAPES, X), _x_if_same_type),
    # transpose(x, [0, 1, ..., n-1]) -> x
    Rule("identity-transpose", Op("Transpose", X, where=_identity_perm), _x_if_same_type),
    # cast(x, dtype(x)) -> x
    Rule("same-type-cast", Op("Cast", X), _x_if_same_type),
    # pad(x, 0) -> x
    Rule("zero-pad", Op("Pad", X, where=_zero_pads), _x_if_same_type),
    # slice(x, 0:n:1 on every axis) -> x   (steps 1 and an unchanged shape take everything)
    Rule("full-slice", Op("Slice", X, where=_unit_steps), _x_if_same_type),
    # concat(x) -> x
    Rule("single-concat", Op("Concat", X), _x_if_same_type),
    # transpose(transpose(x, p), q) -> transpose(x, p∘q)   where (p∘q)[i] = p[q[i]]
    Rule("transpose-transpose", Op("Transpose", Op("Transpose", X, name="inner")),
         _compose_transposes),
    # reshape(reshape(x, s), t) -> reshape(x, t)   (any of Reshape, Flatten, Squeeze, Unsqueeze)
    Rule("reshape-reshape", Op(RESHAPES, Op(RESHAPES, X)), _merge_reshapes),
)


@register_pass
@attrs.frozen
class EliminateNoops(RewritePass):
    """Remove ops that return their input unchanged; compose chains of Transposes and reshapes.

    Guarantee: to a fixed point, removes Identity; Reshape, Flatten, Squeeze, Unsqueeze to the same
    shape; identity Transpose; Cast to the same dtype; all-zero Pad; a Slice taking everything; a
    one-input Concat; and composes consecutive Transposes and consecutive reshapes into one. An op
    is removed only when its output type (incl. quantization params) equals its input's, so every
    value the graph computes is unchanged, and never when that would rename a graph output (an
    Identity giving a graph input, or another output, a second name stays). Matched nodes left
    without readers are erased; other dead code is left to dce."""

    name = "eliminate-noops"
    rules = RULES
