"""Appliers of shape and data-movement ops: Transpose, Reshape, Slice, Pad, Concat, Split, Tile,
Expand, Gather..., including their no-op forms (cleanup bait)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from npucc.ir import DType, Value

from .appliers import ANY, applier, divisors
from .builder import MAX_DIM, NCHW_TO_NHWC, NHWC_TO_NCHW, GraphBuilder

# ---- shape and data movement ----

@applier("Transpose", accepts=lambda b, v: v.type.rank >= 2 and b.room(1), kinds=ANY)
def _transpose(b: GraphBuilder, v: Value):
    r = v.type.rank
    perm = tuple(range(r)) if b.chance(5) else tuple(b.draw(st.permutations(range(r))))
    layout = None
    if r == 4:
        layout = {("NCHW", NCHW_TO_NHWC): "NHWC", ("NHWC", NHWC_TO_NCHW): "NCHW"}.get(
            (b.layout_of(v) or "NCHW", perm))
        if perm == (0, 1, 2, 3):
            layout = b.layout_of(v)
    b.emit("Transpose", [v], perm=perm, layout=layout)


def _reshape_target(b: GraphBuilder, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A different factorisation of `shape`: merge two neighbours, split one, or drop/add 1s."""
    s = list(shape)
    choice = b.int_(0, 3)
    if choice == 0 and len(s) >= 2:
        i = b.int_(0, len(s) - 2)
        s[i:i + 2] = [s[i] * s[i + 1]]
    elif choice == 1 and len(s) < 5:
        i = b.int_(0, len(s) - 1) if s else 0
        if s and len(divisors(s[i])) > 2:
            f = b.pick(divisors(s[i])[1:-1])
            s[i:i + 1] = [f, s[i] // f]
        else:
            s.insert(i, 1)
    elif choice == 2 and 1 in s:
        s.remove(1)
    return tuple(s)  # choice 3 (or nothing applicable): the same shape, a no-op reshape


@applier("Reshape", accepts=lambda b, v: b.room(1), kinds=ANY)
def _reshape(b: GraphBuilder, v: Value):
    target = _reshape_target(b, v.shape)
    b.emit("Reshape", [v], shape=target, layout=b.layout_of(v) if target == v.shape else None)


@applier("Flatten", accepts=lambda b, v: v.type.rank >= 1 and b.room(1), kinds=ANY)
def _flatten(b: GraphBuilder, v: Value):
    b.emit("Flatten", [v], axis=b.int_(0, v.type.rank))


@applier("Squeeze", accepts=lambda b, v: 1 in v.shape and b.room(1), kinds=ANY)
def _squeeze(b: GraphBuilder, v: Value):
    ones = [i for i, d in enumerate(v.shape) if d == 1]
    axes = sorted(b.draw(st.lists(st.sampled_from(ones), min_size=1, unique=True)))
    if b.chance(3):
        axes = [a - v.type.rank for a in axes]  # negative axes
    b.emit("Squeeze", [v], axes=tuple(axes))


@applier("Unsqueeze", accepts=lambda b, v: v.type.rank <= 4 and b.room(1), kinds=ANY)
def _unsqueeze(b: GraphBuilder, v: Value):
    out_rank = v.type.rank + b.int_(1, 2)
    axes = b.draw(st.lists(st.integers(0, out_rank - 1), min_size=out_rank - v.type.rank,
                           max_size=out_rank - v.type.rank, unique=True))
    b.emit("Unsqueeze", [v], axes=tuple(sorted(axes)))


@applier("Slice", accepts=lambda b, v: v.type.rank >= 1 and b.room(1), kinds=ANY)
def _slice(b: GraphBuilder, v: Value):
    r = v.type.rank
    axes = sorted(b.draw(st.lists(st.integers(0, r - 1), min_size=1, max_size=r, unique=True)))
    starts, ends, steps = [], [], []
    for ax in axes:
        n = v.shape[ax]
        form = b.int_(0, 3)
        if form == 0 or n == 0:  # the whole axis: a no-op slice
            st_, en, sp = 0, n, 1
        elif form == 3 and n > 1:  # reversed (ONNX: end -n-1 clamps to "before index 0")
            st_, en, sp = -1, -n - 1, -1
        else:
            sp = b.int_(1, 2)
            st_ = b.int_(0, n - 1)
            en = b.int_(st_ + 1, n)
            if form == 2:  # the same range spelled with negative or clamped indices
                st_ = st_ - n
                en = 2 ** 31 - 1 if en == n else en - n
        starts.append(st_)
        ends.append(en)
        steps.append(sp)
    b.emit("Slice", [v], starts=tuple(starts), ends=tuple(ends), axes=tuple(axes),
           steps=tuple(steps), layout=b.layout_of(v))


@applier("Pad", accepts=lambda b, v: 1 <= v.type.rank and b.room(1), kinds=ANY)
def _pad(b: GraphBuilder, v: Value):
    r = v.type.rank
    mode = b.pick(["constant", "edge", "reflect"])
    begins, ends = [], []
    zero = b.chance(5)  # a no-op pad
    for ax in range(r):
        n = v.shape[ax]
        limit = 0 if zero or (r >= 3 and ax < r - 2) else min(2, MAX_DIM - n)
        if mode == "reflect":
            limit = min(limit, n - 1)
        if mode == "edge" and n == 0:
            limit = 0
        p0 = b.int_(0, max(0, limit))
        p1 = b.int_(0, max(0, min(limit, MAX_DIM - n - p0)))
        begins.append(p0)
        ends.append(p1)
    value = b.pick([0.0, 1.0, -0.5]) if v.dtype.is_float else 0.0
    b.emit("Pad", [v], pads=tuple(begins + ends), mode=mode, value=value, layout=b.layout_of(v))


@applier("Concat", accepts=lambda b, v: v.type.rank >= 1 and b.room(3), kinds=ANY)
def _concat(b: GraphBuilder, v: Value):
    r = v.type.rank
    axis = b.int_(0, r - 1)
    if b.chance(6):
        b.emit("Concat", [v], axis=axis, layout=b.layout_of(v))  # one input: a no-op
        return

    def fits(w):
        return (w is not v and w.dtype == v.dtype and w.type.rank == r
                and all(w.shape[i] == v.shape[i] for i in range(r) if i != axis)
                and b.layout_of(w) == b.layout_of(v))

    partners = [w for w in b.pool if fits(w)]
    if partners and b.chance(2):
        other = b.pick(partners)
    elif b.chance(2):
        other = v  # Concat(x, x)
    else:
        other = _branch(b, v)  # a second branch of the same shape
    parts = [v, other] if b.chance(2) else [other, v]
    if b.chance(4):
        parts.append(v)
    if sum(p.shape[axis] for p in parts) > MAX_DIM:
        parts = parts[:1]
    b.emit("Concat", parts, axis=axis,
           layout=b.layout_of(v) if all(b.layout_of(p) == b.layout_of(v) for p in parts) else None)


def _branch(b: GraphBuilder, v: Value) -> Value:
    """A new value of `v`'s shape computed from `v` (a second branch for Concat)."""
    ops = [o for o in ("Relu", "Sigmoid", "Tanh", "Identity")
           if b.offers(o) and (v.dtype.is_float or o in ("Relu", "Identity"))]
    if ops:
        return b.emit(b.pick(ops), [v], layout=b.layout_of(v))
    return v


@applier("Split", accepts=lambda b, v: v.type.rank >= 1 and max(v.shape) >= 1 and b.room(1),
         kinds=ANY)


def _split(b: GraphBuilder, v: Value):
    axis = b.pick([i for i, d in enumerate(v.shape) if d >= 1])
    n = v.shape[axis]
    parts = b.int_(1, min(3, n))
    cuts = sorted(b.draw(st.lists(st.integers(1, n - 1), min_size=parts - 1, max_size=parts - 1,
                                  unique=True))) if parts > 1 else []
    sizes = [e - s for s, e in zip([0] + cuts, cuts + [n])]
    b.emit("Split", [v], axis=axis, split=tuple(sizes), layout=b.layout_of(v))


@applier("Tile", accepts=lambda b, v: v.type.rank >= 1 and b.room(1), kinds=ANY)
def _tile(b: GraphBuilder, v: Value):
    repeats = tuple(b.int_(1, 2) if d * 2 <= MAX_DIM else 1 for d in v.shape)
    b.emit("Tile", [v], repeats=repeats, layout=b.layout_of(v))  # all ones: a no-op


@applier("Expand", accepts=lambda b, v: v.type.rank <= 4 and b.room(1), kinds=ANY)
def _expand(b: GraphBuilder, v: Value):
    shape = [b.int_(1, 3) if d == 1 else d for d in v.shape]  # grow size-1 axes
    if v.type.rank < 4 and b.chance(3):
        shape.insert(0, b.int_(1, 2))  # and maybe a leading axis
    b.emit("Expand", [v], shape=tuple(shape), layout=b.layout_of(v) if len(shape) == 4 else None)


@applier("GatherND", accepts=lambda b, v: v.type.rank >= 1 and b.room(1), kinds=ANY)
def _gather_nd(b: GraphBuilder, v: Value):
    r = v.type.rank
    batch = b.int_(0, r - 1)
    last = b.int_(1, r - batch)
    dims = np.asarray(v.shape[batch:batch + last])
    shape = list(v.shape[:batch]) + [b.int_(1, 3)] + [last]
    indices = (b.rng.random(shape) * 2 * dims - dims).astype(np.int64)  # in [-dim, dim)
    b.emit("GatherND", [v, b.const(indices, DType.i64)], batch_dims=batch)


@applier("GatherElements", accepts=lambda b, v: v.type.rank >= 1 and b.room(1), kinds=ANY)
def _gather_elements(b: GraphBuilder, v: Value):
    axis = b.int_(0, v.type.rank - 1)
    n = v.shape[axis]
    indices = b.rng.integers(-n, n, [b.int_(1, d) for d in v.shape])
    b.emit("GatherElements", [v, b.const(indices, DType.i64)], axis=axis)


@applier("Trilu", accepts=lambda b, v: v.type.rank >= 2 and b.room(1), kinds=ANY)
def _trilu(b: GraphBuilder, v: Value):
    b.emit("Trilu", [v], k=b.int_(-2, 2), upper=b.chance(2), layout=b.layout_of(v))


_REDUCTIONS = ["none", "add", "mul", "max", "min"]


@applier("ScatterND", accepts=lambda b, v: v.type.rank >= 1 and b.room(1))
def _scatter_nd(b: GraphBuilder, v: Value):
    last = b.int_(1, v.type.rank)
    rows = sorted({tuple(int(b.rng.integers(0, d)) for d in v.shape[:last])
                   for _ in range(b.int_(1, 4))})  # distinct: no update lands twice
    updates = b.random_const((len(rows), *v.shape[last:]), v.dtype)
    b.emit("ScatterND", [v, b.const(np.asarray(rows), DType.i64), updates],
           reduction=b.pick(_REDUCTIONS), layout=b.layout_of(v))


@applier("ScatterElements", accepts=lambda b, v: v.type.rank >= 1 and b.room(1))
def _scatter_elements(b: GraphBuilder, v: Value):
    axis = b.int_(0, v.type.rank - 1)
    n = v.shape[axis]
    shape = [b.int_(1, d) for d in v.shape]
    # a random permutation of each line along the axis, cut: distinct targets per line
    order = np.argsort(b.rng.random([n] + shape[:axis] + shape[axis + 1:]), axis=0)
    indices = np.moveaxis(order[:shape[axis]], 0, axis)
    b.emit("ScatterElements", [v, b.const(indices, DType.i64), b.random_const(shape, v.dtype)],
           axis=axis, reduction=b.pick(_REDUCTIONS), layout=b.layout_of(v))


@applier("Gather", accepts=lambda b, v: v.type.rank >= 1 and b.room(1), kinds=ANY)
def _gather(b: GraphBuilder, v: Value):
    axis = b.int_(0, v.type.rank - 1)
    n = v.shape[axis]
    k = b.int_(1, 4)
    indices = b.rng.integers(-n, n, size=() if b.chance(4) else (k,))  # scalar: drops the axis
    b.emit("Gather", [v, b.const(indices, DType.i64)], axis=axis)
