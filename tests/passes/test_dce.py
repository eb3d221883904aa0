"""dce: dead nodes and unused constants go; graph inputs and everything outputs need stay."""

from npucc.testing import check_rewrite


def test_removes_dead_chains_and_unused_constants_keeps_inputs():
    check_rewrite("""
graph m(%x: f32[4], %unused: f32[4]) -> (%out) {
  %k = const f32[4] dense<2.0>
  %dead_k = const f32[4] dense<3.0>
  %d1 = Mul(%x, %dead_k) : f32[4]
  %d2 = Relu(%d1) : f32[4]
  %live = Add(%x, %k) : f32[4]
  %d3 = Sigmoid(%live) : f32[4]
  %out = Relu(%live) : f32[4]
  return %out
}""", "dce", """
graph m(%x: f32[4], %unused: f32[4]) -> (%out) {
  %k = const f32[4] dense<2.0>
  %live = Add(%x, %k) : f32[4]
  %out = Relu(%live) : f32[4]
  return %out
}""", counts={"nodes": 3, "constants": 1}, exact=True)


def test_keeps_multi_output_node_with_one_live_output_and_constant_outputs():
    check_rewrite("""
graph m(%x: f32[4,2]) -> (%a, %k) {
  %k = const f32[2] dense<1.0>
  %a, %b = Split(%x) {axis=0, split=[1, 3]} : f32[1,2], f32[3,2]
  return %a, %k
}""", "dce", None)


def test_nothing_to_do_is_reported_unchanged():
    check_rewrite("""
graph m(%x: f32[4]) -> (%out) {
  %out = Relu(%x) : f32[4]
  return %out
}""", "dce", None, counts={"nodes": 0, "constants": 0})
