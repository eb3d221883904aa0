"""The activation buffer planner: values alive at the same time never share bytes, memory is reused
along chains, and reuse (including in-place ops) never corrupts a result."""

import numpy as np
from hypothesis import given, settings

from npucc.backends.simulator import compile_plan
from npucc.backends.simulator.buffers import ALIGN
from npucc.ir import Graph, TensorType, run_graph
from npucc.testing import graphs, random_inputs

RNG = np.random.default_rng(7)


def _live_ranges(plan):
    """(first step, last step, byte offset, byte end) per storage of the plan."""
    return [(s.first, s.last, s.offset, s.offset + -(-max(s.nbytes, 1) // ALIGN) * ALIGN)
            for s in plan.buffers.storages]


def assert_no_overlap(plan):
    ranges = _live_ranges(plan)
    for i, (f1, l1, o1, e1) in enumerate(ranges):
        assert 0 <= o1 and e1 <= plan.peak_activation_bytes + ALIGN
        for f2, l2, o2, e2 in ranges[i + 1:]:
            if f1 <= l2 and f2 <= l1:  # alive at a common step
                assert e1 <= o2 or e2 <= o1, "two live storages share bytes"


@settings(max_examples=40, deadline=None)
@given(graphs(max_nodes=14))
def test_live_storages_never_share_bytes(graph):
    assert_no_overlap(compile_plan(graph))


def test_chain_reuses_memory():
    """A chain of 8 same-size ops needs two buffers at most (in place: one), not eight."""
    g = Graph()
    x = g.add_input("x", TensorType((1, 16, 32, 32), "f32"))
    v = x
    for i in range(8):
        v = g.op(["Sigmoid", "Tanh"][i % 2], v)
    g.set_outputs([v])
    plan = compile_plan(g)
    size = 16 * 32 * 32 * 4
    assert plan.naive_activation_bytes == 9 * size
    assert plan.peak_activation_bytes <= 2 * size < plan.naive_activation_bytes
    x0 = RNG.standard_normal((1, 16, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(plan.run([x0])[0], run_graph(g, [x0])[0], rtol=1e-6)


def test_reuse_does_not_clobber_a_value_still_needed():
    """Skip connections keep early values alive across many steps while in-place ops and reused
    buffers churn around them; a planner that freed them early would corrupt the sums."""
    g = Graph()
    x = g.add_input("x", TensorType((2, 8, 6, 6), "f32"))
    a = g.op("Relu", x)                                 # alive until the very end
    b = g.op("Sigmoid", a)
    c = g.op("Tanh", b)
    d = g.op("Add", b, c)                               # b dies here: d may take its bytes
    e = g.op("Relu", d)                                 # in place over d
    f = g.op("Mul", e, g.add_constant(np.float32(3.0)))
    h = g.op("Sub", f, c)                               # c (born at step 2) still alive
    r = g.op("Reshape", h, shape=(2, 8, 36))            # a view: keeps h's storage alive
    s = g.op("Sigmoid", g.op("Reshape", a, shape=(2, 8, 36)))
    out = g.op("Add", g.op("Add", r, s), g.op("Reshape", x, shape=(2, 8, 36)))
    g.set_outputs([out, d])                             # d is an output: never overwritten
    plan = compile_plan(g)
    assert_no_overlap(plan)
    assert plan.peak_activation_bytes < plan.naive_activation_bytes
    for seed in range(3):
        x0 = np.random.default_rng(seed).standard_normal((2, 8, 6, 6)).astype(np.float32)
        for got, want in zip(plan.run([x0]), run_graph(g, [x0])):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_in_place_elementwise_shares_the_dying_input_buffer():
    g = Graph()
    x = g.add_input("x", TensorType((4, 4), "f32"))
    y = g.op("Sigmoid", x)
    z = g.op("Relu", y)  # y dies here: z is written over it
    g.set_outputs([z])
    plan = compile_plan(g)
    sy = plan.buffers.storage_of[id(y)]
    assert plan.buffers.storage_of[id(z)] is sy
    x0 = RNG.standard_normal((4, 4)).astype(np.float32)
    np.testing.assert_array_equal(plan.run([x0])[0], run_graph(g, [x0])[0])


def test_a_value_read_later_is_not_overwritten_in_place():
    g = Graph()
    x = g.add_input("x", TensorType((4, 4), "f32"))
    y = g.op("Sigmoid", x)
    z = g.op("Relu", y)      # y is read again below: z must not take its buffer
    w = g.op("Sub", y, z)
    g.set_outputs([w])
    plan = compile_plan(g)
    assert plan.buffers.storage_of[id(z)] is not plan.buffers.storage_of[id(y)]
    x0 = RNG.standard_normal((4, 4)).astype(np.float32)
    np.testing.assert_array_equal(plan.run([x0])[0], run_graph(g, [x0])[0])


@settings(max_examples=20, deadline=None)
@given(graphs(max_nodes=10))
def test_rerunning_with_other_inputs_gives_fresh_results(graph):
    plan = compile_plan(graph)
    for seed in (1, 2):
        inputs = random_inputs(graph, seed)
        for got, want in zip(plan.run(inputs), run_graph(graph, inputs)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
