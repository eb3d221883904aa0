"""The plan computes what the reference interpreter computes, on hypothesis-drawn graphs."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from npucc.backends.simulator import compile_plan
from npucc.ir import run_graph
from npucc.testing import graphs, random_inputs, tolerance_for


def _check(graph, seed):
    inputs = random_inputs(graph, seed)
    expected = run_graph(graph, inputs)
    plan = compile_plan(graph)
    for _ in range(2):  # a second run must not see leftovers of the first in reused buffers
        got = plan.run(inputs)
        for v, e, g in zip(graph.outputs, expected, got):
            rtol, atol = tolerance_for(v.dtype)
            assert g.shape == e.shape and g.dtype == e.dtype, v.name
            np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"%{v.name}\n{graph}")


@settings(max_examples=60, deadline=None)
@given(graphs(max_nodes=12), st.integers(0, 2**16))
def test_plan_matches_interpreter_on_float_graphs(graph, seed):
    _check(graph, seed)


@settings(max_examples=25, deadline=None)
@given(graphs(max_nodes=8, dtypes=("f32", "f16", "i32", "u8"), layout=None),
       st.integers(0, 2**16))
def test_plan_matches_interpreter_on_mixed_dtype_graphs(graph, seed):
    _check(graph, seed)
