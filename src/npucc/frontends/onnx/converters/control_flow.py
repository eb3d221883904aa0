"""Control flow whose path is known at import time, imported in place: an If's taken branch, and
a Loop's or Scan's body unrolled once per iteration. (An If on a run-time condition is the one
exception: both branches, each output selected with Where.)

npucc graphs are static, so the import decides everything the control flow decides: the If
condition, the Loop trip count and condition (each iteration's, as the body computes it from
constants, shapes and the iteration number), the Scan sequence length. Each unrolled copy of a
body is imported by `OnnxImporter.inline` with the node provenance `<loop>/iter<k>/<node>` and
value names `<loop>/iter<k>/<tensor>`; scan outputs are the iterations' values stacked on the
scan axis (Unsqueeze + Concat). The nodes the copies add are bounded by
npucc.limits.MAX_UNROLLED_NODES over the whole import, so nested loops multiply.
"""

from __future__ import annotations

import numpy as np
import onnx

from .... import limits
from ....ir import Value
from ..importer import invalid, onnx_dtype, unsupported
from . import converter


@converter("If")
def if_(cx):
    """An If whose condition is known at import (exporters branch on shapes and sizes): the
    taken branch is imported in place. On a condition computed from the data (openWakeWord's
    verifier: `if score >= t: score = verifier(x)`), both branches are imported and each output
    is Where(cond, then, else), which is the If's result when the two branches give it the same
    shape and type; branches whose outputs differ in shape are refused."""
    cx.ignore("then_branch", "else_branch")
    cond = cx.input(0)
    if isinstance(cond, Value):
        return _select(cx, cond)
    cond = cx.static(0, "the condition")
    if cond.size != 1:
        raise invalid(f"the condition must hold one value, got shape {list(cond.shape)}")
    taken = "then_branch" if bool(cond.ravel()[0]) else "else_branch"
    outs = cx.importer.inline(cx.subgraph(taken), cx.label)
    if len(outs) != len(cx.node.output):
        raise invalid(f"{taken} has {len(outs)} outputs, the If {len(cx.node.output)}")
    return outs


def _select(cx, cond: Value) -> tuple:
    """Both branches of an If on a run-time condition, each output selected with Where."""
    if int(np.prod(cx.shape(cond), dtype=np.int64)) != 1:
        raise invalid(f"the condition must hold one value, got shape {list(cx.shape(cond))}")
    if cx.np_dtype(cond) != np.bool_:
        raise invalid(f"the condition must be bool, got {cx.np_dtype(cond)}")
    if cx.shape(cond) != ():
        cond = cx.emit("Reshape", [cond], shape=[])
    branches = {}
    for name in ("then_branch", "else_branch"):
        branches[name] = cx.importer.inline(cx.subgraph(name), f"{cx.label}/{name}")
        if len(branches[name]) != len(cx.node.output):
            raise invalid(f"{name} has {len(branches[name])} outputs, the If "
                          f"{len(cx.node.output)}")
    outs = []
    for k, (a, b) in enumerate(zip(branches["then_branch"], branches["else_branch"])):
        if tuple(cx.shape(a)) != tuple(cx.shape(b)) or cx.np_dtype(a) != cx.np_dtype(b):
            raise unsupported(
                f"the condition (tensor '{cx.node.input[0]}') is computed at run time, so npucc "
                f"computes both branches and selects each output with Where; output {k} "
                f"('{cx.node.output[k]}') is {cx.np_dtype(a)}{list(cx.shape(a))} in then_branch "
                f"but {cx.np_dtype(b)}{list(cx.shape(b))} in else_branch; "
                f"{cx.cut_hint()}")
        outs.append(a if a is b else cx.emit("Where", [cond, a, b]))
    return tuple(outs)


def _cut_hint(cx) -> str:
    return (f"npucc unrolls a {cx.op_type} whose iterations are known at import time; "
            f"{cx.cut_hint()}")


def _static_scalar(cx, i: int, what: str):
    """Input i as a Python number; it must be known at import time."""
    h = cx.input(i)
    if isinstance(h, Value):
        raise unsupported(f"input {i} ({what}, tensor '{cx.node.input[i]}') must be known at "
                          "import time (a constant or computed from static shapes); it is "
                          f"computed at run time here. {_cut_hint(cx)}")
    if h.size != 1:
        raise invalid(f"{what} must hold one value, got shape {list(h.shape)}")
    return h.reshape(()).item()


