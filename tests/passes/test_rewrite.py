"""Pattern matching (with reasons for every no) and the greedy fixed-point rewrite driver."""

from __future__ import annotations

import attrs
import numpy as np
import pytest

from npucc.errors import PassError
from npucc.ir import run_graph
from npucc.passes import (
    Any,
    Const,
    NoMatch,
    Op,
    PassManager,
    RewritePass,
    Rule,
    apply_rewrites,
    match,
    register_pass,
)
from npucc.testing import assert_ir, check_rewrite, parse_ir

CONV_RELU = Op("Relu", Op("Conv", Any("x"), Const("w"), Any("b", optional=True), name="conv",
                          single_use=True), name="relu")

CONV = """
graph m(%x: f32[1,2,5,5]) -> (%r) {
  %w = const f32[3,2,3,3] dense<0.5>
  %b = const f32[3] dense<[0.1, 0.2, 0.3]>
  %c1 = Conv(%x, %w, %b) {pads=[1, 1, 1, 1]} : f32[1,3,5,5] loc("conv1")
  %r = Relu(%c1) : f32[1,3,5,5] loc("relu1")
  return %r
}
"""


def node_of(graph, name):
    return graph.value(name).producer


def fuse_conv_relu(m, rw):
    conv = m["conv"]
    return rw.op("Conv", m["x"], m["w"], m["b"], **{**conv.attrs, "activation": "relu"})


def test_match_binds_nodes_and_values():
    g = parse_ir(CONV)
    m = match(CONV_RELU, node_of(g, "r"))
    assert m and m.root is node_of(g, "r")
    assert m["conv"] is node_of(g, "c1") and m["relu"] is m.root
    assert m["x"] is g.value("x") and m["w"] is g.value("w") and m["b"] is g.value("b")
    assert [n.op for n in m.nodes] == ["Conv", "Relu"]
    with pytest.raises(KeyError, match="binds no 'y'"):
        m["y"]


def test_optional_input_absent_binds_none():
    g = parse_ir(CONV.replace("Conv(%x, %w, %b)", "Conv(%x, %w)"))
    m = match(CONV_RELU, node_of(g, "r"))
    assert m and m["b"] is None


@pytest.mark.parametrize("edits, reason", [
    ([("%r = Relu(%c1) : f32[1,3,5,5] loc(\"relu1\")",
       "%r = Relu(%c1) : f32[1,3,5,5] loc(\"relu1\")\n  %other = Sigmoid(%c1) : f32[1,3,5,5]")],
     "conv: %c1 has 2 users, pattern needs single use"),
    ([("-> (%r)", "-> (%r, %c1)"), ("return %r", "return %r, %c1")],
     "conv: %c1 is a graph output, pattern needs single use"),
    ([("%w = const f32[3,2,3,3] dense<0.5>\n",
       "%w0 = const f32[3,2,3,3] dense<0.5>\n  %w = Identity(%w0) : f32[3,2,3,3]\n")],
     "conv input 1 (%w) is not a constant"),
])
def test_no_match_says_why(edits, reason):
    text = CONV
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    m = match(CONV_RELU, node_of(parse_ir(text), "r"))
    assert isinstance(m, NoMatch) and not m
    assert m.reason == reason


def test_no_match_wrong_producer_and_wrong_root():
    g = parse_ir("""
graph m(%x: f32[4]) -> (%r) {
  %a = Add(%x, %x) : f32[4]
  %r = Relu(%a) : f32[4]
  return %r
}""")
    m = match(CONV_RELU, node_of(g, "r"))
    assert m.reason == "relu input 0 (%a) is a Add, pattern needs Conv"
    assert match(CONV_RELU, node_of(g, "a")).reason == "Add %a is a Add, pattern needs Relu"
    m = match(Op("Relu", Op("Conv")), node_of(parse_ir("""
graph m(%x: f32[4]) -> (%r) {
  %r = Relu(%x) : f32[4]
  return %r
}"""), "r"))
    assert m.reason == "Relu input 0 (%x) is a graph input, pattern needs Conv"


def test_attribute_and_predicate_reasons():
    g = parse_ir("""
graph m(%x: f32[2,3]) -> (%t) {
  %t = Transpose(%x) {perm=[1, 0]} : f32[3,2]
  return %t
}""")
    t = node_of(g, "t")
    assert match(Op("Transpose", attrs={"perm": (1, 0)}), t)
    assert match(Op("Transpose", attrs={"perm": (0, 1)}), t).reason == \
        "Transpose: attribute perm=(1, 0), pattern needs (0, 1)"

    def is_2d(node):
        """the input is not 2-D"""
        return node.inputs[0].type.rank == 2

    assert match(Op("Transpose", where=is_2d), t)
    assert match(Op("Transpose", where=lambda n: (False, "nope, because"), name="tr"),
                 t).reason == "tr: nope, because"
    assert match(Op("Transpose", Any("x", where=lambda v: v.type.rank == 3)), t).reason == \
        "x: predicate <lambda> is false"
    assert match(Op("Transpose", where=lambda n: not is_2d(n)), t).reason == \
        "Transpose: predicate <lambda> is false"
    assert match(Op("Transpose", Any("x"), Any("y")), t).reason == \
        "Transpose input 1 is absent, pattern needs a value"


