"""Hypothesis strategies for property-testing passes: random valid graphs, their inputs, tensor
types and quantization parameters.

    from hypothesis import given
    from npucc.testing import graphs, check_pass

    @given(graphs(max_nodes=10))
    def test_my_pass(graph):
        check_pass(MyPass(), graph)

`graphs()` grows a graph op by op. Each step picks an op from the mix and an existing value the op
can apply to, and draws attributes that fit that value (a Conv's kernel, stride, padding, dilation
and group fit its spatial size and channels; pools get valid windows; Concat finds or makes
partners of compatible shape; ...). Weights and other constants are small random values from a
seed drawn by hypothesis. The graphs deliberately contain work for cleanup passes: duplicated
nodes (CSE), dead branches (DCE), all-constant subexpressions (constant folding) and no-op shaped
ops (an identity Transpose, a zero Pad, a same-shape Reshape...).

Ops are drawn through a table of per-op *appliers* (`APPLIERS`, keyed by op name). Only ops that
exist in the registry (`npucc.ir.OPS`) are offered, so the strategy covers new ops as they land;
register an applier for your own op with `@applier("MyOp", ...)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import attrs
import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.extra import numpy as hnp

from npucc.ir import OPS, DType, Graph, QuantParams, TensorType, Value
from npucc.testing.inputs import INPUT_RANGE, int_input_range, random_inputs  # noqa: F401

MAX_SIDE = 8  # largest spatial size / channel count drawn (keeps the interpreter fast)
MAX_DIM = 2 * MAX_SIDE  # no drawn value has a dimension above this (Concat, Pad may grow a side)

# Ops whose output jumps when an input moves by one ulp (rounding to an integer grid). A pass that
# legitimately reorders float math before them (a fusion) can move an output by a whole step, so
# they are left out of the default mix; ask for them with `graphs(ops=...)`.
DISCONTINUOUS_OPS = frozenset({"Cast", "QuantizeLinear", "DequantizeLinear", "Ceil", "Floor",
                               "Round", "Sign"})

LAYOUTS = ("NCHW", "NHWC")
NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_TO_NCHW = (0, 3, 1, 2)


# --------------------------------------------------------------------------------------------
# The builder: a graph being grown, plus what the appliers need to know about its values
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# The applier table
# --------------------------------------------------------------------------------------------

@attrs.frozen
class Applier:
    """How to apply one op to an existing value.

    accepts(builder, value) -> bool: the op can take `value` as its main operand (and the node
      budget has room for the nodes it will add).
    apply(builder, value) -> None: draw attributes/partners and add the node(s).
    kinds: dtype kinds the op supports ("float", "int").
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


APPLIERS: dict[str, Applier] = {}
FLOAT = frozenset({"float"})
ANY = frozenset({"float", "int"})


def applier(op: str, *, accepts: Callable[[GraphBuilder, Value], bool],
            kinds: Iterable[str] = FLOAT, uses: Sequence[str] = ()):
    """Decorator: register `fn(builder, value)` as the applier of `op` (replacing any other)."""

    def register(fn):
        APPLIERS[op] = Applier(op, accepts, fn, frozenset(kinds), tuple(uses))
        return fn

    return register


def _rank(*ranks):
    return lambda b, v: v.type.rank in ranks and b.room(1)


def _any_rank(b, v):
    return b.room(1)


def _spatial(b, v):
    """A 4-D value a spatial op may take (as NCHW, through Transposes if it is NHWC)."""
    return (v.type.rank == 4 and b.room(1 + b.wrap_cost(v))
            and (b.layout_of(v) != "NHWC" or "Transpose" in OPS))


# ---- elementwise: unary ----

def _activation_attrs(b: GraphBuilder) -> dict:
    """A fused activation for Conv/Gemm/MatMul: mostly none."""
    kind = b.pick(["none", "none", "relu", "leaky_relu", "clip", "sigmoid", "hard_swish"])
    params = {"leaky_relu": (0.1,), "clip": (0.0, 6.0)}.get(kind, ())
    return {"activation": kind, "activation_params": params}


