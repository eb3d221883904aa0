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


def plan_memory(graph: Graph, target: Target, nodes, on_npu, npu_bytes, weight_bytes,
                precision: str, stays_onchip, dram_traffic: int) -> MemoryReport:
    """Memory of one inference. Values produced on the NPU (and graph inputs) are sized as the
    NPU stores them, values produced on the CPU as float32; the arena comes from the simulator's
    liveness planner (greedy by size), with view ops sharing their input's storage."""

    def nbytes(v):
        if v.producer is None or on_npu[id(v.producer)]:
            return npu_bytes(v, precision)
        return 4 * v.type.size if v.dtype.is_float else v.type.nbytes

    plan = plan_buffers(graph, nodes, lambda n: n.op in _VIEWS, lambda n: (), nbytes)
    weights, seen = 0, set()
    for n in nodes:
        fresh = [v for v in n.inputs if v is not None and v.is_constant and id(v) not in seen]
        seen.update(id(v) for v in fresh)
        if not fresh:
            continue
        if on_npu[id(n)]:
            weights += weight_bytes(n, precision) - sum(
                npu_bytes(v, precision) for v in n.inputs
                if v is not None and v.is_constant and v not in fresh)
        else:
            weights += sum(4 * v.type.size if v.dtype.is_float else v.type.nbytes for v in fresh)
    kept = [npu_bytes(v, precision) for n in nodes for v in n.outputs if stays_onchip(v)]
    return MemoryReport(weights, plan.arena_bytes, plan.naive_bytes, target.onchip_buffer_bytes,
                        len(kept), max(kept, default=0), dram_traffic)
