"""The graph strategies draw valid, runnable graphs of the promised shape and bait."""

import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from npucc.ir import DType, Graph, TensorType, run_graph
from npucc.ir.verify import verify
from npucc.testing import (
    APPLIERS,
    DISCONTINUOUS_OPS,
    applier,
    graphs,
    inputs_for,
    quant_params,
    random_inputs,
    tensor_types,
)
from npucc.testing.strategies import NCHW_TO_NHWC, NHWC_TO_NCHW, drawable

SPATIAL = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
           "GlobalMaxPool", "Resize"}
FIND = settings(max_examples=1000, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))


def depends_on_input(graph: Graph, value) -> bool:
    stack, seen = [value], set()
    while stack:
        v = stack.pop()
        if any(v is i for i in graph.inputs):
            return True
        if v.producer is not None and id(v) not in seen:
            seen.add(id(v))
            stack.extend(x for x in v.producer.inputs if x is not None)
    return False


def live_nodes(graph: Graph) -> set[int]:
    """ids of nodes some graph output depends on."""
    live, stack = set(), [v.producer for v in graph.outputs if v.producer is not None]
    while stack:
        n = stack.pop()
        if id(n) not in live:
            live.add(id(n))
            stack.extend(v.producer for v in n.inputs if v is not None and v.producer is not None)
    return live


CONFIGS = [
    dict(layout="NCHW"),
    dict(layout="NHWC"),
    dict(layout=None, dtypes=("f16",)),
    dict(layout=None, dtypes=("i8", "u8", "i32")),
    dict(layout=None, dtypes=("f32", "i32"), ops=sorted(APPLIERS)),
    dict(layout=None, dtypes=("f32", "i32", "bool"), ops=sorted(drawable()[0])),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(
    f"{k}={v if k != 'ops' else 'all'}" for k, v in c.items()))
def test_drawn_graphs_verify_and_run(config):
    @settings(max_examples=80)
    @given(st.data())
    def check(data):
        g = data.draw(graphs(max_nodes=10, **config))
        verify(g)
        assert 1 <= len(g) <= 10
        assert g.outputs and all(v.producer is not None and depends_on_input(g, v)
                                 for v in g.outputs)
        outs = run_graph(g, data.draw(inputs_for(g)))
        for v, a in zip(g.outputs, outs):
            assert a.shape == v.shape and a.dtype == v.dtype.numpy
            if v.dtype.is_float:
                assert np.isfinite(a).all(), f"non-finite output %{v.name}\n{g}"

    check()


@settings(max_examples=50)
@given(graphs(min_nodes=6, max_nodes=6))
def test_node_count_is_within_bounds(g):
    assert len(g) == 6


@settings(max_examples=60)
@given(graphs(ops=["Conv", "MaxPool", "Relu"], layout="NHWC", max_nodes=8))
def test_nhwc_graphs_transpose_around_spatial_ops(g):
    (x,) = [v for v in g.inputs][:1]
    assert all(n.op in {"Conv", "MaxPool", "Relu", "Transpose", "Add"} for n in g.nodes)
    for n in g.nodes:
        if n.op in SPATIAL:  # reads NCHW data made from the NHWC input by Transpose(0,3,1,2)
            src = n.inputs[0].producer
            assert src is not None and src.op == "Transpose" and src.attrs["perm"] == NHWC_TO_NCHW
    readers = [u.node for u in x.uses]
    assert all(r.op != "Transpose" or r.attrs["perm"] == NHWC_TO_NCHW for r in readers)


def test_nhwc_results_are_transposed_back():
    g = find(graphs(ops=["Conv"], layout="NHWC", max_nodes=3),
             lambda g: any(n.op == "Conv" for n in g.nodes), settings=FIND)
    conv = next(n for n in g.nodes if n.op == "Conv")
    assert [u.node.attrs["perm"] for u in conv.output.uses if u.node.op == "Transpose"] == \
        [NCHW_TO_NHWC]


@settings(max_examples=60)
@given(graphs(ops=["Relu", "Add"], allow_constants_only_nodes=False))
def test_no_constants_only_nodes_when_disallowed(g):
    for n in g.nodes:
        assert not all(v is None or v.is_constant for v in n.inputs), n


def test_graphs_contain_cse_bait():
    def has_duplicate(g):
        seen = set()
        for n in g.nodes:
            key = (n.op, tuple(id(v) for v in n.inputs), tuple(sorted(map(repr, n.attrs.items()))))
            if key in seen:
                return True
            seen.add(key)
        return False

    assert has_duplicate(find(graphs(), has_duplicate, settings=FIND))


def test_graphs_contain_dce_bait():
    def has_dead_node(g):
        return len(live_nodes(g)) < len(g)

    assert has_dead_node(find(graphs(), has_dead_node, settings=FIND))