_UNARY_ATTRS: dict[str, Callable[[GraphBuilder, Value], dict]] = {
    "Relu": lambda b, v: {},
    "Sigmoid": lambda b, v: {},
    "Tanh": lambda b, v: {},
    "Mish": lambda b, v: {},
    "HardSwish": lambda b, v: {},
    "LeakyRelu": lambda b, v: {"alpha": b.pick([0.01, 0.1, 0.2])},
    "HardSigmoid": lambda b, v: {"alpha": b.pick([0.2, 1 / 6]), "beta": 0.5},
    # bounds inside the value's type (unsigned types have no -1)
    "Clip": lambda b, v: {"min": b.pick([0.0, -1.0] if v.dtype is not DType.u8 else [0.0, 1.0]),
                          "max": b.pick([6.0, 1.0] if v.dtype is not DType.u8 else [6.0, 100.0])},
    "Identity": lambda b, v: {},
    "Abs": lambda b, v: {},
    "Neg": lambda b, v: {},
    "Elu": lambda b, v: {"alpha": b.pick([1.0, 0.5])},
    "Selu": lambda b, v: {},
    "Gelu": lambda b, v: {"approximate": b.pick(["none", "tanh"])},
    "Erf": lambda b, v: {},
    "Softplus": lambda b, v: {},
    "Softsign": lambda b, v: {},
    "Sin": lambda b, v: {},
    "Cos": lambda b, v: {},
    # discontinuous (only when asked for)
    "Ceil": lambda b, v: {},
    "Floor": lambda b, v: {},
    "Round": lambda b, v: {},
    "Sign": lambda b, v: {},
}


def _make_unary(op: str):
    def apply(b: GraphBuilder, v: Value):
        b.emit(op, [v], layout=b.layout_of(v), **_UNARY_ATTRS[op](b, v))
    int_ok = op in ("Relu", "Clip", "Identity")
    applier(op, accepts=_any_rank, kinds=ANY if int_ok else FLOAT)(apply)


for _op in _UNARY_ATTRS:
    _make_unary(_op)


# ---- elementwise: binary ----

def _broadcast_shapes(b: GraphBuilder, v: Value) -> list[tuple[int, ...]]:
    """Constant shapes that broadcast to `v` without growing it: scalar, per-channel, full."""
    s = v.shape
    out: list[tuple[int, ...]] = [(), (1,)]
    if s:
        out.append((s[-1],))
    if len(s) == 4 and b.layout_of(v) != "NHWC":
        out.append((s[1], 1, 1))  # NCHW per-channel
    out.append(tuple(s))
    return out


def constant_operand(b: GraphBuilder, shape, dtype: DType, *, nonzero: bool = False) -> Value:
    """A constant of `shape`; sometimes (fold bait) an all-constant subexpression instead."""
    lo, hi = (-2.0, 2.0)
    if (b.allow_constants_only_nodes and dtype.is_float and b.room(2)
            and b.offers("Add", "Mul") and b.chance(2)):
        # (c1 op c2), from constants only: constant folding should make it one constant. Both
        # operands are positive, and so is the result unless it is a Sub (never for a divisor).
        c1 = b.random_const(shape, dtype, 0.5, 1.5)
        c2 = b.random_const(shape, dtype, 0.25, 0.75)
        ops = ["Add", "Mul"] + [o for o in ("Max", "Sub")
                                if b.offers(o) and not (nonzero and o == "Sub")]
        out = b.emit(b.pick(ops), [c1, c2])
        if b.room(2) and b.chance(2) and b.offers("Relu"):
            out = b.emit("Relu", [out])
        return out
    if nonzero:
        return b.random_const(shape, dtype, 0.5, 2.0, away_from_zero=0.5) if dtype.is_float \
            else b.random_const(shape, dtype, 1, 3, away_from_zero=1)
    return b.random_const(shape, dtype, lo, hi)


def _broadcasts_to(shape, target) -> bool:
    """Whether `shape` broadcasts to exactly `target`."""
    try:
        return tuple(np.broadcast_shapes(shape, target)) == tuple(target)
    except ValueError:
        return False


