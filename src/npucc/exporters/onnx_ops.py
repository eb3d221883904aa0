"""IR ops as ONNX nodes (opset 21): the inverse of the ONNX frontend's normalisations. Operands the
IR holds as attributes (Reshape's shape, Pad's pads, Clip's bounds, reduction axes...) become
constant inputs again; fused activations and pools become their own nodes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from ..errors import NpuccError
from ..ir.graph import Node
from ..ir.types import DType


class ExportError(NpuccError):
    """A graph cannot be written in the requested format; the message names the node."""


ONNX_DTYPES = {DType.f32: TensorProto.FLOAT, DType.f16: TensorProto.FLOAT16,
               DType.i64: TensorProto.INT64, DType.i32: TensorProto.INT32,
               DType.i16: TensorProto.INT16, DType.i8: TensorProto.INT8,
               DType.u8: TensorProto.UINT8, DType.bool: TensorProto.BOOL}

SAME_NAME = {  # IR op -> ONNX op with the same inputs and attributes (IR bools become ints)
    "Add", "Sub", "Mul", "Div", "Max", "Min", "Pow", "Relu", "Sigmoid", "Tanh", "Exp", "Log",
    "Sqrt", "Abs", "Neg", "Floor", "Ceil", "Round", "Erf", "Sin", "Cos", "Reciprocal",
    "Softplus", "Softsign", "Sign", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual",
    "Not", "And", "Or", "Xor", "Where", "Identity", "IsNaN", "IsInf", "GlobalAveragePool",
    "GlobalMaxPool", "HardSwish", "Mish", "PRelu", "LeakyRelu", "Elu", "Selu", "HardSigmoid",
    "Gelu", "Softmax", "LogSoftmax", "Flatten", "Concat", "Transpose", "Gather",
    "DepthToSpace", "SpaceToDepth", "ArgMax", "ArgMin", "Mod", "MaxPool", "AveragePool",
    "Conv", "ConvTranspose", "Gemm", "MatMul",
}
RENAMED = {"BatchNorm": "BatchNormalization", "InstanceNorm": "InstanceNormalization",
           "LayerNorm": "LayerNormalization"}
OPERAND_ATTRS = {  # IR attribute -> ONNX input position (an int64 tensor)
    "Reshape": ("shape",), "Expand": ("shape",), "Tile": ("repeats",), "Split": ("split",),
    "Squeeze": ("axes",), "Unsqueeze": ("axes",), "ReduceMean": ("axes",), "ReduceMax": ("axes",),
    "ReduceMin": ("axes",), "ReduceSum": ("axes",), "ReduceProd": ("axes",),
    "ReduceL1": ("axes",), "ReduceL2": ("axes",), "ReduceSumSquare": ("axes",),
    "ReduceLogSumExp": ("axes",), "Slice": ("starts", "ends", "axes", "steps"),
}
DROPPED = {"activation", "activation_params", "pool_kernel", "pool_strides"}


def _attr_value(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, DType):
        return ONNX_DTYPES[v]
    if isinstance(v, tuple):
        return [int(x) if isinstance(x, bool) else x for x in v]
    return v


class OnnxNodes:
    """Collects ONNX nodes and initializers; `emit(node, inputs, outputs)` writes one IR node
    whose operands are ONNX tensor names (float views of quantized values)."""

    def __init__(self, unique: Callable[[str], str]):
        self.nodes: list = []
        self.initializers: list = []
        self.unique = unique

    def const(self, array: np.ndarray, hint: str, *, exact: bool = False) -> str:
        """An initializer named `hint` made unique (or exactly `hint`: a graph constant)."""
        name = hint if exact else self.unique(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def add(self, op: str, inputs, outputs, name: str, **attrs) -> None:
        self.nodes.append(helper.make_node(op, list(inputs), list(outputs),
                                           name=self.unique(name), **attrs))

    def emit(self, node: Node, inputs: list[str], outputs: list[str], name: str,
             float_dtype) -> None:
        op, at = node.op, node.attrs
        attrs = {k: _attr_value(v) for k, v in at.items() if v is not None and k not in DROPPED}
        act = at.get("activation", "none")
        pool = at.get("pool_kernel") or ()
        final = list(outputs)
        if act != "none" or pool:
            outputs = [self.unique(f"{outputs[0]}_pre")]
        if op in OPERAND_ATTRS:
            for key in OPERAND_ATTRS[op]:
                value = attrs.pop(key, None)
                inputs.append("" if value is None else
                              self.const(np.asarray(value, np.int64), f"{name}_{key}"))
            self.add(op, inputs, outputs, name, **attrs)
        elif op == "Clip":
            bounds = [self.const(np.asarray(at[k], float_dtype), f"{name}_{k}")
                      for k in ("min", "max")]
            self.add("Clip", inputs + bounds, outputs, name)
        elif op == "Pad":
            pads = self.const(np.asarray(at["pads"], np.int64), f"{name}_pads")
            fill = self.const(np.asarray(at["value"], float_dtype), f"{name}_value")
            self.add("Pad", [inputs[0], pads, fill], outputs, name, mode=at["mode"])
        elif op == "Resize":
            sizes = self.const(np.asarray(at["sizes"], np.int64), f"{name}_sizes")
            self.add("Resize", [inputs[0], "", "", sizes], outputs, name, mode=at["mode"],
                     coordinate_transformation_mode=at["coordinate_transformation_mode"],
                     nearest_mode=at["nearest_mode"])
        elif op == "Cast":
            self.add("Cast", inputs, outputs, name, to=ONNX_DTYPES[at["to"]])
        elif op in SAME_NAME or op in RENAMED:
            self.add(RENAMED.get(op, op), inputs, outputs, name, **attrs)
        else:
            raise ExportError(f"{node.describe()}: {op} has no ONNX form in the exporter")
        if act != "none" or pool:
            self._fused(node, outputs[0], final[0], name, float_dtype)

    def _fused(self, node: Node, x: str, out: str, name: str, float_dtype) -> None:
        """The fused activation, then the fused max pool, as their own nodes."""
        at = node.attrs
        act, params = at["activation"], at["activation_params"]
        pool = at.get("pool_kernel") or ()
        y = self.unique(f"{out}_act") if pool and act != "none" else out
        if act == "relu":
            self.add("Relu", [x], [y], f"{name}/relu")
        elif act == "clip":
            lo, hi = (self.const(np.asarray(p, float_dtype), f"{name}_clip") for p in params)
            self.add("Clip", [x, lo, hi], [y], f"{name}/clip")
        elif act == "leaky_relu":
            self.add("LeakyRelu", [x], [y], f"{name}/leaky_relu", alpha=params[0])
        elif act in ("sigmoid", "hard_swish"):
            self.add({"sigmoid": "Sigmoid", "hard_swish": "HardSwish"}[act], [x], [y],
                     f"{name}/{act}")
        elif act == "prelu":
            channels = node.outputs[0].shape[1 if node.op.startswith("Conv") else -1]
            slope = np.broadcast_to(np.asarray(params, float_dtype), (channels,))
            shape = (channels,) + (1,) * (node.outputs[0].type.rank - 2) \
                if node.op.startswith("Conv") else (channels,)
            self.add("PRelu", [x, self.const(slope.reshape(shape), f"{name}_slope")], [y],
                     f"{name}/prelu")
        else:
            y = x
        if pool:
            self.add("MaxPool", [y], [out], f"{name}/pool", kernel_shape=list(pool),
                     strides=list(at["pool_strides"] or pool))
