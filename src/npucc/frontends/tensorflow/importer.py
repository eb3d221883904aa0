"""The GraphDef importer: tensors from protos, nodes as converters see them (_Node), and the driver
that prunes the graph to the given inputs and outputs and converts it in order (skipping what is
on a branch a static predicate does not take: control_flow.py)."""

from __future__ import annotations

import os

import numpy as np

from ...errors import FrontendError, MissingShapeError, UnsupportedError
from ...ir import Graph, Value
from ...ir.types import DType, TensorType
from ..tf_common import (
    Builder,
    ConversionError,
    Handle,
    StaticOperands,
    closest,
    did_you_mean,
    keep_names,
)
from ..tfproto import types_pb2
from .control_flow import DEAD
from .converters import CONVERTERS
from .functions import MAX_DEPTH, function_body, inline_calls
from .tensors import _DTYPES, tensor_to_array

_REQUIRED = object()


def _tensor_name(name: str) -> tuple[str, int]:
    name = name.lstrip("^")
    if ":" in name:
        node, idx = name.rsplit(":", 1)
        if not idx.isdigit():
            raise FrontendError(f"tensor name {name!r}: the output index {idx!r} is not a number")
        return node, int(idx)
    return name, 0


class _Node(StaticOperands):
    """One NodeDef as converters see it."""

    def __init__(self, imp: TFImporter, nd):
        self.imp = imp
        self.nd = nd
        self.name = nd.name
        self.op = nd.op
        self.data_inputs = [i for i in nd.input if not i.startswith("^")]

    def attr(self, key, default=_REQUIRED):
        """An attribute's value (bytes decoded); a missing one is `default`, or an error when no
        default is given."""
        a = self.nd.attr[key] if key in self.nd.attr else None
        kind = a.WhichOneof("value") if a is not None else None
        if kind is None:  # absent, or present without a value
            if default is _REQUIRED:
                raise ConversionError(f"attribute '{key}' is missing", False)
            return default
        try:
            if kind == "list":
                lst = a.list
                for f in ("i", "f", "s", "b", "type"):
                    if len(getattr(lst, f)):
                        vals = list(getattr(lst, f))
                        return [v.decode() for v in vals] if f == "s" else vals
                return []
            v = getattr(a, kind)
            return v.decode() if isinstance(v, bytes) else v
        except UnicodeDecodeError:
            raise ConversionError(f"attribute '{key}' holds a string that is not UTF-8",
                                  False) from None

    def number(self, key, kind=int, default=_REQUIRED):
        """A numeric attribute as `kind` (int: an integer or a bool; float: any number)."""
        v = self.attr(key, default)
        if not isinstance(v, (int, float)) or (kind is int and isinstance(v, float)):
            what = "a number" if kind is float else "an integer"
            raise ConversionError(f"attribute '{key}' must be {what}, got {type(v).__name__}",
                                  False)
        return kind(v)

    def input(self, i: int) -> Handle:
        if i >= len(self.data_inputs):
            raise ConversionError(f"input {i} is required", False)
        return self.imp.lookup(self.data_inputs[i])

    def not_static(self, i: int, what: str) -> str:
        reads = [n for n in self.data_inputs if isinstance(self.imp.lookup(n), Value)]
        return (f"input {i} ({what}, '{self.data_inputs[i]}') must be known at import time; to "
                f"compile the model up to this node, cut it there with outputs={reads} (CLI "
                f"--outputs {','.join(reads)}) and run the rest on the host")

    def emit(self, op: str, inputs, attrs=None, name=None) -> Handle:
        return self.imp.b.emit(op, inputs, attrs, label=self.name, name=name or self.name)

    def nhwc(self) -> bool:
        fmt = self.attr("data_format", "NHWC")
        if fmt not in ("NHWC", "NCHW"):
            raise ConversionError(f"data_format {fmt} is not supported")
        return fmt == "NHWC"

    def spatial_op(self, op: str, x: Handle, extra, attrs) -> Handle:
        """An NCHW core op on x in this node's data format."""
        if self.nhwc():
            return self.imp.b.nchw_op(op, x, extra, attrs, label=self.name, name=self.name)
        return self.emit(op, [x, *extra], attrs)

    def hw(self, values) -> tuple[int, int]:
        """The H, W entries of a 4-element NHWC / NCHW attribute."""
        if not isinstance(values, (list, tuple)) or len(values) != 4 or \
                not all(isinstance(d, (int, np.integer)) for d in values):
            raise ConversionError(f"expected 4 integers (N, H, W, C or N, C, H, W), got {values!r}",
                                  False)
        v = list(values)
        return (v[1], v[2]) if self.nhwc() else (v[2], v[3])