def _partners(b: GraphBuilder, v: Value) -> list[Value]:
    """Other pool values that broadcast with `v` to exactly `v`'s shape."""
    return [w for w in b.pool
            if w is not v and w.dtype == v.dtype and _broadcasts_to(w.shape, v.shape)]


def _make_binary(op: str):
    def apply(b: GraphBuilder, v: Value):
        partners = [] if op == "Div" else _partners(b, v)  # never divide by a live value
        if partners and b.chance(2):
            other = b.pick(partners)
        else:
            shape = b.pick(_broadcast_shapes(b, v))
            other = constant_operand(b, shape, v.dtype, nonzero=(op == "Div"))
        args = [other, v] if op != "Div" and b.chance(3) else [v, other]
        b.emit(op, args, layout=b.layout_of(v))
    applier(op, accepts=_any_rank, kinds=FLOAT if op == "Div" else ANY)(apply)


for _op in ("Add", "Sub", "Mul", "Div", "Max", "Min"):
    _make_binary(_op)


@applier("PRelu", accepts=_any_rank)
def _prelu(b: GraphBuilder, v: Value):
    shapes = [s for s in _broadcast_shapes(b, v) if s != ()]
    slope = b.random_const(b.pick(shapes), v.dtype, 0.0, 0.5)
    b.emit("PRelu", [v, slope], layout=b.layout_of(v))


# ---- convolutions and dense ----

