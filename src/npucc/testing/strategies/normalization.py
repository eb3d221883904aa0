"""Appliers of softmax, reductions, the ordering and scan along an axis (TopK, CumSum, and
NonMaxSuppression's ordering by score) and normalizations."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from npucc.ir import DType, Value

from .appliers import ANY, applier, nchw_shape, spatial
from .builder import GraphBuilder

for _op in ("Softmax", "LogSoftmax"):
    def _softmax(b: GraphBuilder, v: Value, _op=_op):
        b.emit(_op, [v], axis=b.int_(-v.type.rank, v.type.rank - 1), layout=b.layout_of(v))
    applier(_op, accepts=lambda b, v: v.type.rank >= 1 and b.room(1))(_softmax)


def _make_reduce(op: str):
    def apply(b: GraphBuilder, v: Value):
        r = v.type.rank
        axes = sorted(b.draw(st.lists(st.integers(0, r - 1), min_size=1, max_size=r, unique=True)))
        keep = int(b.pick([1, 0]))
        b.emit(op, [v], axes=tuple(axes), keepdims=keep, layout=b.layout_of(v) if keep else None)
    applier(op, accepts=lambda b, v: v.type.rank >= 1 and b.room(1))(apply)


def _make_arg(op: str):
    def apply(b: GraphBuilder, v: Value):
        r = v.type.rank
        b.emit(op, [v], axis=b.int_(-r, r - 1), keepdims=int(b.pick([1, 0])),
               select_last_index=int(b.chance(2)))
    applier(op, accepts=lambda b, v: v.type.rank >= 1 and b.room(1), kinds=ANY)(apply)


for _op in ("ArgMax", "ArgMin"):  # discontinuous: an index jumps when two values swap order
    _make_arg(_op)


@applier("TopK", accepts=lambda b, v: v.type.rank >= 1 and b.room(1), kinds=ANY)
def _top_k(b: GraphBuilder, v: Value):
    r = v.type.rank
    axis = b.int_(-r, r - 1)
    b.emit("TopK", [v], k=b.int_(1, v.shape[axis]), axis=axis, largest=b.chance(3) is False,
           sorted=True)


@applier("NonMaxSuppression", accepts=lambda b, v: v.dtype is DType.f32
         and math.prod(v.shape) <= 64 and b.room(2))
def _non_max_suppression(b: GraphBuilder, v: Value):
    """The value as the scores of one batch and class, over constant boxes on a small grid."""
    n = math.prod(v.shape)
    scores = b.emit("Reshape", [v], shape=(1, 1, n), hidden=True)
    boxes = b.const(np.round(b.rng.uniform(0, 4, (1, n, 4))), DType.f32)
    b.emit("NonMaxSuppression", [boxes, scores], max_output_boxes_per_class=b.int_(1, n),
           iou_threshold=b.pick([0.0, 0.3, 0.5, 1.0]), score_threshold=b.pick([None, 0.0]),
           center_point_box=b.chance(2))


@applier("CumSum", accepts=lambda b, v: v.type.rank >= 1 and b.room(1), kinds=ANY)
def _cum_sum(b: GraphBuilder, v: Value):
    r = v.type.rank
    b.emit("CumSum", [v], axis=b.int_(-r, r - 1), exclusive=b.chance(2), reverse=b.chance(2),
           layout=b.layout_of(v))


def _short_axes(v: Value) -> list[int]:
    """Axes short enough for a running product of drawn values to stay finite."""
    return [a for a, n in enumerate(v.shape) if n <= 6]


@applier("CumProd", accepts=lambda b, v: bool(_short_axes(v)) and b.room(1), kinds=ANY)
def _cum_prod(b: GraphBuilder, v: Value):
    b.emit("CumProd", [v], axis=b.pick(_short_axes(v)), exclusive=b.chance(2),
           reverse=b.chance(2), layout=b.layout_of(v))


@applier("Einsum", accepts=lambda b, v: 1 <= v.type.rank <= 4 and b.room(1))
def _einsum(b: GraphBuilder, v: Value):
    """A contraction of the last axis with a constant, or a permutation that sums one axis."""
    letters = "abcd"[:v.type.rank]
    if b.chance(2):
        w = b.random_const((v.shape[-1], b.int_(1, 4)), v.dtype)
        b.emit("Einsum", [v, w], equation=f"{letters},{letters[-1]}z->{letters[:-1]}z")
        return
    kept = list(letters)
    del kept[b.int_(0, len(kept) - 1)]
    b.emit("Einsum", [v], equation=f"{letters}->{''.join(b.draw(st.permutations(kept)))}")


# (ReduceProd is left out: a product over up to 512 drawn values overflows)
for _op in ("ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin", "ReduceL1", "ReduceL2",
            "ReduceSumSquare", "ReduceLogSumExp"):
    _make_reduce(_op)


@applier("LRN", accepts=spatial)
def _lrn(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    out = b.emit("LRN", [x], size=b.pick([1, 3, 5]), alpha=1e-4, beta=0.75, bias=1.0,
                 layout="NCHW")
    b.restore(out, v)


# Normalizations divide by the spread of a region: over fewer than 4 elements it can be ~0 and
# amplify a pass's legitimate rounding differences past the tolerance, so regions are >= 4.
@applier("InstanceNorm", accepts=lambda b, v: spatial(b, v)
         and math.prod(nchw_shape(b, v)[2:]) >= 4)


def _instance_norm(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    c = x.shape[1]
    scale, bias = b.random_const((c,), x.dtype, 0.5, 1.5), b.random_const((c,), x.dtype, -.5, .5)
    b.restore(b.emit("InstanceNorm", [x, scale, bias], layout="NCHW"), v)


@applier("LayerNorm", accepts=lambda b, v: v.type.rank >= 1 and v.shape[-1] >= 4 and b.room(1))
def _layer_norm(b: GraphBuilder, v: Value):
    r = v.type.rank
    axes = [a for a in range(r) if math.prod(v.shape[a:]) >= 4]
    axis = b.pick(axes[::-1])
    norm_shape = v.shape[axis:]
    bias = b.random_const(norm_shape, v.dtype, -0.5, 0.5) if b.chance(2) else None
    inputs = [v, b.random_const(norm_shape, v.dtype, 0.5, 1.5), bias]
    b.emit("LayerNorm", inputs, axis=axis if b.chance(2) else axis - r, layout=b.layout_of(v))
