"""The Graph mutation API keeps use-def links, names, order and types right; results are checked
against numpy formulas by running the graphs in the reference interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from npucc.errors import IRError
from npucc.ir import Graph, QuantParams, TensorType, Use, run_graph, verify
from npucc.ir.text import graphs_equal

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 3)).astype(np.float32)
C = np.array([0.5, -1.0, 2.0], np.float32)


def relu_add() -> Graph:
    """y = relu(x) + c"""
    g = Graph("g")
    x = g.add_input("x", TensorType((2, 3), "f32"))
    c = g.add_constant(C, "c")
    r = g.op("Relu", x, name="r")
    y = g.op("Add", r, c, name="y", provenance=["add0"])
    g.set_outputs([y])
    return g


def ops(g: Graph) -> list[str]:
    return [n.op for n in g.nodes]


# ---- building ----

def test_add_node_infers_types_records_uses_and_names():
    g = relu_add()
    r, y, c = g.value("r"), g.value("y"), g.value("c")
    assert r.type == TensorType((2, 3), "f32")
    assert y.producer.op == "Add" and y.producer.inputs == (r, c)
    assert r.uses == (Use(y.producer, 0),) and c.users == [y.producer]
    assert len(g) == 2 and ops(g) == ["Relu", "Add"]
    # unnamed outputs take a name from provenance or the op, made unique
    a = g.op("Sigmoid", y, provenance=["act"])
    b = g.op("Sigmoid", y, provenance=["act"])
    t = g.op("Tanh", y)
    assert (a.name, b.name, t.name) == ("act", "act_0", "tanh")
    verify(g)
    np.testing.assert_allclose(run_graph(g, [X])[0], np.maximum(X, 0) + C)


def test_add_node_errors_name_the_op_and_problem():
    g = relu_add()
    x = g.value("x")
    with pytest.raises(IRError, match=r"cannot create Add from conv7\(%x: f32\[2,3\], "
                                      r"%x: f32\[2,3\]\): Add: unknown attribute"):
        g.add_node("Add", [x, x], {"alpha": 1.0}, provenance=["conv7"])
    with pytest.raises(IRError, match=r"shapes \[\[2, 3\], \[4\]\] do not broadcast"):
        g.op("Add", x, g.add_constant(np.zeros(4, np.float32)))
    with pytest.raises(IRError, match="already defined"):
        g.op("Relu", x, name="y")
    other = relu_add()
    with pytest.raises(IRError, match="does not belong to graph"):
        g.op("Relu", other.value("x"))
    with pytest.raises(IRError, match="unknown op 'Rellu'"):
        g.op("Rellu", x)


def test_output_types_attach_quant_params_and_must_match_inference():
    g = Graph()
    x = g.add_input("x", TensorType((4,), "u8", QuantParams.affine(0.5, 3)))
    q = QuantParams.affine(0.25, 7)
    n = g.add_node("Relu", [x], output_types=[TensorType((4,), "u8", q)])
    assert n.output.type.quant == q
    with pytest.raises(IRError, match=r"output 0 type i8\[4\] does not match inferred u8\[4\]"):
        g.add_node("Relu", [x], output_types=[TensorType((4,), "i8")])


def test_insert_before_and_after():
    g = relu_add()
    r = g.value("r").producer
    g.op("Tanh", g.value("x"), before=r, name="first")
    mid = g.op("Sigmoid", g.value("r"), after=r, name="mid")
    assert [n.outputs[0].name for n in g.nodes] == ["first", "r", "mid", "y"]
    assert mid.producer is list(g.nodes)[2]
    verify(g)


def test_failed_add_node_leaves_the_graph_unchanged():
    g = relu_add()
    r, y = g.value("r").producer, g.value("y").producer
    x = g.value("x")
    dead = g.op("Tanh", x, name="dead").producer
    g.erase(dead)
    before = g.copy()
    with pytest.raises(IRError, match="before= or after=, not both"):
        g.op("Relu", x, before=y, after=r, name="n1")
    with pytest.raises(IRError, match="is not a live node"):
        g.op("Relu", x, after=dead, name="n2")
    with pytest.raises(IRError, match=r"value name %x is already defined"):
        g.add_node("Split", [x], {"axis": 1, "split": [1, 2]}, output_names=["n3", "x"])
    with pytest.raises(IRError, match=r"value name %n4 is already defined"):
        g.add_node("Split", [x], {"axis": 1, "split": [1, 2]}, output_names=["n4", "n4"])
    verify(g)
    assert graphs_equal(g, before)
    assert len(x.uses) == 1 and not any(g.has_value(f"n{i}") for i in range(1, 5))
    # a generated name never takes a name given to a later output of the same node
    n = g.add_node("Split", [x], {"axis": 1, "split": [1, 2]}, output_names=[None, "split"])
    assert [v.name for v in n.outputs] == ["split_0", "split"]
    verify(g)


# ---- rewiring ----

def test_set_input_moves_the_use_and_keeps_types():
    g = relu_add()
    y = g.value("y").producer
    x, r = g.value("x"), g.value("r")
    g.set_input(y, 0, x)  # y = x + c
    assert y.inputs[0] is x and r.uses == () and Use(y, 0) in x.uses
    verify(g)
    np.testing.assert_allclose(run_graph(g, [X])[0], X + C)
    with pytest.raises(IRError, match=r"cannot replace input 1 of type f32\[3\] with %x"):
        g.set_input(y, 1, x)


def test_set_input_to_absent_optional_input():
    g = Graph()
    x = g.add_input("x", TensorType((1, 2, 3, 3), "f32"))
    w = g.add_constant(RNG.standard_normal((2, 2, 1, 1)).astype(np.float32), "w")
    b = g.add_constant(np.array([1.0, -1.0], np.float32), "b")
    conv = g.add_node("Conv", [x, w, b])
    g.set_outputs(conv.outputs)
    g.set_input(conv, 2, None)  # drop the bias
    assert conv.inputs[2] is None and b.uses == ()
    verify(g)
    xs = RNG.standard_normal((1, 2, 3, 3)).astype(np.float32)
    want = np.einsum("oi,nihw->nohw", w.const[:, :, 0, 0], xs)  # a 1x1 conv without bias
    np.testing.assert_allclose(run_graph(g, [xs])[0], want, rtol=1e-5, atol=1e-6)


def test_replace_all_uses_with_moves_node_uses():
    g = relu_add()
    r = g.value("r")
    t = g.op("Tanh", g.value("x"), name="t", after=r.producer)
    extra = g.op("Mul", r, r, name="sq")
    g.set_outputs([g.value("y"), extra])
    assert g.replace_all_uses_with(r, t) == 3  # Add input 0, Mul inputs 0 and 1
    assert r.uses == () and len(t.uses) == 3
    g.erase(r.producer)
    verify(g)
    y, sq = run_graph(g, [X])
    np.testing.assert_allclose(y, np.tanh(X) + C, rtol=1e-6)
    np.testing.assert_allclose(sq, np.tanh(X) ** 2, rtol=1e-6)


def test_replace_all_uses_with_keeps_graph_output_names():
    g = relu_add()
    y = g.value("y")
    new = g.op("Sub", g.value("r"), g.value("c"), name="new")
    assert g.replace_all_uses_with(y, new) == 1  # the graph output counts as one use
    # the output is now the Sub node, and it took the name "y"; the old value is renamed
    assert [v.name for v in g.outputs] == ["y"] and g.outputs[0] is new
    assert new.name == "y" and y.name == "new"
    g.erase(y.producer)
    verify(g)
    np.testing.assert_allclose(run_graph(g, [X])[0], np.maximum(X, 0) - C)


def test_replace_output_with_an_input_or_an_existing_output_keeps_their_names():
    g = relu_add()
    x, y, r = g.value("x"), g.value("y"), g.value("r")
    g.set_outputs([y, r])
    g.replace_all_uses_with(y, x)  # an input keeps its name
    assert [v.name for v in g.outputs] == ["x", "r"] and y.name == "y"
    g.replace_all_uses_with(r, x)  # outputs may repeat
    assert g.outputs == (x, x)
    for n in list(g.nodes)[::-1]:
        g.erase(n)
    verify(g)
    a, b = run_graph(g, [X])
    np.testing.assert_array_equal(a, X)
    np.testing.assert_array_equal(b, X)


def test_replace_all_uses_with_checks_types():
    g = relu_add()
    with pytest.raises(IRError, match=r"cannot replace %y: f32\[2,3\] with %c: f32\[3\]"):
        g.replace_all_uses_with(g.value("y"), g.value("c"))
    assert g.replace_all_uses_with(g.value("y"), g.value("y")) == 0


# ---- erasing ----

def test_erase_refuses_used_values_and_graph_outputs():
    g = relu_add()
    with pytest.raises(IRError, match=r"cannot erase Relu %r: %r is still read by Add %y"):
        g.erase(g.value("r").producer)
    with pytest.raises(IRError, match=r"cannot erase Add %y \(from add0\): %y is still read by "
                                      r"graph output"):
        g.erase(g.value("y").producer)


def test_erase_frees_names_and_uses():
    g = relu_add()
    dead = g.op("Sigmoid", g.value("r"), name="dead")
    node = dead.producer
    g.erase(node)
    assert node.erased and not g.has_value("dead") and len(g) == 2
    assert g.value("r").users == [g.value("y").producer]
    with pytest.raises(IRError, match="is not a live node"):
        g.erase(node)
    g.op("Tanh", g.value("r"), name="dead")  # the name is free again
    verify(g)


def test_erase_while_iterating():
    g = Graph()
    v = g.add_input("x", TensorType((2, 3), "f32"))
    for _ in range(5):
        v = g.op("Relu", g.op("Identity", v))
    g.set_outputs([v])
    visited = []
    for n in g.nodes:  # bypass each Identity and erase it during the walk
        visited.append(n.op)
        if n.op == "Identity":
            g.replace_all_uses_with(n.output, n.inputs[0])
            g.erase(n)
    assert visited == ["Identity", "Relu"] * 5
    assert ops(g) == ["Relu"] * 5 and len(g) == 5
    verify(g)
    np.testing.assert_array_equal(run_graph(g, [X])[0], np.maximum(X, 0))


def test_erase_the_next_node_while_iterating_skips_it():
    g = Graph()
    x = g.add_input("x", TensorType((2,), "f32"))
    a = g.op("Relu", x)
    b = g.op("Tanh", x)
    g.set_outputs([a])
    seen = []
    for n in g.nodes:
        seen.append(n.op)
        if n.op == "Relu":
            g.erase(b.producer)  # the node after the current one
    assert seen == ["Relu"]
    verify(g)


def test_nodes_inserted_after_the_current_one_are_visited():
    g = relu_add()
    seen = []
    for n in g.nodes:
        seen.append(n.op)
        if n.op == "Relu":
            g.op("Tanh", n.output, after=n)
    assert seen == ["Relu", "Tanh", "Add"]


def test_remove_constant_and_input():
    g = relu_add()
    with pytest.raises(IRError, match="cannot remove constant %c: it is still used"):
        g.remove_constant(g.value("c"))
    spare = g.add_constant(np.ones(2, np.float32), "spare")
    g.remove_constant(spare)
    extra = g.add_input("extra", TensorType((1,), "f32"))
    g.remove_input(extra)
    assert not g.has_value("spare") and [v.name for v in g.inputs] == ["x"]
    verify(g)


def test_rename_and_unique_name():
    g = relu_add()
    g.rename(g.value("c"), "bias")
    assert g.value("bias").is_constant and [c.name for c in g.constants] == ["bias"]
    with pytest.raises(IRError, match="already defined"):
        g.rename(g.value("r"), "y")
    assert g.unique_name("r").startswith("r_") and g.unique_name("free") == "free"
    verify(g)


def test_move_before():
    g = relu_add()
    t = g.op("Tanh", g.value("x"), name="t")
    g.move_before(t.producer, g.value("r").producer)
    assert [n.outputs[0].name for n in g.nodes] == ["t", "r", "y"]
    verify(g)


# ---- copies and constants ----

def test_copy_is_independent():
    g = relu_add()
    h = g.copy()
    assert graphs_equal(g, h)
    assert h.value("x") is not g.value("x") and h.value("r").producer is not \
        g.value("r").producer
    t = h.op("Tanh", h.value("r"))
    h.replace_all_uses_with(h.value("y"), h.op("Mul", t, h.value("c")))
    h.rename(h.value("x"), "input")
    assert graphs_equal(g, relu_add())  # the original is untouched
    verify(g)
    verify(h)
    np.testing.assert_allclose(run_graph(g, [X])[0], np.maximum(X, 0) + C)
    np.testing.assert_allclose(run_graph(h, [X])[0], np.tanh(np.maximum(X, 0)) * C, rtol=1e-6)


def test_constants_are_read_only_copies():
    g = Graph()
    arr = np.array([1.0, 2.0, 3.0], np.float32)
    c = g.add_constant(arr, "c")
    arr[0] = 100.0  # the caller's array is not aliased
    assert c.const[0] == 1.0 and not np.shares_memory(arr, c.const)
    with pytest.raises(ValueError, match="read-only"):
        c.const[1] = 5.0
    assert not g.copy().value("c").const.flags.writeable
    d = g.add_constant([1, 2], "d", dtype=TensorType((2,), "i8").dtype)  # dtype cast
    assert d.const.dtype == np.int8 and d.type == TensorType((2,), "i8")


# ---- quantization params ----

@pytest.mark.parametrize("make,message", [
    (lambda: TensorType((4,), "u8", QuantParams.affine(0.5, 300)),
     "zero point 300 outside the u8 range 0..255"),
    (lambda: TensorType((4,), "i8", QuantParams.affine(0.5, -129)),
     "zero point -129 outside the i8 range -128..127"),
    (lambda: TensorType((3, 2), "i8", QuantParams.affine([0.1, 0.2], 0, axis=0)),
     "per-axis quantization on axis 0 of size 3 has 2 scales"),
    (lambda: TensorType((3, 2), "i8", QuantParams.affine([0.1, 0.2], 0, axis=2)),
     "quantization axis 2 out of range for rank 2"),
    (lambda: TensorType((4,), "f32", QuantParams.affine(0.5, 0)),
     "quantization params on a f32 tensor"),
    (lambda: TensorType((4,), "i8", QuantParams.affine(0.5, 0, bits=16)),
     "16-bit quantization does not fit in i8"),
    (lambda: QuantParams.affine([0.1, 0.2], 0), "per-tensor quantization takes one scale"),
    (lambda: QuantParams.affine([0.1, 0.2], [0, 1, 2], axis=0),
     "as many scales as zero points, got 2 and 3"),
    (lambda: QuantParams.affine(0.0, 0), "scales must be finite and > 0"),
    (lambda: QuantParams.affine(float("nan"), 0), "scales must be finite and > 0"),
    (lambda: QuantParams.affine(0.5, 0, bits=7), "bit width must be 4, 8, 16 or 32"),
])
def test_quant_param_validation(make, message):
    with pytest.raises(IRError, match=message):
        make()


def test_constant_with_bad_quant_params_is_rejected():
    g = Graph()
    with pytest.raises(IRError, match="zero point 300 outside the u8 range"):
        g.add_constant(np.zeros(4, np.uint8), "q", quant=QuantParams.affine(0.5, 300))
    assert not g.has_value("q")
