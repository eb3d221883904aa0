"""`graphs()`: grow a random valid graph op by op from the applier table, with bait for the cleanup
passes (duplicated nodes, all-constant subexpressions)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from npucc.ir import DType, Graph, Value

from .appliers import Applier
from .builder import LAYOUTS, MAX_SIDE, GraphBuilder
from .derived import drawable
from .elementwise import broadcast_shapes, broadcasts_to


def _mix(ops: Iterable[str] | None) -> list[Applier]:
    """The appliers of `ops` (default: every continuous drawable op), hand-written or derived
    from the op's declaration (derived.py)."""
    table, discontinuous = drawable()
    if ops is None:
        return [a for op, a in table.items() if op not in discontinuous and a.available()]
    ops = list(ops)
    unknown = [op for op in ops if op not in table]
    if unknown:
        raise InvalidArgument(f"no graph applier for op(s) {unknown}; drawable: {sorted(table)} "
                              "(register one with npucc.testing.strategies.applier)")
    missing = [op for op in ops if not table[op].available()]
    if missing:
        raise InvalidArgument(f"op(s) {missing} (or the ops they use) are not in the registry")
    return [table[op] for op in ops]


def _fits(a: Applier, b: GraphBuilder, v: Value) -> bool:
    return a.supports(v.dtype) and a.accepts(b, v)


def _duplicate_node(b: GraphBuilder) -> bool:
    """CSE bait: add a copy of an existing node (same op, inputs and attributes) and, sometimes,
    combine the copy with the original so both stay live."""
    nodes = [n for n in b.graph.nodes if not b.is_const_derived(n.outputs[0])]
    if not nodes or not b.room(1):
        return False
    node = b.pick(nodes[::-1])
    # a copy of a node whose outputs are hidden (an NCHW intermediate of a TF-style graph) stays
    # hidden too, so later ops see the same graph shape as with the original
    hidden = not any(out in b.pool for out in node.outputs)
    dup = b.emit(node.op, list(node.inputs), layout=b.layout_of(node.outputs[0]), hidden=hidden,
                 **dict(node.attrs))
    if isinstance(dup, Value) and node.output.dtype.is_float and b.room(1) and b.chance(2) \
            and b.offers("Add"):
        b.emit("Add", [node.output, dup], layout=b.layout_of(node.output))
    return True


def _fold_bait(b: GraphBuilder, v: Value) -> None:
    """Fold bait: `v op f(constants)`, where f is a small all-constant subexpression."""
    ops = [o for o in ("Add", "Mul", "Sub") if b.offers(o)]
    if not ops or not b.offers("Relu") or not v.dtype.is_float:
        return
    shape = b.pick(broadcast_shapes(b, v))
    c = b.emit("Relu", [b.random_const(shape, v.dtype, -1.0, 1.0)])
    if b.room(3) and b.offers("Transpose") and len(shape) >= 2:
        reverse = tuple(range(len(shape)))[::-1]
        c = b.emit("Transpose", [c], perm=reverse)
        if not broadcasts_to(c.shape, v.shape):
            c = b.emit("Transpose", [c], perm=reverse)  # back: a transpose pair to fold
    b.emit(b.pick(ops), [v, c], layout=b.layout_of(v))


def _input_shape(draw, layout: str) -> tuple[int, ...]:
    n = draw(st.sampled_from([1, 1, 2]))
    c = draw(st.integers(1, MAX_SIDE))
    h = draw(st.integers(1, MAX_SIDE))
    w = draw(st.integers(1, MAX_SIDE))
    return (n, c, h, w) if layout == "NCHW" else (n, h, w, c)