def test_graphs_contain_fold_bait():
    def has_constant_subexpression(g):
        return any(all(v is None or v.is_constant for v in n.inputs) for n in g.nodes)

    assert has_constant_subexpression(find(graphs(), has_constant_subexpression, settings=FIND))


@pytest.mark.parametrize("op, is_noop", [
    ("Transpose", lambda n: tuple(n.attrs["perm"]) == tuple(range(len(n.attrs["perm"])))),
    ("Pad", lambda n: not any(n.attrs["pads"])),
    ("Reshape", lambda n: n.output.shape == n.inputs[0].shape),
    ("Identity", lambda n: True),
])
def test_graphs_contain_noop_bait(op, is_noop):
    def has_noop(g):
        return any(n.op == op and is_noop(n) for n in g.nodes)

    assert has_noop(find(graphs(ops=[op, "Relu"]), has_noop, settings=FIND))


def test_default_mix_leaves_out_discontinuous_ops():
    discontinuous = drawable()[1]
    assert DISCONTINUOUS_OPS <= discontinuous and {"Mod", "Equal", "IsNaN"} <= discontinuous

    @settings(max_examples=100)
    @given(graphs())
    def check(g):
        assert not {n.op for n in g.nodes} & discontinuous

    check()


@pytest.mark.parametrize("kwargs, message", [
    (dict(ops=["NoSuchOp"]), "no graph applier"),
    (dict(min_nodes=3, max_nodes=2), "min_nodes"),
    (dict(layout="HWCN"), "layout"),
    (dict(dtypes=("f99",)), "dtype"),
])
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        graphs(**kwargs)


def test_custom_applier_is_used(monkeypatch):
    monkeypatch.setitem(APPLIERS, "Relu", APPLIERS["Relu"])  # restored after the test

    @applier("Relu", accepts=lambda b, v: b.room(2))
    def relu_twice(b, v):
        b.emit("Relu", [b.emit("Relu", [v])])

    @settings(max_examples=30)
    @given(graphs(ops=["Relu"], min_nodes=2, max_nodes=4))
    def check(g):
        relus = [n for n in g.nodes if n.op == "Relu"]
        # every Relu reads an input or another Relu; pairs come from the custom applier
        assert any(n.inputs[0].producer is not None and n.inputs[0].producer.op == "Relu"
                   for n in relus)

    check()


def _graph_with_inputs(*types):
    g = Graph("inputs")
    for i, t in enumerate(types):
        g.add_input(f"x{i}", t)
    g.set_outputs([g.op("Identity", v) for v in g.inputs])
    return g


def test_random_inputs_ranges_and_determinism():
    g = _graph_with_inputs(TensorType((4, 64), "f32"), TensorType((512,), "u8"),
                           TensorType((512,), "i32"), TensorType((64,), "bool"),
                           TensorType((3, 3), "f16"))
    a, b, c = random_inputs(g, 7), random_inputs(g, 7), random_inputs(g, 8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    for v, arr in zip(g.inputs, a):
        assert arr.shape == v.shape and arr.dtype == v.dtype.numpy
    assert -3 <= a[0].min() and a[0].max() <= 3
    assert a[1].min() < 64 and a[1].max() > 192  # u8 uses its whole range
    assert -1000 <= a[2].min() and a[2].max() <= 1000
    assert a[3].any() and not a[3].all()


@settings(max_examples=40)
@given(st.data())
def test_inputs_for_matches_the_graph(data):
    g = data.draw(graphs(dtypes=("f32", "f16", "i8"), max_nodes=4))
    arrays = data.draw(inputs_for(g))
    assert len(arrays) == len(g.inputs)
    for v, a in zip(g.inputs, arrays):
        assert a.shape == v.shape and a.dtype == v.dtype.numpy
        if v.dtype.is_float:
            assert np.all(np.abs(a) <= 3)


@settings(max_examples=100)
@given(st.data())
def test_quant_params_fit_their_dtype_and_shape(data):
    dtype = data.draw(st.sampled_from(["u8", "i8", "i16", "i32"]))
    shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    q = data.draw(quant_params(dtype, shape=shape))
    TensorType(shape, dtype, q)  # validates zero points, bit width and axis against the type
    assert q.bits <= DType(dtype).bits
    half = 2 ** (q.bits - 1)
    lo, hi = (-half, half - 1) if dtype != "u8" else (0, 2 * half - 1)
    assert all(lo <= z <= hi for z in q.zero_point)
    if q.axis is not None:
        assert len(q.scale) == shape[q.axis]


@settings(max_examples=100)
@given(tensor_types(("f32", "u8", "i8"), min_rank=1, max_rank=3, quantized=True))
def test_tensor_types_quantize_integer_types(t):
    assert 1 <= t.rank <= 3 and all(1 <= d <= 8 for d in t.shape)
    assert (t.quant is not None) == t.dtype.is_int
