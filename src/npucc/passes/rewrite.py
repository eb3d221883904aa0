"""Declarative pattern rewriting: patterns, match with reasons, and a greedy fixed-point driver.

A pattern describes a DAG rooted at one node. `Op` matches a node (by op name, attributes,
predicates, and its input patterns); `Any` matches any value (or an absent optional input);
`Const` matches a constant. A name binds what matched; using a name twice requires the same value.

    conv_relu = Op("Relu", Op("Conv", Any("x"), Const("w"), Any("b", optional=True),
                              name="conv", single_use=True), name="relu")

    def fuse(m, rw):                       # conv(x, w, b) -> relu  ==>  conv(x, w, b, relu)
        conv = m["conv"]
        return rw.op("Conv", m["x"], m["w"], m["b"], **{**conv.attrs, "activation": "relu"})

    @register_pass
    @attrs.frozen
    class FuseConvRelu(RewritePass):
        '''Guarantee: every single-use Conv feeding a Relu carries the Relu as fused activation.'''
        name = "fuse-conv-relu"
        rules = (Rule("conv-relu", conv_relu, fuse),)

On an op the registry declares commutative (Add, Mul), a two-input `Op` pattern matches the
node's operands in either order: `Op("Add", Op("MatMul", ...), Const("c"))` also matches
`Add(c, MatMul(...))` (the declared order is tried first).

`match(pattern, node)` returns a `Match` (bindings by name) or a falsy `NoMatch` whose `reason`
says why, e.g. "conv: %c1 has 2 users, pattern needs single use". A rule's function gets the match
and a `Rewriter`, and returns the values that replace the root's outputs, or None to decline.
`apply_rewrites` applies rules until none matches: replaced matched nodes that became dead are
erased, and the users of changed values re-enter the worklist. Nodes made through the rewriter are
inserted before the root and carry the union of the matched nodes' provenance.

Predicates (`where=`) get the node (Op) or the value (Any, Const) and return a bool or
`(ok, reason)`; on a plain False the predicate's docstring (or name) is the reason.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import ClassVar

import attrs
import numpy as np

from npucc.errors import PassError
from npucc.ir.graph import Graph, Node, Value
from npucc.ir.types import DType, QuantParams, TensorType

from .base import Pass, PassResult

Predicate = Callable[[object], object]


def _tuple(x) -> tuple:
    if x is None:
        return ()
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


class Pattern:
    """Base of Op, Any and Const."""

    name: str | None = None
    where: tuple[Predicate, ...] = ()

    def _check_where(self, subject, label: str) -> str | None:
        for pred in self.where:
            res = pred(subject)
            ok, reason = res if isinstance(res, tuple) else (bool(res), None)
            if not ok:
                doc = (getattr(pred, "__doc__", None) or "").strip().splitlines()
                name = getattr(pred, "__name__", "<lambda>")
                reason = reason or (doc[0] if doc else f"predicate {name} is false")
                return f"{label}: {reason}"
        return None


class Op(Pattern):
    """Matches a node whose op is `op` (a name, a tuple of names, or None for any op).

    inputs: one pattern per input, matched positionally; omit them all to leave inputs free.
    single_use: the node's outputs are read by one node only and are not graph outputs.
    attrs: attribute values the node must have. where: predicates on the node.
    """

    def __init__(self, op: str | Sequence[str] | None, *inputs: Pattern, name: str | None = None,
                 single_use: bool = False, attrs: Mapping[str, object] | None = None,
                 where: Predicate | Sequence[Predicate] = ()):
        self.ops = None if op is None else frozenset(_tuple(op))
        self.inputs = inputs
        self.name = name
        self.single_use = single_use
        self.attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in (attrs or {}).items()}
        self.where = _tuple(where)

    def __repr__(self) -> str:
        ops = "*" if self.ops is None else "|".join(sorted(self.ops))
        return f"Op({ops}{', ' if self.inputs else ''}{', '.join(map(repr, self.inputs))})"


class Any(Pattern):
    """Matches any value; with optional=True also an absent input (bound to None)."""

    def __init__(self, name: str | None = None, *, optional: bool = False,
                 where: Predicate | Sequence[Predicate] = ()):
        self.name, self.optional, self.where = name, optional, _tuple(where)

    def __repr__(self) -> str:
        return f"Any({self.name or ''})"


class Const(Pattern):
    """Matches a constant value."""

    def __init__(self, name: str | None = None, *, where: Predicate | Sequence[Predicate] = ()):
        self.name, self.where = name, _tuple(where)

    def __repr__(self) -> str:
        return f"Const({self.name or ''})"


class Match:
    """A successful match: `m[name]` is the bound Node (Op) or Value (Any, Const; None if
    absent)."""

    def __init__(self, root: Node, nodes: list[Node], bindings: dict[str, object]):
        self.root, self.nodes, self.bindings = root, tuple(nodes), bindings

    def __getitem__(self, name: str):
        try:
            return self.bindings[name]
        except KeyError:
            bound = ", ".join(self.bindings)
            raise KeyError(f"pattern binds no {name!r}; bound: {bound}") from None

    def get(self, name: str, default=None):
        return self.bindings.get(name, default)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<Match {self.root.describe()}: {', '.join(self.bindings)}>"


@attrs.frozen
class NoMatch:
    """A failed match; falsy. `reason` says which part of the pattern failed and why."""

    reason: str

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        return self.reason


def _ops_text(ops) -> str:
    return " or ".join(sorted(ops))


class _Matcher:
    def __init__(self):
        self.bindings: dict[str, object] = {}
        self.nodes: list[Node] = []

    def bind(self, pat: Pattern, obj) -> str | None:
        if pat.name is None:
            return None
        prev = self.bindings.get(pat.name, obj)
        if prev is not obj:
            def show(o):
                return o.describe() if isinstance(o, Node) else repr(o)
            return f"{pat.name}: bound to {show(prev)} and to {show(obj)}, pattern needs the same"
        self.bindings[pat.name] = obj
        return None

    def node(self, pat: Op, node: Node, via: str) -> str | None:
        label = pat.name or node.op
        if pat.ops is not None and node.op not in pat.ops:
            return f"{via} is a {node.op}, pattern needs {_ops_text(pat.ops)}"
        if any(n is node for n in self.nodes):  # same node reached twice in a DAG pattern
            return self.bind(pat, node)
        if pat.single_use:
            graph = node.graph
            for v in node.outputs:
                if graph is not None and graph.is_output(v):
                    return f"{label}: %{v.name} is a graph output, pattern needs single use"
            users = {id(u) for v in node.outputs for u in v.users}
            if len(users) > 1:
                first = node.outputs[0].name
                return f"{label}: %{first} has {len(users)} users, pattern needs single use"
        for key, want in pat.attrs.items():
            have = node.attrs.get(key)
            if have != want:
                return f"{label}: attribute {key}={have!r}, pattern needs {want!r}"
        problem = pat._check_where(node, label)
        if problem:
            return problem
        if pat.inputs:
            extra = [v for v in node.inputs[len(pat.inputs):] if v is not None]
            if extra:
                return (f"{label}: {node.op} has {len(node.inputs)} inputs, pattern takes "
                        f"{len(pat.inputs)}")
            problem = self.operands(pat, node, label, (0, 1))
            if problem and len(pat.inputs) == 2 and node.opdef.commutative:
                if not self.operands(pat, node, label, (1, 0)):  # b op a matches a op b
                    problem = None
                else:
                    problem += f" (and with the operands of commutative {node.op} swapped)"
            if problem:
                return problem
        self.nodes.append(node)
        return self.bind(pat, node)

    def operands(self, pat: Op, node: Node, label: str, order: tuple[int, int]) -> str | None:
        """Match the input patterns against the node's inputs, pattern input k taking node input
        order[k] (for k < 2); on failure the bindings are left as they were."""
        saved, n_nodes = dict(self.bindings), len(self.nodes)
        for k, ip in enumerate(pat.inputs):
            i = order[k] if k < 2 else k
            v = node.inputs[i] if i < len(node.inputs) else None
            problem = self.value(ip, v, f"{label} input {i}")
            if problem:
                self.bindings, self.nodes[n_nodes:] = saved, []
                return problem
        return None

    def value(self, pat: Pattern, v: Value | None, via: str) -> str | None:
        if v is None:
            if isinstance(pat, Any) and pat.optional:
                return self.bind(pat, None)
            return f"{via} is absent, pattern needs a value"
        where = f"{via} (%{v.name})"
        if isinstance(pat, Op):
            if v.producer is None:
                kind = "a constant" if v.is_constant else "a graph input"
                return f"{where} is {kind}, pattern needs {_ops_text(pat.ops or ['an op'])}"
            return self.node(pat, v.producer, where)
        if isinstance(pat, Const) and not v.is_constant:
            return f"{where} is not a constant"
        problem = pat._check_where(v, pat.name or where)
        return problem or self.bind(pat, v)


def match(pattern: Op, node: Node) -> Match | NoMatch:
    """Match `pattern` rooted at `node`."""
    m = _Matcher()
    problem = m.node(pattern, node, node.describe())
    return NoMatch(problem) if problem else Match(node, m.nodes, m.bindings)


@attrs.frozen
class Rule:
    """A named rewrite: `fn(match, rewriter)` returns replacement values for the root's outputs
    (one Value or a sequence), or None to decline."""

    name: str
    pattern: Op
    fn: Callable[[Match, Rewriter], Value | Sequence[Value] | None]


class Rewriter:
    """Creates nodes and constants for a rule: inserted before the matched root, with the union of
    the matched nodes' provenance."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.root: Node | None = None
        self.provenance: frozenset[str] = frozenset()
        self.created: list[Node] = []
        self.constants: list[Value] = []

    def _begin(self, m: Match) -> None:
        self.root = m.root
        self.provenance = frozenset().union(*(n.provenance for n in m.nodes))
        self.created, self.constants = [], []

    def add_node(self, op: str, inputs: Sequence[Value | None],
                 attrs_: Mapping[str, object] | None = None, *,
                 output_types: Sequence[TensorType] | None = None) -> Node:
        node = self.graph.add_node(op, inputs, attrs_, output_types=output_types,
                                   provenance=self.provenance, before=self.root)
        self.created.append(node)
        return node

    def op(self, op: str, *inputs: Value | None, out_type: TensorType | None = None,
           **attrs_) -> Value | tuple[Value, ...]:
        """Add a node; returns its output (or outputs). `out_type` fixes a single output's type
        (e.g. to keep quantization params)."""
        node = self.add_node(op, inputs, attrs_,
                             output_types=None if out_type is None else [out_type])
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def constant(self, array, *, dtype: DType | None = None,
                 quant: QuantParams | None = None) -> Value:
        value = self.graph.add_constant(np.asarray(array), dtype=dtype, quant=quant)
        self.constants.append(value)
        return value

    def _discard(self) -> None:
        """Erase what a declining rule created, so declining leaves the graph unchanged."""
        for node in reversed(self.created):
            if not node.erased:
                self.graph.erase(node)
        for value in self.constants:
            self.graph.remove_constant(value)
        self.created, self.constants = [], []


