"""The verifier: a valid graph passes; each broken invariant (made by poking internals, as a buggy
pass would) is reported with the node, the op and what is wrong; all problems are listed."""

from __future__ import annotations

import types

import numpy as np
import pytest

from npucc.errors import VerificationError
from npucc.ir import Graph, QuantParams, TensorType, Use, verify
from npucc.ir.verify import verification_problems


def build() -> Graph:
    """x -> Conv(w, no bias) -> Relu -> Add(c) -> out, plus a Split feeding a Concat."""
    g = Graph("g")
    x = g.add_input("x", TensorType((1, 2, 4, 4), "f32"))
    w = g.add_constant(np.ones((2, 2, 1, 1), np.float32), "w")
    c = g.add_constant(np.float32(0.5), "c")
    conv = g.op("Conv", x, w, None, name="conv", provenance=["conv1"])
    r = g.op("Relu", conv, name="r")
    a = g.op("Add", r, c, name="a")
    s0, s1 = g.op("Split", a, axis=1, split=[1, 1])
    cat = g.op("Concat", s1, s0, axis=1, name="cat")
    g.set_outputs([cat])
    return g


def node_of(g: Graph, name: str):
    return g.value(name).producer


def problems_of(g: Graph) -> list[str]:
    with pytest.raises(VerificationError) as e:
        verify(g)
    assert e.value.problems == verification_problems(g)
    assert all(p in str(e.value) for p in e.value.problems)
    return e.value.problems


def one_problem(g: Graph) -> str:
    problems = problems_of(g)
    assert len(problems) == 1, problems
    return problems[0]


def test_valid_graphs_pass():
    g = build()
    verify(g)
    verify(g.copy())
    assert verification_problems(g) == []


def test_mutation_api_keeps_graph_valid():
    g = build()
    r = node_of(g, "r")
    t = g.op("Tanh", g.value("conv"), after=r)
    g.replace_all_uses_with(g.value("r"), t)
    g.erase(r)
    verify(g)


# ---- SSA and definitions ----

def test_value_used_before_its_definition():
    g = build()
    g.move_before(node_of(g, "a"), node_of(g, "conv"))  # the API trusts the caller's order
    msg = problems_of(g)[0]
    assert msg == ("Add %a: input 0 reads %r before its definition (by Relu %r, later in the "
                   "node order)")


def test_two_values_with_one_name():
    g = build()
    r = g.value("r")
    r.name = "conv"  # rename behind the value table's back
    problems = problems_of(g)
    assert "name %conv is used by two values: defined by Conv %conv (from conv1) and by " \
           "Relu %conv" in problems[0]
    assert any("the value table lists %conv under the name %r" in p for p in problems)


def test_value_defined_twice():
    g = build()
    a = node_of(g, "a")
    r_node = node_of(g, "r")
    r_node.outputs = (g.value("a"),)  # one Value claimed as output of two nodes
    problems = problems_of(g)
    assert any(p.startswith("%a is defined twice: by Relu %a and by Add %a") for p in problems)
    assert any("Relu %a: output 0 %a records producer Add %a" in p for p in problems)
    del a


def test_read_of_value_from_another_graph_and_of_erased_producer():
    g, other = build(), build()
    node = node_of(g, "a")
    foreign = other.value("r")
    node.inputs = (foreign,) + node.inputs[1:]  # by hand: no use-list bookkeeping
    foreign._uses.append(Use(node, 0))
    problems = problems_of(g)
    assert "Add %a: input 0 reads %r, which is not defined in graph g" in problems[0]
    # erase a node behind the graph's back: its output is still read
    h = build()
    r = node_of(h, "r")
    r._prev._next, r._next._prev = r._next, r._prev
    r._erased = True
    h._count -= 1
    problems = problems_of(h)
    assert any("Add %a: input 0 reads %r, which is not defined in graph g (its producer "
               "Relu %r was erased)" in p for p in problems)
    assert any("the value table lists %r, which nothing in the graph defines" in p
               for p in problems)


# ---- use lists ----

