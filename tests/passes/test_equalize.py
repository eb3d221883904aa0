"""Cross-layer equalization: the float function is kept (before/after on drawn inputs) and the
per-channel weight ranges of each equalized pair meet in the middle."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.ir import DType, Graph, TensorType
from npucc.numerics import run_graph
from npucc.passes.equalize import Equalize, equalize_graph, pairs
from npucc.testing import check_pass, conv_chains, random_inputs


@settings(max_examples=40, deadline=None)
@given(conv_chains(min_convs=2, max_convs=4))
def test_equalize_keeps_the_float_function(graph):
    check_pass(Equalize(), graph)


def _pair(seed: int, depthwise_middle: bool, act: str = "relu") -> Graph:
    """conv -> act -> [depthwise -> act ->] conv, output channels of the first scaled over
    three decades (what BN folding does to MobileNet)"""
    rng = np.random.default_rng(seed)
    g = Graph("pair")
    x = g.add_input("x", TensorType((1, 3, 9, 9), DType.f32))
    c = 8
    w1 = rng.normal(size=(c, 3, 3, 3)) * 10.0 ** rng.uniform(-2, 1, (c, 1, 1, 1))
    y = g.op("Conv", x, g.add_constant(w1.astype(np.float32)),
             g.add_constant(rng.normal(size=c).astype(np.float32)), pads=(1, 1, 1, 1),
             activation=act, activation_params=(0.0, 6.0) if act == "clip" else ())
    if depthwise_middle:
        wd = rng.normal(size=(c, 1, 3, 3)) * 10.0 ** rng.uniform(-1, 1, (c, 1, 1, 1))
        y = g.op("Conv", y, g.add_constant(wd.astype(np.float32)),
                 g.add_constant(rng.normal(size=c).astype(np.float32)), group=c,
                 pads=(1, 1, 1, 1), activation="relu")
    w2 = rng.normal(size=(4, c, 1, 1))
    g.set_outputs([g.op("Conv", y, g.add_constant(w2.astype(np.float32)))])
    return g


def _ranges(graph):
    return [(np.abs(a.inputs[1].const).reshape(a.inputs[1].shape[0], -1).max(1),
             np.abs(np.swapaxes(b.inputs[1].const, 0, 1) if b.attrs["group"] == 1
                    else b.inputs[1].const).reshape(a.inputs[1].shape[0], -1).max(1))
            for a, b in pairs(graph)]


def _spread(r):
    return float(r.max() / r.min())


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2 ** 31), st.booleans())
def test_ranges_meet_and_spread_shrinks(seed, depthwise_middle):
    g = _pair(seed, depthwise_middle)
    before = _ranges(g)
    # float32 sums in another order: the error is relative to the terms, which span decades
    check_pass(Equalize(), g, rtol=1e-3, atol=1e-4)
    after = _ranges(equalize_graph(g))
    for e1, e2 in after:  # each pair ends with equal ranges per channel (1 % stopping rule)
        np.testing.assert_allclose(e1, e2, rtol=0.05)
    if not depthwise_middle:  # sqrt(r1 r2) spreads no more than the wider of r1, r2
        (r1, r2), (e1, _) = before[0], after[0]
        assert _spread(e1) <= max(_spread(r1), _spread(r2)) * 1.0001
    assert max(map(_spread, after[0])) < max(map(_spread, before[0]))


def test_relu6_pairs_are_skipped_unless_relaxed():
    g = _pair(3, False, act="clip")
    assert pairs(g) == []
    assert not Equalize().run(g.copy()).changed
    relaxed = equalize_graph(g, relu6="relu")
    assert [a.attrs["activation"] for a, _ in pairs(relaxed)] == ["relu"]
    # relaxed = the same network with ReLU in place of ReLU6, equalized
    x = random_inputs(g, seed=0)
    want = run_graph(_pair(3, False, act="relu"), x)[0]
    np.testing.assert_allclose(run_graph(relaxed, x)[0], want, rtol=1e-4,
                               atol=1e-4 * float(np.abs(want).max()))