def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _window(b: GraphBuilder, size: int, *, max_kernel: int = 3, dilation: bool = True,
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


@applier("Conv", accepts=_spatial)
def _conv(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    n, c, h, w = x.shape
    group = b.pick(_divisors(c))
    per_group = b.int_(1, max(1, MAX_SIDE // group))
    if b.chance(3) and group == c:
        per_group = 1  # depthwise
    m = group * per_group
    kh, sh, dh, pt, pb = _window(b, h)
    kw, sw, dw, pl, pr = _window(b, w)
    wt = b.weights((m, c // group, kh, kw), (c // group) * kh * kw, x.dtype)
    bias = b.random_const((m,), x.dtype, -0.5, 0.5) if b.chance(2) else None
    inputs = [x, wt] + ([bias] if bias is not None else [])
    out = b.emit("Conv", inputs, strides=(sh, sw), pads=(pt, pl, pb, pr), dilations=(dh, dw),
                 group=group, **_activation_attrs(b))
    b.restore(out, v)


def _conv_transpose_axis(b: GraphBuilder, size: int) -> tuple[int, int, int, int, int]:
    """(kernel, stride, pad_begin, pad_end, output_padding) with an output size in 1..MAX_SIDE."""
    k = b.int_(1, 3)
    s = b.int_(1, 2)
    p0, p1 = b.int_(0, k - 1), b.int_(0, k - 1)
    op = b.int_(0, s - 1)
    out = s * (size - 1) + op + k - p0 - p1
    if not 1 <= out <= MAX_SIDE:
        return 1, 1, 0, 0, 0  # output = input size
    return k, s, p0, p1, op


@applier("ConvTranspose", accepts=_spatial)
def _conv_transpose(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    n, c, h, w = x.shape
    group = b.pick(_divisors(c))
    m = group * b.int_(1, max(1, MAX_SIDE // group))
    kh, sh, pt, pb, oph = _conv_transpose_axis(b, h)
    kw, sw, pl, pr, opw = _conv_transpose_axis(b, w)
    wt = b.weights((c, m // group, kh, kw), (c // group) * kh * kw, x.dtype)
    bias = b.random_const((m,), x.dtype, -0.5, 0.5) if b.chance(2) else None
    inputs = [x, wt] + ([bias] if bias is not None else [])
    out = b.emit("ConvTranspose", inputs, strides=(sh, sw), pads=(pt, pl, pb, pr),
                 dilations=(1, 1), group=group, output_padding=(oph, opw),
                 **_activation_attrs(b))
    b.restore(out, v)


def _as_matrix(b: GraphBuilder, v: Value) -> Value:
    """`v` if 2-D, else Flatten(v, axis=1)."""
    return v if v.type.rank == 2 else b.emit("Flatten", [v], axis=1)


def _matrix_like(b, v):
    if v.type.rank < 2 or not b.room(1 + (v.type.rank != 2)):
        return False
    return v.type.rank == 2 or ("Flatten" in OPS and math.prod(v.shape[1:]) <= 512)


@applier("Gemm", accepts=_matrix_like)
def _gemm(b: GraphBuilder, v: Value):
    a = _as_matrix(b, v)
    trans_a = int(b.chance(4))
    m_, k_ = a.shape[::-1] if trans_a else a.shape
    n_ = b.int_(1, MAX_SIDE)
    trans_b = int(b.chance(2))
    wt = b.weights((n_, k_) if trans_b else (k_, n_), k_, a.dtype)
    inputs = [a, wt]
    if b.chance(2):
        inputs.append(b.random_const(b.pick([(n_,), (m_, n_)]), a.dtype, -0.5, 0.5))
    b.emit("Gemm", inputs, alpha=b.pick([1.0, 0.5]), beta=b.pick([1.0, 2.0]), transA=trans_a,
           transB=trans_b, **_activation_attrs(b))


@applier("MatMul", accepts=lambda b, v: v.type.rank >= 2 and b.room(1))
def _matmul(b: GraphBuilder, v: Value):
    k_ = v.shape[-1]
    n_ = b.int_(1, MAX_SIDE)
    shape = (k_, n_) if b.chance(3) or v.type.rank == 2 else v.shape[:-2] + (k_, n_)
    b.emit("MatMul", [v, b.weights(shape, k_, v.dtype)], **_activation_attrs(b))


@applier("BatchNorm", accepts=lambda b, v: v.type.rank == 2 and b.room(1) or _spatial(b, v))
def _batch_norm(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    c = x.shape[1]
    params = [b.random_const((c,), x.dtype, 0.5, 1.5), b.random_const((c,), x.dtype, -0.5, 0.5),
              b.random_const((c,), x.dtype, -0.5, 0.5), b.random_const((c,), x.dtype, 0.5, 2.0)]
    b.restore(b.emit("BatchNorm", [x] + params, epsilon=1e-5, layout="NCHW"), v)


for _op in ("Softmax", "LogSoftmax"):
    def _softmax(b: GraphBuilder, v: Value, _op=_op):
        b.emit(_op, [v], axis=b.int_(-v.type.rank, v.type.rank - 1), layout=b.layout_of(v))
    applier(_op, accepts=lambda b, v: v.type.rank >= 1 and b.room(1))(_softmax)


# ---- pooling ----

def _pool_axis(b: GraphBuilder, size: int, dilation: bool):
    """One axis of a pool window, with a valid ceil_mode choice: (k, s, d, p0, p1, ceil_ok).
    Pads stay <= k // 2 (the rule most frameworks share), and ceil mode is only allowed when
    the extra window it adds starts inside the input or its begin padding."""
    k, s, d, p0, p1 = _window(b, size, dilation=dilation, pad_limit=lambda k: k // 2)
    ek = (k - 1) * d + 1
    span = size + p0 + p1 - ek
    ceil_out = -(-span // s) + 1
    ceil_ok = (ceil_out - 1) * s < size + p0
    return k, s, d, p0, p1, ceil_ok


def _make_pool(op: str):
    def apply(b: GraphBuilder, v: Value):
        x = b.to_nchw(v)
        kh, sh, dh, pt, pb, ok_h = _pool_axis(b, x.shape[2], op == "MaxPool")
        kw, sw, dw, pl, pr, ok_w = _pool_axis(b, x.shape[3], op == "MaxPool")
        ceil_mode = int(ok_h and ok_w and b.chance(3))
        attrs_ = dict(kernel_shape=(kh, kw), strides=(sh, sw), pads=(pt, pl, pb, pr),
                      ceil_mode=ceil_mode)
        if op == "MaxPool":
            attrs_["dilations"] = (dh, dw)
        else:
            attrs_["count_include_pad"] = int(b.chance(2))
        b.restore(b.emit(op, [x], layout="NCHW", **attrs_), v)
    applier(op, accepts=_spatial, kinds=ANY if op == "MaxPool" else FLOAT
            )(apply)


for _op in ("MaxPool", "AveragePool"):
    _make_pool(_op)

for _op in ("GlobalAveragePool", "GlobalMaxPool"):
    def _global_pool(b: GraphBuilder, v: Value, _op=_op):
        b.restore(b.emit(_op, [b.to_nchw(v)], layout="NCHW"), v)
    applier(_op, accepts=_spatial)(_global_pool)


@applier("Resize", accepts=_spatial)
def _resize(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    n, c, h, w = x.shape
    if b.chance(5):
        oh, ow = h, w  # no-op resize
    else:
        oh, ow = b.int_(1, MAX_SIDE), b.int_(1, MAX_SIDE)
    mode = b.pick(["nearest", "linear"])
    ctms = ["half_pixel", "asymmetric", "pytorch_half_pixel"]
    if min(oh, ow) > 1:
        ctms.append("align_corners")  # divides by (output size - 1)
    if mode == "nearest":
        ctms.append("tf_half_pixel_for_nn")
    out = b.emit("Resize", [x], sizes=(n, c, oh, ow), mode=mode,
                 coordinate_transformation_mode=b.pick(ctms),
                 nearest_mode=b.pick(["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]),
                 layout="NCHW")
    b.restore(out, v)


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
        if s and len(_divisors(s[i])) > 2:
            f = b.pick(_divisors(s[i])[1:-1])
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


def _make_reduce(op: str):
    def apply(b: GraphBuilder, v: Value):
        r = v.type.rank
        axes = sorted(b.draw(st.lists(st.integers(0, r - 1), min_size=1, max_size=r, unique=True)))
        keep = int(b.pick([1, 0]))
        b.emit(op, [v], axes=tuple(axes), keepdims=keep, layout=b.layout_of(v) if keep else None)
    applier(op, accepts=lambda b, v: v.type.rank >= 1 and b.room(1))(apply)


# (ReduceProd is left out: a product over up to 512 drawn values overflows)
for _op in ("ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin", "ReduceL1", "ReduceL2",
            "ReduceSumSquare", "ReduceLogSumExp"):
    _make_reduce(_op)


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


@applier("DepthToSpace", accepts=lambda b, v: _spatial(b, v) and _nchw_shape(b, v)[1] % 4 == 0
         and 2 * max(_nchw_shape(b, v)[2:]) <= MAX_DIM)
def _depth_to_space(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    out = b.emit("DepthToSpace", [x], blocksize=2, mode=b.pick(["DCR", "CRD"]), layout="NCHW")
    b.restore(out, v)


def _nchw_shape(b: GraphBuilder, v: Value) -> tuple[int, ...]:
    """The NCHW shape of a 4-D value (transposed if it is NHWC)."""
    return tuple(v.shape[i] for i in NHWC_TO_NCHW) if b.layout_of(v) == "NHWC" else v.shape


def _even_spatial(b, v):
    if not _spatial(b, v):
        return False
    n, c, h, w = _nchw_shape(b, v)
    return h % 2 == 0 and w % 2 == 0 and c * 4 <= MAX_DIM


@applier("SpaceToDepth", accepts=_even_spatial)
def _space_to_depth(b: GraphBuilder, v: Value):
    b.restore(b.emit("SpaceToDepth", [b.to_nchw(v)], blocksize=2, layout="NCHW"), v)


@applier("LRN", accepts=_spatial)
def _lrn(b: GraphBuilder, v: Value):
    x = b.to_nchw(v)
    out = b.emit("LRN", [x], size=b.pick([1, 3, 5]), alpha=1e-4, beta=0.75, bias=1.0,
                 layout="NCHW")
    b.restore(out, v)


# Normalizations divide by the spread of a region: over fewer than 4 elements it can be ~0 and
# amplify a pass's legitimate rounding differences past the tolerance, so regions are >= 4.
@applier("InstanceNorm", accepts=lambda b, v: _spatial(b, v)
         and math.prod(_nchw_shape(b, v)[2:]) >= 4)
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


@applier("Gather", accepts=lambda b, v: v.type.rank >= 1 and b.room(1), kinds=ANY)
def _gather(b: GraphBuilder, v: Value):
    axis = b.int_(0, v.type.rank - 1)
    n = v.shape[axis]
    k = b.int_(1, 4)
    indices = b.rng.integers(-n, n, size=() if b.chance(4) else (k,))  # scalar: drops the axis
    b.emit("Gather", [v, b.const(indices, DType.i64)], axis=axis)


# ---- casts and quantization (discontinuous: not in the default mix) ----

@applier("Cast", accepts=_any_rank, kinds=ANY)
def _cast(b: GraphBuilder, v: Value):
    to = b.pick([v.dtype] + [d for d in b.dtypes if d is not v.dtype])
    b.emit("Cast", [v], to=to, layout=b.layout_of(v))


@applier("QuantizeLinear", accepts=lambda b, v: b.room(2), uses=("DequantizeLinear",))
def _quant_round_trip(b: GraphBuilder, v: Value):
    """QuantizeLinear then DequantizeLinear (what a QDQ model looks like). The quantized value is
    read only by its DequantizeLinear: an op reading it would have to run in integer arithmetic
    (npucc.numerics), whose kernels require consistently quantized operands and outputs."""
    dtype = b.pick([DType.u8, DType.i8])
    lo, hi = dtype.int_range
    scale = b.pick([0.05, 0.02, 0.1])
    zp = b.int_(lo + 64, hi - 64) if dtype is DType.u8 else b.int_(-8, 8)
    q = b.emit("QuantizeLinear", [v], scale=(scale,), zero_point=(zp,), dtype=dtype, hidden=True)
    b.emit("DequantizeLinear", [q], scale=(scale,), zero_point=(zp,), layout=b.layout_of(v))


# --------------------------------------------------------------------------------------------
# graphs()
# --------------------------------------------------------------------------------------------

def _mix(ops: Iterable[str] | None) -> list[str]:
    if ops is None:
        return [op for op, a in APPLIERS.items() if op not in DISCONTINUOUS_OPS and a.available()]
    ops = list(ops)
    unknown = [op for op in ops if op not in APPLIERS]
    if unknown:
        raise InvalidArgument(f"no graph applier for op(s) {unknown}; known: {sorted(APPLIERS)} "
                              "(register one with npucc.testing.strategies.applier)")
    missing = [op for op in ops if not APPLIERS[op].available()]
    if missing:
        raise InvalidArgument(f"op(s) {missing} (or the ops they use) are not in the registry")
    return ops


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
    shape = b.pick(_broadcast_shapes(b, v))
    c = b.emit("Relu", [b.random_const(shape, v.dtype, -1.0, 1.0)])
    if b.room(3) and b.offers("Transpose") and len(shape) >= 2:
        reverse = tuple(range(len(shape)))[::-1]
        c = b.emit("Transpose", [c], perm=reverse)
        if not _broadcasts_to(c.shape, v.shape):
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
    b = GraphBuilder(draw, np.random.default_rng(seed), max_nodes, dtypes,
                     allow_constants_only_nodes, mix)
    every = [APPLIERS[op] for op in mix]
    appliers = [a for a in every if a.supports(dtype)]
    if not appliers:
        raise InvalidArgument(f"no op in {mix} supports dtype {dtype.value}")
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
        raise InvalidArgument(f"no op in {mix} applies to a {dtype.value}{list(shape)} input")
    primary = live[-1]
    others = [v for v in live if v is not primary]
    extra = draw(st.lists(st.sampled_from(others), max_size=2, unique=True)) if others else []
    b.graph.set_outputs([primary] + extra)
    return b.graph


def graphs(ops: Iterable[str] | None = None, min_nodes: int = 1, max_nodes: int = 12,
           dtypes: Sequence[str | DType] = ("f32",), layout: str | None = "NCHW",
           allow_constants_only_nodes: bool = True) -> st.SearchStrategy[Graph]:
    """Strategy drawing valid random graphs (verifier-clean, runnable by the interpreter).

    ops: op names to draw from (default: every op with an applier that is in the registry,
      except the discontinuous ones in DISCONTINUOUS_OPS). Glue ops (a Transpose around a spatial
      op on NHWC data, a Flatten before Gemm) may appear even when not in `ops`.
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


# --------------------------------------------------------------------------------------------
# Inputs, types, quantization parameters
# --------------------------------------------------------------------------------------------

def _elements(dtype: DType) -> st.SearchStrategy:
    if dtype.is_float:
        width = 16 if dtype is DType.f16 else 32
        return st.floats(-INPUT_RANGE, INPUT_RANGE, width=width, allow_subnormal=False)
    if dtype is DType.bool:
        return st.booleans()
    return st.integers(*int_input_range(dtype))


def inputs_for(graph: Graph) -> st.SearchStrategy[list[np.ndarray]]:
    """Strategy drawing one array per graph input (same value ranges as `random_inputs`), so
    hypothesis can shrink a failing input too."""
    return st.tuples(*(hnp.arrays(v.dtype.numpy, v.shape, elements=_elements(v.dtype))
                       for v in graph.inputs)).map(list)


def quant_params(dtype: str | DType = "u8", *, shape: Sequence[int] | None = None,
                 schemes: Sequence[str] = ("affine", "dfp"),
                 per_axis: bool | None = None) -> st.SearchStrategy[QuantParams]:
    """Strategy drawing QuantParams valid for an integer `dtype` (and for `shape` when given:
    per-axis params then pick an axis of it; per_axis=None draws either). The bit width is at
    most the dtype's, and zero points lie in the range of that bit width."""
    dt = DType(dtype) if isinstance(dtype, str) else dtype
    if not dt.is_int:
        raise InvalidArgument(f"quantized tensors have an integer dtype, got {dt.value}")
    signed = dt.int_range[0] < 0
    scales = st.floats(1e-4, 1.0, allow_subnormal=False)
    axis_ok = shape is not None and len(shape) > 0 and per_axis is not False

    @st.composite
    def draw_params(draw):
        bits = draw(st.sampled_from([b for b in (8, 4, 16, 32) if b <= dt.bits]))
        scheme = draw(st.sampled_from(list(schemes)))
        if scheme == "dfp" and signed:  # symmetric: signed types, 8/16 bits (32/64: biases)
            dfp_bits = [b for b in (8, 16, 32, 64) if b <= dt.bits]
            return QuantParams.dfp(draw(st.integers(-8, 16)), bits=draw(st.sampled_from(dfp_bits)))
        # zero points inside the range of the bit width (which fits inside the storage type)
        zps = st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed \
            else st.integers(0, 2 ** bits - 1)
        if axis_ok and (per_axis or draw(st.booleans())):
            axis = draw(st.integers(0, len(shape) - 1))
            n = shape[axis]
            return QuantParams.affine(draw(st.lists(scales, min_size=n, max_size=n)),
                                      draw(st.lists(zps, min_size=n, max_size=n)),
                                      axis=axis, bits=bits)
        return QuantParams.affine(draw(scales), draw(zps), bits=bits)

    return draw_params()


def tensor_types(dtypes: Sequence[str | DType] = ("f32",), *, min_rank: int = 0,
                 max_rank: int = 4, max_side: int = MAX_SIDE,
                 quantized: bool | None = False) -> st.SearchStrategy[TensorType]:
    """Strategy drawing TensorTypes. quantized=True attaches QuantParams to integer types (float
    types stay unquantized), None draws either."""
    dts = [d if isinstance(d, DType) else DType(d) for d in dtypes]

    @st.composite
    def draw_type(draw):
        dt = draw(st.sampled_from(dts))
        shape = tuple(draw(st.lists(st.integers(1, max_side), min_size=min_rank,
                                    max_size=max_rank)))
        quant = None
        want_quant = quantized if quantized is not None else draw(st.booleans())
        if want_quant and dt.is_int:
            quant = draw(quant_params(dt, shape=shape))
        return TensorType(shape, dt, quant)

    return draw_type()
