"""Walks an ONNX graph and builds a npucc Graph, one ONNX node at a time.

Every ONNX tensor is held as a *handle*: a numpy array when its value is known at import time
(initializers, Constant nodes, and anything computed from them or from static shapes), or a graph
`Value` otherwise. Converters (see `converters/`) map one ONNX node to core ops through
`NodeContext.emit`, which evaluates the op with its reference kernel when all its inputs are
static. So Shape -> Gather -> Concat -> Reshape chains fold to a Reshape with an explicit `shape`
attribute, and constants reach the graph only where a runtime op reads them.
"""

from __future__ import annotations

import difflib
import functools
import os
from collections import ChainMap
from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import helper

from ...errors import (
    FrontendError,
    IRError,
    LimitError,
    MissingShapeError,
    NpuccError,
    UnsupportedError,
    reworded,
)
from ...ir import Graph, Value
from ...ir.types import DType, TensorType
from ...limits import check_shape
from ..builder import ConstantTypeError, ConversionError, FoldError, GraphBuilder, Handle
from .tensors import check_names, to_array

MIN_OPSET, MAX_OPSET = 7, 27


def unsupported(message: str) -> ConversionError:
    return ConversionError(message, unsupported=True)


def invalid(message: str) -> ConversionError:
    return ConversionError(message, unsupported=False)


def onnx_dtype(elem_type: int) -> np.dtype:
    """numpy dtype of an ONNX TensorProto element type."""
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, ValueError, TypeError):
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type in \
            onnx.TensorProto.DataType.values() else str(elem_type)
        raise unsupported(f"element type {name} is not supported") from None


def ir_dtype(dtype: np.dtype, what: str) -> DType:
    try:
        return DType.from_numpy(dtype)
    except IRError:
        known = ", ".join(d.value for d in DType)
        raise unsupported(f"{what} has element type {np.dtype(dtype)}; npucc tensors are "
                          f"{known}") from None


_ATTR_KINDS = {onnx.AttributeProto.FLOAT, onnx.AttributeProto.INT, onnx.AttributeProto.STRING,
               onnx.AttributeProto.TENSOR, onnx.AttributeProto.FLOATS,
               onnx.AttributeProto.INTS, onnx.AttributeProto.STRINGS}


@functools.lru_cache(maxsize=None)
def _schema_attrs(op_type: str, opset: int) -> dict[str, tuple[int, bool]]:
    """Attribute name -> (AttributeProto type, required) as the ONNX spec of the op at `opset`
    declares them."""
    try:
        schema = onnx.defs.get_schema(op_type, opset, "")
    except onnx.defs.SchemaError:
        return {}
    return {name: (int(a.type), bool(a.required)) for name, a in schema.attributes.items()}