def _is_dead(graph: Graph, node: Node) -> bool:
    return not any(v.uses or graph.is_output(v) for v in node.outputs)


def _drops_an_output_name(graph: Graph, root: Node, out) -> bool:
    """Whether replacing the root's outputs with `out` would rename a graph output: a value
    that is already a graph input or output cannot take the output's name (y = Identity(x)
    with x a graph input keeps its node)."""
    new = [out] if isinstance(out, Value) else list(out)
    for old, value in zip(root.outputs, new):
        if old is not value and graph.is_output(old) and (
                graph.is_output(value) or any(value is v for v in graph.inputs)):
            return True
    return False


def _replace(graph: Graph, rule: Rule, m: Match, rw: Rewriter, out) -> list[Node]:
    """Replace the root's outputs with `out`, erase dead matched nodes; return nodes to revisit."""
    root = m.root
    new = [out] if isinstance(out, Value) else list(out)
    if len(new) != len(root.outputs):
        raise PassError(f"rule {rule.name} returned {len(new)} values for {root.describe()} "
                        f"with {len(root.outputs)} outputs")
    revisit = list(rw.created)
    renames = []
    created = {id(n) for n in rw.created} | {id(c) for c in rw.constants}
    for old, value in zip(root.outputs, new):
        if old is value:
            continue
        if old.type != value.type:
            raise PassError(f"rule {rule.name} replaced %{old.name}: {old.type} with "
                            f"%{value.name}: {value.type}; the types must be equal")
        if id(value.producer if value.producer is not None else value) in created:
            renames.append((old.name, value))
        graph.replace_all_uses_with(old, value)
        revisit.extend(u.node for u in value.uses)
    erased = True
    while erased:
        erased = False
        for n in m.nodes:
            if not n.erased and _is_dead(graph, n):
                revisit.extend(v.producer for v in n.inputs if v is not None and v.producer)
                graph.erase(n)
                erased = True
    for name, value in renames:
        if not graph.has_value(name) and graph.has_value(value.name):
            graph.rename(value, name)
    return revisit


