"""Activation buffer planning: which bytes of one arena each value lives in.

Every non-constant value (graph inputs and node outputs) gets a *storage*: a byte range in a single
arena, live from the step that writes it to the last step that reads it. Two values share a storage
when one is a view of the other (Reshape, Flatten... write nothing) or when an op writes its output
in place over an input that dies at that op. Storages whose lifetimes do not overlap may share
bytes; offsets are assigned greedily, largest storage first, each at the lowest offset free during
its whole lifetime (the "greedy by size" arena planner of TFLite and others).

Graph outputs live to the end of the run, so nothing ever overwrites them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from ...ir.graph import Graph, Node, Value

ALIGN = 64  # bytes; every storage starts on a cache line


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


@attrs.define(eq=False)
class Storage:
    """A byte range of the arena: `nbytes` long, live for steps first..last (inclusive; graph
    inputs are written at step -1)."""

    nbytes: int
    first: int
    last: int
    offset: int = -1


@attrs.define(eq=False)
class BufferPlan:
    """Where each value lives. `storage_of` maps id(value) to its Storage (constants have none)."""

    storages: list[Storage]
    storage_of: dict[int, Storage]
    arena_bytes: int  # peak activation memory: the arena size
    naive_bytes: int  # what one buffer per value would take


def plan_buffers(graph: Graph, nodes: Sequence[Node],
                 view_of: Callable[[Node], bool],
                 inplace_inputs: Callable[[Node], Sequence[int]],
                 nbytes: Callable[[Value], int] | None = None) -> BufferPlan:
    """Plan storages for `nodes` (the graph's nodes in run order).

    view_of(node): the node's single output is a view of its input 0 (shares its storage).
    inplace_inputs(node): indices of inputs whose storage the output may take over when that
    input dies at this node and has the output's exact byte size.
    nbytes(value): the bytes a value takes (default: its type's; the NPU cost model sizes float
    values at the precision they will be built in).
    """
    size_of = nbytes or (lambda v: v.type.nbytes)
    storage_of: dict[int, Storage] = {}
    storages: list[Storage] = []
    end = len(nodes)
    naive = 0

    def new(v: Value, step: int) -> Storage:
        s = Storage(size_of(v), step, step)
        storages.append(s)
        storage_of[id(v)] = s
        return s

    for v in graph.inputs:
        new(v, -1)
        naive += size_of(v)
    # pass 1: views share their source's storage; a view of a constant is a constant view
    for i, n in enumerate(nodes):
        for v in n.outputs:
            naive += size_of(v)
        src = n.inputs[0] if n.inputs else None
        if view_of(n) and src is not None and not src.is_constant:
            storage_of[id(n.outputs[0])] = storage_of[id(src)]
        elif not (view_of(n) and src is not None):
            for v in n.outputs:
                new(v, i)
    # lifetimes: the last step reading any value of the storage
    for i, n in enumerate(nodes):
        for v in n.inputs:
            s = storage_of.get(id(v)) if v is not None else None
            if s is not None:
                s.last = max(s.last, i)
    for v in graph.outputs:
        s = storage_of.get(id(v))
        if s is not None:
            s.last = end
    # pass 2: in-place outputs take over a dying input's storage
    merged_into: dict[int, Storage] = {}

    def resolve(s: Storage) -> Storage:
        while id(s) in merged_into:
            s = merged_into[id(s)]
        return s

    for i, n in enumerate(nodes):
        if view_of(n) or len(n.outputs) != 1:
            continue
        out = n.outputs[0]
        own = storage_of[id(out)]
        for k in inplace_inputs(n):
            v = n.inputs[k] if k < len(n.inputs) else None
            if v is None or v.is_constant or v.shape != out.shape or v.dtype != out.dtype:
                continue
            s = storage_of.get(id(v))  # None for a view of a constant
            if s is None:
                continue
            s = resolve(s)
            if s.last != i or s.nbytes != own.nbytes or s is own:
                continue
            s.last = max(s.last, own.last)
            merged_into[id(own)] = s
            break
    if merged_into:
        for key, s in list(storage_of.items()):
            storage_of[key] = resolve(s)
        storages = [s for s in storages if id(s) not in merged_into]
    arena = _assign_offsets(storages)
    return BufferPlan(storages, storage_of, arena, naive)


def _assign_offsets(storages: list[Storage]) -> int:
    """Greedy by size: place each storage (largest first) at the lowest offset that no placed,
    time-overlapping storage occupies. Returns the arena size in bytes."""
    placed: list[Storage] = []
    top = 0
    for s in sorted(storages, key=lambda s: (-s.nbytes, s.first)):
        size = _aligned(max(s.nbytes, 1))
        busy = sorted((p.offset, p.offset + _aligned(max(p.nbytes, 1))) for p in placed
                      if p.first <= s.last and s.first <= p.last)
        offset = 0
        for lo, hi in busy:
            if offset + size <= lo:
                break
            offset = max(offset, hi)
        s.offset = offset
        top = max(top, offset + size)
        placed.append(s)
    return top
