"""Write a graph (quantized or not) as a standard QDQ ONNX model that onnxruntime runs and
Netron opens.

    from npucc.exporters.onnx_qdq import export_qdq
    export_qdq(quantized_graph, "model.qdq.onnx")

Every quantized value is an integer tensor made by a QuantizeLinear; each op reads the float view
of its quantized operands through a DequantizeLinear (weights and biases are integer initializers
with their own DequantizeLinear), computes in float and quantizes its output: the QDQ pattern that
onnxruntime fuses into integer kernels (QLinearConv, QLinearAdd...). Affine params are written as
they are (per tensor, or per axis with `axis`); dynamic fixed point as scale 2**-fl, zero point 0;
float16 graphs as float16 tensors. A Requantize is a DequantizeLinear then a QuantizeLinear.
Nodes are named by their source layers (provenance), so names survive export.

Not representable in ONNX, and so approximated: narrow-range saturation (ONNX saturates to the
full type, so a value below -(2**(b-1) - 1) reads -2**(b-1) where npucc holds -(2**(b-1) - 1));
int64 biases (16-bit dfp) are written as float32 (exact while they fit 24 bits).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from ..atomic import write_atomic
from ..ir.graph import Graph, Node, Value
from ..ir.types import DType
from .onnx_ops import ONNX_DTYPES, ExportError, OnnxNodes

OPSET = 21  # int16 Quantize/DequantizeLinear, Gelu
IR_VERSION = 10


class _Exporter:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.names = {v.name for v in graph.values()}
        self.out = OnnxNodes(self._unique)
        self.float_view: dict[int, str] = {}  # id(value) -> ONNX name of its float values

    def _unique(self, hint: str) -> str:
        name, k = hint, 0
        while name in self.names:
            k += 1
            name = f"{hint}_{k}"
        self.names.add(name)
        return name

    def _layer(self, node: Node) -> str:
        return "+".join(sorted(node.provenance)) or f"{node.op}:{node.outputs[0].name}"

    def _params(self, v: Value, hint: str) -> list[str]:
        scale, zp, axis = v.type.quant.as_affine()
        shape = (-1,) if axis is not None else ()
        s = self.out.const(np.asarray(scale, np.float32).reshape(shape), f"{hint}_scale")
        z = self.out.const(np.asarray(zp, v.dtype.numpy).reshape(shape), f"{hint}_zero_point")
        return [s, z]

    def _axis(self, v: Value) -> dict:
        axis = v.type.quant.as_affine()[2]
        return {} if axis is None else {"axis": axis % v.type.rank}

    def view(self, v: Value | None) -> str:
        """The ONNX name of v's float values (a DequantizeLinear of a quantized v, once)."""
        if v is None:
            return ""
        if id(v) in self.float_view:
            return self.float_view[id(v)]
        if v.type.quant is None:
            if v.is_constant:
                self.float_view[id(v)] = self.out.const(v.const, v.name, exact=True)
                return self.float_view[id(v)]
            return v.name
        source = v.name
        if v.is_constant:
            if v.dtype is DType.i64:  # ONNX dequantizes no int64: a float32 bias
                scale = v.type.quant.as_affine()[0]
                real = v.const.astype(np.float64) * np.asarray(scale).reshape(-1)
                self.float_view[id(v)] = self.out.const(real.astype(np.float32), f"{v.name}_f")
                return self.float_view[id(v)]
            source = self.out.const(v.const, v.name, exact=True)
        name = self._unique(f"{v.name}_dq")
        self.out.add("DequantizeLinear", [source, *self._params(v, v.name)], [name],
                     f"{v.name}/DequantizeLinear", **self._axis(v))
        self.float_view[id(v)] = name
        return name

    def node(self, node: Node) -> None:
        layer = self._layer(node)
        x, y = (node.inputs[0] if node.inputs else None), node.outputs[0]
        if node.op == "QuantizeLinear":
            src = self.view(x)
            if x.dtype is not DType.f32:
                src2 = self._unique(f"{x.name}_f32")
                self.out.add("Cast", [src], [src2], f"{layer}/Cast", to=ONNX_DTYPES[DType.f32])
                src = src2
            self.out.add("QuantizeLinear", [src, *self._params(y, y.name)], [y.name],
                         f"{layer}/QuantizeLinear", **self._axis(y))
            return
        if node.op == "DequantizeLinear":  # the float view of x is what it computes
            self.float_view[id(y)] = self.view(x)
            return
        if node.op == "Requantize":
            self.out.add("QuantizeLinear", [self.view(x), *self._params(y, y.name)], [y.name],
                         f"{layer}/Requantize", **self._axis(y))
            return
        inputs = [self.view(v) for v in node.inputs]
        quantized = [v.type.quant is not None for v in node.outputs]
        outs = [self._unique(f"{v.name}_f") if q else v.name
                for v, q in zip(node.outputs, quantized)]
        float_dtype = np.float16 if any(v is not None and v.dtype is DType.f16 for v in
                                        (*node.inputs, *node.outputs)) else np.float32
        self.out.emit(node, inputs, outs, layer, float_dtype)
        for v, o, q in zip(node.outputs, outs, quantized):
            if q:
                self.out.add("QuantizeLinear", [o, *self._params(v, v.name)], [v.name],
                             f"{layer}/QuantizeLinear", **self._axis(v))

    def model(self) -> onnx.ModelProto:
        g = self.graph
        for node in g.nodes:
            self.node(node)
        outputs = []
        for v in g.outputs:
            name = self.view(v) if v.type.quant is None else v.name
            if name != v.name:  # an output that is a constant or a renamed view
                self.out.add("Identity", [name], [v.name], f"output:{v.name}")
            outputs.append(helper.make_tensor_value_info(v.name, ONNX_DTYPES[v.dtype],
                                                         list(v.shape)))
        inputs = [helper.make_tensor_value_info(v.name, ONNX_DTYPES[v.dtype], list(v.shape))
                  for v in g.inputs]
        graph = helper.make_graph(self.out.nodes, g.name, inputs, outputs,
                                  self.out.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="npucc", ir_version=IR_VERSION)
        helper.set_model_props(model, {"npucc.numerics": g.numerics})
        onnx.checker.check_model(model)
        return model


def to_onnx(graph: Graph) -> onnx.ModelProto:
    """The QDQ ONNX model of `graph` (see the module docstring)."""
    try:
        return _Exporter(graph).model()
    except (onnx.checker.ValidationError, KeyError) as e:
        raise ExportError(f"graph {graph.name}: cannot export to ONNX: {e}") from e


def export_qdq(graph: Graph, path: str | os.PathLike) -> Path:
    """Write `graph` to `path` as QDQ ONNX, atomically (temp file, then rename)."""
    path = Path(path)
    data = to_onnx(graph).SerializeToString()
    return write_atomic(path, data)
