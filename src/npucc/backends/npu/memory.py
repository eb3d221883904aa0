"""eval_memory: weights, peak activation memory by liveness, and what the on-chip buffer holds."""

from __future__ import annotations

import attrs

from ...ir.graph import Graph
from ...targets import Target
from ..simulator.buffers import plan_buffers

_VIEWS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})


@attrs.frozen
class MemoryReport:
    weights_bytes: int  # every constant once, as the device stores it
    peak_activation_bytes: int  # the activation arena, values placed by liveness
    naive_activation_bytes: int  # one buffer per value, for comparison
    onchip_buffer_bytes: int  # the target's on-chip buffer (one core)
    onchip_values: int  # values handed from one layer to the next inside the buffer
    largest_onchip_bytes: int  # the largest of those
    dram_traffic_bytes: int  # weights + activations moved to and from DRAM per inference


def plan_memory(graph: Graph, target: Target, costing, dram_traffic: int) -> MemoryReport:
    """Memory of one inference (`costing`: the cost model's state: which nodes run where and how
    it sizes values). Values produced on the NPU (and graph inputs) are sized as the NPU stores
    them, values produced on the CPU as float32; the arena comes from the simulator's liveness
    planner (greedy by size), view ops sharing their input's storage."""
    p, on_npu = costing.precision, costing.on_npu

    def cpu_bytes(v):
        return 4 * v.type.size if v.dtype.is_float else v.type.nbytes

    def nbytes(v):
        if v.producer is None or on_npu[id(v.producer)]:
            return costing.npu_bytes(v, p)
        return cpu_bytes(v)

    plan = plan_buffers(graph, costing.nodes, lambda n: n.op in _VIEWS, lambda n: (), nbytes)
    weights, seen = 0, set()
    for n in costing.nodes:
        for k, v in enumerate(n.inputs):
            if v is None or not v.is_constant or id(v) in seen:
                continue
            seen.add(id(v))
            weights += costing.constant_bytes(n, k, p) if on_npu[id(n)] else cpu_bytes(v)
    kept = [costing.npu_bytes(v, p) for n in costing.nodes for v in n.outputs
            if costing.stays_onchip(v)]
    return MemoryReport(weights, plan.arena_bytes, plan.naive_bytes, target.onchip_buffer_bytes,
                        len(kept), max(kept, default=0), dram_traffic)
