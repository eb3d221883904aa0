"""Nested graphs: the Partition op (a body graph held as an attribute) in the text form, equality,
copy, the verifier, the reference interpreter and the simulator plan."""

from pathlib import Path

import numpy as np
import pytest

from npucc.backends.simulator import compile_plan
from npucc.errors import IRError, ParseError
from npucc.ir import Graph, TensorType, format_graph, parse
from npucc.ir.ops.partition import inline_partitions
from npucc.ir.text import describe_difference, graphs_equal
from npucc.ir.types import QuantParams
from npucc.ir.verify import verification_problems
from npucc.numerics import run_graph

PARTITIONED = """graph main(%x: f32[1,4]) -> (%s) {
  %z, %y = Partition(%x) {device="npu", reasons=[], body=graph npu0(%x: f32[1,4]) -> (%z, %y) {
    %w = const f32[4,4] dense<[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5]>
    %y = MatMul(%x, %w) {activation="none", activation_params=[]} : f32[1,4]
    %z = Relu(%y) : f32[1,4]
    return %z, %y
  }} : f32[1,4], f32[1,4]
  %s = Partition(%z, %y) {device="cpu", reasons=["Add %s: not on this NPU"], body=graph cpu1(%z: f32[1,4], %y: f32[1,4]) -> (%s) {
    %s = Add(%z, %y) : f32[1,4]
    return %s
  }} : f32[1,4]
  return %s
}"""  # noqa: E501

FLAT = """graph main(%x: f32[1,4]) -> (%s) {
  %w = const f32[4,4] dense<[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5]>
  %y = MatMul(%x, %w) : f32[1,4]
  %z = Relu(%y) : f32[1,4]
  %s = Add(%z, %y) : f32[1,4]
  return %s
}"""  # noqa: E501

X = np.array([[1.0, -2.0, 0.25, 3.0]], np.float32)


def test_text_round_trip_is_canonical_and_exact():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "IR_TEXT.md").read_text()
    assert PARTITIONED in doc  # the documented example is this one
    g = parse(PARTITIONED)
    assert format_graph(g, max_inline=None) == PARTITIONED
    assert graphs_equal(parse(format_graph(g, max_inline=None)), g)
    assert verification_problems(g) == []
    body = next(g.nodes).attrs["body"]
    assert isinstance(body, Graph) and body.name == "npu0" and len(body) == 2


def test_runs_like_the_flat_graph_in_the_interpreter_and_the_plan():
    g, flat = parse(PARTITIONED), parse(FLAT)
    want = run_graph(flat, [X])[0]
    assert run_graph(g, [X])[0].tobytes() == want.tobytes()
    assert compile_plan(g).run([X])[0].tobytes() == want.tobytes()
    assert graphs_equal(inline_partitions(g), flat), describe_difference(inline_partitions(g), flat)


def test_interpreter_hook_sees_the_body_nodes():
    seen = []
    run_graph(parse(PARTITIONED), [X], hook=lambda node, outs: seen.append(node.op))
    assert seen == ["MatMul", "Relu", "Partition", "Add", "Partition"]


def test_body_values_have_their_own_scope():
    # the body may reuse outer names, and cannot read outer values
    bad = PARTITIONED.replace("%s = Add(%z, %y)", "%s = Add(%z, %w)")
    with pytest.raises(ParseError, match="undefined value %w"):
        parse(bad)


def test_partition_types_must_match_its_body():
    text = PARTITIONED.replace("%y: f32[1,4]) -> (%s)", "%y: f16[1,4]) -> (%s)")
    with pytest.raises(ParseError, match="input 1 is f32\\[1,4\\] but body cpu1 input %y is "
                                         "f16\\[1,4\\]"):
        parse(text.replace("%s = Add(%z, %y) : f32[1,4]", "%s = Add(%z, %z) : f32[1,4]"))
    with pytest.raises(IRError, match="body npu0 takes 1 inputs"):
        g = parse(PARTITIONED)
        part = next(g.nodes)
        g.add_node("Partition", [g.inputs[0], g.inputs[0]], dict(part.attrs))


def test_copy_is_deep_and_equal():
    g = parse(PARTITIONED)
    c = g.copy()
    assert graphs_equal(g, c)
    b0, b1 = next(g.nodes).attrs["body"], next(c.nodes).attrs["body"]
    assert b0 is not b1
    relu = [n for n in b1.nodes if n.op == "Relu"][0]
    b1.replace_all_uses_with(relu.output, relu.inputs[0])  # edit the copy's body
    b1.erase(relu)
    assert len(b0) == 2 and len(b1) == 1
    assert describe_difference(g, c).startswith("in attribute body of Partition %z")


def test_verifier_recurses_into_bodies():
    g = parse(PARTITIONED)
    body = next(g.nodes).attrs["body"]
    relu = [n for n in body.nodes if n.op == "Relu"][0]
    relu.inputs = (None,)  # broken by hand, behind the mutation API's back
    problems = verification_problems(g)
    assert any(p.startswith("Partition %z: in body graph npu0: Relu %z: input 0 (X) is "
                            "required but absent") for p in problems), problems


def test_verifier_wants_the_body_output_types_exactly():
    # a body whose input (and output) is quantized, bound to a plain i8 value: reported
    k = parse("""graph g(%x: i8[4]) -> (%y) {
  %y = Partition(%x) {device="npu", reasons=[], body=graph npu0(%x: i8[4]) -> (%x) {
    return %x
  }} : i8[4]
  return %y
}""")
    inner = next(k.nodes).attrs["body"].inputs[0]
    inner.type = TensorType((4,), "i8", QuantParams.affine(0.5, 0))
    problems = verification_problems(k)
    assert any("input 0 is i8[4] but body npu0 input %x is i8[4]<affine" in p
               for p in problems), problems


def test_zero_input_partition():
    text = """graph g(%x: f32[2]) -> (%y) {
  %c = Partition() {device="npu", reasons=[], body=graph npu0() -> (%c) {
    %k = const f32[2] dense<[1.0, 2.0]>
    %c = Neg(%k) : f32[2]
    return %c
  }} : f32[2]
  %y = Add(%x, %c) : f32[2]
  return %y
}"""
    g = parse(text)
    assert format_graph(g, max_inline=None) == text
    x = np.array([1, 1], np.float32)
    assert run_graph(g, [x])[0].tolist() == [0.0, -1.0]
    assert compile_plan(g).run([x])[0].tolist() == [0.0, -1.0]