class TFImporter:
    def __init__(self, gd, label: str, inputs, outputs, input_shapes):
        self.label = label
        self.functions = {f.signature.name: f for f in gd.library.function}
        self.node_defs = inline_calls(list(gd.node), self.functions, label)
        self.nodes = {nd.name: nd for nd in self.node_defs}
        self.converted: set[str] = set()  # the graph inputs and the nodes met by _convert
        self.dead: set[str] = set()  # ...on a branch a static predicate does not take
        self.depth = 0  # If bodies being imported
        self.results: list[str] = []  # the tensors inline() returns
        self.graph = Graph(os.path.splitext(os.path.basename(label))[0] or "tensorflow")
        self.b = Builder(self.graph)
        self.handles: dict[tuple[str, int], Handle] = {}
        self.inputs = list(inputs) if inputs else None
        self.outputs = list(outputs) if outputs else None
        self.input_shapes = input_shapes
        self.atrous: dict[str, tuple] = {}  # Conv node -> (dilations, pads) of a folded triple
        self._readers: dict[str, list] | None = None

    def readers(self, name: str) -> list:
        """The nodes that read any output of node `name` (data inputs only)."""
        if self._readers is None:
            self._readers = {}
            for nd in self.node_defs:
                for i in nd.input:
                    if not i.startswith("^"):
                        self._readers.setdefault(_tensor_name(i)[0], []).append(nd)
        return self._readers.get(name, [])

    def error(self, node: _Node | None, message: str, unsupported=False) -> FrontendError:
        where = f"{self.label}: node '{node.name}' ({node.op})" if node else self.label
        return (UnsupportedError if unsupported else FrontendError)(f"{where}: {message}")

    def lookup(self, name: str) -> Handle:
        key = _tensor_name(name)
        if key[0] in self.dead:
            return DEAD
        nd = self.nodes.get(key[0])
        if key not in self.handles and nd is not None and nd.op == "Const" and key[1] == 0:
            self.handles[key] = tensor_to_array(nd.attr["value"].tensor)  # read ahead (a fold)
        if key not in self.handles:
            raise ConversionError(f"tensor '{name}' is not available (unsupported producer or "
                                  "outside the cut)", False)
        if self.handles[key] is None:
            raise ConversionError(f"tensor '{name}' is not available: npucc does not import "
                                  f"output {key[1]} of {nd.op}", False)
        return self.handles[key]

    def _check_name(self, name: str, what: str) -> tuple[str, int]:
        node, idx = _tensor_name(name)
        if node not in self.nodes:
            raise FrontendError(f"{self.label}: {what} '{name}' is not a node of the graph; "
                                f"closest names: {closest(node, self.nodes)}")
        return node, idx

    def run(self) -> Graph:
        placeholders = [nd.name for nd in self.node_defs if nd.op == "Placeholder"]
        in_names = self.inputs if self.inputs is not None else placeholders
        if self.outputs is None:
            raise FrontendError(f"{self.label}: give outputs= (output tensor names); a frozen "
                                "GraphDef does not say which nodes are outputs")
        in_keys = [self._check_name(n, "input") for n in in_names]
        out_keys = [self._check_name(n, "output") for n in self.outputs]
        shapes = self._input_shapes(in_keys)
        for (node, idx), shape in zip(in_keys, shapes):
            nd = self.nodes[node]
            dt = nd.attr["dtype"].type if "dtype" in nd.attr else types_pb2.DT_FLOAT
            np_dt = _DTYPES.get(dt, np.float32)
            name = node if idx == 0 else f"{node}:{idx}"
            self.handles[(node, idx)] = self.graph.add_input(
                name, TensorType(shape, DType.from_numpy(np_dt)))
            self.converted.add(node)
        self._convert(self._order([k[0] for k in out_keys]))
        outs = []
        for (node, idx), name in zip(out_keys, self.outputs):
            h = DEAD if node in self.dead else self.handles.get((node, idx))
            if h is DEAD:
                raise FrontendError(f"{self.label}: output '{name}' is on a branch that its "
                                    "conditional's predicate does not take")
            if h is None:
                raise FrontendError(f"{self.label}: output '{name}' is not available: npucc "
                                    f"does not import output {idx} of {self.nodes[node].op}")
            outs.append(self.b.value(h, node))
        self.graph.set_outputs(outs)
        keep_names(self.graph, outs, [n if i == 0 else f"{n}:{i}" for n, i in out_keys])
        return self.graph

    def _convert(self, order) -> None:
        for nd in order:
            node = _Node(self, nd)
            self.converted.add(nd.name)
            try:
                if nd.op != "Merge" and any(self.lookup(i) is DEAD for i in node.data_inputs):
                    self.dead.add(nd.name)
                    continue
                fn = CONVERTERS.get(nd.op)
                if fn is None:
                    raise self.error(node, f"op {nd.op} is not supported ("
                                     f"{did_you_mean(nd.op, CONVERTERS)}the {len(CONVERTERS)} "
                                     "supported ops: npucc.frontends.tensorflow.CONVERTERS, "
                                     "docs/FRONTENDS.md)", unsupported=True)
                result = fn(node)
            except ConversionError as e:
                raise self.error(node, str(e), e.unsupported) from None
            results = result if isinstance(result, (list, tuple)) else [result]
            for i, h in enumerate(results):  # (numpy folds of 0-d arrays give numpy scalars)
                self.handles[(nd.name, i)] = np.asarray(h) if isinstance(h, np.generic) else h

    def inline(self, node: _Node, fname: str, args: list[str], kind: str) -> list[Handle]:
        """Import the body of library function `fname` under `<node>/<kind>`, the tensors `args`
        as its arguments (the branch an If takes); its results."""
        fn = self.functions.get(fname)
        if fn is None:
            raise ConversionError(f"its {kind} '{fname}' is not in the GraphDef's function "
                                  "library", False)
        if self.depth >= MAX_DEPTH:
            raise ConversionError(f"conditionals nested more than {MAX_DEPTH} deep (a recursive "
                                  "function?)", False)
        where = f"{self.label}: node '{node.name}' ({node.op}) calling function '{fname}'"
        body, results = function_body(fn, args, f"{node.name}/{kind}", set(self.nodes), where)
        body = inline_calls(body, self.functions, self.label)
        self.nodes.update((b.name, b) for b in body)
        self.node_defs.extend(body)
        self._readers = None
        used = self._used_outputs(node.name)  # (TF2 If bodies also return gradient optionals)
        needed = [r for k, r in enumerate(results) if k in used]
        self.results += needed
        self.depth += 1
        self._convert(self._order([_tensor_name(r)[0] for r in needed]))
        self.depth -= 1
        return [self.lookup(r) if k in used else None for k, r in enumerate(results)]

    def _used_outputs(self, name: str) -> set[int]:
        """The output indices of node `name` that a node, the requested outputs or an If's
        results read."""
        refs = [i for nd in self.readers(name) for i in nd.input if not i.startswith("^")]
        refs += self.outputs + self.results
        return {k for node, k in map(_tensor_name, refs) if node == name}

    def _input_shapes(self, keys) -> list[tuple[int, ...]]:
        given = self.input_shapes
        names = [node if idx == 0 else f"{node}:{idx}" for node, idx in keys]
        if isinstance(given, dict):  # by node name or tensor name ('input' or 'input:0')
            aliases = {alias: k for k, (node, idx) in enumerate(keys)
                       for alias in (node, f"{node}:{idx}")}
            unknown = [key for key in given if key not in aliases]
            if unknown:
                raise FrontendError(f"{self.label}: input_shapes names {unknown}, which are not "
                                    f"among the inputs {names}")
            given = {aliases[key]: shape for key, shape in given.items()}
        elif isinstance(given, (list, tuple)) and given:
            if len(given) != len(keys):
                raise FrontendError(f"{self.label}: input_shapes gives {len(given)} shapes for "
                                    f"the {len(keys)} inputs {names}")
            given = dict(enumerate(given))
        else:
            given = {}
        shapes = []
        for k, (node, _) in enumerate(keys):
            nd = self.nodes[node]
            shape = given.get(k)
            if shape is None and "shape" in nd.attr and not nd.attr["shape"].shape.unknown_rank:
                shape = [d.size for d in nd.attr["shape"].shape.dim]
            if shape is None or any(d is None or d < 0 for d in shape):
                raise MissingShapeError(f"{self.label}: input '{node}' has unknown shape "
                                        f"{shape}; give input_shapes (e.g. [[1, 224, 224, 3]])",
                                        node)
            shapes.append(tuple(int(d) for d in shape))
        return shapes

    def _order(self, outputs: list[str]) -> list:
        """Nodes needed for `outputs` that are not converted yet (the graph inputs count as
        converted), in topological order."""
        order, state = [], {}
        for root in outputs:
            stack = [(root, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    if state.get(name) != 2:
                        state[name] = 2
                        order.append(self.nodes[name])
                    continue
                if state.get(name) or name in self.converted:
                    continue
                state[name] = 1
                stack.append((name, True))
                for i in self.nodes[name].input:
                    if i.startswith("^"):
                        continue
                    dep = _tensor_name(i)[0]
                    if dep not in self.nodes:
                        raise FrontendError(f"{self.label}: node '{name}' reads '{i}', which is "
                                            "not in the graph")
                    if not state.get(dep) and dep not in self.converted:
                        stack.append((dep, False))
        return order
