"""The verifier: checks every invariant of a Graph and reports all problems at once.

Checked: the node list is intact; SSA (each value defined once, names unique, the graph's value
table matches the definitions); values are defined before use in node order; use lists match node
inputs in both directions; input arity and required slots; attributes are what the op's schema
normalizes them to; output types equal inference in shape and dtype (quantization params may
differ but must be valid); constants are read-only and match their type; graph outputs are
defined in this graph; nested graphs (a partition's body) are checked the same way, and the
node's types must equal the body's exactly. Linear in the size of the graph.
"""

from __future__ import annotations

from npucc.errors import IRError, VerificationError

from .graph import Graph
from .registry import OPS, _parse_slot
from .text import same_attrs


def verify(graph) -> None:
    """Raise VerificationError listing every problem found in `graph`."""
    problems = verification_problems(graph)
    if problems:
        raise VerificationError(problems)


def verification_problems(graph) -> list[str]:
    """Every problem found in `graph`, one message each (empty when it is valid)."""
    return _Checker(graph).run()


def _slot_kinds(opdef) -> list[str]:
    return [_parse_slot(s)[1] for s in opdef.inputs]


class _Checker:
    def __init__(self, graph):
        self.g = graph
        self.problems: list[str] = []
        self.defined: dict[int, str] = {}  # id(value) -> what defines it
        self.by_name: dict[str, object] = {}
        self.values: list = []  # every defined value, in definition order
        self.later: dict[int, str] = {}  # id(value) -> node that defines it later in the order

    def report(self, msg: str) -> None:
        self.problems.append(msg)

    def run(self) -> list[str]:
        g = self.g
        nodes = self.node_list()
        for v in g._inputs:
            if v.producer is not None:
                self.report(f"graph input %{v.name} has a producer ({v.producer.describe()})")
            self.define(v, f"graph input %{v.name}")
        for v in g._constants.values():
            self.check_constant(v)
            self.define(v, f"constant %{v.name}")
        for n in nodes:
            for v in n.outputs:
                self.later[id(v)] = n.describe()
        for n in nodes:
            self.check_node(n)
        self.check_uses(nodes)
        self.check_outputs()
        self.check_value_table()
        return self.problems

    # ---- structure ----
    def node_list(self) -> list:
        """The live nodes in list order, reporting a broken list instead of looping forever."""
        g, root = self.g, self.g._root
        nodes, seen, prev, n = [], set(), root, root._next
        while n is not root:
            if id(n) in seen or n is None:
                self.report(f"graph {g.name}: the node list is cyclic or broken after "
                            f"{prev.describe() if prev is not root else 'its start'}")
                break
            seen.add(id(n))
            if n._prev is not prev:
                self.report(f"{n.describe()}: its back link does not point to the node before it")
            if n._erased:
                self.report(f"{n.describe()}: erased node is still in the node list")
            elif n.graph is not g:
                self.report(f"{n.describe()}: node is in the list of graph {g.name} but "
                            "belongs to another graph")
            else:
                nodes.append(n)
            prev, n = n, n._next
        if len(nodes) != g._count:
            self.report(f"graph {g.name}: node count is {g._count} but the list holds "
                        f"{len(nodes)} live nodes")
        return nodes

    def define(self, v, what: str) -> None:
        if id(v) in self.defined:
            self.report(f"%{v.name} is defined twice: by {self.defined[id(v)]} and by {what}")
            return
        self.defined[id(v)] = what
        self.values.append(v)
        other = self.by_name.get(v.name)
        if other is not None:
            self.report(f"name %{v.name} is used by two values: defined by "
                        f"{self.defined[id(other)]} and by {what}")
        else:
            self.by_name[v.name] = v
        q = v.type.quant
        if q is not None:
            try:
                q.check_against(v.type.shape, v.type.dtype)
            except IRError as e:
                self.report(f"%{v.name} (defined by {what}): invalid quantization params: {e}")

    def check_constant(self, v) -> None:
        arr = v._const
        if arr is None:
            self.report(f"constant %{v.name} has no payload")
            return
        if v.producer is not None:
            self.report(f"constant %{v.name} has a producer ({v.producer.describe()})")
        if arr.flags.writeable:
            self.report(f"constant %{v.name}: payload is writeable (constants are read-only)")
        if arr.shape != v.type.shape or arr.dtype != v.type.dtype.numpy:
            self.report(f"constant %{v.name}: payload is {arr.dtype}{list(arr.shape)}, "
                        f"its type is {v.type}")

    # ---- nodes ----
    def check_node(self, n) -> None:
        where = n.describe()
        opdef = OPS.get(n.op)
        typed_inputs = True
        for i, v in enumerate(n.inputs):
            if v is None:
                continue
            if id(v) not in self.defined:
                typed_inputs = False
                if id(v) in self.later:
                    self.report(f"{where}: input {i} reads %{v.name} before its definition "
                                f"(by {self.later[id(v)]}, later in the node order)")
                else:
                    self.report(f"{where}: input {i} reads %{v.name}, which is not defined in "
                                f"graph {self.g.name}" + self.why_undefined(v))
        if opdef is None:
            self.report(f"{where}: unknown op {n.op!r}")
        else:
            self.check_op(n, opdef, typed_inputs)
        for i, v in enumerate(n.outputs):
            if v.producer is not n or v.index != i:
                self.report(f"{where}: output {i} %{v.name} records producer "
                            f"{v.producer.describe() if v.producer else None} and index "
                            f"{v.index}")
            self.define(v, where)

    def why_undefined(self, v) -> str:
        p = v.producer
        if p is not None and p._erased:
            return f" (its producer {p.describe()} was erased)"
        if p is not None and p.graph is None:
            return f" (its producer {p.describe()} is in no graph)"
        if p is not None and p.graph is not self.g:
            return " (it belongs to another graph)"
        return ""

    def check_op(self, n, opdef, typed_inputs: bool) -> None:
        where = n.describe()
        try:
            opdef.check_arity(len(n.inputs))
        except IRError as e:
            self.report(f"{where}: {e}")
            return
        kinds = _slot_kinds(opdef)
        for i, v in enumerate(n.inputs):
            kind = kinds[min(i, len(kinds) - 1)]
            if v is None and kind != "optional":
                self.report(f"{where}: input {i} ({opdef.inputs[min(i, len(kinds) - 1)]}) "
                            "is required but absent")
                typed_inputs = False
        try:
            norm = opdef.normalize_attrs(n.attrs)
        except IRError as e:
            self.report(f"{where}: invalid attributes: {e}")
            return
        if not same_attrs(norm, dict(n.attrs)):
            self.report(f"{where}: attributes {dict(n.attrs)} are not normalized; the schema "
                        f"gives {norm}")
            return
        if not typed_inputs:
            return
        try:
            want = opdef.infer_types([None if v is None else v.type for v in n.inputs], norm)
        except IRError as e:
            self.report(f"{where}: type inference fails: {e}")
            return
        if len(want) != len(n.outputs):
            self.report(f"{where}: has {len(n.outputs)} outputs, {n.op} infers {len(want)}")
            return
        nested = [(k, a) for k, a in norm.items() if isinstance(a, Graph)]
        for i, (v, t) in enumerate(zip(n.outputs, want)):
            if (v.type.shape, v.type.dtype) != (t.shape, t.dtype) or (nested and v.type != t):
                self.report(f"{where}: output {i} %{v.name} has type {v.type}, inference "
                            f"gives {t}")
        for k, body in nested:  # a nested graph (a partition's body) must be valid on its own
            self.problems += [f"{where}: in {k} graph {body.name}: {p}"
                              for p in verification_problems(body)]

    # ---- use lists ----
    def check_uses(self, nodes) -> None:
        live = {id(n) for n in nodes}
        expected = sum(v is not None and id(v) in self.defined for n in nodes for v in n.inputs)
        recorded = 0  # distinct use-list entries that match a node input
        for v in self.values:
            seen = set()
            for node, i in v._uses:
                if (id(node), i) in seen:
                    self.report(f"%{v.name}: use ({node.describe()}, input {i}) is listed twice")
                    continue
                seen.add((id(node), i))
                if id(node) not in live:
                    self.report(f"%{v.name}: use list names {node.describe()}, which is not a "
                                "live node of this graph")
                elif not (0 <= i < len(node.inputs)) or node.inputs[i] is not v:
                    self.report(f"%{v.name}: use list says {node.describe()} reads it as input "
                                f"{i}, but that input is not %{v.name}")
                else:
                    recorded += 1
        if recorded != expected:
            self.find_unlisted(nodes)

    def find_unlisted(self, nodes) -> None:
        """Report node inputs missing from their value's use list (the slow path, on error)."""
        for n in nodes:
            for i, v in enumerate(n.inputs):
                if v is not None and id(v) in self.defined and \
                        not any(u.node is n and u.index == i for u in v._uses):
                    self.report(f"{n.describe()}: input {i} reads %{v.name}, but %{v.name}'s "
                                "use list does not record it")

    # ---- graph level ----
    def check_outputs(self) -> None:
        for k, v in enumerate(self.g._outputs):
            if id(v) not in self.defined:
                self.report(f"graph output {k} %{v.name} is not defined in graph "
                            f"{self.g.name}" + self.why_undefined(v))

    def check_value_table(self) -> None:
        for name, v in self.g._values.items():
            if v.name != name:
                self.report(f"the value table lists %{v.name} under the name %{name}")
            elif id(v) not in self.defined:
                self.report(f"the value table lists %{name}, which nothing in the graph defines"
                            + self.why_undefined(v))
        for name, v in self.by_name.items():
            if self.g._values.get(name) is not v:
                self.report(f"%{name} ({self.defined[id(v)]}) is missing from the graph's "
                            "value table")
