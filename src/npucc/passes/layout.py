"""canonicalize-layout: sink Transposes through layout-agnostic ops so that the pairs an NHWC
import wraps around every NCHW core op meet and cancel.

A Transpose T(a, p) (output axis i is a's axis p[i]) feeding an elementwise op, Concat, Pad,
Slice, Split, Softmax or a reduction is moved below it: op(T(a, p)) -> T(op'(a), p), where op'
is op with its axis attributes mapped through p (constants operands are transposed instead).
Elementwise work done on a graph input before its Transpose (preprocessing in NHWC) is the one
exception: there the Transpose is hoisted above it, so it ends up on the input itself.
Consecutive Transposes compose and identities vanish; a Transpose that only moves size-1 axes is
a Reshape.
"""

from __future__ import annotations

import attrs
import numpy as np

from npucc.ir.types import TensorType

from .base import register_pass
from .eliminate_noops import RULES as NOOP_RULES
from .rewrite import Any, Op, RewritePass, Rule

UNARY = ("Abs", "Ceil", "Clip", "Cos", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid",
         "HardSwish", "Identity", "IsInf", "IsNaN", "LeakyRelu", "Log", "Mish", "Neg", "Not",
         "Reciprocal", "Relu", "Round", "Selu", "Sigmoid", "Sign", "Sin", "Softplus", "Softsign",
         "Sqrt", "Tanh", "Cast", "QuantizeLinear", "DequantizeLinear")
