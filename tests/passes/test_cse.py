"""cse: equal computations and equal constants merge; interface and provenance are kept."""

from npucc.testing import assert_same_outputs, check_rewrite, run_pass


def test_merges_nodes_and_constants_transitively():
    check_rewrite("""
graph m(%x: f32[4]) -> (%out) {
  %k1 = const f32[4] dense<[1.0, 2.0, 3.0, 4.0]>
  %k2 = const f32[4] dense<[1.0, 2.0, 3.0, 4.0]>
  %k3 = const f32[4] dense<[1.0, 2.0, 3.0, 5.0]>
  %k4 = const i32[4] dense<[1, 2, 3, 4]>
  %a1 = Add(%x, %k1) : f32[4] loc("a1")
  %a2 = Add(%x, %k2) : f32[4] loc("a2")
  %a3 = Add(%x, %k3) : f32[4]
  %r1 = LeakyRelu(%a1) {alpha=0.1} : f32[4]
  %r2 = LeakyRelu(%a2) {alpha=0.1} : f32[4]
  %r3 = LeakyRelu(%a2) {alpha=0.2} : f32[4]
  %s = Add(%r1, %r2) : f32[4]
  %t = Add(%s, %r3) : f32[4]
  %out = Add(%t, %a3) : f32[4]
  return %out
}""", "cse", """
graph m(%x: f32[4]) -> (%out) {
  %k1 = const f32[4] dense<[1.0, 2.0, 3.0, 4.0]>
  %k3 = const f32[4] dense<[1.0, 2.0, 3.0, 5.0]>
  %k4 = const i32[4] dense<[1, 2, 3, 4]>
  %a1 = Add(%x, %k1) : f32[4] loc("a1", "a2")
  %a3 = Add(%x, %k3) : f32[4]
  %r1 = LeakyRelu(%a1) {alpha=0.1} : f32[4]
  %r3 = LeakyRelu(%a1) {alpha=0.2} : f32[4]
  %s = Add(%r1, %r1) : f32[4]
  %t = Add(%s, %r3) : f32[4]
  %out = Add(%t, %a3) : f32[4]
  return %out
}""", counts={"constants": 1, "nodes": 2}, exact=True)


def test_two_graph_outputs_are_not_merged_but_an_output_takes_over_a_duplicate():
    check_rewrite("""
graph m(%x: f32[4]) -> (%a, %b) {
  %a = Relu(%x) : f32[4]
  %b = Relu(%x) : f32[4]
  return %a, %b
}""", "cse", None)
    before, after, rec = run_pass("cse", """
graph m(%x: f32[4]) -> (%out) {
  %a = Relu(%x) : f32[4]
  %out = Relu(%x) : f32[4]
  %unused = Sigmoid(%a) : f32[4]
  return %out
}""")
    assert rec.counts["nodes"] == 1
    assert [v.name for v in after.outputs] == ["out"]
    assert [n.op for n in after.nodes] == ["Relu", "Sigmoid"]
    assert_same_outputs(before, after)


def test_commutative_ops_merge_in_either_operand_order():
    """Add and Mul are declared commutative (IEEE + and * are): b + a merges into a + b.
    Sub and Max are not: Sub(a, b) != Sub(b, a), and max(+0, -0) is -0 while max(-0, +0) is +0."""
    before, after, rec = run_pass("cse", """
graph m(%a: f32[4], %b: f32[4]) -> (%out) {
  %s1 = Add(%a, %b) : f32[4]
  %s2 = Add(%b, %a) : f32[4]
  %p1 = Mul(%a, %b) : f32[4]
  %p2 = Mul(%b, %a) : f32[4]
  %d1 = Sub(%a, %b) : f32[4]
  %d2 = Sub(%b, %a) : f32[4]
  %m1 = Max(%a, %b) : f32[4]
  %m2 = Max(%b, %a) : f32[4]
  %u = Add(%s1, %s2) : f32[4]
  %v = Add(%p1, %p2) : f32[4]
  %w = Add(%d1, %d2) : f32[4]
  %x = Add(%m1, %m2) : f32[4]
  %y = Add(%u, %v) : f32[4]
  %z = Add(%w, %x) : f32[4]
  %out = Add(%y, %z) : f32[4]
  return %out
}""")
    assert rec.counts == {"constants": 0, "nodes": 2}
    ops = [n.op for n in after.nodes]
    assert ops.count("Sub") == 2 and ops.count("Max") == 2
    assert ops.count("Mul") == 1
    assert_same_outputs(before, after)
