"""dce: dead nodes and unused constants go; graph inputs and everything outputs need stay."""

from .irtest import assert_ir, assert_same_outputs, run_pass


def test_removes_dead_chains_and_unused_constants_keeps_inputs():
    before, after, rec = run_pass("dce", """
graph m(%x: f32[4], %unused: f32[4]) -> (%out) {
  %k = const f32[4] dense<2.0>
  %dead_k = const f32[4] dense<3.0>
  %d1 = Mul(%x, %dead_k) : f32[4]
  %d2 = Relu(%d1) : f32[4]
  %live = Add(%x, %k) : f32[4]
  %d3 = Sigmoid(%live) : f32[4]
  %out = Relu(%live) : f32[4]
  return %out
}""")
    assert rec.changed and rec.counts == {"nodes": 3, "constants": 1}
    assert_ir(after, """
graph m(%x: f32[4], %unused: f32[4]) -> (%out) {
  %k = const f32[4] dense<2.0>
  %live = Add(%x, %k) : f32[4]
  %out = Relu(%live) : f32[4]
  return %out
}""")
    assert_same_outputs(before, after)


def test_keeps_multi_output_node_with_one_live_output_and_constant_outputs():
    before, after, rec = run_pass("dce", """
graph m(%x: f32[4,2]) -> (%a, %k) {
  %k = const f32[2] dense<1.0>
  %a, %b = Split(%x) {axis=0, split=[1, 3]} : f32[1,2], f32[3,2]
  return %a, %k
}""")
    assert not rec.changed
    assert str(after) == str(before)


def test_nothing_to_do_is_reported_unchanged():
    before, after, rec = run_pass("dce", """
graph m(%x: f32[4]) -> (%out) {
  %out = Relu(%x) : f32[4]
  return %out
}""")
    assert not rec.changed and rec.counts == {"nodes": 0, "constants": 0}