NARY = ("Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Mod", "And", "Or", "Xor", "Equal",
        "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "PRelu", "Where", "Concat")
AXIS = ("Softmax", "LogSoftmax", "Pad", "Slice", "Split", "ReduceMean", "ReduceMax", "ReduceMin",
        "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare")


def _perm_of(v):
    n = v.producer
    return tuple(n.attrs["perm"]) if n is not None and n.op == "Transpose" else None


def _untransposed(v, p, rw):
    """The value v = T(a, p) stands for: a, or for a constant the constant transposed back."""
    if v.is_constant:
        c = v.const.reshape((1,) * (len(p) - v.const.ndim) + v.const.shape)
        return rw.constant(np.transpose(c, np.argsort(p)), dtype=v.dtype, quant=v.type.quant)
    return v.producer.inputs[0]


def _axis_attrs(node, p, rank) -> dict | None:
    """node's attributes with every axis mapped through p (axis k of T(a) is axis p[k] of a)."""
    a = dict(node.attrs)
    if "axis" in a and a["axis"] is not None:
        if node.op in ("QuantizeLinear", "DequantizeLinear"):
            return None  # per-axis quantization: keep it simple
        a["axis"] = p[a["axis"] % rank]
    if node.op == "Pad":
        new = [0] * (2 * rank)
        for k in range(rank):
            new[p[k]], new[p[k] + rank] = a["pads"][k], a["pads"][k + rank]
        a["pads"] = tuple(new)
    if "axes" in a:
        axes = range(len(a["starts"])) if node.op == "Slice" and a["axes"] is None \
            else range(rank) if a["axes"] is None else a["axes"]
        a["axes"] = tuple(p[k % rank] for k in axes)
    return a


HOISTABLE = UNARY + NARY[:-1] + ("Pad", "Slice", "Softmax", "LogSoftmax")  # one output, same rank


def _single_live_input(node):
    """The only non-constant input of a one-output op that keeps the rank, else None."""
    live = [v for v in node.inputs if v is not None and not v.is_constant]
    return live[0] if node.op in HOISTABLE and len(live) == 1 else None


def _input_derived(v) -> bool:
    """v is a graph input, or an elementwise function of one (and constants) only."""
    while v.producer is not None:
        v = _single_live_input(v.producer)
        if v is None:
            return False
    return not v.is_constant


def _sink(m, rw):
    # op(T(a, p), T(b, p) or c, ...) -> T(op'(a, b or c'), p)
    node = m.root
    perms = {_perm_of(v) for v in node.inputs if v is not None and not v.is_constant}
    if len(perms) != 1 or None in perms:
        return None
    x = _single_live_input(node)
    if x is not None and _input_derived(x.producer.inputs[0]):
        return None  # elementwise work on a graph input stays after its Transpose (see _hoist)
    (p,) = perms
    rank = len(p)
    types = [v.type for v in node.inputs if v is not None] + [o.type for o in node.outputs]
    if any(t.rank > rank or (t.quant is not None and t.quant.axis is not None) for t in types):
        return None
    a = _axis_attrs(node, p, rank)
    if a is None:
        return None
    keep = a.get("keepdims", True)
    inputs = [None if v is None else _untransposed(v, p, rw) for v in node.inputs]
    types, perms_out = [], []
    for out in node.outputs:
        if keep:
            shape = [0] * rank
            for i, d in enumerate(out.shape):
                shape[p[i]] = d
            perms_out.append(p)
        else:  # reduced axes dropped: the kept axes of a, in a's order, then reorder to out's
            kept = [p[k] for k in range(rank) if p[k] not in a["axes"]]
            shape = [inputs[0].shape[j] for j in sorted(kept)]
            perms_out.append(tuple(sorted(kept).index(j) for j in kept))
        types.append(TensorType(shape, out.dtype, out.type.quant))
    new = rw.add_node(node.op, inputs, a, output_types=types)
    return [y if q == tuple(range(len(q))) else
            rw.op("Transpose", y, perm=q, out_type=out.type)
            for y, q, out in zip(new.outputs, perms_out, node.outputs)]


def _hoist(m, rw):
    # T(op(x, c), p) -> op(T(x, p), c')   when x is derived from a graph input elementwise
    node, t = m["op"], m.root
    x = _single_live_input(node)
    p = tuple(t.attrs["perm"])
    if x is None or not _input_derived(x) or any(
            v.type.rank > len(p) or v.type.quant is not None for v in node.inputs + node.outputs):
        return None
    inv = tuple(int(i) for i in np.argsort(p))
    attrs_ = _axis_attrs(node, inv, len(p))  # axis k of x is axis inv[k] of T(x)
    if attrs_ is None:
        return None
    xt = rw.op("Transpose", x, perm=p)
    ins = [None if v is None else xt if v is x else
           _untransposed(v, inv, rw) for v in node.inputs]
    return rw.op(node.op, *ins, out_type=t.output.type, **attrs_)


def _only_moves_unit_axes(node):
    """moves an axis whose size is not 1"""
    src = node.inputs[0].shape
    moved = [k for k in node.attrs["perm"] if src[k] != 1]
    return moved == sorted(moved)


def _as_reshape(m, rw):
    # transpose(x, p) -> reshape(x, shape)   when p keeps the order of the non-unit axes
    return rw.op("Reshape", m["x"], shape=m.root.output.shape, out_type=m.root.output.type)


_NOOPS = {r.name: r for r in NOOP_RULES}
RULES = (
    Rule("sink-transpose", Op(UNARY + NARY + AXIS), _sink),
    Rule("hoist-transpose", Op("Transpose", Op(HOISTABLE, name="op", single_use=True)),
         _hoist),
    _NOOPS["transpose-transpose"],
    _NOOPS["identity-transpose"],
    Rule("transpose-to-reshape", Op("Transpose", Any("x"), where=_only_moves_unit_axes),
         _as_reshape),
    _NOOPS["reshape-reshape"],
    _NOOPS["same-shape-reshape"],
)


@register_pass
@attrs.frozen
class CanonicalizeLayout(RewritePass):
    """Sink Transposes below layout-agnostic ops and cancel them in pairs.

    Guarantee: to a fixed point, an elementwise op, Concat, Pad, Slice, Split, Softmax or
    reduction whose non-constant inputs are all Transposes with one permutation p is computed on
    the untransposed values (axis attributes mapped through p, constant operands transposed) and
    followed by one Transpose p (except elementwise ops on a graph input: a Transpose of them is
    hoisted onto the input instead); consecutive Transposes are composed, identity Transposes
    removed, and a Transpose that only moves size-1 axes becomes a Reshape (reshape chains are
    merged). Every value keeps its type, so the graph's inputs and outputs keep their layouts;
    outputs are bit-identical (only data movement changes). An NHWC import ends with Transposes
    only where a graph input or output needs one."""

    name = "canonicalize-layout"
    rules = RULES
