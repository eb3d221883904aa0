"""npucc's typed SSA graph IR: types, graph, op registry, text form, verifier, interpreter."""

from . import ops as _ops  # noqa: F401  (registers the core op set)
from .graph import Graph, Node, Use, Value
from .interpreter import Interpreter, run_graph
from .registry import OPS, Attr, OpDef, define_op, get_op
from .text import format_graph, parse
from .types import DType, QuantParams, QuantScheme, TensorType
from .verify import verify

__all__ = ["OPS", "Attr", "DType", "Graph", "Interpreter", "Node", "OpDef", "QuantParams",
           "QuantScheme", "TensorType", "Use", "Value", "define_op", "format_graph", "get_op",
           "parse", "run_graph", "verify"]
