"""The applier table: how each op is applied to an existing value (`APPLIERS`, `@applier`), and the
acceptance helpers appliers share."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import attrs

from npucc.ir import OPS, DType, Value
from npucc.registry import Registry

from .builder import NHWC_TO_NCHW, GraphBuilder

# Ops whose output jumps when an input moves by one ulp (rounding to an integer grid, an index,
# a select). A pass that legitimately reorders float math before them (a fusion) can move an
# output by a whole step, so they are left out of the default mix; ask for them with
# `graphs(ops=...)`. (Derived appliers find their own: see derived.py.)
DISCONTINUOUS_OPS = frozenset({"Cast", "QuantizeLinear", "DequantizeLinear", "Ceil", "Floor",
                               "Round", "Sign", "ArgMax", "ArgMin", "Where", "TopK",
                               "NonMaxSuppression"})


@attrs.frozen
class Applier:
    """How to apply one op to an existing value.

    accepts(builder, value) -> bool: the op can take `value` as its main operand (and the node
      budget has room for the nodes it will add).
    apply(builder, value) -> None: draw attributes/partners and add the node(s).
    kinds: dtype kinds the op supports ("float", "int", "bool").
    uses: other ops the applier adds as glue (all must exist for the op to be offered).
    """

    op: str
    accepts: Callable[[GraphBuilder, Value], bool]
    apply: Callable[[GraphBuilder, Value], None]
    kinds: frozenset[str] = frozenset({"float"})
    uses: tuple[str, ...] = ()

    def available(self) -> bool:
        return self.op in OPS and all(u in OPS for u in self.uses)

    def supports(self, dtype: DType) -> bool:
        return ("float" if dtype.is_float else "int" if dtype.is_int else "bool") in self.kinds


APPLIERS: Registry[Applier] = Registry("graph applier", duplicates="replace")  # hand-written
FLOAT = frozenset({"float"})
ANY = frozenset({"float", "int"})


def applier(op: str, *, accepts: Callable[[GraphBuilder, Value], bool],
            kinds: Iterable[str] = FLOAT, uses: Sequence[str] = ()):
    """Decorator: register `fn(builder, value)` as the applier of `op` (replacing any other)."""

    def register(fn):
        APPLIERS[op] = Applier(op, accepts, fn, frozenset(kinds), tuple(uses))
        return fn

    return register


def any_rank(b, v):
    return b.room(1)


def spatial(b, v):
    """A 4-D value a spatial op may take (as NCHW, through Transposes if it is NHWC)."""
    return (v.type.rank == 4 and b.room(1 + b.wrap_cost(v))
            and (b.layout_of(v) != "NHWC" or "Transpose" in OPS))


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def window(b: GraphBuilder, size: int, *, max_kernel: int = 3, dilation: bool = True,
            pad_limit: Callable[[int], int] = lambda k: k - 1) -> tuple[int, int, int, int, int]:
    """Kernel, stride, dilation and the two pads for one spatial axis of length `size`; the
    dilated window fits the unpadded input: (k - 1) * d + 1 <= size."""
    k = b.int_(1, min(max_kernel, size))
    s = b.int_(1, 2)
    limit = pad_limit(k)
    p0, p1 = b.int_(0, limit), b.int_(0, limit)
    d = 1
    if dilation and k > 1 and (k - 1) * 2 + 1 <= size and b.chance(3):  # no all-padding taps
        d = 2
    return k, s, d, p0, p1


def nchw_shape(b: GraphBuilder, v: Value) -> tuple[int, ...]:
    """The NCHW shape of a 4-D value (transposed if it is NHWC)."""
    return tuple(v.shape[i] for i in NHWC_TO_NCHW) if b.layout_of(v) == "NHWC" else v.shape