def test_node_input_changed_by_hand_breaks_use_lists_both_ways():
    g = build()
    add = node_of(g, "a")
    add.inputs = (g.value("conv"),) + add.inputs[1:]  # bypasses set_input
    problems = problems_of(g)
    assert "%r: use list says Add %a reads it as input 0, but that input is not %r" in problems
    assert "Add %a: input 0 reads %conv, but %conv's use list does not record it" in problems


def test_stale_and_duplicate_uses():
    g = build()
    r = g.value("r")
    r._uses.append(r._uses[0])
    assert one_problem(g) == "%r: use (Add %a, input 0) is listed twice"
    g = build()
    conv = node_of(g, "conv")
    g.value("r")._uses.append(Use(conv, 0))
    assert one_problem(g) == ("%r: use list says Conv %conv (from conv1) reads it as input 0, "
                              "but that input is not %r")


def test_missing_use():
    g = build()
    g.value("c")._uses.clear()
    assert one_problem(g) == "Add %a: input 1 reads %c, but %c's use list does not record it"


# ---- ops: arity, attributes, types ----

def test_arity_and_required_inputs():
    g = build()
    g.set_input(node_of(g, "a"), 1, None)  # the API allows None for optional slots only
    assert one_problem(g) == "Add %a: input 1 (B) is required but absent"
    g = build()
    add = node_of(g, "a")
    add.inputs = add.inputs + (g.value("c"),)
    g.value("c")._uses.append(Use(add, 2))
    assert one_problem(g) == "Add %a: Add takes 2 inputs (A, B), got 3"


def test_unknown_op():
    g = build()
    node_of(g, "r").op = "Rellu"
    assert one_problem(g) == "Rellu %r: unknown op 'Rellu'"


@pytest.mark.parametrize("attrs,expect", [
    ({"axis": 1, "split": (1, 1), "bogus": 3}, "invalid attributes: Split: unknown attribute(s) "
                                               "bogus (known: axis, split)"),
    ({"axis": 1}, "invalid attributes: Split: missing required attribute 'split'"),
    ({"axis": 1, "split": [1, 1]}, "are not normalized"),  # a list, not the normalized tuple
    ({"axis": True, "split": (1, 1)}, "attribute 'axis' must be int, got True"),
    ({"split": (1, 1), "axis": 1}, "are not normalized"),  # not in schema order
])
def test_attributes_must_be_valid_and_normalized(attrs, expect):
    g = build()
    split = g.value("cat").producer.inputs[1].producer
    split.attrs = types.MappingProxyType(attrs)
    msg = one_problem(g)
    assert msg.startswith(f"Split %{split.outputs[0].name}: ") and expect in msg, msg


def test_output_types_must_equal_inference():
    g = build()
    r = g.value("r")
    r.type = TensorType((1, 2, 4, 5), "f32")
    problems = problems_of(g)
    assert problems[0] == ("Relu %r: output 0 %r has type f32[1,2,4,5], inference gives "
                           "f32[1,2,4,4]")
    # the consumer is checked against the (wrong) type it reads
    assert problems[1] == ("Add %a: output 0 %a has type f32[1,2,4,4], inference gives "
                           "f32[1,2,4,5]")
    g = build()
    g.value("a").type = TensorType((1, 2, 4, 4), "f16")
    assert "Add %a: output 0 %a has type f16[1,2,4,4], inference gives f32[1,2,4,4]" \
        in problems_of(g)[0]
    g = build()
    conv = node_of(g, "conv")
    conv.outputs = conv.outputs + (g.value("r"),)
    assert any("Conv %conv (from conv1): has 2 outputs, Conv infers 1" in p
               for p in problems_of(g))


