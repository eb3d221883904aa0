"""Building the quantized graph from a float graph and its QuantizePlan: every value exists once
per precision that reads it, made by an explicit conversion node (QuantizeLinear, Requantize,
DequantizeLinear, Cast) from the precision that produced it; weights and biases become
quantized constants."""

from __future__ import annotations

import numpy as np

from ..ir.graph import Graph, Node, Value
from ..ir.types import DType, QuantScheme, TensorType
from .quantize_groups import activation_inputs, weight_input
from .quantize_params import PRECISIONS, Precision, quantize_array, quantized_operands
from .quantize_plan import QuantizePlan

F32, FP16 = PRECISIONS["f32"], PRECISIONS["fp16"]


class QuantizedGraphBuilder:
    """Emits the quantized graph node by node (`emit`), then its outputs (`finish`)."""

    def __init__(self, graph: Graph, plan: QuantizePlan, per_channel: bool, numerics: str):
        self.src, self.plan, self.per_channel = graph, plan, per_channel
        affine = any(p.scheme == "affine" for p in plan.precision.values())
        self.g = Graph(graph.name, numerics if affine else graph.numerics)
        self.native: dict[int, tuple[Value, Precision]] = {}
        self.made: dict[tuple[int, str], Value] = {}
        self.outputs = {id(v) for v in graph.outputs}
        for v in graph.inputs:
            self._remember(v, self.g.add_input(v.name, v.type), F32)

    def _remember(self, v: Value, new: Value, prec: Precision) -> Value:
        new.meta["float_value"] = v.name
        clamp = self.plan.clamped.get((id(v), prec.name))
        if clamp is not None:  # its params cover only its reader's clamp (accuracy analysis)
            new.meta["clamp_min"], new.meta["clamp_max"] = map(float, clamp)
        self.made[(id(v), prec.name)] = new
        self.native.setdefault(id(v), (new, prec))
        return new

    def type_of(self, v: Value, prec: Precision) -> TensorType:
        if prec.integer:
            return TensorType(v.shape, prec.storage, self.plan.params[(id(v), prec.name)])
        if not v.dtype.is_float:
            return v.type
        return TensorType(v.shape, DType.f16 if prec is FP16 else DType.f32)

    def value(self, v: Value, prec: Precision, name: str | None = None) -> Value:
        """v as `prec` stores it, converting (once) from the precision that made it."""
        if not v.dtype.is_float and prec is not F32:  # indices, shapes: stay as they are
            return self.value(v, F32)
        key = (id(v), prec.name)
        if key in self.made:
            return self.made[key]
        if v.is_constant:
            t = self.type_of(v, prec)
            arr = quantize_array(v.const, t.quant, t.dtype) if t.quant is not None else \
                v.const.astype(t.dtype.numpy)
            return self._remember(v, self.g.add_constant(arr, self.g.unique_name(
                v.name if prec is F32 else f"{v.name}_{prec.name}"), quant=t.quant), prec)
        src, src_prec = self.native[id(v)]
        name = name or self.g.unique_name(f"{v.name}_{prec.name}")
        return self._remember(v, self._convert(src, src_prec, self.type_of(v, prec), name), prec)

    def _convert(self, x: Value, frm: Precision, t: TensorType, name: str) -> Value:
        if x.type == t:
            return x
        if frm.integer and t.quant is not None:
            return self._node("Requantize", x, {"to": t.dtype}, t, name)
        if frm.integer:  # to float: dequantize, then round to float16 if asked
            scale, zp, axis = x.type.quant.as_affine()
            f = TensorType(t.shape, DType.f32)
            y = self._node("DequantizeLinear", x, {"scale": scale, "zero_point": zp,
                                                   "axis": axis}, f,
                           name if t.dtype is DType.f32 else None)
            return y if t.dtype is DType.f32 else self._node("Cast", y, {"to": t.dtype}, t, name)
        if t.quant is not None:
            scale, zp, axis = t.quant.as_affine()
            return self._node("QuantizeLinear", x, {
                "scale": scale, "zero_point": zp, "axis": axis, "dtype": t.dtype,
                "rounding": self.rounding(t), "narrow": t.quant.narrow}, t, name)
        return self._node("Cast", x, {"to": t.dtype}, t, name)

    def rounding(self, t: TensorType) -> str:
        """TFLite's QUANTIZE rounds ties away from zero; the affine and dfp profiles to even."""
        tflite = self.g.numerics == "tflite" and t.quant.scheme is QuantScheme.affine
        return "half_away" if tflite else "half_even"

    def _node(self, op, x, attrs_, t, name) -> Value:
        node = self.g.add_node(op, [x], attrs_, output_types=[t], output_names=[
            name or self.g.unique_name(f"{x.name}_{t.dtype.value}")])
        node.meta["conversion"] = True
        node.output.meta["float_value"] = x.meta.get("float_value", x.name)
        return node.output

    # ---- nodes ----
    def emit(self, node: Node) -> None:
        prec = self.plan.precision[id(node)]
        types = None
        if prec.integer:
            inputs, types = self._integer_operands(node, prec)
        else:
            inputs = [None if v is None else self.value(v, prec) for v in node.inputs]
        names = [self._name(v, prec) for v in node.outputs]
        new = self.g.add_node(node.op, inputs, node.attrs, output_names=names,
                              output_types=types, provenance=node.provenance)
        new.meta.update(node.meta)
        if id(node) in self.plan.reasons and prec is F32:
            new.meta["quantize"] = f"kept float: {self.plan.reasons[id(node)]}"
        for v, w in zip(node.outputs, new.outputs):
            if prec is FP16 and w.dtype is DType.f32:  # an attribute fixed it (Cast to=f32)
                w = self._node("Cast", w, {"to": DType.f16}, self.type_of(v, FP16), None)
            self._remember(v, w, prec)

    def _name(self, v: Value, prec: Precision) -> str:
        """Graph outputs stay f32 under their own name; their native value gets a suffix."""
        if id(v) in self.outputs and v.dtype.is_float and prec is not F32:
            return self.g.unique_name(f"{v.name}_{prec.name}")
        return v.name

    def _integer_operands(self, node: Node, prec: Precision):
        inputs: list[Value | None] = [None] * len(node.inputs)
        for i in activation_inputs(node):
            inputs[i] = self.value(node.inputs[i], prec)
        if weight_input(node) is not None:
            x = self.plan.params[(id(node.inputs[0]), prec.name)]
            y = self.plan.params.get((id(node.outputs[0]), prec.name))
            for i, arr, q in quantized_operands(node, prec, self.per_channel, x, y):
                inputs[i] = self._constant(node.inputs[i], arr, q)
        for i, v in enumerate(node.inputs):  # the rest (Gather's indices) as they are
            if inputs[i] is None and v is not None:
                inputs[i] = self.value(v, F32)
        return inputs, [self.type_of(v, prec) for v in node.outputs]

    def _constant(self, v: Value, arr: np.ndarray, q) -> Value:
        c = self.g.add_constant(arr, self.g.unique_name(f"{v.name}_q"), quant=q)
        c.meta["float_value"] = v.name
        return c

    def finish(self) -> Graph:
        outs = []
        for v in self.src.outputs:
            outs.append(self.value(v, F32, name=v.name if not self.g.has_value(v.name) else None)
                        if v.dtype.is_float else self.value(v, F32))
        self.g.set_outputs(outs)
        return self.g


def build_quantized(graph: Graph, plan: QuantizePlan, per_channel: bool,
                    numerics: str = "affine") -> Graph:
    b = QuantizedGraphBuilder(graph, plan, per_channel, numerics)
    for node in graph.nodes:
        b.emit(node)
    return b.finish()