@st.composite
def _graphs(draw, mix, min_nodes, max_nodes, dtypes, layouts, allow_constants_only_nodes):
    dtype = draw(st.sampled_from(dtypes))
    layout = draw(st.sampled_from(layouts))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    target = draw(st.integers(min_nodes, max_nodes))
    every = mix
    names = [a.op for a in every]
    b = GraphBuilder(draw, np.random.default_rng(seed), max_nodes, dtypes,
                     allow_constants_only_nodes, names)
    appliers = [a for a in every if a.supports(dtype)]
    if not appliers:
        raise InvalidArgument(f"no op in {names} supports dtype {dtype.value}")
    shape = _input_shape(draw, layout)
    b.input(shape, dtype, layout)
    if draw(st.integers(0, 3)) == 3:
        b.input(shape, dtype, layout)  # a second input, a partner for binary ops and Concat
    stuck = 0
    while len(b.graph) < target and stuck < 20:
        before = len(b.graph)
        bait = b.int_(0, 11)  # shrinks to 0: a plain op step
        if bait == 11:
            _duplicate_node(b)
        elif bait == 10 and allow_constants_only_nodes and b.room(3):
            _fold_bait(b, b.pick(list(reversed(b.pool))))
        else:
            live = list(reversed(b.pool))  # newest first: shrinks to chains
            usable = [a for a in every if any(_fits(a, b, v) for v in live)]
            if not usable:
                break
            a = draw(st.sampled_from(usable))
            a.apply(b, draw(st.sampled_from([v for v in live if _fits(a, b, v)])))
        stuck = stuck + 1 if len(b.graph) == before else 0
    live = b.live_values()
    if not live:  # nothing applied to an input: use the first op that can, ignoring the budget
        b.max_nodes = len(b.graph) + 3
        for a in appliers:
            if a.accepts(b, b.pool[0]):
                a.apply(b, b.pool[0])
                break
        live = b.live_values()
    if not live:
        raise InvalidArgument(f"no op in {names} applies to a {dtype.value}{list(shape)} input")
    primary = live[-1]
    others = [v for v in live if v is not primary]
    extra = draw(st.lists(st.sampled_from(others), max_size=2, unique=True)) if others else []
    b.graph.set_outputs([primary] + extra)
    return b.graph


def graphs(ops: Iterable[str] | None = None, min_nodes: int = 1, max_nodes: int = 12,
           dtypes: Sequence[str | DType] = ("f32",), layout: str | None = "NCHW",
           allow_constants_only_nodes: bool = True) -> st.SearchStrategy[Graph]:
    """Strategy drawing valid random graphs (verifier-clean, runnable by the interpreter).

    ops: op names to draw from (default: every registered op with a hand-written or derived
      applier, except the discontinuous ones: DISCONTINUOUS_OPS and derived ones whose output
      jumps). Glue ops (a Transpose around a spatial op on NHWC data, a Flatten before Gemm)
      may appear even when not in `ops`.
    min_nodes, max_nodes: bounds on the node count (min_nodes is met unless no op applies).
    dtypes: element types of graph inputs (one is drawn per graph; Cast may mix them).
    layout: "NCHW" (4-D NCHW input), "NHWC" (NHWC input, with Transposes to and from NCHW around
      spatial ops, as a TensorFlow import has them), or None to draw either.
    allow_constants_only_nodes: allow nodes whose inputs are all constants (fold bait).

    Inputs are 4-D with N <= 2 and C, H, W <= 8; values stay small so graphs run fast.
    """
    if not 1 <= min_nodes <= max_nodes:
        raise InvalidArgument(f"need 1 <= min_nodes <= max_nodes, got {min_nodes}, {max_nodes}")
    if layout not in (*LAYOUTS, None):
        raise InvalidArgument(f"layout must be one of {LAYOUTS} or None, got {layout!r}")
    try:
        dts = tuple(d if isinstance(d, DType) else DType(d) for d in dtypes)
    except ValueError as e:
        raise InvalidArgument(f"bad dtype in {dtypes}: {e}") from None
    if not dts:
        raise InvalidArgument("dtypes must not be empty")
    return _graphs(_mix(ops), min_nodes, max_nodes, dts, LAYOUTS if layout is None else (layout,),
                   allow_constants_only_nodes)
