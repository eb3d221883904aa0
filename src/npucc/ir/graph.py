"""The SSA graph: Values, Nodes and the Graph that owns them.

Invariants kept by the mutation API (and checked by `npucc.ir.verify`):
- every Value is defined once: by a Node, as a graph input, or as a constant;
- nodes are kept in a valid topological order (a doubly linked list, so inserting and erasing
  are O(1) and iterating while erasing is safe);
- `value.uses` lists exactly the (node, input index) pairs that read it;
- node inputs are an immutable tuple: change them with `Graph.set_input` or
  `Graph.replace_all_uses_with`, never by hand.
"""

from __future__ import annotations

import itertools
import types as _pytypes
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..errors import IRError
from .registry import OpDef, get_op
from .types import DType, QuantParams, TensorType


class Use(NamedTuple):
    node: Node
    index: int


class Value:
    """One SSA value. Created only by a Graph (`add_input`, `add_constant`, `add_node`).

    `meta` is a dict of analysis annotations (calibration statistics, cost estimates...): copied
    with the graph, not part of graph equality, not printed unless asked."""

    __slots__ = ("name", "type", "producer", "index", "meta", "_const", "_uses", "__weakref__")

    def __init__(self, name: str, type_: TensorType, producer: Node | None = None, index: int = 0,
                 const: np.ndarray | None = None):
        self.name = name
        self.type = type_
        self.producer = producer
        self.index = index
        self._const = const
        self._uses: list[Use] = []
        self.meta: dict[str, Any] = {}

    @property
    def const(self) -> np.ndarray | None:
        """The read-only payload of a constant, None for any other value."""
        return self._const

    @property
    def is_constant(self) -> bool:
        return self._const is not None

    @property
    def uses(self) -> tuple[Use, ...]:
        return tuple(self._uses)

    @property
    def users(self) -> list[Node]:
        """Distinct nodes that read this value, in use order."""
        return list(dict.fromkeys(u.node for u in self._uses))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.type.shape

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    def __repr__(self) -> str:
        return f"%{self.name}: {self.type}"


class Node:
    """One op application. Attributes are read-only; provenance is the set of source-model op names
    this node stands for (fusing nodes unions them). `meta` holds analysis annotations, as
    `Value.meta` does."""

    __slots__ = ("op", "inputs", "outputs", "attrs", "provenance", "graph", "meta", "_prev",
                 "_next", "_erased", "__weakref__")

    def __init__(self, op: str, inputs: tuple, attrs_: Mapping[str, Any], provenance: frozenset):
        self.op = op
        self.inputs: tuple[Value | None, ...] = inputs
        self.outputs: tuple[Value, ...] = ()
        self.attrs = _pytypes.MappingProxyType(dict(attrs_))
        self.provenance = provenance
        self.graph: Graph | None = None
        self.meta: dict[str, Any] = {}
        self._prev: Node | None = None
        self._next: Node | None = None
        self._erased = False

    @property
    def opdef(self) -> OpDef:
        return get_op(self.op)

    @property
    def output(self) -> Value:
        """The only output of a single-output node."""
        if len(self.outputs) != 1:
            raise IRError(f"{self.describe()} has {len(self.outputs)} outputs, not one")
        return self.outputs[0]

    @property
    def erased(self) -> bool:
        return self._erased

    def describe(self) -> str:
        """Short human name for messages: op, first output and source names."""
        out = f" %{self.outputs[0].name}" if self.outputs else ""
        src = f" (from {', '.join(sorted(self.provenance))})" if self.provenance else ""
        return f"{self.op}{out}{src}"

    def __repr__(self) -> str:
        return f"<Node {self.describe()}>"


def _readonly(array) -> np.ndarray:
    arr = np.array(array, copy=True, order="C")  # own the memory: no aliasing with the caller
    arr.flags.writeable = False
    return arr


DEFAULT_NUMERICS = "tflite"