def test_quant_params_may_differ_from_inference_but_must_be_valid():
    g = Graph()
    x = g.add_input("x", TensorType((2, 3), "u8"))
    node = g.add_node("Relu", [x], output_types=[
        TensorType((2, 3), "u8", QuantParams.affine([0.1, 0.2, 0.3], 0, axis=1))])
    g.set_outputs(node.outputs)
    verify(g)  # Relu infers no quant params; extra valid ones are fine
    t = node.outputs[0].type
    object.__setattr__(t, "quant", QuantParams.affine([0.1, 0.2], 0, axis=1))  # 2 scales, size 3
    assert one_problem(g) == ("%relu (defined by Relu %relu): invalid quantization params: "
                              "per-axis quantization on axis 1 of size 3 has 2 scales")
    object.__setattr__(t, "quant", QuantParams.affine(0.5, 300))  # u8 zero point 300
    assert "zero point 300 outside the u8 range 0..255" in one_problem(g)


# ---- constants, outputs, bookkeeping ----

def test_constants_are_read_only_and_match_their_type():
    g = build()
    g.value("w")._const.flags.writeable = True
    assert one_problem(g) == "constant %w: payload is writeable (constants are read-only)"
    g = build()
    payload = np.zeros((2, 2, 1, 1), np.float64)
    payload.flags.writeable = False
    g.value("w")._const = payload
    assert one_problem(g) == "constant %w: payload is float64[2, 2, 1, 1], its type is " \
                             "f32[2,2,1,1]"


def test_graph_outputs_must_be_defined_here():
    g, other = build(), build()
    g._outputs.append(other.value("r"))
    assert one_problem(g) == "graph output 1 %r is not defined in graph g (it belongs to " \
                             "another graph)"


def test_node_list_and_count():
    g = build()
    g._count += 1
    assert one_problem(g) == "graph g: node count is 6 but the list holds 5 live nodes"
    g = build()
    r = node_of(g, "r")
    r._next = node_of(g, "conv")  # a cycle
    problems = problems_of(g)
    assert any("the node list is cyclic or broken after Relu %r" in p for p in problems)


def test_all_problems_are_listed_at_once():
    g = build()
    node_of(g, "r").op = "Nope"
    g.value("a").type = TensorType((9,), "f32")
    g.value("w")._const.flags.writeable = True
    problems = problems_of(g)
    assert len(problems) >= 3
    assert any(p.startswith("Nope %r: unknown op") for p in problems)
    assert any(p.startswith("Add %a: output 0 %a has type f32[9]") for p in problems)
    assert any(p.startswith("constant %w: payload is writeable") for p in problems)
    assert "graph verification failed:" in str(VerificationError(problems))


def _chain(n):
    """Relu and Add alternating, every Add reading one shared constant (n // 2 uses of it)."""
    g = Graph()
    x = g.add_input("x", TensorType((1, 8), "f32"))
    c = g.add_constant(np.ones((1, 8), np.float32), "c")
    v = x
    for i in range(n):
        v = g.op("Add", v, c) if i % 2 else g.op("Relu", v)
    g.set_outputs([v])
    return g


class _CountedUses(list):
    """A use list that counts the entries read from it (shared by every list of a graph)."""

    def __init__(self, items, counter):
        super().__init__(items)
        self.counter = counter

    def __iter__(self):
        for use in super().__iter__():
            self.counter[0] += 1
            yield use


def _use_reads(g) -> int:
    """How many use-list entries `verify(g)` reads (every value's list counted)."""
    counter = [0]
    values = [*g.inputs, *g.constants, *(v for n in g.nodes for v in n.outputs)]
    for v in values:
        v._uses = _CountedUses(v._uses, counter)
    verification_problems(g)
    return counter[0]


def test_verify_reads_each_use_once():
    """Verification is linear in the uses: on a valid graph it reads every use-list entry once,
    the shared constant's 1,000 included, so a long use list never makes it quadratic. Counted,
    not timed (benchmarks/passes_scaling.py times it against a peer)."""
    for n in (1_000, 2_000):
        g = _chain(n)
        uses = sum(v is not None for node in g.nodes for v in node.inputs)
        assert uses == n + n // 2
        assert _use_reads(g) == uses
    g = _chain(1_000)  # the counting sees a quadratic path: a broken use list is searched
    del g.value("c")._uses[0]
    assert _use_reads(g) > 50 * (1_000 + 500)