def test_same_name_twice_must_bind_the_same_value():
    silu = Op("Mul", Any("x"), Op("Sigmoid", Any("x")))
    g = parse_ir("""
graph m(%x: f32[4], %y: f32[4]) -> (%a, %b) {
  %s = Sigmoid(%x) : f32[4]
  %a = Mul(%x, %s) : f32[4]
  %b = Mul(%y, %s) : f32[4]
  return %a, %b
}""")
    assert match(silu, node_of(g, "a"))["x"] is g.value("x")
    reason = match(silu, node_of(g, "b")).reason
    assert reason.startswith("x: bound to %y") and "pattern needs the same" in reason


def test_too_many_inputs():
    g = parse_ir(CONV)
    m = match(Op("Relu", Op("Conv", Any(), Any(), name="conv")), node_of(g, "r"))
    assert m.reason == "conv: Conv has 3 inputs, pattern takes 2"


def test_fusion_keeps_name_inserts_before_root_and_unions_provenance():
    g = parse_ir(CONV)
    before = g.copy()
    counts = apply_rewrites(g, [Rule("conv-relu", CONV_RELU, fuse_conv_relu)])
    assert counts == {"conv-relu": 1}
    assert_ir(g, """
graph m(%x: f32[1,2,5,5]) -> (%r) {
  %w = const f32[3,2,3,3] dense<0.5>
  %b = const f32[3] dense<[0.1, 0.2, 0.3]>
  %r = Conv(%x, %w, %b) {pads=[1, 1, 1, 1], activation="relu"} : f32[1,3,5,5] loc("conv1", "relu1")
  return %r
}""")
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(run_graph(g, [x])[0], run_graph(before, [x])[0], rtol=1e-6)


def relu_relu(m, rw):  # relu(relu(x)) -> relu(x)
    return m["inner"].output


RELU_RELU = Rule("relu-relu", Op("Relu", Op("Relu", Any(), name="inner")), relu_relu)


def test_fixed_point_counts():
    g = parse_ir("""
graph m(%x: f32[4]) -> (%r5) {
  %r1 = Relu(%x) : f32[4]
  %r2 = Relu(%r1) : f32[4]
  %r3 = Relu(%r2) : f32[4]
  %r4 = Relu(%r3) : f32[4]
  %r5 = Relu(%r4) : f32[4]
  return %r5
}""")
    assert apply_rewrites(g, [RELU_RELU]) == {"relu-relu": 4}
    assert_ir(g, """
graph m(%x: f32[4]) -> (%r5) {
  %r5 = Relu(%x) : f32[4]
  return %r5
}""")
    assert apply_rewrites(g, [RELU_RELU]) == {"relu-relu": 0}


def test_declining_rule_leaves_the_graph_unchanged():
    def decline(m, rw):
        rw.op("Sigmoid", rw.constant(np.zeros(4, np.float32)))
        return None

    g = parse_ir(CONV)
    text = str(g)
    assert apply_rewrites(g, [Rule("decline", Op("Relu"), decline)]) == {"decline": 0}
    assert str(g) == text


def test_non_terminating_rules_hit_the_limit():
    def grow(m, rw):  # relu(x) -> relu(relu(x)): never ends
        return rw.op("Relu", rw.op("Relu", m["x"]))

    g = parse_ir(CONV)
    with pytest.raises(PassError, match="did not reach a fixed point after 50 rewrites"):
        apply_rewrites(g, [Rule("grow", Op("Relu", Any("x")), grow)], max_iterations=50)


def test_bad_replacements_are_errors_naming_the_rule():
    g = parse_ir(CONV)
    with pytest.raises(PassError, match=r"rule bad-type replaced %r: f32\[1,3,5,5\] with %b"):
        apply_rewrites(g, [Rule("bad-type", Op("Relu"), lambda m, rw: m.root.graph.value("b"))])
    with pytest.raises(PassError, match="rewrite rule raises failed on Relu %r"):
        apply_rewrites(g, [Rule("raises", Op("Relu"), lambda m, rw: 1 / 0)])
    with pytest.raises(PassError, match="returned 2 values"):
        apply_rewrites(g, [Rule("two", Op("Relu", Any("x")), lambda m, rw: [m["x"], m["x"]])])


