"""What the constraints and the cost model read off a node: the precision it computes in, the
storage scheme of a tensor, a conv's geometry."""

from __future__ import annotations

from ..ir.graph import Graph, Node, Value
from ..ir.types import DType, QuantScheme, TensorType

CONV_OPS = ("Conv", "ConvTranspose")


def storage_scheme(t: TensorType) -> str | None:
    """The storage name of a tensor type as targets list it (`u8`, `i8`, `i16`, `dfp8`, `dfp16`,
    `fp16`, `f32`), None for plain integer and bool tensors (indices, masks, shapes) and int32
    accumulator-scale tensors (quantized biases)."""
    if t.quant is not None:
        if t.quant.bits > 16:
            return None
        if t.quant.scheme is QuantScheme.dfp:
            return f"dfp{t.quant.bits}"
        return t.dtype.value
    if t.dtype is DType.f16:
        return "fp16"
    if t.dtype.is_float:
        return "f32"
    return None


def _precision_of(t: TensorType) -> str | None:
    if t.quant is not None:
        return "int8" if t.quant.bits <= 8 else "int16" if t.quant.bits <= 16 else None
    return "fp16" if t.dtype is DType.f16 else None


def is_quantized(graph: Graph) -> bool:
    """True if any value of the graph (or of a graph nested in it) is quantized or f16: the graph
    has been built in a precision, and its float values are meant to stay float."""
    for node in graph.nodes:
        if any(v.type.quant is not None or v.dtype is DType.f16 for v in node.outputs):
            return True
        if any(isinstance(a, Graph) and is_quantized(a) for a in node.attrs.values()):
            return True
    return False


def imported_precision(graph: Graph) -> str | None:
    """For a graph that came quantized (an int8 TFLite or QDQ ONNX model), the storage of its
    values ("i8", "u8, i8", ...); None for a float graph."""
    if not is_quantized(graph):
        return None
    found = {storage_scheme(v.type) for n in graph.nodes for v in n.outputs}
    return ", ".join(sorted(found - {None, "f32"})) or None


def node_precision(node: Node, default: str) -> str:
    """The precision a node computes in: read from its quantized (or f16) outputs, then its
    non-constant inputs; `default` for a float graph (the precision it will be built in)."""
    values = list(node.outputs) + [v for v in node.inputs if v is not None and not v.is_constant]
    for v in values:
        p = _precision_of(v.type)
        if p is not None:
            return p
    return default


def activation_inputs(node: Node) -> list[Value]:
    """The node's distinct non-constant inputs, in order."""
    seen, out = set(), []
    for v in node.inputs:
        if v is not None and not v.is_constant and id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def kernel_shape(node: Node) -> tuple[int, ...]:
    """The spatial kernel of a Conv / ConvTranspose (from its weight's shape)."""
    return tuple(node.inputs[1].shape[2:])


def is_depthwise(node: Node) -> bool:
    """A Conv whose groups each read one input channel (depthwise)."""
    if node.op != "Conv":
        return False
    g = node.attrs["group"]
    return g > 1 and node.inputs[0].shape[1] == g


def conv_output_spatial(node: Node) -> tuple[int, ...]:
    """A Conv's output height/width before its fused max-pool (the node's output is after)."""
    x, a = node.inputs[0].shape[2:], node.attrs
    k, sr = kernel_shape(node), len(node.inputs[0].shape) - 2
    return tuple((x[i] + a["pads"][i] + a["pads"][i + sr] - (k[i] - 1) * a["dilations"][i] - 1)
                 // a["strides"][i] + 1 for i in range(sr))