def _nodes(g: onnx.GraphProto) -> int:
    """Nodes of a subgraph, those of the subgraphs inside it included."""
    total = 0
    for n in g.node:
        total += 1
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                total += _nodes(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                total += sum(_nodes(s) for s in a.graphs)
    return total


class _Unroller:
    """Imports copies of a loop body, counting them against limits.MAX_UNROLLED_NODES: each
    iteration costs the body's nodes (its subgraphs' included) plus `extra`, the nodes the loop
    adds around it (Slice + Squeeze per scan input, Unsqueeze per scan output), at least 1."""

    def __init__(self, cx, body: onnx.GraphProto, iterations: int | None, extra: int):
        self.cx, self.body = cx, body
        self.size = max(1, _nodes(body) + extra)
        if iterations is not None:  # refuse a huge count before importing anything
            self._check(iterations, f"{iterations} iterations")

    def _check(self, iterations: int, what: str) -> None:
        done = self.cx.importer.unrolled_nodes
        before = f" after the {done} nodes unrolled before it" if done else ""
        limits.check_unrolled(done + iterations * self.size,
                              f"unrolling {what} of {self.size} node{'s' * (self.size > 1)} "
                              f"each{before}")

    def run(self, k: int, inputs) -> tuple:
        """Import iteration k of the body on `inputs`; returns the body's outputs."""
        self._check(1, f"iteration {k}")
        self.cx.importer.unrolled_nodes += self.size
        label = f"{self.cx.label}/iter{k}"
        return self.cx.importer.inline(self.body, label, inputs, prefix=label + "/")


def _stack(cx, values, axis: int, what: str):
    """The iterations' values of a scan output, joined on a new axis `axis`."""
    shapes = [tuple(cx.shape(v)) for v in values]
    if len(set(shapes)) > 1:
        changed = next(k for k, s in enumerate(shapes) if s != shapes[0])
        raise invalid(f"{what} has shape {list(shapes[0])} at iteration 0 and "
                      f"{list(shapes[changed])} at iteration {changed}: a scan output keeps its "
                      "shape across iterations")
    rank = len(shapes[0]) + 1
    if not -rank <= axis < rank:
        raise invalid(f"{what}: axis {axis} is out of range for rank {rank}")
    parts = [cx.emit("Unsqueeze", [v], axes=[axis]) for v in values]
    return parts[0] if len(parts) == 1 else cx.emit("Concat", parts, axis=axis)


def _empty_scan(cx, vi: onnx.ValueInfoProto, axis: int, what: str) -> np.ndarray:
    """A scan output of no iterations: size 0 on the scan axis, the rest as the body declares."""
    t = vi.type.tensor_type
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim] \
        if vi.type.HasField("tensor_type") and t.HasField("shape") else None
    if dims is None or None in dims:
        raise unsupported(f"the {cx.op_type} runs no iteration, so {what} is empty, and the body "
                          f"declares no static shape for it ('{vi.name}'); npucc needs its shape")
    rank = len(dims) + 1
    if not -rank <= axis < rank:
        raise invalid(f"{what}: axis {axis} is out of range for rank {rank}")
    dims.insert(axis % rank, 0)
    return np.zeros(dims, onnx_dtype(t.elem_type))


def _scan_outputs(cx, per_iteration, body_outputs, axes, directions, first: int) -> list:
    """The scan outputs (node outputs from `first` on) from the per-iteration values."""
    outs = []
    for k, (values, vi, axis, direction) in enumerate(zip(per_iteration, body_outputs, axes,
                                                           directions)):
        name = cx.node.output[first + k]
        what = f"scan output {k} ('{name}')"
        if not name:  # not read: nothing to build
            outs.append(None)
        elif not values:
            outs.append(_empty_scan(cx, vi, axis, what))
        else:
            outs.append(_stack(cx, values[::-1] if direction else values, axis, what))
    return outs