@register_pass
@attrs.frozen
class FuseConvRelu(RewritePass):
    """Test fusion: single-use Conv + Relu becomes a Conv with a fused relu."""

    name = "test-fuse-conv-relu"
    rules = (Rule("conv-relu", CONV_RELU, fuse_conv_relu),)


def test_rewrite_pass_in_a_pipeline():
    g = parse_ir(CONV)
    report = PassManager("test-fuse-conv-relu,dce").run(g)
    assert report.records[0].changed and report.records[0].counts == {"conv-relu": 1}
    assert [n.op for n in g.nodes] == ["Conv"]
    assert not PassManager("test-fuse-conv-relu").run(g).changed


def test_rules_are_tried_in_order_including_any_op_rules():
    fired = []

    def first(m, rw):
        fired.append("any-op")
        return None  # decline: the next rule gets its turn

    rules = [Rule("any-op", Op(None), first), RELU_RELU]
    g = parse_ir("""
graph m(%x: f32[4]) -> (%r2) {
  %r1 = Relu(%x) : f32[4]
  %r2 = Relu(%r1) : f32[4]
  return %r2
}""")
    assert apply_rewrites(g, rules) == {"any-op": 0, "relu-relu": 1}
    assert fired[:2] == ["any-op", "any-op"]


# ---- commutative ops: a pattern matches either operand order ----

SCALE_RELU = Op("Relu", Op("Mul", Any("x"), Const("c"), name="mul", single_use=True))


@pytest.mark.parametrize("operands", ["%x, %c", "%c, %x"])
def test_a_pattern_on_a_commutative_op_matches_either_operand_order(operands):
    g = parse_ir(f"""
graph m(%x: f32[4]) -> (%r) {{
  %c = const f32[] dense<2.0>
  %p = Mul({operands}) : f32[4]
  %r = Relu(%p) : f32[4]
  return %r
}}""")
    m = match(SCALE_RELU, node_of(g, "r"))
    assert m and m["x"] is g.value("x") and m["c"] is g.value("c")


def test_a_non_commutative_op_matches_only_the_declared_order():
    g = parse_ir("""
graph m(%x: f32[4]) -> (%r) {
  %c = const f32[] dense<2.0>
  %p = Sub(%c, %x) : f32[4]
  %r = Relu(%p) : f32[4]
  return %r
}""")
    pattern = Op("Relu", Op("Sub", Any("x"), Const("c")))
    assert match(pattern, node_of(g, "r")).reason == "Sub input 1 (%x) is not a constant"
    both = parse_ir("""
graph m(%x: f32[4], %y: f32[4]) -> (%r) {
  %p = Mul(%x, %y) : f32[4]
  %r = Relu(%p) : f32[4]
  return %r
}""")
    assert match(SCALE_RELU, node_of(both, "r")).reason == \
        "mul input 1 (%y) is not a constant (and with the operands of commutative Mul swapped)"


def test_a_failed_first_order_leaves_no_stale_binding():
    # Add(c1, Mul(x, c2)): the declared order binds "c" to the Add's first operand and fails on
    # the second; the swapped order must start afresh and bind "c" to c1 again
    g = parse_ir("""
graph m(%x: f32[4]) -> (%y) {
  %c1 = const f32[] dense<1.0>
  %c2 = const f32[] dense<3.0>
  %p = Mul(%x, %c2) : f32[4]
  %y = Add(%c1, %p) : f32[4]
  return %y
}""")
    pattern = Op("Add", Op("Mul", Any("x"), Const("k"), name="mul"), Const("c"))
    m = match(pattern, node_of(g, "y"))
    assert m and m["c"] is g.value("c1") and m["k"] is g.value("c2")
    assert [n.op for n in m.nodes] == ["Mul", "Add"]


@pytest.mark.parametrize("arith", ["Mul(%c, %conv)", "Add(%c, %conv)", "Mul(%conv, %c)"])
def test_fold_conv_affine_folds_a_constant_on_either_side(arith):
    check_rewrite(f"""
graph m(%x: f32[1,2,5,5]) -> (%y) {{
  %w = const f32[3,2,3,3] elided
  %c = const f32[3,1,1] dense<[0.5, 2.0, -1.0]>
  %conv = Conv(%x, %w) {{pads=[1, 1, 1, 1]}} : f32[1,3,5,5] loc("conv")
  %y = {arith} : f32[1,3,5,5] loc("scale")
  return %y
}}""", "fold-conv-affine", """
  CHECK-NOT: {{Mul|Add}}(
  CHECK: %y = Conv(%x, %{{\\w+}}, %[[B:\\w+]]) {{.*}} loc("conv", "scale")
  CHECK-NEXT: return %y""")