class Graph:
    """A typed SSA graph. Subgraphs (a CPU partition, a fused region) are Graphs too.

    `numerics` names the arithmetic of the graph's affine-quantized nodes: "tflite" (TFLite's
    reference kernels, the default) or "affine" (RKNN-style); see `npucc.numerics`. Float,
    float16 and dynamic-fixed-point nodes compute as their types say."""

    def __init__(self, name: str = "main", numerics: str = DEFAULT_NUMERICS):
        self.name = name
        self.numerics = numerics
        self._inputs: list[Value] = []
        self._outputs: list[Value] = []
        self._constants: dict[int, Value] = {}  # id(value) -> value, in creation order
        self._values: dict[str, Value] = {}
        self._root = Node("<root>", (), {}, frozenset())
        self._root._prev = self._root._next = self._root
        self._count = 0
        self._name_counter = itertools.count()

    # ---- reading ----
    @property
    def inputs(self) -> tuple[Value, ...]:
        return tuple(self._inputs)

    @property
    def outputs(self) -> tuple[Value, ...]:
        return tuple(self._outputs)

    @property
    def constants(self) -> tuple[Value, ...]:
        return tuple(self._constants.values())

    @property
    def nodes(self) -> Iterator[Node]:
        """Nodes in topological order. Erasing or inserting nodes while iterating is safe: erased
        nodes are skipped, nodes inserted after the current one are visited."""
        n = self._root._next
        while n is not self._root:
            if not n._erased:
                yield n
            n = n._next

    def __len__(self) -> int:
        return self._count

    def value(self, name: str) -> Value:
        try:
            return self._values[name]
        except KeyError:
            raise IRError(f"graph {self.name} has no value %{name}") from None

    def has_value(self, name: str) -> bool:
        return name in self._values

    def values(self) -> Iterator[Value]:
        """Every value: inputs, constants, then node outputs in order."""
        yield from self._inputs
        yield from self._constants.values()
        for n in self.nodes:
            yield from n.outputs

    def is_output(self, value: Value) -> bool:
        return any(v is value for v in self._outputs)

    # ---- naming ----
    def unique_name(self, hint: str = "v") -> str:
        """`hint` if free, else `hint_N` for the first free N."""
        if hint not in self._values:
            return hint
        while True:
            name = f"{hint}_{next(self._name_counter)}"
            if name not in self._values:
                return name

    def _claim(self, name: str | None, hint: str) -> str:
        if name is None:
            return self.unique_name(hint)
        if name in self._values:
            raise IRError(f"value name %{name} is already defined in graph {self.name}")
        return name

    def rename(self, value: Value, name: str) -> None:
        if value.name == name:
            return
        if name in self._values:
            raise IRError(f"value name %{name} is already defined in graph {self.name}")
        del self._values[value.name]
        value.name = name
        self._values[name] = value

    # ---- building ----
    def add_input(self, name: str, type_: TensorType, index: int | None = None) -> Value:
        """A new graph input, last or at position `index` of the inputs."""
        v = Value(self._claim(name, "input"), type_)
        self._values[v.name] = v
        self._inputs.insert(len(self._inputs) if index is None else index, v)
        return v

    def add_constant(self, array, name: str | None = None, *, dtype: DType | None = None,
                     quant: QuantParams | None = None) -> Value:
        """A constant holding a read-only copy of `array` (cast to `dtype` if given)."""
        arr = np.asarray(array)
        if dtype is not None:
            arr = arr.astype(dtype.numpy)
        else:
            dtype = DType.from_numpy(arr.dtype)
        v = Value(self._claim(name, "const"), TensorType(arr.shape, dtype, quant),
                  const=_readonly(arr))
        self._values[v.name] = v
        self._constants[id(v)] = v
        return v

    def add_constant_like(self, value: Value, name: str | None = None) -> Value:
        """A constant with the type of constant `value` (of any graph) sharing its read-only
        payload (no copy): how a partition body or an inlined graph takes its weights."""
        if value._const is None:
            raise IRError(f"%{value.name} is not a constant")
        v = Value(self._claim(name or value.name, "const"), value.type, const=value._const)
        self._values[v.name] = v
        self._constants[id(v)] = v
        return v

    def set_outputs(self, values: Iterable[Value]) -> None:
        values = list(values)
        for v in values:
            self._check_owned(v)
        self._outputs = values

    def add_node(self, op: str, inputs: Sequence[Value | None],
                 attrs_: Mapping[str, Any] | None = None,
                 *, output_names: Sequence[str | None] | None = None,
                 output_types: Sequence[TensorType] | None = None,
                 provenance: Iterable[str] = (), before: Node | None = None,
                 after: Node | None = None) -> Node:
        """Create a node, infer its output types, and insert it (at the end by default).

        `output_types` may be given to attach quantization params to outputs; their shape and dtype
        must equal the inferred ones.
        """
        opdef = get_op(op)
        if before is not None and after is not None:  # check the anchor before mutating
            raise IRError("give before= or after=, not both")
        for anchor in (before, after):
            if anchor is not None:
                self._check_live(anchor)
        inputs = tuple(inputs)
        for v in inputs:
            if v is not None:
                self._check_owned(v)
        try:
            norm = opdef.normalize_attrs(attrs_ or {})
            inferred = opdef.infer_types([None if v is None else v.type for v in inputs], norm)
        except IRError as e:
            names = ", ".join("None" if v is None else f"{v!r}" for v in inputs)
            src = f" from {', '.join(sorted(provenance))}" if provenance else ""
            raise IRError(f"cannot create {op}{src}({names}): {e}") from None
        if output_types is not None:
            output_types = list(output_types)
            if len(output_types) != len(inferred):
                raise IRError(f"{op}: {len(output_types)} output types given, op has "
                              f"{len(inferred)} outputs")
            for i, (given, want) in enumerate(zip(output_types, inferred)):
                if (given.shape, given.dtype) != (want.shape, want.dtype):
                    raise IRError(f"{op}: output {i} type {given} does not match inferred {want}")
            inferred = output_types
        node = Node(op, inputs, norm, frozenset(provenance))
        names = list(output_names) if output_names is not None else [None] * len(inferred)
        if len(names) != len(inferred):
            raise IRError(f"{op}: {len(names)} output names given, op has {len(inferred)} outputs")
        hint = (next(iter(sorted(node.provenance)), None) or op.lower())
        given = [nm for nm in names if nm is not None]
        for nm in given:  # check every given name before claiming any (no half-made node)
            if nm in self._values or given.count(nm) > 1:
                raise IRError(f"value name %{nm} is already defined in graph {self.name}")
        outs = [Value(nm, t, node, i) for i, (nm, t) in enumerate(zip(names, inferred))]
        for v in sorted(outs, key=lambda v: v.name is None):  # given names first
            v.name = self._claim(v.name, hint)
            self._values[v.name] = v
        node.outputs = tuple(outs)
        for i, v in enumerate(inputs):
            if v is not None:
                v._uses.append(Use(node, i))
        self._link(node, before=before, after=after)
        return node

    def op(self, op: str, *inputs: Value | None, name: str | None = None,
           provenance: Iterable[str] = (), before: Node | None = None, after: Node | None = None,
           **attrs_) -> Value | tuple[Value, ...]:
        """Builder shorthand: add a node and return its output (or tuple of outputs)."""
        node = self.add_node(op, inputs, attrs_, provenance=provenance, before=before, after=after,
                             output_names=None if name is None else [name])
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    # ---- mutation ----
    def set_input(self, node: Node, index: int, value: Value | None) -> None:
        """Make input `index` of `node` read `value`. Types must stay equal."""
        self._check_live(node)
        old = node.inputs[index]
        if value is not None:
            self._check_owned(value)
            if old is not None and (old.shape, old.dtype) != (value.shape, value.dtype):
                raise IRError(f"{node.describe()}: cannot replace input {index} of type {old.type} "
                              f"with %{value.name} of type {value.type}")
        if old is not None:
            old._uses.remove(Use(node, index))
        if value is not None:
            value._uses.append(Use(node, index))
        node.inputs = node.inputs[:index] + (value,) + node.inputs[index + 1:]

    def replace_all_uses_with(self, old: Value, new: Value) -> int:
        """Make every reader of `old` (nodes and graph outputs) read `new`; returns the count.

        When `old` is a graph output, `new` takes over its name so the graph's interface keeps
        its names (the two values swap names, unless `new` is itself a graph input or output).
        """
        if old is new:
            return 0
        self._check_owned(old)
        self._check_owned(new)
        if (old.shape, old.dtype) != (new.shape, new.dtype):
            raise IRError(f"cannot replace %{old.name}: {old.type} with %{new.name}: {new.type}")
        uses = list(old._uses)
        for node, i in uses:
            node.inputs = node.inputs[:i] + (new,) + node.inputs[i + 1:]
            new._uses.append(Use(node, i))
        old._uses.clear()
        n = len(uses)
        if self.is_output(old):
            keep_name = not (self.is_output(new) or any(v is new for v in self._inputs))
            self._outputs = [new if v is old else v for v in self._outputs]
            if keep_name:
                self._swap_names(old, new)
            n += 1
        return n

    def erase(self, node: Node) -> None:
        """Remove a node whose outputs are unused (and not graph outputs)."""
        self._check_live(node)
        for v in node.outputs:
            if v._uses or self.is_output(v):
                readers = [u.node.describe() for u in v._uses]
                if self.is_output(v):
                    readers.append("graph output")
                raise IRError(f"cannot erase {node.describe()}: %{v.name} is still read by "
                              f"{', '.join(readers)}")
        for i, v in enumerate(node.inputs):
            if v is not None:
                v._uses.remove(Use(node, i))
        for v in node.outputs:
            del self._values[v.name]
        node._prev._next = node._next
        node._next._prev = node._prev
        node._erased = True
        node.graph = None
        self._count -= 1

    def remove_constant(self, value: Value) -> None:
        if value._uses or self.is_output(value):
            raise IRError(f"cannot remove constant %{value.name}: it is still used")
        del self._constants[id(value)]
        del self._values[value.name]

    def remove_input(self, value: Value) -> None:
        if value._uses or self.is_output(value):
            raise IRError(f"cannot remove input %{value.name}: it is still used")
        self._inputs.remove(value)
        del self._values[value.name]

    def move_before(self, node: Node, anchor: Node) -> None:
        """Move `node` to just before `anchor` (caller keeps the order topological)."""
        self._check_live(node)
        node._prev._next = node._next
        node._next._prev = node._prev
        self._count -= 1
        self._link(node, before=anchor)

    def copy(self) -> Graph:
        """A structurally identical graph with the same names (constant payloads are shared:
        they are read-only; nested graphs held as attributes are copied too)."""
        g = Graph(self.name, self.numerics)
        vmap: dict[int, Value] = {}
        for v in self._inputs:
            vmap[id(v)] = g.add_input(v.name, v.type)
            vmap[id(v)].meta = dict(v.meta)
        for v in self._constants.values():
            c = Value(v.name, v.type, const=v._const)
            c.meta = dict(v.meta)
            g._values[c.name] = c
            g._constants[id(c)] = c
            vmap[id(v)] = c
        for n in self.nodes:
            attrs_ = {k: a.copy() if isinstance(a, Graph) else a for k, a in n.attrs.items()}
            m = Node(n.op, tuple(None if v is None else vmap[id(v)] for v in n.inputs), attrs_,
                     n.provenance)
            m.meta = dict(n.meta)
            outs = []
            for v in n.outputs:
                w = Value(v.name, v.type, m, v.index)
                w.meta = dict(v.meta)
                g._values[w.name] = w
                vmap[id(v)] = w
                outs.append(w)
            m.outputs = tuple(outs)
            for i, v in enumerate(m.inputs):
                if v is not None:
                    v._uses.append(Use(m, i))
            g._link(m)
        g._outputs = [vmap[id(v)] for v in self._outputs]
        return g

    def replace_contents(self, other: Graph) -> None:
        """Make this graph hold `other`'s inputs, constants, nodes and outputs (and take its
        numerics), so a pass that builds a new graph can rewrite `self` in place. `other` must
        not be used afterwards."""
        self.numerics = other.numerics
        for key in ("_inputs", "_outputs", "_constants", "_values", "_root", "_count",
                    "_name_counter"):
            setattr(self, key, getattr(other, key))
        for n in self.nodes:
            n.graph = self
        other.__init__(other.name)

    # ---- internals ----
    def _swap_names(self, a: Value, b: Value) -> None:
        tmp = self.unique_name("__swap")
        an, bn = a.name, b.name
        self.rename(a, tmp)
        self.rename(b, an)
        self.rename(a, bn)

    def _check_owned(self, v: Value) -> None:
        if self._values.get(v.name) is not v:
            raise IRError(f"value %{v.name} does not belong to graph {self.name}")

    def _check_live(self, node: Node) -> None:
        if node.graph is not self or node._erased:
            raise IRError(f"{node.describe()} is not a live node of graph {self.name}")

    def _link(self, node: Node, before: Node | None = None, after: Node | None = None) -> None:
        if before is not None and after is not None:
            raise IRError("give before= or after=, not both")
        if after is not None:
            self._check_live(after)
            before = after._next
        elif before is not None:
            self._check_live(before)
        else:
            before = self._root
        prev = before._prev
        prev._next = node
        node._prev = prev
        node._next = before
        before._prev = node
        node.graph = self
        self._count += 1

    def __str__(self) -> str:
        from .text import format_graph

        return format_graph(self)

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self._inputs)} inputs, {self._count} nodes, " \
               f"{len(self._outputs)} outputs>"

    def _repr_pretty_(self, printer, cycle) -> None:
        """The IR text, for pretty printers (hypothesis's falsifying examples, IPython)."""
        for i, line in enumerate(str(self).splitlines()):
            if i:
                printer.break_()  # a new line at the printer's indentation
            printer.text(line)
