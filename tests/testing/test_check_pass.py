"""check_pass runs a pass on a copy and reports what it did; its failures show the graphs."""

from typing import ClassVar

import attrs
import numpy as np
import pytest

from npucc.ir import Graph, TensorType
from npucc.passes import Pass, PassResult, get_pass
from npucc.testing import PassCheck, check_pass


def graph_with_dead_branch() -> Graph:
    g = Graph("g")
    x = g.add_input("x", TensorType((1, 4), "f32"))
    g.op("Sigmoid", x, name="dead")
    y = g.op("Relu", x, name="y")
    g.set_outputs([y])
    return g


def test_report_of_a_changing_pass():
    g = graph_with_dead_branch()
    text = str(g)
    report = check_pass("dce", g)
    assert isinstance(report, PassCheck)
    assert report.changed and report.counts["nodes"] == 1
    assert [n.op for n in report.after.nodes] == ["Relu"]
    assert [n.op for n in report.before.nodes] == ["Sigmoid", "Relu"]
    assert report.idempotence_checked  # dce declares idempotent = True
    assert str(g) == text  # the caller's graph is untouched


def test_pass_instance_class_and_pipeline_forms():
    dce = get_pass("dce")
    for spec in (dce(), "dce", [dce()], "cse,dce"):
        assert check_pass(spec, graph_with_dead_branch()).changed
    assert not check_pass("cse,dce", graph_with_dead_branch()).idempotence_checked
    assert check_pass("cse,dce", graph_with_dead_branch(), idempotent=True).idempotence_checked


@attrs.frozen
class AppendIdentity(Pass):
    """Adds an Identity on the first output every time it runs (so it is not idempotent)."""

    name: ClassVar[str] = "append-identity"
    idempotent: ClassVar[bool] = False

    def run(self, graph):
        out = graph.outputs[0]
        graph.set_outputs([graph.op("Identity", out)] + list(graph.outputs[1:]))
        return PassResult(True, {"identities": 1})


def test_idempotence_is_checked_when_declared_or_asked():
    g = graph_with_dead_branch()
    assert not check_pass(AppendIdentity(), g).idempotence_checked  # declares idempotent=False
    with pytest.raises(AssertionError, match="not idempotent"):
        check_pass(AppendIdentity(), g, idempotent=True)


def test_invalid_input_graph_is_reported_as_such():
    g = graph_with_dead_branch()
    relu = next(n for n in g.nodes if n.op == "Relu")
    relu.outputs[0].type = TensorType((2, 4), "f32")  # lie about the type, behind the API
    with pytest.raises(AssertionError, match="check_pass was given an invalid graph"):
        check_pass("dce", g)


@attrs.frozen
class ScaleOutput(Pass):
    """Multiplies the first output by `factor` (a numerics-changing pass)."""

    name: ClassVar[str] = "scale-output"
    idempotent: ClassVar[bool] = False
    factor: float = 2.0

    def run(self, graph):
        out = graph.outputs[0]
        c = graph.add_constant(np.float32(self.factor))
        graph.set_outputs([graph.op("Mul", out, c)])
        return True


def test_failure_message_shows_graphs_and_tolerances_can_be_widened():
    g = graph_with_dead_branch()
    with pytest.raises(AssertionError) as e:
        check_pass(ScaleOutput(), g)
    text = str(e.value)
    assert "changed the numerics" in text and "max abs error" in text
    assert "--- graph before ---" in text and "--- graph after ---" in text
    assert "Mul" in text.split("--- graph after ---")[1]
    # a 0.1% change passes with a wide enough tolerance, or with numerics off
    check_pass(ScaleOutput(1.001), g, rtol=2e-3)
    check_pass(ScaleOutput(3.0), g, numerics=False)


def test_explicit_inputs_are_used():
    g = graph_with_dead_branch()
    negative = [np.full((1, 4), -1.0, np.float32)]
    check_pass(ScaleOutput(), g, inputs=negative)  # Relu(x) = 0 for x < 0: 2 * 0 == 0