class NodeContext:
    """What a converter sees: the node's attributes, its input handles and the emit helper."""

    def __init__(self, importer: OnnxImporter, node: onnx.NodeProto, label: str, opset: int):
        self.importer = importer
        self.graph = importer.graph
        self.node = node
        self.label = label
        self.opset = opset
        self.op_type = node.op_type
        self.inputs: list[Handle | None] = [importer.lookup(n) if n else None for n in node.input]
        self.num_outputs = len(node.output)
        self._attrs = {a.name: a for a in node.attribute}
        self._used: set[str] = set()
        self.created: list = []

    # ---- attributes ----
    def attr(self, name: str, default=None):
        """Attribute value (strings decoded, tensors as numpy), or `default` when absent."""
        self._used.add(name)
        a = self._attrs.get(name)
        want, required = _schema_attrs(self.op_type, self.opset).get(name, (None, False))
        if a is None:
            if required and default is None:
                raise invalid(f"attribute '{name}' is required")
            return default
        if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            raise unsupported(f"attribute '{name}' holds a subgraph, where a value is expected")
        if a.type == onnx.AttributeProto.SPARSE_TENSOR:
            raise unsupported(f"attribute '{name}' holds a sparse tensor")
        if a.type != want and (want is not None or a.type not in _ATTR_KINDS):
            kinds = {v: k for k, v in onnx.AttributeProto.AttributeType.items()}
            raise invalid(f"attribute '{name}' is of type {kinds.get(a.type, a.type)}; the ONNX "
                          f"spec of {self.op_type} says {kinds.get(want, want)}")
        v = helper.get_attribute_value(a)
        try:
            if isinstance(v, bytes):
                return v.decode()
            if isinstance(v, list):
                return [x.decode() if isinstance(x, bytes) else x for x in v]
        except UnicodeDecodeError:
            raise invalid(f"attribute '{name}' holds a string that is not UTF-8") from None
        if isinstance(v, onnx.TensorProto):
            return self.importer.tensor_to_array(v, f"attribute '{name}' tensor")
        return v

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    def subgraph(self, name: str) -> onnx.GraphProto:
        """A GRAPH attribute (If's branches, a Loop's or Scan's body)."""
        self._used.add(name)
        a = self._attrs.get(name)
        if a is None or a.type != onnx.AttributeProto.GRAPH:
            raise invalid(f"attribute '{name}' must hold a graph")
        return a.g

    def ignore(self, *names: str) -> None:
        """Mark attributes as read: they do not change the result of this conversion."""
        self._used.update(names)

    def unused_attrs(self) -> list[str]:
        return sorted(set(self._attrs) - self._used)

    # ---- inputs ----
    def has(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] is not None

    def input(self, i: int) -> Handle:
        if not self.has(i):
            raise invalid(f"input {i} is required")
        return self.inputs[i]

    def static(self, i: int, what: str) -> np.ndarray:
        """Input i as a numpy array; it must be known at import time."""
        h = self.input(i)
        if isinstance(h, Value):
            raise unsupported(f"input {i} ({what}, tensor '{self.node.input[i]}') must be known at "
                              "import time (a constant or computed from static shapes); "
                              f"it is computed at run time here; {self.cut_hint()}")
        return h

    def cut_hint(self) -> str:
        """How to compile the part of the model before this node: the cut at its run-time
        inputs."""
        reads = [n for n, h in zip(self.node.input, self.inputs) if n and isinstance(h, Value)]
        return (f"to compile the model up to this node, cut it there with outputs={reads} "
                f"(CLI --outputs {','.join(reads)}) and run the rest on the host")

    def optional_static(self, i: int, what: str) -> np.ndarray | None:
        """Like `static`, None when the input is absent or empty."""
        if not self.has(i):
            return None
        arr = self.static(i, what)
        return None if arr.size == 0 and arr.ndim == 1 else arr

    def optional_scalar(self, i: int, what: str):
        """Like `optional_static`, for a one-element input: its value as a Python number."""
        v = self.optional_static(i, what)
        if v is None:
            return None
        if v.size != 1:
            raise invalid(f"{what} must be a scalar, got shape {list(v.shape)}")
        return v.reshape(()).item()

    @staticmethod
    def check_size(shape, itemsize: int, what: str) -> None:
        """invalid() if a tensor of `shape` the node would make exceeds npucc.limits: checked
        before allocating from sizes the model file gives."""
        try:
            check_shape(shape, itemsize, what)
        except LimitError as e:
            raise invalid(str(e)) from None

    @staticmethod
    def shape(h: Handle) -> tuple[int, ...]:
        return tuple(h.shape)

    @staticmethod
    def np_dtype(h: Handle) -> np.dtype:
        return h.dtype.numpy if isinstance(h, Value) else h.dtype

    def value(self, h: Handle) -> Value:
        """A graph Value for a handle (static arrays become constants)."""
        if isinstance(h, Value):
            return h
        return self.importer.materialize(h)

    # ---- emitting core ops ----
    def emit(self, op: str, inputs: Sequence[Handle | None], **attrs) -> Handle | tuple:
        """Apply core op `op`; evaluated at once when every input is static."""
        try:
            outs, node = self.importer.builder.emit(op, inputs, attrs, [self.label])
        except FoldError as e:
            raise invalid(str(e)) from None
        except ConstantTypeError as e:
            raise unsupported(str(e)) from None
        if node is not None:
            self.created.append(node)
        return outs[0] if len(outs) == 1 else outs


