"""promote-float16: compute a float16 model in float32, so that it can be calibrated and
quantized like any float model (a model exported in half precision is not "already quantized":
its user still asks for an int8 build). The RKNN facade and `npucc build` run it when
quantization is asked of a float16 model."""

from __future__ import annotations

import attrs
import numpy as np

from ..ir.graph import Graph
from ..ir.types import DType, TensorType
from .base import Pass, PassResult, register_pass


def _promoted_attr(value):
    if value is DType.f16:
        return DType.f32
    if isinstance(value, np.ndarray) and value.dtype == np.float16:
        return value.astype(np.float32)
    if isinstance(value, Graph):
        return promoted(value)[0]
    return value


def promoted(graph: Graph) -> tuple[Graph, int]:
    """A copy of `graph` in which every float16 value (inputs, constants, node outputs, and
    those of nested graphs) is float32, and attributes naming float16 (Cast's `to`) name float32;
    with the number of values changed."""
    g = Graph(graph.name, graph.numerics)
    new: dict[int, object] = {}
    changed = 0

    def retyped(t: TensorType) -> TensorType:
        return TensorType(t.shape, DType.f32, t.quant) if t.dtype is DType.f16 else t

    for v in graph.inputs:
        new[id(v)] = w = g.add_input(v.name, retyped(v.type))
        w.meta.update(v.meta)
        changed += v.dtype is DType.f16
    for c in graph.constants:
        arr = c.const.astype(np.float32) if c.dtype is DType.f16 else c.const
        new[id(c)] = w = g.add_constant(arr, c.name, quant=c.type.quant)
        w.meta.update(c.meta)
        changed += c.dtype is DType.f16
    for node in graph.nodes:
        attrs_ = {k: _promoted_attr(a) for k, a in node.attrs.items()}
        out = g.add_node(node.op, [None if v is None else new[id(v)] for v in node.inputs],
                         attrs_, output_names=[v.name for v in node.outputs],
                         provenance=node.provenance)
        out.meta.update(node.meta)
        for v, w in zip(node.outputs, out.outputs):
            w.meta.update(v.meta)
            new[id(v)] = w
            changed += v.dtype is DType.f16
    g.set_outputs([new[id(v)] for v in graph.outputs])
    return g, changed


@register_pass
@attrs.frozen
class PromoteFloat16(Pass):
    """Guarantee: no value of the graph (nested graphs included) is float16 afterwards; every
    float16 input, constant and node output becomes float32 (constants widened exactly), Cast to
    float16 casts to float32, names and provenance are kept. Outputs differ from the float16
    model's by its float16 rounding: the float32 graph computes the same function without it."""

    name = "promote-float16"

    def run(self, graph: Graph) -> PassResult:
        g, changed = promoted(graph)
        if not changed:
            return PassResult(False)
        graph.replace_contents(g)
        return PassResult(True, {"values": changed})
