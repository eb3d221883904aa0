"""eliminate-noops: each rule on its own, chains, and the cases that must stay."""

import numpy as np
import pytest

from npucc.ir import Graph, QuantParams, TensorType, run_graph
from npucc.passes import run_passes
from npucc.testing import assert_same_outputs, check_rewrite, run_pass

NOOPS = {
    "identity": "%y = Identity(%x) : f32[2,3,4]",
    "same-shape-reshape": "%y = Reshape(%x) {shape=[2, 3, 4]} : f32[2,3,4]",
    "identity-transpose": "%y = Transpose(%x) {perm=[0, 1, 2]} : f32[2,3,4]",
    "same-type-cast": "%y = Cast(%x) {to=f32} : f32[2,3,4]",
    "zero-pad": "%y = Pad(%x) {pads=[0, 0, 0, 0, 0, 0]} : f32[2,3,4]",
    "full-slice": "%y = Slice(%x) {starts=[0, 0], ends=[3, 100], axes=[1, 2]} : f32[2,3,4]",
    "single-concat": "%y = Concat(%x) {axis=1} : f32[2,3,4]",
}


@pytest.mark.parametrize("rule", sorted(NOOPS))
def test_each_noop_is_removed(rule):
    check_rewrite(f"""
graph m(%x: f32[2,3,4]) -> (%out) {{
  {NOOPS[rule]}
  %out = Relu(%y) : f32[2,3,4]
  return %out
}}""", "eliminate-noops", """
graph m(%x: f32[2,3,4]) -> (%out) {
  %out = Relu(%x) : f32[2,3,4]
  return %out
}""", counts={rule: 1}, exact=True)


@pytest.mark.parametrize("line", [
    "%y = Reshape(%x) {shape=[3, 2, 4]} : f32[3,2,4]",
    "%y = Transpose(%x) {perm=[0, 2, 1]} : f32[2,4,3]",
    "%y = Cast(%x) {to=f16} : f16[2,3,4]",
    "%y = Pad(%x) {pads=[0, 0, 1, 0, 0, 0]} : f32[2,3,5]",
    "%y = Slice(%x) {starts=[-1], ends=[-100], axes=[1], steps=[-1]} : f32[2,3,4]",  # reverses
])
def test_ops_that_do_something_stay(line):
    text = f"""
graph m(%x: f32[2,3,4]) -> (%y) {{
  {line}
  return %y
}}"""
    check_rewrite(text, "eliminate-noops", None)


def test_noop_on_graph_output_keeps_the_output_name():
    check_rewrite("""
graph m(%x: f32[4]) -> (%y) {
  %r = Relu(%x) : f32[4]
  %y = Identity(%r) : f32[4]
  return %y
}""", "eliminate-noops", """
graph m(%x: f32[4]) -> (%y) {
  %y = Relu(%x) : f32[4]
  return %y
}""")


@pytest.mark.parametrize("body", [
    "%y = Identity(%x) : f32[4]",  # an output aliasing a graph input
    "%r = Relu(%x) : f32[4]\n  %y = Identity(%r) : f32[4]",  # aliasing another graph output
])
def test_a_noop_that_names_an_output_after_an_interface_value_stays(body):
    """y cannot take over x's (or r's) name, so removing its node would rename the output."""
    outs = "%r, %y" if "%r" in body else "%y"
    check_rewrite(f"""
graph m(%x: f32[4]) -> ({outs}) {{
  {body}
  return {outs}
}}""", "eliminate-noops", None)


def test_transpose_chain_composes_and_cancels():
    before, after, rec = run_pass("eliminate-noops", """
graph m(%x: f32[2,3,4]) -> (%out) {
  %t1 = Transpose(%x) {perm=[1, 2, 0]} : f32[3,4,2] loc("t1")
  %t2 = Transpose(%t1) {perm=[2, 0, 1]} : f32[2,3,4] loc("t2")
  %t3 = Transpose(%t2) {perm=[0, 2, 1]} : f32[2,4,3] loc("t3")
  %t4 = Transpose(%t3) {perm=[2, 1, 0]} : f32[3,4,2] loc("t4")
  %out = Relu(%t4) : f32[3,4,2]
  return %out
}""")
    assert sum(rec.counts.values()) >= 2
    (t,) = [n for n in after.nodes if n.op == "Transpose"]
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    want = x.transpose(1, 2, 0).transpose(2, 0, 1).transpose(0, 2, 1).transpose(2, 1, 0)
    np.testing.assert_array_equal(x.transpose(t.attrs["perm"]), want)  # numpy's composition
    assert t.provenance == {"t3", "t4"}  # t1∘t2 is the identity: no node stands for them
    assert_same_outputs(before, after)


def test_transposes_that_cancel_disappear():
    check_rewrite("""
graph m(%x: f32[2,3,4]) -> (%out) {
  %t1 = Transpose(%x) {perm=[1, 2, 0]} : f32[3,4,2]
  %t2 = Transpose(%t1) {perm=[2, 0, 1]} : f32[2,3,4]
  %out = Relu(%t2) : f32[2,3,4]
  return %out
}""", "eliminate-noops", """
graph m(%x: f32[2,3,4]) -> (%out) {
  %out = Relu(%x) : f32[2,3,4]
  return %out
}""")


def test_reshape_chain_merges():
    after = check_rewrite("""
graph m(%x: f32[2,3,4]) -> (%out) {
  %a = Flatten(%x) {axis=1} : f32[2,12]
  %b = Unsqueeze(%a) {axes=[0]} : f32[1,2,12]
  %c = Reshape(%b) {shape=[4, 6]} : f32[4,6]
  %out = Relu(%c) : f32[4,6]
  return %out
}""", "eliminate-noops", """
graph m(%x: f32[2,3,4]) -> (%out) {
  %c = Reshape(%x) {shape=[4, 6]} : f32[4,6]
  %out = Relu(%c) : f32[4,6]
  return %out
}""", exact=True).after
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(run_graph(after, [x])[0], np.maximum(x.reshape(4, 6), 0))


def test_quantization_change_is_not_a_noop():
    g = Graph()
    x = g.add_input("x", TensorType((4,), "u8", QuantParams.affine(0.5, 3)))
    y = g.add_node("Identity", [x], output_types=[TensorType((4,), "u8",
                                                             QuantParams.affine(0.25, 3))]).output
    g.set_outputs([y])
    assert not run_passes(g, "eliminate-noops").changed