def _apply_input_shape(name: str, onnx_dims: list, given) -> tuple[int, ...]:
    if given is not None:
        given = tuple(int(d) for d in given)
        if onnx_dims is not None and len(given) != len(onnx_dims):
            raise FrontendError(f"input '{name}' has rank {len(onnx_dims)} in the model, "
                                f"input_shapes gives {list(given)}")
        for i, (g, d) in enumerate(zip(given, onnx_dims or given)):
            if isinstance(d, int) and d >= 0 and g != d:
                raise FrontendError(f"input '{name}' dim {i} is {d} in the model, "
                                    f"input_shapes gives {g}")
        return given
    if onnx_dims is None:
        raise MissingShapeError(f"input '{name}' has no shape in the model; give it with "
                                "input_shapes={'" + name + "': [...]}", name)
    unknown = [(i, d) for i, d in enumerate(onnx_dims) if not (isinstance(d, int) and d >= 0)]
    if unknown:
        desc = ", ".join(f"dim {i} ({d!r})" for i, d in unknown)
        raise MissingShapeError(
            f"input '{name}' has unknown {desc} (shape "
            f"{[d if isinstance(d, int) and d >= 0 else '?' for d in onnx_dims]}); "
            "give a static shape with input_shapes={'" + name + "': [...]}", name)
    return tuple(onnx_dims)


def _value_info_dims(vi: onnx.ValueInfoProto) -> list | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]


def _reads(node: onnx.NodeProto):
    """The tensors a node reads: its inputs, and those its subgraphs read (the outer-scope values
    a Loop body or If branch uses directly; names local to a subgraph match no outer tensor)."""
    yield from (i for i in node.input if i)
    for a in node.attribute:
        for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
            for n in g.node:
                yield from _reads(n)


def _redefined_after(graph: onnx.GraphProto, opset: int, newest: int) -> list[str]:
    """The default-domain ops of `graph` (and its subgraphs) whose definition at `opset` is
    newer than opset `newest`: every other op means at `opset` what it meant at `newest`, which
    is what lets npucc read a model of a newer opset (ops onnx does not know are left to the
    converters' own error)."""
    found, stack = set(), [graph]
    while stack:
        g = stack.pop()
        for n in g.node:
            for a in n.attribute:
                stack.extend(([a.g] if a.HasField("g") else []) + list(a.graphs))
            if n.domain not in ("", "ai.onnx"):
                continue
            try:
                since = onnx.defs.get_schema(n.op_type, opset, "").since_version
            except onnx.defs.SchemaError:
                continue
            if since > newest:
                found.add(f"{n.op_type} (opset {since})")
    return sorted(found)


