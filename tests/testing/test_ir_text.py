"""IR-text pass tests: CHECK lines, check_rewrite, and failures that read as IR."""

from typing import ClassVar

import attrs
import pytest
from hypothesis import given, settings

from npucc.errors import PassError
from npucc.passes import Pass, PassResult, ValidateEach, run_passes
from npucc.testing import (
    CheckFailure,
    assert_checks,
    check_pass,
    check_rewrite,
    graphs,
    parse_ir,
)

TEXT = """graph m(%x: f32[4]) -> (%out) {
  %k = const f32[4] dense<2.0>
  %a = Add(%x, %k) : f32[4]
  %r = Relu(%a) : f32[4]
  %out = Mul(%r, %k) : f32[4]
  return %out
}"""


def test_check_next_and_not():
    assert_checks(TEXT, """
        CHECK: %a = Add(%x, %k)
        CHECK-NEXT: %r = Relu(%a)
        CHECK-NOT: Sigmoid
        CHECK: return   %out""")
    with pytest.raises(CheckFailure, match=r"CHECK-NEXT: %out = Mul \(check line 2\) does not "
                                           r"match the next line, line 4: %r = Relu"):
        assert_checks(TEXT, "CHECK: %a = Add\nCHECK-NEXT: %out = Mul")
    with pytest.raises(CheckFailure, match=r"CHECK-NOT: Relu \(check line 1\) matched line 4"):
        assert_checks(TEXT, "CHECK-NOT: Relu\nCHECK: Mul")
    with pytest.raises(CheckFailure, match=r"CHECK: Relu \(check line 2\) matches no line from "
                                           r"line 6 on"):
        assert_checks(TEXT, "CHECK: Mul\nCHECK: Relu")  # order matters


def test_regex_and_captured_names():
    assert_checks(TEXT, r"""
        CHECK: %[[K:\w+]] = const f32[{{\d+}}]
        CHECK: %a = Add(%x, %[[K]])
        CHECK: Mul(%r, %[[K]])""")
    with pytest.raises(CheckFailure, match="matches no line"):
        assert_checks(TEXT, r"CHECK: %[[A:\w+]] = Add" "\n" r"CHECK: Relu(%[[A]]) : f32[8]")
    with pytest.raises(CheckFailure, match=r"\[\[Z\]\] is used before a check captured it"):
        assert_checks(TEXT, "CHECK: %[[Z]]")
    with pytest.raises(ValueError, match="no CHECK"):
        assert_checks(TEXT, "nothing to check")


def test_check_rewrite_whole_graph_counts_and_unchanged():
    report = check_rewrite(TEXT, "cse,dce", TEXT, counts={"constants": 0, "nodes": 0},
                           exact=True)
    assert not report.changed
    check_rewrite(TEXT, "dce", None)
    with pytest.raises(AssertionError, match=r"the counts are \{'nodes': 0, 'constants': 0\}, "
                                             r"expected \{'nodes': 1\}"):
        check_rewrite(TEXT, "dce", None, counts={"nodes": 1})
    dead = TEXT.replace("  return %out", "  %d = Sigmoid(%x) : f32[4]\n  return %out")
    with pytest.raises(AssertionError, match="the graph changed, expected no change"):
        check_rewrite(dead, "dce", None)
    with pytest.raises(AssertionError) as e:
        check_rewrite(dead, "dce", dead)  # expected a graph the pass does not produce
    assert "node counts differ: 3 vs 4" in str(e.value)
    assert "--- graph after ---" in str(e.value) and "--- expected ---" in str(e.value)


@attrs.frozen
class ReluToAbs(Pass):
    """Replaces Relu by Abs (wrong on purpose)."""

    name: ClassVar[str] = "relu-to-abs"

    def run(self, graph):
        n = 0
        for node in list(graph.nodes):
            if node.op == "Relu":
                abs_ = graph.op("Abs", node.inputs[0], name="r2", before=node)
                graph.replace_all_uses_with(node.output, abs_)
                graph.erase(node)
                n += 1
        return PassResult(n > 0, {"relus": n})


def test_a_wrong_pass_is_reported_at_the_first_differing_value():
    with pytest.raises(AssertionError) as e:
        check_pass(ReluToAbs(), parse_ir(TEXT))
    text = str(e.value)
    # the output %out differs, and the first value that differs is Abs's output: %a is shared
    # and identical, %r2 is new (no same-named value before), %out is the first common one
    assert "output 0 (%out) differs on random inputs (seed 0)" in text
    assert "first differing value: %out[" in text and "computed by Mul" in text
    assert "atol 1e-05 + rtol 0.0001 * |expected|" in text
    assert "%r2 = Abs(%a)" in text.split("--- graph after ---")[1]
    # the validate-each instrument says the same, from the same comparison
    with pytest.raises(PassError, match=r"(?s)failed the ValidateEach check.*the outputs changed: "
                                        r"output 0 \(%out\) differs.*first differing value: %out"):
        run_passes(parse_ir(TEXT), [ReluToAbs()], [ValidateEach()])


def test_drawn_graphs_pretty_print_as_ir_text(capsys):
    @settings(max_examples=5, database=None, deadline=None)
    @given(graphs(ops=["Relu"], max_nodes=2))
    def always_fails(graph):
        raise AssertionError("falsify")

    with pytest.raises(AssertionError, match="falsify") as e:
        always_fails()
    printed = "\n".join(getattr(e.value, "__notes__", [])) + capsys.readouterr().out
    # hypothesis's heading: "Falsifying example" up to 6.16x, "Failing test case" since 6.170
    assert "Falsifying example" in printed or "Failing test case" in printed
    assert "graph=graph drawn(%x: f32[" in printed and "= Relu(%x)" in printed
    assert "<Graph drawn" not in printed