@converter("Loop")
def loop(cx):
    """Unrolled: the trip count M and, when the cond input is given, the condition the body
    computes at each iteration must be known at import time. Loop-carried values may change
    shape from one iteration to the next; scan outputs are stacked on a new axis 0."""
    body = cx.subgraph("body")
    node = cx.node
    carried = len(node.input) - 2
    if carried < 0:
        raise invalid(f"a Loop takes M, cond and the loop-carried values, got {len(node.input)} "
                      "inputs")
    if len(body.input) != carried + 2:
        raise invalid(f"the body takes {len(body.input)} inputs; the Loop has {carried} "
                      "loop-carried values, so it must take 2 + that many")
    scans = len(body.output) - 1 - carried
    if scans < 0 or len(node.output) != carried + scans:
        raise invalid(f"the body returns {len(body.output)} values and the Loop has "
                      f"{len(node.output)} outputs: the body returns the condition, then one "
                      "value per Loop output")
    trip = _static_scalar(cx, 0, "the trip count M") if cx.has(0) else None
    has_cond = cx.has(1)
    if trip is None and not has_cond:
        raise unsupported(f"the Loop has neither a trip count M nor a condition: it never ends. "
                          f"{_cut_hint(cx)}")
    if trip is not None and (trip != int(trip)):
        raise invalid(f"the trip count M must be an integer, got {trip}")
    trip = None if trip is None else int(trip)
    go_on = bool(_static_scalar(cx, 1, "the condition cond")) if has_cond else True
    unroll = _Unroller(cx, body, None if has_cond else max(trip, 0), scans)
    cond = cx.input(1) if has_cond else np.asarray(True)
    values = [cx.input(2 + i) for i in range(carried)]
    per_iteration = [[] for _ in range(scans)]
    k = 0
    while go_on and (trip is None or k < trip):
        cond, *outs = unroll.run(k, [np.asarray(k, np.int64), cond, *values])
        values = outs[:carried]
        for acc, v in zip(per_iteration, outs[carried:]):
            acc.append(v)
        if has_cond:  # without the cond input, the body's condition is ignored (ONNX spec)
            if isinstance(cond, Value):
                raise unsupported(
                    f"the condition the body computes (tensor '{body.output[0].name}', "
                    f"iteration {k}) is computed at run time; it must be known at import time. "
                    f"{_cut_hint(cx)}")
            if cond.size != 1:
                raise invalid(f"the body's condition must hold one value, got shape "
                              f"{list(cond.shape)} at iteration {k}")
            go_on = bool(cond.ravel()[0])
        k += 1
    scan_outs = _scan_outputs(cx, per_iteration, body.output[1 + carried:], [0] * scans,
                              [0] * scans, carried)
    return tuple(values + scan_outs)


def _flags(cx, name: str, count: int, what: str, allowed=None) -> list[int]:
    values = cx.attr(name)
    if values is None:
        return [0] * count
    if len(values) != count:
        raise invalid(f"{name} lists {len(values)} values for {count} {what}")
    if allowed is not None and any(v not in allowed for v in values):
        raise invalid(f"{name} must hold {' or '.join(map(str, allowed))}, got {values}")
    return list(values)


@converter("Scan")
def scan(cx):
    """Unrolled over the scan inputs' static sequence length: iteration t reads element t of each
    scan input (the last first for a reverse direction) along its axis, and the scan outputs are
    the iterations' values stacked along their axis (prepended for a reverse direction)."""
    if cx.opset < 9:
        raise unsupported("Scan-8 (the batched form with sequence_lens) is not supported; export "
                          "the model at opset 9 or later")
    body = cx.subgraph("body")
    node = cx.node
    m = cx.attr("num_scan_inputs")
    states = len(node.input) - m
    if m < 1 or states < 0:
        raise invalid(f"num_scan_inputs is {m} for {len(node.input)} inputs")
    if len(body.input) != states + m:
        raise invalid(f"the body takes {len(body.input)} inputs, the Scan gives it {states} "
                      f"states and {m} scan elements")
    k_out = len(body.output) - states
    if k_out < 0 or len(node.output) != states + k_out:
        raise invalid(f"the body returns {len(body.output)} values and the Scan has "
                      f"{len(node.output)} outputs: the body returns one value per Scan output")
    in_axes = _flags(cx, "scan_input_axes", m, "scan inputs")
    in_dirs = _flags(cx, "scan_input_directions", m, "scan inputs", (0, 1))
    out_axes = _flags(cx, "scan_output_axes", k_out, "scan outputs")
    out_dirs = _flags(cx, "scan_output_directions", k_out, "scan outputs", (0, 1))
    xs = [cx.input(states + i) for i in range(m)]
    lengths = set()
    for i, (x, axis) in enumerate(zip(xs, in_axes)):
        rank = len(cx.shape(x))
        if not -rank <= axis < rank:
            raise invalid(f"scan_input_axes[{i}] = {axis} is out of range for scan input {i} of "
                          f"rank {rank}")
        in_axes[i] = axis % rank
        lengths.add(cx.shape(x)[in_axes[i]])
    if len(lengths) != 1:
        raise invalid(f"the scan inputs have different sequence lengths {sorted(lengths)}")
    length = lengths.pop()
    unroll = _Unroller(cx, body, length, 2 * m + k_out)
    values = [cx.input(i) for i in range(states)]
    per_iteration = [[] for _ in range(k_out)]
    for t in range(length):
        elements = []
        for x, axis, reverse in zip(xs, in_axes, in_dirs):
            i = length - 1 - t if reverse else t
            part = cx.emit("Slice", [x], starts=[i], ends=[i + 1], axes=[axis])
            elements.append(cx.emit("Squeeze", [part], axes=[axis]))
        outs = unroll.run(t, [*values, *elements])
        values = list(outs[:states])
        for acc, v in zip(per_iteration, outs[states:]):
            acc.append(v)
    scan_outs = _scan_outputs(cx, per_iteration, body.output[states:], out_axes, out_dirs,
                              states)
    return tuple(values + scan_outs)