def apply_rewrites(graph: Graph, rules: Iterable[Rule], *, max_iterations: int | None = None
                   ) -> dict[str, int]:
    """Apply `rules` greedily until none matches; returns how often each rule fired.

    Rules are tried in order on each node; the first that matches and does not decline wins.
    `max_iterations` bounds the number of rewrites (default: 10 per node, at least 1000);
    exceeding it raises PassError (the rules do not reach a fixed point).
    """
    rules = list(rules)
    counts = {r.name: 0 for r in rules}
    by_op: dict[str, list[Rule]] = {}  # op -> rules whose root can be that op, in rule order
    limit = max_iterations if max_iterations is not None else max(1000, 10 * len(graph))
    worklist = deque(graph.nodes)
    queued = {id(n) for n in worklist}
    rw = Rewriter(graph)
    applied = 0
    while worklist:
        node = worklist.popleft()
        queued.discard(id(node))
        if node.erased:
            continue
        candidates = by_op.get(node.op)
        if candidates is None:
            candidates = by_op[node.op] = [r for r in rules if r.pattern.ops is None
                                           or node.op in r.pattern.ops]
        for rule in candidates:
            m = match(rule.pattern, node)
            if not m:
                continue
            rw._begin(m)
            try:
                out = rule.fn(m, rw)
            except Exception as e:
                raise PassError(f"rewrite rule {rule.name} failed on {node.describe()}: "
                                f"{type(e).__name__}: {e}") from e
            if out is None or (out is node.outputs[0] if isinstance(out, Value)
                               else tuple(out) == node.outputs) or _drops_an_output_name(
                                   graph, node, out):
                rw._discard()
                continue
            applied += 1
            if applied > limit:
                raise PassError(f"rewrites did not reach a fixed point after {limit} rewrites "
                                f"(counts: {counts}); a rule keeps undoing another")
            counts[rule.name] += 1
            for n in _replace(graph, rule, m, rw, out):
                if not n.erased and id(n) not in queued:
                    worklist.append(n)
                    queued.add(id(n))
            break
    return counts


class RewritePass(Pass):
    """Base of passes that are a table of rules: set `name`, a docstring and `rules` (or override
    `get_rules` when rules depend on options). Counts in the result are per rule."""

    rules: ClassVar[Sequence[Rule]] = ()
    max_iterations: ClassVar[int | None] = None

    def get_rules(self) -> Sequence[Rule]:
        return self.rules

    def run(self, graph: Graph) -> PassResult:
        counts = apply_rewrites(graph, self.get_rules(), max_iterations=self.max_iterations)
        return PassResult(any(counts.values()), {k: v for k, v in counts.items() if v})
