"""fold-constants: values computed at compile time equal numpy's; limits are respected."""

import numpy as np

from npucc.ir import Graph, QuantParams, TensorType
from npucc.passes import run_passes
from npucc.testing import check_rewrite, parse_ir, run_pass


def test_folds_chains_takes_output_names_and_drops_consumed_constants():
    after = check_rewrite("""
graph m(%x: f32[2,2]) -> (%out) {
  %a = const f32[2,2] dense<[1.0, 2.0, 3.0, 4.0]>
  %b = const f32[2,2] dense<0.5>
  %sum = Add(%a, %b) : f32[2,2] loc("add")
  %t = Transpose(%sum) {perm=[1, 0]} : f32[2,2]
  %out = Mul(%x, %t) : f32[2,2]
  return %out
}""", "fold-constants", """
graph m(%x: f32[2,2]) -> (%out) {
  %t = const f32[2,2] dense<[1.5, 3.5, 2.5, 4.5]>
  %out = Mul(%x, %t) : f32[2,2]
  return %out
}""", counts={"folded": 2}, exact=True).after
    want = (np.array([[1, 2], [3, 4]], np.float32) + np.float32(0.5)).T  # numpy, not our kernels
    np.testing.assert_array_equal(after.value("t").const, want)


def test_a_folded_graph_output_keeps_its_name():
    _, after, _ = run_pass("fold-constants", """
graph m(%x: f32[3]) -> (%y, %c) {
  %k = const f32[3] dense<[-1.0, 0.0, 2.0]>
  %c = Relu(%k) : f32[3]
  %y = Relu(%x) : f32[3]
  return %y, %c
}""")
    assert [v.name for v in after.outputs] == ["y", "c"]
    np.testing.assert_array_equal(after.value("c").const, np.maximum([-1.0, 0.0, 2.0], 0))


def test_max_elements_and_quantized_nodes_are_left_alone():
    text = """
graph m(%x: f32[4,4]) -> (%out) {
  %a = const f32[4,4] dense<1.0>
  %b = const f32[4,4] dense<2.0>
  %big = Add(%a, %b) : f32[4,4]
  %out = Add(%x, %big) : f32[4,4]
  return %out
}"""
    g = parse_ir(text)
    rec = run_passes(g, "fold-constants{max-elements=15}").records[0]
    assert not rec.changed and str(g) == str(parse_ir(text))
    assert run_passes(g, "fold-constants{max-elements=16}").records[0].counts == {"folded": 1}

    g = Graph()
    x = g.add_input("x", TensorType((4,), "u8"))
    q = QuantParams.affine(0.5, 3)
    k = g.add_constant(np.array([1, 2, 3, 4], np.uint8), "k", quant=q)
    y = g.add_node("Relu", [k], output_types=[TensorType((4,), "u8", q)]).output
    g.set_outputs([g.op("Max", x, g.add_constant(np.zeros(4, np.uint8))), y])
    assert not run_passes(g, "fold-constants").changed


def test_graph_without_constant_nodes_is_unchanged():
    check_rewrite("""
graph m(%x: f32[4]) -> (%out) {
  %k = const f32[4] dense<1.0>
  %out = Add(%x, %k) : f32[4]
  return %out
}""", "fold-constants", None)
