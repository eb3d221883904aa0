"""The pytest plugin turns the verify-each instrument on by fixture, marker or ini option."""

import contextvars

import pytest

pytest_plugins = ["pytester"]

PROBE = """
import pytest
from npucc.passes import VerifyEach
from npucc.passes.instruments import current_default_instruments

def active():
    return any(isinstance(i, VerifyEach) for i in current_default_instruments())

def test_fixture(npucc_verify_each):
    assert active()

@pytest.mark.npucc_verify_each
def test_marker():
    assert active()

def test_plain():
    assert active() == {expect_plain}
"""


@pytest.mark.parametrize("ini, expect_plain", [("", False), ("npucc_verify_each = true", True)])
def test_verify_each_by_fixture_marker_and_ini(pytester, ini, expect_plain):
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(PROBE.format(expect_plain=expect_plain))
    # a fresh context: this suite's own verify-each scope must not leak into the inner run
    result = contextvars.Context().run(pytester.runpytest_inprocess, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_verify_each_catches_a_pass_that_breaks_the_graph(pytester):
    pytester.makepyfile("""
        import pytest
        from npucc.errors import PassError
        from npucc.ir import Graph, TensorType
        from npucc.passes import Pass, PassManager

        class Breaker(Pass):
            '''Lies about an output type behind the mutation API.'''
            name = "breaker"

            def run(self, graph):
                graph.outputs[0].type = TensorType((9,), "f32")
                return True

        def test_broken(npucc_verify_each):
            g = Graph("g")
            x = g.add_input("x", TensorType((2,), "f32"))
            g.set_outputs([g.op("Relu", x)])
            with pytest.raises(PassError, match="verif"):
                PassManager([Breaker()]).run(g)
    """)
    result = contextvars.Context().run(pytester.runpytest_inprocess, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