class OnnxImporter:
    """Converts one ModelProto. Use `npucc.frontends.onnx.load` rather than this class."""

    def __init__(self, model: onnx.ModelProto, label: str, *, input_shapes=None, inputs=None,
                 outputs=None, fold: bool = True, base_dir: str | None = None,
                 constant_inputs: Mapping[str, np.ndarray] | None = None):
        check_names(model, label)
        self.model = model
        self.label = label
        self.input_shapes = input_shapes
        self.cut_inputs = list(inputs) if inputs is not None else None
        self.cut_outputs = list(outputs) if outputs is not None else None
        self.fold = fold
        self.constant_inputs = dict(constant_inputs or {})
        self.base_dir = base_dir
        self.graph = Graph(model.graph.name or "main")
        self.builder = GraphBuilder(self.graph, fold)
        # ONNX name -> handle; a subgraph being imported is a child scope (see `inline`)
        self.env: ChainMap[str, Handle] = ChainMap()
        self.prefix = ""  # graph values take prefix + ONNX name (a loop iteration's prefix)
        self.unrolled_nodes = 0  # nodes copied by unrolling loops (limits.MAX_UNROLLED_NODES)
        self._array_names: dict[int, str] = {}  # id(array) -> ONNX name it is bound to
        self._onnx_named: set[int] = set()  # ids of Values carrying their ONNX name
        self.opset = self._default_opset()

    # ---- errors ----
    def _where(self, node: onnx.NodeProto | None = None, label: str | None = None) -> str:
        if node is None:
            return self.label
        return f"{self.label}: node '{label}' (op {node.op_type}, opset {self.opset})"

    def error(self, message: str, node=None, label=None, unsupported_=False) -> FrontendError:
        cls = UnsupportedError if unsupported_ else FrontendError
        return cls(f"{self._where(node, label)}: {message}")

    def _default_opset(self) -> int:
        versions = {o.domain: o.version for o in self.model.opset_import}
        v = versions.get("", versions.get("ai.onnx"))
        if v is None:
            raise UnsupportedError(f"{self.label}: the model imports no default-domain (ai.onnx) "
                                   f"opset, only {sorted(versions)}; npucc reads ai.onnx ops")
        if v < MIN_OPSET:
            raise UnsupportedError(f"{self.label}: opset {v} is not supported; npucc reads ONNX "
                                   f"opsets {MIN_OPSET} to {MAX_OPSET}")
        if v > MAX_OPSET:
            redefined = _redefined_after(self.model.graph, v, MAX_OPSET)
            if redefined:
                raise UnsupportedError(
                    f"{self.label}: opset {v} is newer than npucc reads ({MIN_OPSET} to "
                    f"{MAX_OPSET}) and these ops were redefined after opset {MAX_OPSET}: "
                    f"{', '.join(redefined)}; export the model at opset {MAX_OPSET} or lower")
        return v

    # ---- tensors ----
    def tensor_to_array(self, t: onnx.TensorProto, what: str | None = None) -> np.ndarray:
        """A TensorProto's value with its sizes (and external data location) checked."""
        try:
            return to_array(t, what or f"tensor '{t.name}'", self.base_dir)
        except FrontendError as e:
            raise type(e)(f"{self.label}: {e}") from None

    def lookup(self, name: str) -> Handle:
        try:
            return self.env[name]
        except KeyError:
            raise FrontendError(f"{self.label}: tensor '{name}' is used before it is defined "
                                "(the graph is not topologically sorted, or the file is "
                                "truncated or corrupt)") from None

    def materialize(self, arr: np.ndarray) -> Value:
        try:
            v = self.builder.materialize(arr)
        except ConstantTypeError as e:
            raise unsupported(str(e)) from None
        if id(arr) in self._array_names:
            self._onnx_named.add(id(v))
        return v

    def _free_name(self, name: str) -> str:
        """Make `name` available; an auto-named value squatting on it is renamed. A subgraph's
        tensor may shadow an outer one: it then takes a fresh name."""
        if self.graph.has_value(name):
            squatter = self.graph.value(name)
            if id(squatter) in self._onnx_named:
                if len(self.env.maps) > 1:
                    return self.graph.unique_name(name)
                raise FrontendError(f"{self.label}: tensor name '{name}' is defined twice")
            self.graph.rename(squatter, self.graph.unique_name(name + "_"))
        return name

    def bind(self, name: str, h: Handle, fresh_nodes=()) -> None:
        """Record that ONNX tensor `name` is `h`; fresh values take the ONNX name."""
        if not name:
            return
        if name in self.env.maps[0]:
            raise FrontendError(f"{self.label}: tensor '{name}' is defined twice")
        if isinstance(h, np.ndarray):
            if id(h) in self._array_names:  # the same array bound twice (an alias): copy
                h = h.copy()
            self._array_names[id(h)] = self.prefix + name
            self.builder.names[id(h)] = self.prefix + name
        elif h.producer is not None and any(h.producer is n for n in fresh_nodes) \
                and id(h) not in self._onnx_named:
            self.graph.rename(h, self._free_name(self.prefix + name))
            self._onnx_named.add(id(h))
        self.env[name] = h

    # ---- the walk ----
    def run(self) -> Graph:
        g = self.model.graph
        initializers = {}
        for t in g.initializer:
            initializers[t.name] = self.tensor_to_array(t)
        self._add_inputs(g, initializers)
        for name, arr in initializers.items():
            if name not in self.env:
                self.bind(name, arr)
        nodes = self._needed_nodes(g)
        from .converters import CONVERTERS, supported_ops  # late: converters import this module
        for index, node in enumerate(nodes):
            label = node.name or f"{node.op_type}_{index}"
            self._convert(node, label, CONVERTERS, supported_ops)
        self._set_outputs(g)
        return self.graph

    def inline(self, g: onnx.GraphProto, label: str, inputs: Sequence[Handle] = (),
               prefix: str | None = None) -> tuple[Handle, ...]:
        """Import the nodes of subgraph `g` in place (an If's taken branch, one iteration of a
        loop body) with `inputs` bound to its inputs; returns its outputs.

        The subgraph's tensors live in a scope of their own, which sees the outer ones and is
        dropped afterwards. Node provenance is `label/<node>`; the graph values the subgraph
        makes take `prefix` + their ONNX name (default: the current prefix), so each unrolled
        copy of a body has names of its own."""
        from .converters import CONVERTERS, supported_ops

        if len(g.input) != len(inputs):
            raise invalid(f"subgraph '{g.name}' lists {len(g.input)} inputs, "
                          f"{len(inputs)} expected")
        outer_env, outer_prefix = self.env, self.prefix
        self.env = self.env.new_child()
        self.prefix = outer_prefix if prefix is None else prefix
        try:
            for vi, h in zip(g.input, inputs):
                self.bind(vi.name, h)
            for t in g.initializer:
                self.bind(t.name, self.tensor_to_array(t))
            for index, node in enumerate(g.node):
                self._convert(node, f"{label}/{node.name or f'{node.op_type}_{index}'}",
                              CONVERTERS, supported_ops)
            return tuple(self.lookup(o.name) for o in g.output)
        finally:
            for h in self.env.maps[0].values():  # their ids may be reused once they are freed
                self._array_names.pop(id(h), None)
                self.builder.names.pop(id(h), None)
            self.env, self.prefix = outer_env, outer_prefix

    def _add_inputs(self, g: onnx.GraphProto, initializers: Mapping[str, np.ndarray]) -> None:
        infos = {vi.name: vi for vi in g.input}
        if self.cut_inputs is not None:
            names = self.cut_inputs
            infos.update({vi.name: vi for vi in list(g.value_info) + list(g.output)})
        else:
            names = [vi.name for vi in g.input if vi.name not in initializers]
        shapes = self.input_shapes
        unknown = sorted(set(self.constant_inputs) - set(names))
        if unknown:
            raise FrontendError(f"{self.label}: constant_inputs names {unknown}, which are not "
                                f"inputs of the model (inputs: {names})")
        if isinstance(shapes, Mapping):
            extra = sorted(set(shapes) - set(names))
            if extra:
                raise FrontendError(f"{self.label}: input_shapes names {extra}, which are not "
                                    f"inputs of the model (inputs: {names})")
            given = [shapes.get(n) for n in names]
        elif shapes is not None:
            shapes = list(shapes)
            if len(shapes) != len(names):
                raise FrontendError(f"{self.label}: input_shapes lists {len(shapes)} shapes for "
                                    f"{len(names)} inputs {names}")
            given = shapes
        else:
            given = [None] * len(names)
        for name, shape in zip(names, given):
            vi = infos.get(name)
            if vi is None and self.cut_inputs is not None:
                vi = self._infer_value_info(name)
            if vi is None:
                raise FrontendError(f"{self.label}: input '{name}' is not a tensor of the model")
            if not vi.type.HasField("tensor_type"):
                raise UnsupportedError(f"{self.label}: input '{name}' is a "
                                       f"{vi.type.WhichOneof('value')}; npucc graphs take "
                                       "tensors only")
            if name in self.constant_inputs:
                self.bind(name, np.asarray(self.constant_inputs[name]))
                continue
            try:
                dtype = ir_dtype(onnx_dtype(vi.type.tensor_type.elem_type), f"input '{name}'")
            except ConversionError as e:
                raise UnsupportedError(f"{self.label}: {e}") from None
            dims = _value_info_dims(vi)
            try:
                type_ = TensorType(_apply_input_shape(name, dims, shape), dtype)
            except IRError as e:
                raise FrontendError(f"{self.label}: input '{name}': {e}") from None
            except FrontendError as e:
                raise reworded(e, f"{self.label}: {e}") from None
            v = self.graph.add_input(name, type_)
            self._onnx_named.add(id(v))
            self.env[name] = v

    def _infer_value_info(self, name: str) -> onnx.ValueInfoProto | None:
        try:
            inferred = onnx.shape_inference.infer_shapes(self.model)
        except Exception:
            return None
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
            if vi.name == name:
                return vi
        return None

    def _output_names(self, g: onnx.GraphProto) -> list[str]:
        return self.cut_outputs if self.cut_outputs is not None else [o.name for o in g.output]

    def _needed_nodes(self, g: onnx.GraphProto) -> list[onnx.NodeProto]:
        """Nodes the outputs depend on (all nodes when no cut is asked), in file order."""
        if self.cut_inputs is None and self.cut_outputs is None:
            return list(g.node)
        producer = {o: n for n in g.node for o in n.output}
        want = list(self._output_names(g))
        for name in want:
            if name not in producer and name not in self.env:
                raise FrontendError(f"{self.label}: output '{name}' is not a tensor of the model")
        keep: set[int] = set()
        while want:
            name = want.pop()
            if name in self.env and isinstance(self.env[name], Value):
                continue  # a (cut) graph input
            n = producer.get(name)
            if n is None or id(n) in keep:
                continue
            keep.add(id(n))
            want.extend(_reads(n))
        return [n for n in g.node if id(n) in keep]

    def _convert(self, node: onnx.NodeProto, label: str, converters, supported_ops) -> None:
        domain = node.domain or ""
        key = node.op_type if domain in ("", "ai.onnx") else f"{domain}.{node.op_type}"
        fn = converters.get(key)
        if fn is None:
            known = supported_ops()
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.75)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise self.error(f"op {key} is not supported ({hint}the {len(known)} supported ops: "
                             "npucc.frontends.onnx.supported_ops(), docs/FRONTENDS.md)",
                             node, label, True)
        try:
            cx = NodeContext(self, node, label, self.opset)
            result = fn(cx)
            extra = cx.unused_attrs()
            if extra:
                raise unsupported(f"attribute(s) {', '.join(extra)} are not supported")
        except ConversionError as e:
            raise self.error(str(e), node, label, e.unsupported) from None
        except FrontendError:
            raise
        except NpuccError as e:
            raise self.error(str(e), node, label) from None
        outs = result if isinstance(result, tuple) else (result,)
        names = list(node.output)
        if len(outs) < len([n for n in names if n]):
            used = [n for n in names[len(outs):] if n]
            raise self.error(f"outputs {used} are not supported (only the first {len(outs)})",
                             node, label, True)
        for name, h in zip(names, outs):
            self.bind(name, h, cx.created)

    def _set_outputs(self, g: onnx.GraphProto) -> None:
        outs = []
        for name in self._output_names(g):
            h = self.lookup(name)
            try:
                v = self.materialize(h) if isinstance(h, np.ndarray) else h
            except ConversionError as e:
                raise UnsupportedError(f"{self.label}: output '{name}': {e}") from None
            if v.name != name or any(o is v for o in outs):
                # an alias of another tensor (Identity, no-op Reshape...): give the output its name
                v = self.graph.add_node("Identity", [v], provenance=[f"output {name}"],
                                        output_names=[self._free_name(name)]).output
                self._onnx_named.add(id(v))
            outs.append(v)
        self.graph.set_outputs(outs)


def read_model(path: str) -> onnx.ModelProto:
    """Load an ONNX file with its external data; one FrontendError for an unreadable file."""
    if not os.path.exists(path):
        raise FrontendError(f"{path}: no such file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:
        raise FrontendError(f"{path}: not a readable ONNX model (truncated or corrupt file?): "
                            f"{type(e).__name__}: {e}") from None
    if not model.graph.node and not model.graph.output:
        raise FrontendError(f"{path}: the file holds no ONNX graph (empty, truncated or not an "
                            "ONNX model)")
    return model
