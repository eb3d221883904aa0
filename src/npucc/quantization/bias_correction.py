"""Empirical bias correction (Nagel et al. 2019; AIMET, NNCF, PPQ): quantized weights shift the
mean of a layer's output; measure that shift per output channel on calibration inputs and take it
out of the integer bias.

Each quantized Conv / Gemm with a constant bias is fed its float input (from the float graph,
quantized to the node's input type), so the measured shift is the layer's own error, not the
error of the layers before it (corrections then add up instead of overshooting). The shift is
E[y_q - y_float] per output channel over the elements where the fused activation is in its
linear range (ReLU: y > 0; clip: lo < y < hi), which estimates the pre-activation shift.
"""

from __future__ import annotations

import itertools

import attrs
import numpy as np

from ..ir.graph import Graph, Node
from ..numerics import run_graph
from ..numerics.profiles import select_kernel
from .dataset import Dataset
from .quantize_model import QuantizedModel
from .stats import CalibrationError

LINEAR = ("Conv", "Gemm")
PASS_THROUGH = ("QuantizeLinear", "DequantizeLinear", "Requantize", "Cast")


def _targets(q: QuantizedModel) -> list[Node]:
    """quantized Conv / Gemm nodes with an integer bias whose output the float graph also has"""
    found = []
    for node in q.graph.nodes:
        if node.op not in LINEAR or len(node.inputs) < 3 or node.inputs[2] is None:
            continue
        b = node.inputs[2]
        if (b.is_constant and b.type.quant is not None and node.output.type.quant is not None
                and q.float_graph.has_value(node.output.name) and _float_source(q, node)):
            found.append(node)
    return found


def _float_source(q: QuantizedModel, node: Node) -> str | None:
    """the float graph's name of the node's data input (through quantize / convert nodes)"""
    v = node.inputs[0]
    while not q.float_graph.has_value(v.name) and v.producer is not None \
            and v.producer.op in PASS_THROUGH:
        v = v.producer.inputs[0]
    return v.name if q.float_graph.has_value(v.name) else None


def _quantize(x: np.ndarray, value) -> np.ndarray:
    scale, zp, axis = value.type.quant.as_affine()
    if axis is not None:
        raise ValueError(f"%{value.name}: per-axis activations are not supported")
    lo, hi = value.dtype.int_range
    if value.type.quant.narrow_range or value.type.quant.frac_length is not None:
        lo = -hi
    q = np.rint(x.astype(np.float64) / scale[0]) + zp[0]
    return np.clip(q, lo, hi).astype(value.dtype.numpy)


def _dequantize(q: np.ndarray, value) -> np.ndarray:
    scale, zp, _ = value.type.quant.as_affine()
    return (q.astype(np.float64) - zp[0]) * scale[0]


def _linear_mask(node: Node, y: np.ndarray) -> np.ndarray:
    act = node.attrs.get("activation", "none")
    if act == "relu":
        return y > 0
    if act == "clip":
        lo, hi = node.attrs["activation_params"][:2]
        return (y > lo) & (y < hi)
    return np.ones(y.shape, bool)


@attrs.define
class _Shift:
    """running per-channel sums of y_q - y_float over the masked elements"""

    total: np.ndarray
    count: np.ndarray

    def add(self, diff: np.ndarray, mask: np.ndarray, axis: int) -> None:
        others = tuple(i for i in range(diff.ndim) if i != axis)
        self.total += np.where(mask, diff, 0.0).sum(axis=others)
        self.count += mask.sum(axis=others)


def correct_bias(q: QuantizedModel, inputs, *, min_count: int = 16,
                 max_samples: int | None = None) -> QuantizedModel:
    """A copy of `q` whose Conv / Gemm integer biases are corrected by the mean output shift
    measured over `inputs` (anything `calibrate` takes; the first `max_samples` of them). A
    channel seen fewer than `min_count` times in its linear range keeps its bias. q.options
    gains "bias_correction": True. Costs about one float and one quantized inference per
    sample."""
    graph = q.graph.copy()
    nodes = _targets(attrs.evolve(q, graph=graph))
    sources = {n.output.name: _float_source(q, n) for n in nodes}
    wanted = set(sources) | set(sources.values())
    kernels = {n.output.name: select_kernel(n) for n in nodes}
    shifts = {n.output.name: _Shift(np.zeros(_channels(n)), np.zeros(_channels(n)))
              for n in nodes}
    used = 0
    for sample in itertools.islice(Dataset.of(inputs).samples(q.float_graph), max_samples):
        used += 1
        seen = {v.name: np.asarray(a) for v, a in zip(q.float_graph.inputs, sample)
                if v.name in wanted}

        def keep(node, outs, seen=seen):
            for v, a in zip(node.outputs, outs):
                if v.name in wanted:
                    seen[v.name] = np.asarray(a)

        run_graph(q.float_graph, sample, hook=keep)
        for n in nodes:
            name = n.output.name
            x = _quantize(seen[sources[name]], n.inputs[0])
            y = _dequantize(kernels[name]([x, *(v.const for v in n.inputs[1:])])[0], n.output)
            want = seen[name]
            shifts[name].add(y - want, _linear_mask(n, want), _axis(n))
    if not used:
        raise CalibrationError(f"bias correction of {q.graph.name}: the dataset has no sample")
    for n in nodes:
        s = shifts[n.output.name]
        _fold(graph, n, np.where(s.count >= min_count, s.total / np.maximum(s.count, 1), 0.0))
    return attrs.evolve(q, graph=graph, options={**q.options, "bias_correction": True})


def _axis(node: Node) -> int:
    return 1 if node.op == "Conv" else len(node.output.shape) - 1


def _channels(node: Node) -> int:
    return node.output.shape[_axis(node)]


def _fold(graph: Graph, node: Node, shift: np.ndarray) -> None:
    """bias -= shift, in the bias's integers (saturated to its type)"""
    b = node.inputs[2]
    scale, _, _ = b.type.quant.as_affine()
    step = np.broadcast_to(np.asarray(scale, np.float64), shift.shape)
    lo, hi = b.dtype.int_range
    new = np.clip(b.const.astype(np.int64) - np.rint(shift / step).astype(np.int64), lo, hi)
    nb = graph.add_constant(new.astype(b.dtype.numpy), graph.unique_name(b.name), dtype=b.dtype,
                            quant=b.type.quant)
    graph.set_input(node, 2, nb)
    if not b.uses and not graph.is_output(b):
        graph.remove_constant(b)
