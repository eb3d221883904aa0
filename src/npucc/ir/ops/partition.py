"""Partition: a nested graph run as one node (a CPU or an NPU partition of a partitioned graph).

The node's inputs bind to the body's inputs in order and its outputs are the body's outputs, with
the same types (quantization params included). The NPU backend's partitioner makes these nodes
(`npucc.backends.npu.partition`); the reference interpreter and the simulator plan run a partition
by running its body.
"""

from __future__ import annotations

from npucc.errors import IRError
from npucc.ir.registry import Attr, define_op
from npucc.ir.text import format_type


def _infer(types, attrs_):
    body = attrs_["body"]
    if len(types) != len(body.inputs):
        raise IRError(f"body {body.name} takes {len(body.inputs)} inputs "
                      f"({', '.join('%' + v.name for v in body.inputs)}), got {len(types)}")
    for i, (t, v) in enumerate(zip(types, body.inputs)):
        if t != v.type:
            raise IRError(f"input {i} is {format_type(t)} but body {body.name} input %{v.name} "
                          f"is {format_type(v.type)}")
    return [v.type for v in body.outputs]


@define_op("Partition", inputs=("inputs*",), min_variadic=0, infer=_infer, attrs={
    "device": Attr("str", choices=("npu", "cpu"), doc="where the body runs"),
    "reasons": Attr("strs", (), doc="why the body runs on the CPU, one line per node and rule"),
    "body": Attr("graph", doc="the nested graph: its inputs are the node's inputs, its outputs "
                              "the node's outputs"),
})
def partition(*inputs, device, reasons, body):
    """Runs `body` on the inputs (the reference interpreter: each body node by its types, float or
    integer kernel) and returns its outputs; `device` and `reasons` do not change the result."""
    from npucc.ir.interpreter import Interpreter

    return tuple(Interpreter(body).run(list(inputs)))


def inline_partitions(graph):
    """A new flat graph computing what `graph` computes, with every Partition node replaced by its
    body's nodes (recursively). Inputs and outputs keep their names and order; other values keep
    their names where free (else `name_N`); constant payloads are shared, not copied."""
    from npucc.ir.graph import Graph

    flat = Graph(graph.name, graph.numerics)
    vmap = {id(v): flat.add_input(v.name, v.type) for v in graph.inputs}
    _inline_into(flat, graph, vmap)
    flat.set_outputs([vmap[id(v)] for v in graph.outputs])
    return flat


def _inline_into(flat, graph, vmap: dict) -> None:
    for c in graph.constants:
        vmap[id(c)] = flat.add_constant_like(c, flat.unique_name(c.name))
    for node in graph.nodes:
        ins = [None if v is None else vmap[id(v)] for v in node.inputs]
        if node.op == "Partition":
            body = node.attrs["body"]
            inner = {id(b): x for b, x in zip(body.inputs, ins)}
            _inline_into(flat, body, inner)
            for out, b in zip(node.outputs, body.outputs):
                vmap[id(out)] = inner[id(b)]
            continue
        names: list[str] = []
        for v in node.outputs:
            name = flat.unique_name(v.name)
            while name in names:
                name = flat.unique_name(f"{v.name}_")
            names.append(name)
        copy = flat.add_node(node.op, ins, node.attrs, output_names=names,
                             output_types=[v.type for v in node.outputs],
                             provenance=node.provenance)
        for v, w in zip(node.outputs, copy.outputs):
            vmap[id(v)] = w
