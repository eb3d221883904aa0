"""The graph strategies grow with the op registry: every registered op is drawn (by a hand-written
applier, one derived from its declaration, or as another applier's glue) or excused with a
reason in NOT_DRAWN; a newly declared elementwise op joins graphs() without an applier."""

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

from npucc.ir import OPS
from npucc.ir.registry import define_op, same_as_input
from npucc.ir.verify import verify
from npucc.testing import NOT_DRAWN, check_pass, graphs
from npucc.testing.strategies import derive, drawable, undrawable

FIND = settings(max_examples=300, database=None, deadline=None, phases=[Phase.generate],
                suppress_health_check=list(HealthCheck))  # no shrinking: any example will do


def test_every_registered_op_is_drawn_or_excused():
    missing = undrawable()
    assert not missing, (
        "registered ops that no strategy draws (write an applier with "
        "npucc.testing.strategies.applier, or list the op in NOT_DRAWN with a reason): "
        + "; ".join(f"{op}: {why}" for op, why in sorted(missing.items())))
    assert all(op in OPS and reason for op, reason in NOT_DRAWN.items())


def _dtype_for(applier) -> str:
    return "f32" if "float" in applier.kinds else "i32" if "int" in applier.kinds else "bool"


@pytest.mark.parametrize("op", sorted(drawable()[0]))
def test_each_drawable_op_appears_in_drawn_graphs(op):
    applier = drawable()[0][op]
    fallback = [] if _dtype_for(applier) == "bool" else ["Identity"]  # when op cannot apply
    g = find(graphs(ops=[op, *fallback], dtypes=(_dtype_for(applier),), max_nodes=4),
             lambda g: any(n.op == op for n in g.nodes), settings=FIND)
    verify(g)


@pytest.mark.parametrize("op, discontinuous, positive", [
    ("Floor", True, False), ("Ceil", True, False), ("Round", True, False), ("Sign", True, False),
    ("Relu", False, False), ("Tanh", False, False), ("Exp", False, False),
    ("Log", False, True), ("Sqrt", False, True), ("Reciprocal", False, True),
])
def test_derivation_agrees_with_what_we_know_of_an_op(op, discontinuous, positive):
    d = derive(OPS[op])
    assert d.discontinuous is discontinuous and d.positive[0] is positive
    assert "float" in d.kinds


@pytest.fixture
def cube_op():
    """An elementwise op declared by a 'new contributor' with no applier."""
    name = "TestCubePlusOne"

    @define_op(name, inputs=("X",), infer=same_as_input)
    def cube_plus_one(x):
        """x ** 3 + 1"""
        return (x * x * x + 1).astype(x.dtype)

    yield name
    del OPS[name]


def test_a_new_elementwise_op_joins_the_default_mix(cube_op):
    table, discontinuous = drawable()
    assert cube_op in table and cube_op not in discontinuous
    g = find(graphs(), lambda g: any(n.op == cube_op for n in g.nodes), settings=FIND)

    @settings(max_examples=10, deadline=None, database=None)
    @given(graphs(ops=[cube_op, "Relu"], max_nodes=5))
    def cleanups_keep_it_right(graph):  # and the drawn graphs are usable by pass tests
        check_pass("cleanup", graph)

    cleanups_keep_it_right()
    x = np.linspace(-3, 3, 5, dtype=np.float32)
    node = next(n for n in g.nodes if n.op == cube_op)
    np.testing.assert_allclose(node.opdef.evaluate([x], {})[0], x ** 3 + 1, rtol=1e-6)
