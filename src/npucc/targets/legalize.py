"""`legalize(graph, target) -> Legalization`: for every node, every constraint of the target it
violates (rule name, the rule's docstring as the reason, and what about this node broke it).

    leg = npucc.legalize(graph, "rk3588")
    print(leg.report())                       # the nodes that stay on the CPU, with every reason
    leg.supported(node)                       # the predicate partitioning uses
    leg.reasons                               # {node: (Violation, ...)} for unsupported nodes
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from ..errors import TargetError
from ..ir.graph import Graph, Node
from .constraints import CONSTRAINTS, CheckContext
from .nodeinfo import is_quantized, node_precision
from .target import Target, get_target

_PRECISION_ALIASES = {"int8": "int8", "u8": "int8", "i8": "int8", "dfp8": "int8",
                      "int16": "int16", "i16": "int16", "dfp16": "int16",
                      "fp16": "fp16", "f16": "fp16", "float16": "fp16"}


def normalize_precision(dtype: str | None, target: Target) -> str:
    """The precision a float graph is built in: `dtype` (int8, int16, fp16, or a storage name
    such as u8, i8, dfp16) or the target's default."""
    if dtype is None:
        return target.default_precision
    try:
        return _PRECISION_ALIASES[str(dtype).lower()]
    except KeyError:
        raise TargetError(f"unknown dtype {dtype!r}: expected one of int8, int16, fp16 "
                          f"(or u8, i8, dfp8, dfp16, f16)") from None


def layer_name(node: Node) -> str:
    """The source-model names a node stands for (its provenance), else its first output."""
    if node.provenance:
        return ", ".join(sorted(node.provenance))
    return node.outputs[0].name if node.outputs else node.op


@attrs.frozen
class Violation:
    rule: str
    reason: str  # the constraint's docstring, filled for the target
    detail: str  # what about this node broke the rule


@attrs.frozen(eq=False)
class NodeVerdict:
    node: Node
    precision: str
    violations: tuple[Violation, ...]

    @property
    def on_npu(self) -> bool:
        return not self.violations


class Legalization:
    """The verdict on every node of a graph for one target (graph order)."""

    def __init__(self, graph: Graph, target: Target, verdicts: list[NodeVerdict]):
        self.graph = graph
        self.target = target
        self.verdicts = tuple(verdicts)
        self._by_node = {id(v.node): v for v in self.verdicts}

    def __iter__(self) -> Iterator[NodeVerdict]:
        return iter(self.verdicts)

    def verdict(self, node: Node) -> NodeVerdict:
        try:
            return self._by_node[id(node)]
        except KeyError:
            raise TargetError(f"{node.describe()} is not a node of the legalized graph") from None

    def supported(self, node: Node) -> bool:
        """True if the node can run on the NPU."""
        return self.verdict(node).on_npu

    @property
    def unsupported(self) -> list[NodeVerdict]:
        return [v for v in self.verdicts if not v.on_npu]

    @property
    def reasons(self) -> dict[Node, tuple[Violation, ...]]:
        """{node: its violations} for every node that cannot run on the NPU."""
        return {v.node: v.violations for v in self.unsupported}

    def report(self) -> str:
        """A readable report: a summary line, then each CPU node with every reason."""
        bad = self.unsupported
        lines = [f"{self.target.name}: {len(self.verdicts) - len(bad)} of {len(self.verdicts)} "
                 f"nodes run on the NPU, {len(bad)} on the CPU"]
        for v in bad:
            lines.append(f"{v.node.op} {layer_name(v.node)} [{v.precision}]: CPU")
            for x in v.violations:
                lines.append(f"  - {x.rule}: {x.reason}")
                if x.detail:
                    lines.append(f"      {x.detail}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<Legalization {self.graph.name} for {self.target.name}: "
                f"{len(self.unsupported)} of {len(self.verdicts)} nodes on the CPU>")


def check_node(node: Node, target: Target, precision: str) -> tuple[Violation, ...]:
    """Every constraint of `target` that `node` violates, in the target file's order."""
    out = []
    for name, params in target.constraints.items():
        c = CONSTRAINTS[name]
        if not c.applies_to(node.op):
            continue
        ok, detail = c.check(node, CheckContext(target, precision, params))
        if not ok:
            out.append(Violation(name, c.reason(target), detail))
    return tuple(out)


def legalize(graph: Graph, target, dtype: str | None = None) -> Legalization:
    """Check every node of `graph` against `target` (a Target, a shipped name or a file path).
    Quantized (and f16) nodes compute in the precision of their types. Float nodes of a float
    graph compute in `dtype` (int8, int16 or fp16; by default the target's), the precision it
    will be built in; float nodes of a quantized graph stayed float when it was quantized (the
    simulator runs them in f32), so they compute in f32, which no NPU does."""
    target = get_target(target)
    default = "f32" if is_quantized(graph) else normalize_precision(dtype, target)
    verdicts = []
    for node in graph.nodes:
        p = node_precision(node, default)
        verdicts.append(NodeVerdict(node, p, check_node(node, target, p)))
    return Legalization(graph, target, verdicts)
