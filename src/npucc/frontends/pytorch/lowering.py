"""Lowering a decomposed ExportedProgram's fx graph to a npucc Graph (one ATen converter a call)."""

from __future__ import annotations

import operator

import numpy as np
import torch

from ...errors import FrontendError, NpuccError, UnsupportedError
from ...ir import Graph, Value
from ...ir.types import DType, TensorType
from ..builder import ConversionError, GraphBuilder
from . import aten_math, aten_shape  # noqa: F401 - importing them registers the converters
from .context import ATEN, Ctx, _array, _Invalid, _np_dtype, _Unsupported

# runtime assertions on sizes, all true for the static shapes npucc compiles
_IGNORED = {"aten._assert_scalar.default", "aten.sym_constrain_range_for_size.default",
            "aten._assert_tensor_metadata.default", "aten.sym_constrain_range.default"}


def supported_ops() -> list[str]:
    return sorted(ATEN)


class AtenLowering:
    """Lowers a decomposed ExportedProgram's graph to a npucc Graph."""

    def __init__(self, ep, label: str, fold: bool = True, name: str | None = None):
        self.ep = ep
        self.label = label
        self.graph = Graph(name or "main")
        self.builder = GraphBuilder(self.graph, fold)
        self.env: dict[str, object] = {}
        self.current_target = ""

    def _where(self, node) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        module = list(stack.values())[-1][0] if stack else ""
        src = f", in module '{module}'" if module else ""
        return f"{self.label}: node '{node.name}' (torch op {node.target}{src})"

    def run(self) -> Graph:
        sig = self.ep.graph_signature
        params = {**sig.inputs_to_parameters, **sig.inputs_to_buffers,
                  **sig.inputs_to_lifted_tensor_constants}
        tensors = {**self.ep.state_dict, **self.ep.constants}
        user_inputs = set(sig.user_inputs)
        for node in self.ep.graph.nodes:
            if node.op == "placeholder":
                if node.name in params:
                    arr = self._constant(params[node.name], tensors[params[node.name]])
                    self.builder.names[id(arr)] = params[node.name]
                    self.env[node.name] = arr
                elif node.name in user_inputs:
                    self._add_input(node)
                else:
                    raise UnsupportedError(f"{self.label}: input '{node.name}' is not a tensor")
            elif node.op == "call_function":
                self._lower(node)
            elif node.op == "output":
                self._set_outputs(node)
        return self.graph

    def _constant(self, fqn: str, t: torch.Tensor) -> np.ndarray:
        """A weight, buffer or lifted constant. A 0-d float64 one is a python float that
        TorchScript made a tensor (`q * 0.125`): it does not promote the float32 tensors it
        meets, and npucc has no float64, so it is read as float32."""
        if t.dtype == torch.float64 and t.dim() == 0:
            t = t.float()
        try:
            return _array(t)
        except _Unsupported as e:
            raise UnsupportedError(f"{self.label}: constant '{fqn}': {e}") from None

    def _add_input(self, node) -> None:
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise UnsupportedError(f"{self.label}: input '{node.name}' is not a tensor")
        if any(not isinstance(d, int) for d in val.shape):
            raise FrontendError(f"{self.label}: input '{node.name}' has dynamic dims "
                                f"{list(val.shape)}; export it with static shapes")
        try:
            dtype = DType.from_numpy(_np_dtype(val.dtype))
        except _Unsupported as e:
            raise UnsupportedError(f"{self.label}: input '{node.name}': {e}") from None
        self.env[node.name] = self.graph.add_input(node.name, TensorType(tuple(val.shape), dtype))

    def _arg(self, a):
        import torch.fx

        if isinstance(a, torch.fx.Node):
            return self.env[a.name]
        if isinstance(a, (list, tuple)):
            return type(a)(self._arg(x) for x in a)
        return a

    def _lower(self, node) -> None:
        target = node.target
        if target is operator.getitem:
            seq, i = self._arg(node.args[0]), node.args[1]
            if seq[i] is None:
                raise UnsupportedError(f"{self._where(node)}: output {i} is not supported")
            self.env[node.name] = seq[i]
            return
        if getattr(target, "__module__", None) in ("_operator", "math", "builtins") or \
                str(target).startswith("<built-in function"):
            args = self._arg(tuple(node.args))
            if any(isinstance(a, (Value, np.ndarray)) for a in args):
                raise UnsupportedError(f"{self._where(node)}: python {target} on tensors")
            self.env[node.name] = target(*args)  # arithmetic on sizes, known at import
            return
        key = str(target)
        if key in _IGNORED:
            self.env[node.name] = None
            return
        fn = ATEN.get(key)
        if fn is None and not key.startswith("aten."):
            raise UnsupportedError(f"{self._where(node)}: not supported: npucc lowers ATen ops "
                                   "only; save the model without this library op (for a "
                                   "detector, its backbone and head, before decoding and NMS)")
        if fn is None:
            raise UnsupportedError(f"{self._where(node)}: not supported (the "
                                   f"{len(supported_ops())} supported torch ops: "
                                   "npucc.frontends.pytorch.supported_ops(), docs/FRONTENDS.md)")
        self.current_target = key
        cx = Ctx(self, node)
        try:
            out = fn(cx, *self._arg(tuple(node.args)),
                     **{k: self._arg(v) for k, v in node.kwargs.items()
                        if k not in ("device", "layout", "pin_memory", "memory_format")})
        except _Unsupported as e:
            raise UnsupportedError(f"{self._where(node)}: {e}") from None
        except (_Invalid, ConversionError) as e:
            raise FrontendError(f"{self._where(node)}: {e}") from None
        except NpuccError as e:
            raise FrontendError(f"{self._where(node)}: {e}") from None
        if isinstance(out, Value) and any(out.producer is n for n in cx.created) \
                and not self.graph.has_value(node.name):
            self.graph.rename(out, node.name)
        self.env[node.name] = out

    def _set_outputs(self, node) -> None:
        results = self._arg(node.args[0])
        results = list(results) if isinstance(results, (list, tuple)) else [results]
        names = ["output"] if len(results) == 1 else [f"output_{i}" for i in range(len(results))]
        outs = []
        for name, h in zip(names, results):
            v = self.builder.value(h) if isinstance(h, np.ndarray) else h
            if self.graph.has_value(name) and self.graph.value(name) is not v:
                self.graph.rename(self.graph.value(name), self.graph.unique_name(name + "_"))
            if v.producer is not None and not any(v is o for o in outs) \
                    and v not in self.graph.inputs:
                self.graph.rename(v, name)
            else:
                v = self.graph.add_node("Identity", [v], provenance=["output"],
                                        output_names=[name]).output
            outs.append(v)
        self.graph.set_outputs(outs)
