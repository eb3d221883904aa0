"""Partitioning: split a graph into NPU and CPU partitions (Partition nodes holding nested graphs).

    parted = partition(graph, supported)   # supported: node -> why it cannot run on the NPU
    for p in partitions(parted): print(p.device, p.nodes, p.reasons)

1. Each node goes to the CPU when `supported` gives reasons against the NPU, else to the NPU.
2. Ping-pong: a group of NPU nodes that exchanges data with CPU nodes moves to the CPU when the
   cost callback says running it there is cheaper than running it on the NPU plus the CPU<->NPU
   transfers it causes. By default the callback is the target cost model (`cost.TargetCost`:
   roofline NPU layers, the target's CPU model, quantize/dequantize + layout conversions at the
   boundaries); `SimpleCost` (work / rate) or any object with the same two methods can be given.
3. Conversions: a QuantizeLinear / DequantizeLinear whose input and readers are on different sides
   (NPU, CPU, or the host: graph inputs and outputs) stays at the top level, between partitions:
   the explicit conversion at the boundary.
4. Regions: nodes are grouped greedily in dependency order, one device at a time, so a device
   switch happens only when no more work is ready on the current device (no needless ping-pong,
   and the partitions never depend on each other in a cycle).

Nothing is renamed or recomputed: bodies hold the original nodes (same names, types, attributes,
provenance, constants shared), so a partitioned graph computes bit for bit what the original does.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs
import numpy as np

from ...errors import NpuccError
from ...ir.graph import Graph, Node, Value

CONVERSION_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
NPU, CPU, HOST = "npu", "cpu", "host"


# ---- the predicate -------------------------------------------------------------------------

def node_reasons(graph: Graph, supported) -> dict[int, tuple[str, ...]]:
    """{id(node): reasons it cannot run on the NPU} (empty tuple: it can). `supported` is a
    target Legalization (`npucc.legalize(graph, target)`: each violated rule as "rule: reason
    (detail)"), a callable node -> reasons, a mapping {Node or output value name: reasons}, or
    None (every node can). Reasons may be None/True (supported), False, one string, or a
    sequence of strings."""
    out = {}
    for node in graph.nodes:
        if supported is None:
            given = ()
        elif hasattr(supported, "verdict"):  # a Legalization
            given = [f"{v.rule}: {v.reason}" + (f" ({v.detail})" if v.detail else "")
                     for v in supported.verdict(node).violations]
        elif isinstance(supported, Mapping):
            given = supported.get(node, supported.get(node.outputs[0].name if node.outputs
                                                      else None, ()))
        elif callable(supported):
            given = supported(node)
        else:
            raise NpuccError(f"partition: supported must be a callable or a mapping, got "
                             f"{type(supported).__name__}")
        out[id(node)] = _as_reasons(given)
    return out


def _as_reasons(given) -> tuple[str, ...]:
    if given is None or given is True:
        return ()
    if given is False:
        return ("not supported on the NPU (predicate)",)
    if isinstance(given, str):
        return (given,)
    return tuple(str(r) for r in given)


# ---- the cost callback -----------------------------------------------------------------------

def macs(node: Node) -> int:
    """Multiply-accumulates of a node (Conv, ConvTranspose, Gemm, MatMul), else its output
    elements: the work measure of the simple cost estimate."""
    out = sum(int(np.prod(v.shape, dtype=np.int64)) for v in node.outputs)
    if node.op in ("Conv", "ConvTranspose") and node.inputs[1] is not None:
        w = node.inputs[1].shape
        per = int(np.prod(w[1:], dtype=np.int64))
        if node.op == "ConvTranspose":
            return int(np.prod(node.inputs[0].shape, dtype=np.int64)) * per
        return out * per
    if node.op in ("Gemm", "MatMul") and node.inputs[0] is not None:
        k = node.inputs[0].shape[-1] if node.op == "MatMul" or not node.attrs.get("transA") \
            else node.inputs[0].shape[0]
        return out * int(k)
    return out


@attrs.frozen
class SimpleCost:
    """A coarse time estimate, in seconds: work / rate per device, and a fixed overhead plus
    bytes / bandwidth per value crossing between CPU and NPU. Rates are order-of-magnitude figures
    for an RK3588-class SoC (1 TOPS-class NPU, a few NEON cores); the target's cost model replaces
    this (any object with `node_time(node, device)` and `transfer_time(value)` does)."""

    npu_macs_per_s: float = 1e12
    cpu_macs_per_s: float = 2e10
    transfer_overhead_s: float = 50e-6
    bytes_per_s: float = 4e9

    def node_time(self, node: Node, device: str) -> float:
        return macs(node) / (self.npu_macs_per_s if device == NPU else self.cpu_macs_per_s)

    def transfer_time(self, value: Value) -> float:
        nbytes = int(np.prod(value.shape, dtype=np.int64)) * value.dtype.numpy.itemsize
        return self.transfer_overhead_s + nbytes / self.bytes_per_s


def target_cost(graph: Graph, supported=None, target=None, on_npu=None):
    """The target cost model as a cost callback (see `partition`'s `cost`)."""
    from .cost import TargetCost

    leg = supported if hasattr(supported, "verdict") else None
    if target is None:
        target = leg.target if leg is not None else "generic"
    if leg is not None and getattr(target, "name", target) != leg.target.name:
        leg = None  # legalized for another target: this target's own verdicts size the layers
    return TargetCost(graph, target, legalization=leg, on_npu=on_npu)


# ---- partitioning ----------------------------------------------------------------------------

def partition(graph: Graph, supported=None, *, cost=None, target=None,
              conversions: Iterable[str] = CONVERSION_OPS) -> Graph:
    """A new graph computing what `graph` computes, made of Partition nodes (device "npu" or
    "cpu", each CPU partition listing its reasons) and, between them, the boundary conversions.
    `graph` is left as it was. See the module docstring for the steps.

    cost: the time callback (`node_time(node, device)`, `transfer_time(value)`); by default the
    cost model of `target` (a Target, name or file), else of the target `supported` was legalized
    for, else of the `generic` target."""
    nodes = list(graph.nodes)
    if any(n.op == "Partition" for n in nodes):
        raise NpuccError(f"graph {graph.name} is already partitioned")
    reasons = node_reasons(graph, supported)
    if cost is None:
        cost = target_cost(graph, supported, target, on_npu=lambda n: not reasons[id(n)])
    device = {id(n): CPU if reasons[id(n)] else NPU for n in nodes}
    moved = _avoid_ping_pong(nodes, device, cost)
    conv = frozenset(conversions)
    for n in nodes:
        if n.op in conv and len(_sides(n, device, graph)) > 1:
            device[id(n)] = HOST
    groups = _group(nodes, device)
    return _build(graph, groups, device, reasons, moved)


def _readers(v: Value) -> list[Node]:
    return v.users


def _avoid_ping_pong(nodes: list[Node], device: dict, cost) -> dict[int, str]:
    """Move each connected group of NPU nodes that trades values with CPU nodes to the CPU when
    that is cheaper; returns {id(node): reason} for the moved nodes."""
    seen: set[int] = set()
    moved: dict[int, str] = {}
    for start in nodes:
        if device[id(start)] != NPU or id(start) in seen:
            continue
        comp, stack = [], [start]
        seen.add(id(start))
        while stack:  # the NPU nodes connected to `start` through NPU-NPU edges
            n = stack.pop()
            comp.append(n)
            near = [v.producer for v in n.inputs if v is not None and v.producer is not None]
            near += [u for v in n.outputs for u in _readers(v)]
            for m in near:
                if device[id(m)] == NPU and id(m) not in seen:
                    seen.add(id(m))
                    stack.append(m)
        members = {id(n) for n in comp}
        crossing: dict[int, Value] = {}
        for n in comp:
            for v in n.inputs:
                if v is not None and v.producer is not None and device[id(v.producer)] == CPU:
                    crossing[id(v)] = v
            for v in n.outputs:
                if any(device[id(u)] == CPU and id(u) not in members for u in _readers(v)):
                    crossing[id(v)] = v
        if not crossing:
            continue
        on_npu = sum(cost.node_time(n, NPU) for n in comp)
        transfers = sum(cost.transfer_time(v) for v in crossing.values())
        on_cpu = sum(cost.node_time(n, CPU) for n in comp)
        if on_cpu <= on_npu + transfers:
            why = (f"runs on the CPU with its neighbours: on the NPU its {len(comp)} node(s) "
                   f"would cost {len(crossing)} CPU/NPU transfer(s), est. "
                   f"{(on_npu + transfers) * 1e6:.1f} us against {on_cpu * 1e6:.1f} us on the CPU")
            for n in comp:
                device[id(n)] = CPU
                moved[id(n)] = why
    return moved


def _sides(node: Node, device: dict, graph: Graph) -> set[str]:
    """The devices a conversion node touches: its own, its input's producer's (the host for a
    graph input) and its readers' (the host for a graph output)."""
    sides = {device[id(node)]}
    v = node.inputs[0]
    if v is not None and not v.is_constant:
        sides.add(HOST if v.producer is None else device[id(v.producer)])
    for out in node.outputs:
        sides.update(device[id(u)] for u in _readers(out))
        if graph.is_output(out):
            sides.add(HOST)
    return sides


def _group(nodes: list[Node], device: dict) -> list[tuple[str, list[Node]]]:
    """Nodes in groups of one device, in dependency order: keep taking ready nodes of the current
    device; switch (to the device of the earliest ready node) only when none is left."""
    index = {id(n): i for i, n in enumerate(nodes)}
    waiting = {id(n): len({id(v.producer) for v in n.inputs
                           if v is not None and v.producer is not None}) for n in nodes}
    ready: dict[str, list[int]] = {NPU: [], CPU: [], HOST: []}
    for n in nodes:
        if waiting[id(n)] == 0:
            heapq.heappush(ready[device[id(n)]], index[id(n)])
    groups: list[tuple[str, list[Node]]] = []
    current = None
    while any(ready.values()):
        if current is None or not ready[current]:
            current = min((q[0], d) for d, q in ready.items() if q)[1]
            groups.append((current, []))
        n = nodes[heapq.heappop(ready[current])]
        groups[-1][1].append(n)
        for m in dict.fromkeys(u for v in n.outputs for u in _readers(v)):
            waiting[id(m)] -= 1
            if waiting[id(m)] == 0:
                heapq.heappush(ready[device[id(m)]], index[id(m)])
    return groups


def _copy_node(g: Graph, node: Node, vmap: dict) -> None:
    copy = g.add_node(node.op, [None if v is None else vmap[id(v)] for v in node.inputs],
                      node.attrs, output_names=[v.name for v in node.outputs],
                      output_types=[v.type for v in node.outputs], provenance=node.provenance)
    for v, w in zip(node.outputs, copy.outputs):
        vmap[id(v)] = w


def _build(graph: Graph, groups, device: dict, reasons: dict, moved: dict) -> Graph:
    out = Graph(graph.name, graph.numerics)
    vmap: dict[int, Value] = {id(v): out.add_input(v.name, v.type) for v in graph.inputs}
    top = {id(v) for v in graph.outputs}
    top |= {id(v) for d, ns in groups if d == HOST for n in ns for v in n.inputs if v is not None}
    for c in graph.constants:
        if id(c) in top:
            vmap[id(c)] = out.add_constant_like(c)
    for k, (dev, members) in enumerate(groups):
        if dev == HOST:
            for n in members:
                _copy_node(out, n, vmap)
            continue
        inside = {id(v) for n in members for v in n.outputs}
        body = Graph(f"{dev}{k}", graph.numerics)
        bmap: dict[int, Value] = {}
        outer_ins: list[Value] = []
        for n in members:
            for v in n.inputs:
                if v is None or id(v) in bmap or id(v) in inside:
                    continue
                if v.is_constant:
                    bmap[id(v)] = body.add_constant_like(v)
                else:
                    bmap[id(v)] = body.add_input(v.name, v.type)
                    outer_ins.append(v)
        for n in members:
            _copy_node(body, n, bmap)
        member_ids = {id(n) for n in members}
        outs = [v for n in members for v in n.outputs
                if id(v) in top or any(id(u) not in member_ids for u in _readers(v))]
        body.set_outputs([bmap[id(v)] for v in outs])
        why = () if dev == NPU else tuple(
            f"{n.describe()}: {r}" for n in members
            for r in (reasons[id(n)] or (moved[id(n)],)))
        node = out.add_node("Partition", [vmap[id(v)] for v in outer_ins],
                            {"device": dev, "reasons": why, "body": body},
                            output_names=[v.name for v in outs])
        for v, w in zip(outs, node.outputs):
            vmap[id(v)] = w
    out.set_outputs([vmap[id(v)] for v in graph.outputs])
    return out


# ---- reading a partitioned graph -------------------------------------------------------------

@attrs.frozen
class PartitionInfo:
    """One partition of a partitioned graph, for reports."""

    name: str
    device: str
    nodes: int
    ops: Mapping[str, int]
    reasons: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def partitions(graph: Graph) -> list[PartitionInfo]:
    """The Partition nodes of `graph`, in order."""
    out = []
    for n in graph.nodes:
        if n.op != "Partition":
            continue
        body = n.attrs["body"]
        ops: dict[str, int] = {}
        for m in body.nodes:
            ops[m.op] = ops.get(m.op, 0) + 1
        out.append(PartitionInfo(body.name, n.attrs["device"], len(body), ops,
                                 tuple(n.attrs["reasons"]),
                                 tuple(v.name for v in n.inputs),
                                 tuple(v.name for v in n.outputs)))
    return out


def conversions(graph: Graph) -> list[Node]:
    """The top-level nodes of a partitioned graph that are not partitions (the conversions)."""
    return [n for n in graph.nodes if n.op != "Partition"]


Predicate = Callable[[Node], Sequence[str] | str | bool | None]
