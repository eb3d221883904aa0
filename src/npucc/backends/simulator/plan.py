"""The plan compiler and the run loop.

`compile_plan(graph)` does all the per-node work once: picks each node's kernel (a fast kernel from
`kernels/` when one applies, else the registry's reference kernel with its attributes bound), plans
the activation buffers by liveness (`buffers.py`), chooses which values to store channels-last
(between kernels that prefer that layout, see `kernels.FastKernel.channels_last`), lays constants
out for their kernels, and binds every kernel to the arrays it reads and writes. `Plan.run` then
only copies the inputs into their buffers and calls one zero-argument step per node (with BLAS
held to the plan's thread count): no lookups by name, no re-validation.

A Plan owns its buffers: it is not reentrant (one run at a time per Plan).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence

import attrs
import numpy as np

from ... import limits
from ...errors import LimitError, NpuccError
from ...ir.graph import Graph, Node
from ...ir.interpreter import coerce_inputs
from ...ir.ops.partition import inline_partitions
from ...numerics import profile_of, select_kernel
from ...numerics.integer.requantize import PROFILES as INTEGER_PROFILES
from .buffers import ALIGN, BufferPlan, plan_buffers
from .dump import LayerDump
from .kernels import (
    CAN,
    CANNOT,
    FAST_KERNELS,
    INTEGER_FAST_KERNELS,
    PREFERS,
    BuildContext,
    FastKernel,
    Step,
)
from .kernels.parallel import blas_threads


class SimulatorError(NpuccError):
    """A plan could not be compiled, or a step failed while running (the message names the node)."""


@attrs.define(eq=False)
class PlannedNode:
    """One node as the plan runs it: its step (None for a view), its output arrays, and which
    kernel it got ('fast', 'reference' or 'view')."""

    node: Node
    step: Step | None
    outputs: list[np.ndarray]
    kernel: str


def _arena(nbytes: int) -> np.ndarray:
    """A byte array of `nbytes` starting on an ALIGN boundary."""
    raw = np.empty(nbytes + ALIGN, np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    return raw[start:start + nbytes]


def _carve(arena: np.ndarray, offset: int, shape, dtype, channels_last: bool = False
           ) -> np.ndarray:
    """The array at `offset`; channels_last: NHWC bytes seen as an (N, C, H, W) view."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = arena[offset:offset + nbytes].view(dtype)
    if channels_last:
        n, c, h, w = shape
        return raw.reshape(n, h, w, c).transpose(0, 3, 1, 2)
    return raw.reshape(shape)


def _channels_last_values(graph: Graph, nodes: list[Node], specs) -> set[int]:
    """ids of the values stored channels-last: 4-D node outputs that are not graph outputs, whose
    producer and consumers (reading it as their input 0) all can take that layout and one of
    them prefers it (see `kernels.FastKernel.channels_last`)."""
    layouts = {id(n): (specs[id(n)].channels_last(n) if specs[id(n)] is not None
                       else (CANNOT, CANNOT)) for n in nodes}  # asked once per node
    readers: dict[int, list[int]] = {}
    for n in nodes:
        for k, v in enumerate(n.inputs):
            if v is not None and not v.is_constant:
                readers.setdefault(id(v), []).append(layouts[id(n)][0] if k == 0 else CANNOT)
    kept = {id(v) for v in graph.outputs}
    out = set()
    for n in nodes:
        if specs[id(n)] is None or len(n.outputs) != 1:
            continue
        v = n.outputs[0]
        prefs = [layouts[id(n)][1]] + readers.get(id(v), [CANNOT])
        if v.type.rank == 4 and id(v) not in kept and min(prefs) >= CAN and max(prefs) >= PREFERS:
            out.add(id(v))
    return out


def _fast_kernel(node: Node) -> FastKernel | None:
    """The node's fast kernel: float kernels for float nodes, the integer profiles' own (their
    numerics kernels bound to the plan's arrays) for affine and dfp nodes; None for the others
    (tflite, fp16), which run their profile's kernel, the one the reference interpreter runs."""
    profile = profile_of(node)
    if profile == "float":
        return FAST_KERNELS.get(node.op)
    return INTEGER_FAST_KERNELS.get(node.op) if profile in INTEGER_PROFILES else None


def _reference_step(node: Node, inputs: list, outputs: list[np.ndarray]) -> Step:
    """The kernel the reference interpreter would run (float registry kernel, or the integer
    kernel of a quantized node, prepared once), writing into the planned buffers."""
    run = select_kernel(node)
    if len(outputs) == 1:
        (out,) = outputs
        return lambda: np.copyto(out, run(inputs)[0])

    def step():
        for o, r in zip(outputs, run(inputs)):
            np.copyto(o, r)

    return step


