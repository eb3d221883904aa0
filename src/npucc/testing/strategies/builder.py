"""The graph being drawn: `GraphBuilder` holds the graph, its value pool and layout tags, and the
drawing helpers appliers use."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from hypothesis import strategies as st

from npucc.ir import OPS, DType, Graph, TensorType, Value

MAX_SIDE = 8  # largest spatial size / channel count drawn (keeps the interpreter fast)
MAX_DIM = 2 * MAX_SIDE  # no drawn value has a dimension above this (Concat, Pad may grow a side)
LAYOUTS = ("NCHW", "NHWC")
NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_TO_NCHW = (0, 3, 1, 2)


class GraphBuilder:
    """State of one graph being drawn. Appliers read values and add nodes through it.

    `pool` holds the values ops may apply to (graph inputs and node outputs that depend on an
    input); values computed from constants only are tracked apart (they are fold bait and are
    never graph outputs). `layout_of(v)` is "NHWC" for 4-D values in TF layout: spatial appliers
    wrap them in Transposes to and from NCHW, as a TensorFlow import does.
    """

    def __init__(self, draw, rng: np.random.Generator, max_nodes: int, dtypes: Sequence[DType],
                 allow_constants_only_nodes: bool, mix: Iterable[str] = (), name: str = "drawn"):
        self.draw = draw
        self.mix = frozenset(mix)
        self.rng = rng
        self.graph = Graph(name)
        self.max_nodes = max_nodes
        self.dtypes = tuple(dtypes)
        self.allow_constants_only_nodes = allow_constants_only_nodes
        self.pool: list[Value] = []
        self._const_derived: set[int] = set()
        self._layout: dict[int, str] = {}

    # ---- reading ----
    def room(self, n: int) -> bool:
        """Whether n more nodes fit in the node budget."""
        return len(self.graph) + n <= self.max_nodes

    def layout_of(self, v: Value) -> str | None:
        return self._layout.get(id(v))

    def is_const_derived(self, v: Value) -> bool:
        return v.is_constant or id(v) in self._const_derived

    def wrap_cost(self, v: Value) -> int:
        """Extra nodes a spatial op on `v` needs (a Transpose in and out for NHWC values)."""
        return 2 if self.layout_of(v) == "NHWC" else 0

    def offers(self, *ops: str) -> bool:
        """Whether every op in `ops` is in the drawn mix (bait and branches use only those)."""
        return all(op in self.mix and op in OPS for op in ops)

    # ---- drawing helpers ----
    def int_(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, max(lo, hi)))

    def pick(self, options: Sequence):
        """One of `options`; hypothesis shrinks towards the first."""
        return self.draw(st.sampled_from(list(options)))

    def chance(self, one_in: int) -> bool:
        """True about once in `one_in` draws (shrinks to False)."""
        return self.draw(st.integers(0, one_in - 1)) == one_in - 1

    # ---- building ----
    def input(self, shape, dtype: DType, layout: str | None = None) -> Value:
        v = self.graph.add_input(self.graph.unique_name("x"), TensorType(shape, dtype))
        self.pool.append(v)
        if layout:
            self._layout[id(v)] = layout
        return v

    def const(self, array, dtype: DType) -> Value:
        return self.graph.add_constant(np.asarray(array), self.graph.unique_name("c"), dtype=dtype)

    def random_const(self, shape, dtype: DType, lo: float = -1.0, hi: float = 1.0, *,
                     away_from_zero: float = 0.0) -> Value:
        """A constant of small random values in [lo, hi] (|x| >= away_from_zero if given)."""
        if dtype.is_float:
            a = self.rng.uniform(lo, hi, size=shape)
            if away_from_zero:
                a = np.where(np.abs(a) < away_from_zero, np.copysign(away_from_zero, a), a)
        elif dtype is DType.bool:
            a = self.rng.integers(0, 2, size=shape).astype(bool)
        else:
            tlo, thi = dtype.int_range
            a = self.rng.integers(max(tlo, int(lo) - 1), min(thi, int(hi) + 1) + 1, size=shape)
            if away_from_zero:
                a = np.where(a == 0, 1, a)
        return self.const(a, dtype)

    def weights(self, shape, fan_in: int, dtype: DType) -> Value:
        """Random weights with variance 1/fan_in, so activations keep a unit scale."""
        bound = math.sqrt(3.0 / max(1, fan_in))
        return self.random_const(shape, dtype, -bound, bound)

    def emit(self, op: str, inputs: Sequence[Value | None], *, layout: str | None = None,
             hidden: bool = False, **attrs_) -> Value | tuple[Value, ...]:
        """Add a node (attributes the op's schema does not declare are dropped) and register its
        outputs; `layout` tags 4-D outputs; `hidden` outputs are not offered to later ops."""
        schema = OPS[op].attrs
        node = self.graph.add_node(op, inputs, {k: v for k, v in attrs_.items() if k in schema})
        const_only = all(v is None or self.is_const_derived(v) for v in inputs)
        for out in node.outputs:
            if const_only:
                self._const_derived.add(id(out))
            elif not hidden:
                self.pool.append(out)
            if layout and out.type.rank == 4:
                self._layout[id(out)] = layout
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def to_nchw(self, v: Value) -> Value:
        """`v` itself, or Transpose(v) to NCHW when `v` is an NHWC value (that transposed value
        is not offered to other ops: in TF-style graphs every spatial op is wrapped)."""
        if self.layout_of(v) == "NHWC":
            return self.emit("Transpose", [v], perm=NHWC_TO_NCHW, layout="NCHW", hidden=True)
        return v

    def restore(self, out: Value, like: Value) -> Value:
        """Transpose a spatial op's NCHW result back to NHWC when its input `like` was NHWC."""
        if self.layout_of(like) == "NHWC" and out.type.rank == 4:
            if out in self.pool:
                self.pool.remove(out)
            return self.emit("Transpose", [out], perm=NCHW_TO_NHWC, layout="NHWC")
        return out

    def live_values(self) -> list[Value]:
        """Node outputs that depend on a graph input (candidates for graph outputs)."""
        return [v for v in self.pool if v.producer is not None]