class Plan:
    """A Graph compiled for the numpy simulator. Build with `compile_plan`."""

    def __init__(self, graph: Graph, nodes: list[PlannedNode], inputs: list[np.ndarray],
                 outputs: list[np.ndarray], buffers: BufferPlan, scratch_bytes: int,
                 keep: list):
        self.graph = graph
        self.nodes = nodes
        self.buffers = buffers
        self.scratch_bytes = scratch_bytes
        self._inputs = inputs
        self._outputs = outputs
        self._keep = keep  # arenas the arrays are views of
        self._steps = [p.step for p in nodes if p.step is not None]
        self._step_nodes = [p.node for p in nodes if p.step is not None]

    @property
    def peak_activation_bytes(self) -> int:
        """Bytes of the activation arena (graph inputs and every node output, reused by
        liveness)."""
        return self.buffers.arena_bytes

    @property
    def naive_activation_bytes(self) -> int:
        """What one separate buffer per value would take, for comparison."""
        return self.buffers.naive_bytes

    def kernel_counts(self) -> dict[str, Counter]:
        """Per kernel kind ('fast', 'reference', 'view'), how many nodes of each op got it."""
        out: dict[str, Counter] = {}
        for p in self.nodes:
            out.setdefault(p.kernel, Counter())[p.node.op] += 1
        return out

    def run(self, inputs, dump_dir: str | os.PathLike | None = None,
            observe: Callable[[str, np.ndarray], None] | None = None) -> list[np.ndarray]:
        """Run on `inputs` (a sequence in graph input order, a mapping by input name, or one array
        for a one-input graph); returns fresh arrays, one per graph output. With `dump_dir`,
        every node's outputs are also saved there (see `dump.LayerDump`). With `observe`,
        `observe(value_name, array)` is called for every graph input and then for every node
        output as soon as it is computed, in plan order, with the logical (NCHW) value; the
        array is the plan's buffer, valid only during the call (copy it to keep it)."""
        for buf, a in zip(self._inputs, coerce_inputs(self.graph, inputs)):
            np.copyto(buf, a)
        if dump_dir is not None:
            self._run_dumping(LayerDump(dump_dir))
        elif observe is not None:
            self._run_observing(observe)
        else:
            steps = self._steps
            i = 0
            try:
                with blas_threads():
                    for i, step in enumerate(steps):
                        step()
            except Exception as e:
                raise SimulatorError(f"{self._step_nodes[i].describe()} failed: "
                                     f"{type(e).__name__}: {e}") from e
        return [np.array(a, copy=True) for a in self._outputs]

    def profile(self, inputs, repeats: int = 5) -> dict:
        """{node: mean wall seconds of its step per run} over `repeats` runs on `inputs` (nodes
        without a step, such as views, are left out): where a plan's time goes."""
        totals: dict = {}
        for _ in range(repeats):
            for buf, a in zip(self._inputs, coerce_inputs(self.graph, inputs)):
                np.copyto(buf, a)
            with blas_threads():
                for p in self.nodes:
                    if p.step is not None:
                        t0 = time.perf_counter()
                        p.step()
                        totals[p.node] = totals.get(p.node, 0.0) + time.perf_counter() - t0
        return {node: t / repeats for node, t in totals.items()}

    def first_nonfinite(self, inputs) -> tuple[str, Node | None] | None:
        """The first value, in plan order, that holds inf or NaN when the plan runs on `inputs`,
        with the node that computed it (None for a graph input); None if all are finite. Tells
        where a float16 build overflowed or a division went wrong."""
        found: list = []

        def check(name: str, array: np.ndarray) -> None:
            if array.dtype.kind == "f" and not found and not np.isfinite(array).all():
                found.append(name)

        for buf, a in zip(self._inputs, coerce_inputs(self.graph, inputs)):
            np.copyto(buf, a)
        self._run_observing(check)
        if not found:
            return None
        producers = {v.name: p.node for p in self.nodes for v in p.node.outputs}
        return found[0], producers.get(found[0])

    def _run_observing(self, observe: Callable[[str, np.ndarray], None]) -> None:
        for v, buf in zip(self.graph.inputs, self._inputs):
            observe(v.name, buf)
        with blas_threads():
            for p in self.nodes:
                if p.step is not None:
                    try:
                        p.step()
                    except Exception as e:
                        raise SimulatorError(f"{p.node.describe()} failed: "
                                             f"{type(e).__name__}: {e}") from e
                for v, a in zip(p.node.outputs, p.outputs):
                    observe(v.name, a)

    def _run_dumping(self, dump: LayerDump) -> None:
        with blas_threads():
            self._run_steps_dumping(dump)
        dump.close()

    def _run_steps_dumping(self, dump: LayerDump) -> None:
        for i, p in enumerate(self.nodes):
            if p.step is not None:
                try:
                    p.step()
                except Exception as e:
                    raise SimulatorError(f"{p.node.describe()} failed: "
                                         f"{type(e).__name__}: {e}") from e
            dump.write(i, p.node, p.outputs)

    def __repr__(self) -> str:
        return (f"<Plan {self.graph.name}: {len(self.nodes)} nodes, peak activations "
                f"{self.peak_activation_bytes} B (naive {self.naive_activation_bytes} B), "
                f"scratch {self.scratch_bytes} B>")


def compile_plan(graph: Graph) -> Plan:
    """Compile `graph` once into a Plan (see the module docstring). A partitioned graph's
    Partition nodes are inlined first: the plan runs their bodies' nodes as its own steps, so a
    partition boundary costs nothing and the kernels are the ones the flat graph gets."""
    if any(n.op == "Partition" for n in graph.nodes):
        graph = inline_partitions(graph)
    nodes = list(graph.nodes)
    specs: dict[int, FastKernel | None] = {id(n): _fast_kernel(n) for n in nodes}
    for n in nodes:
        n.opdef  # noqa: B018 - raises a clear error for an unknown op now, not at run time

    def view_of(n: Node) -> bool:
        spec = specs[id(n)]
        return spec is not None and spec.view(n)

    def inplace_inputs(n: Node) -> Sequence[int]:
        spec = specs[id(n)]
        return () if spec is None else spec.inplace(n)

    _check_sizes(graph, nodes)
    buffers = plan_buffers(graph, nodes, view_of, inplace_inputs)
    try:
        limits.check_arena(buffers.arena_bytes, f"graph {graph.name}")
    except LimitError as e:
        raise SimulatorError(str(e)) from None
    arena = _arena(buffers.arena_bytes)
    arrays: dict[int, np.ndarray] = {}
    for c in graph.constants:
        arrays[id(c)] = c.const
    for v in graph.inputs:
        arrays[id(v)] = _carve(arena, buffers.storage_of[id(v)].offset, v.shape, v.dtype.numpy)

    channels_last = _channels_last_values(graph, nodes, specs)
    scratch_specs = {id(n): (specs[id(n)].scratch(n) if specs[id(n)] else []) for n in nodes}
    scratch_bytes = max((_scratch_size(s) for s in scratch_specs.values()), default=0)
    try:
        limits.check_arena(scratch_bytes, f"the scratch of graph {graph.name}")
    except LimitError as e:
        raise SimulatorError(str(e)) from None
    scratch_arena = _arena(scratch_bytes)

    planned: list[PlannedNode] = []
    for n in nodes:
        spec = specs[id(n)]
        ins = [None if v is None else arrays[id(v)] for v in n.inputs]
        if view_of(n):
            out = ins[0].reshape(n.outputs[0].shape)
            arrays[id(n.outputs[0])] = out
            planned.append(PlannedNode(n, None, [out], "view"))
            continue
        outs = [_carve(arena, buffers.storage_of[id(v)].offset, v.shape, v.dtype.numpy,
                       id(v) in channels_last) for v in n.outputs]
        for v, a in zip(n.outputs, outs):
            arrays[id(v)] = a
        step, kind = None, "reference"
        if spec is not None and spec.build is not None:
            scratch, offset = [], 0
            for shape, dtype in scratch_specs[id(n)]:
                a = _carve(scratch_arena, offset, shape, dtype)
                scratch.append(a)
                offset += -(-a.nbytes // ALIGN) * ALIGN
            try:
                step = spec.build(BuildContext(n, ins, outs, scratch))
            except NpuccError:
                raise
            except Exception as e:
                raise SimulatorError(f"cannot bind a kernel for {n.describe()}: "
                                     f"{type(e).__name__}: {e}") from e
            kind = "fast" if step is not None else kind
        if step is None:
            step = _reference_step(n, ins, outs)
        planned.append(PlannedNode(n, step, outs, kind))

    outputs = [arrays[id(v)] for v in graph.outputs]
    inputs = [arrays[id(v)] for v in graph.inputs]
    return Plan(graph, planned, inputs, outputs, buffers, scratch_bytes, [arena, scratch_arena])


def _check_sizes(graph: Graph, nodes: list[Node]) -> None:
    """Every value the plan allocates within npucc.limits, before anything is allocated."""
    for v in graph.inputs:
        _check_value(v, f"graph input %{v.name}")
    for n in nodes:
        for v in n.outputs:
            _check_value(v, f"{n.describe()}: output %{v.name}")


def _check_value(v, what: str) -> None:
    try:
        limits.check_shape(v.shape, v.dtype.numpy.itemsize, what)
    except LimitError as e:
        raise SimulatorError(str(e)) from None


def _scratch_size(spec: list) -> int:
    total = 0
    for shape, dtype in spec:
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        total += -(-nbytes // ALIGN) * ALIGN
    return total

