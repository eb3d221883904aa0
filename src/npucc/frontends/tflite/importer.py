"""The TFLite importer: operators as converters see them, and the driver that walks subgraph 0
and calls a converter per operator (see converters.py)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import tflite

from ...errors import FrontendError, MissingShapeError, UnsupportedError
from ...ir import Graph, Value
from ...ir.types import DType, QuantParams, TensorType
from ..tf_common import (
    Builder,
    ConversionError,
    Handle,
    StaticOperands,
    closest,
    did_you_mean,
    keep_names,
)
from ..tflite_model import Tensor, check_index, decode_name, options, read_model
from .converters import CONVERTERS

OP_NAMES = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}




_ACT = tflite.ActivationFunctionType
MAX_SUBGRAPH_DEPTH = 8  # IF branches inside IF branches


def _ints(vector) -> np.ndarray:
    """A flatbuffer int vector read AsNumpy (which gives 0 when the vector is absent)."""
    return vector if isinstance(vector, np.ndarray) else np.zeros(0, np.int32)


class _Op(StaticOperands):
    """One operator as converters see it."""

    def __init__(self, imp: TFLiteImporter, index: int, op):
        self.imp = imp
        self.index = index
        self.op = op
        what = f"operator #{index}"
        k = check_index(op.OpcodeIndex(), imp.model.OperatorCodesLength(), f"{what}: opcode index")
        code = imp.model.OperatorCodes(k)
        self.code = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        self.name = OP_NAMES.get(self.code, f"builtin code {self.code}")
        if self.code == tflite.BuiltinOperator.CUSTOM:
            self.name = f"CUSTOM:{decode_name(code.CustomCode(), what) or '?'}"
        n = len(imp.tensors)
        self.in_idx = [check_index(int(i), n, f"{what}: input tensor index", allow_absent=True)
                       for i in _ints(op.InputsAsNumpy())]
        self.out_idx = [check_index(int(i), n, f"{what}: output tensor index")
                        for i in _ints(op.OutputsAsNumpy())]
        self.label = imp.tensors[self.out_idx[0]].name if self.out_idx else f"op{index}"

    def describe(self) -> str:
        names = [self.imp.tensors[i].name if i >= 0 else "-" for i in self.in_idx]
        outs = [self.imp.tensors[i].name for i in self.out_idx]
        return f"operator #{self.index} {self.name} (inputs {names}, outputs {outs})"

    def has(self, i: int) -> bool:
        return i < len(self.in_idx) and self.in_idx[i] >= 0

    def tensor(self, i: int) -> Tensor:
        if not self.has(i):
            raise ConversionError(f"input {i} is required", False)
        return self.imp.tensors[self.in_idx[i]]

    def out_tensor(self, i: int = 0) -> Tensor:
        if i >= len(self.out_idx):
            raise ConversionError(f"output {i} is required", False)
        return self.imp.tensors[self.out_idx[i]]

    def input(self, i: int) -> Handle:
        if not self.has(i):
            raise ConversionError(f"input {i} is required", False)
        return self.imp.handle(self.in_idx[i])

    def not_static(self, i: int, what: str) -> str:
        return f"input {i} ({what}, tensor '{self.tensor(i).name}') must be a constant"

    def options(self, cls, required: bool = False):
        """The operator's builtin options as `cls` (None when absent, unless `required`)."""
        try:
            o = options(self.op, cls)
        except FrontendError as e:
            raise ConversionError(str(e), False) from None
        if o is None and required:
            raise ConversionError(f"its {cls.__name__} are missing", False)
        return o


class TFLiteImporter:
    def __init__(self, buf: bytes, label: str, *, inputs=None, outputs=None, input_shapes=None):
        self.label = label
        self.buf = buf
        self.model = read_model(buf)
        self.depth = 0  # nesting of inlined subgraphs (IF branches)
        self._use_subgraph(0)
        self.graph = Graph(os.path.splitext(os.path.basename(label))[0] or "tflite")
        self.b = Builder(self.graph)
        self.handles: dict[int, Handle] = {}
        self.cut_inputs = self._names_to_indices(inputs, "input") if inputs else None
        self.cut_outputs = self._names_to_indices(outputs, "output") if outputs else None
        self.input_shapes = input_shapes
        self.dynamic_inputs: list[tuple[str, str]] = []  # (name, note) loaded at a guessed size

    def _use_subgraph(self, index: int) -> None:
        self.sg = self.model.Subgraphs(index)
        self.tensors = [Tensor(self.model, self.sg, i, self.buf)
                        for i in range(self.sg.TensorsLength())]
        self.by_name = {t.name: t.index for t in self.tensors}

    def inline(self, index: int, args: Sequence[Handle], what: str) -> list[Handle]:
        """Import subgraph `index` (an IF branch) into the graph being built, its inputs bound
        to `args`; returns its outputs. Nesting is bounded (a hostile file can make a branch
        its own ancestor)."""
        n = self.model.SubgraphsLength()
        index = check_index(index, n, f"{what}: subgraph index")
        if index == 0 or self.depth >= MAX_SUBGRAPH_DEPTH:
            raise ConversionError(f"{what}: subgraph {index} nests deeper than "
                                  f"{MAX_SUBGRAPH_DEPTH} levels or calls the main graph", False)
        sub = TFLiteImporter.__new__(TFLiteImporter)
        sub.__dict__.update(self.__dict__)
        sub.depth, sub.handles, sub.dynamic_inputs = self.depth + 1, {}, []
        sub.cut_inputs = sub.cut_outputs = None
        sub._use_subgraph(index)
        count = len(sub.tensors)
        ins = [check_index(int(i), count, f"{what}: subgraph {index} input")
               for i in _ints(sub.sg.InputsAsNumpy())]
        outs = [check_index(int(i), count, f"{what}: subgraph {index} output")
                for i in _ints(sub.sg.OutputsAsNumpy())]
        if len(ins) != len(args):
            raise ConversionError(f"{what}: subgraph {index} takes {len(ins)} inputs, the "
                                  f"operator passes {len(args)}", False)
        sub.handles.update(zip(ins, args))
        sub._import_ops(ins, outs)
        return [sub.handle(i) for i in outs]

    def _names_to_indices(self, names, what) -> list[int]:
        out = []
        for n in names:
            if n not in self.by_name:
                raise FrontendError(f"{self.label}: no tensor named {n!r} for {what}; closest: "
                                    f"{closest(n, self.by_name)}")
            out.append(self.by_name[n])
        return out

    # ---- tensors ----
    def handle(self, index: int) -> Handle:
        if index in self.handles:
            return self.handles[index]
        t = self.tensors[index]
        if t.data is None:
            raise ConversionError(f"tensor '{t.name}' is read before it is computed", False)
        if t.sparsity is not None:
            raise ConversionError(f"tensor '{t.name}' is sparse; only DENSIFY may read it")
        if t.quant is not None:
            h = self.graph.add_constant(t.data, self.graph.unique_name(t.name),
                                        quant=t.quant)
        else:
            h = t.data.copy()
        self.handles[index] = h
        return h

    def constant(self, arr: np.ndarray, t: Tensor, quant: QuantParams | None) -> Value:
        return self.graph.add_constant(arr, self.graph.unique_name(t.name), quant=quant)

    # ---- driver ----
    def run(self) -> Graph:
        n = len(self.tensors)
        ins = self.cut_inputs if self.cut_inputs is not None else \
            [check_index(int(i), n, "subgraph input") for i in _ints(self.sg.InputsAsNumpy())]
        outs = self.cut_outputs if self.cut_outputs is not None else \
            [check_index(int(i), n, "subgraph output") for i in _ints(self.sg.OutputsAsNumpy())]
        shapes = self._input_shapes(ins)
        for i, shape in zip(ins, shapes):
            t = self.tensors[i]
            if t.np_dtype is None:
                raise UnsupportedError(f"{self.label}: input '{t.name}' has unsupported type "
                                       f"{t.type_name}")
            self.handles[i] = self.graph.add_input(
                t.name, TensorType(shape, DType.from_numpy(t.np_dtype), t.quant))
        try:
            self._import_ops(ins, outs)
        except (FrontendError, UnsupportedError) as e:
            if not self.dynamic_inputs:
                raise
            name = self.dynamic_inputs[0][0]
            notes = "; ".join(note for _, note in self.dynamic_inputs)
            raise type(e)(f"{e}; note: {notes}: give its size with input_shapes={{{name!r}: "
                          "[...]} (RKNN: config(dynamic_input=[[shape, ...]]))") from None
        result = [self.b.value(self.handle(i), self.tensors[i].name) for i in outs]
        self.graph.set_outputs(result)
        keep_names(self.graph, result, [self.tensors[i].name for i in outs])
        return self.graph

    def _import_ops(self, ins: list[int], outs: list[int]) -> None:
        """Convert the operators of the current subgraph that `outs` need, from `ins`."""
        ops = [_Op(self, k, self.sg.Operators(k)) for k in range(self.sg.OperatorsLength())]
        # a cut input is not computed here, whatever operator writes it in the file
        cut = set(ins)
        self._producers = {i: op for op in ops for i in op.out_idx if i not in cut}
        self._readers: dict[int, list[_Op]] = {}
        for op in ops:
            for i in op.in_idx:
                self._readers.setdefault(i, []).append(op)
        for i in outs:
            self._readers.setdefault(i, []).append(None)  # a graph output is read from outside
        for op in self._needed(ops, set(ins), outs):
            self._convert(op)

    def _input_shapes(self, ins) -> list[tuple[int, ...]]:
        given = self.input_shapes
        names = [self.tensors[i].name for i in ins]
        if isinstance(given, dict) and set(given) - set(names):
            raise FrontendError(f"{self.label}: input_shapes names "
                                f"{sorted(set(given) - set(names))}, which are not inputs of "
                                f"the model (inputs: {names})")
        if isinstance(given, (list, tuple)) and given and len(given) != len(ins):
            raise FrontendError(f"{self.label}: input_shapes lists {len(given)} shapes for "
                                f"{len(ins)} inputs {names}")
        self.dynamic_inputs = []
        shapes = []
        for k, i in enumerate(ins):
            t = self.tensors[i]
            shape = t.shape
            if isinstance(given, dict) and t.name in given:
                shape = tuple(given[t.name])
            elif isinstance(given, (list, tuple)) and given:
                shape = tuple(given[k])
            elif len(t.signature) == len(shape) and -1 in t.signature[1:]:
                # loaded at the declared size (LiteRT's default), said if the import fails
                self.dynamic_inputs.append((t.name, f"input '{t.name}' has dynamic dims "
                                            f"(signature {list(t.signature)}) and is loaded at "
                                            f"its declared shape {list(shape)}"))
            if any(d < 0 for d in shape):
                raise MissingShapeError(f"{self.label}: input '{t.name}' has unknown dims "
                                        f"{shape}; give input_shapes", t.name)
            shapes.append(tuple(shape))
        return shapes

    def _needed(self, ops, inputs: set[int], outs: Sequence[int]) -> list[_Op]:
        producer = {i: op for op in ops for i in op.out_idx}
        needed, stack = set(), list(outs)
        seen = set()
        while stack:
            i = stack.pop()
            if i in seen or i in inputs or i < 0:
                continue
            seen.add(i)
            op = producer.get(i)
            if op is None:
                t = self.tensors[i]
                if t.data is None and not t.variable and t.np_dtype is not None \
                        and all(d >= 0 for d in t.shape) and 0 in t.shape:
                    # zero elements: an empty buffer is its value (onnx-tf writes Reshape's
                    # new_shape of a reshape to a scalar so)
                    t.data = np.zeros(t.shape, t.np_dtype)
                if t.data is None and not t.variable:
                    raise FrontendError(f"{self.label}: tensor '{self.tensors[i].name}' has no "
                                        "producer and no data; give it as an input")
                continue
            needed.add(op.index)
            stack.extend(op.in_idx)
        return [op for op in ops if op.index in needed]

    def _convert(self, op: _Op) -> None:
        fn = CONVERTERS.get(op.name)
        if fn is None:
            hint = ""
            if op.name.startswith("CUSTOM:"):  # e.g. a Flex (select TF) op
                ins = [self.tensors[i].name for i in op.in_idx if i >= 0]
                hint = (" (a custom op: to compile the model up to it, cut it there with "
                        f"outputs={ins}, CLI --outputs {','.join(ins)}, and run the op "
                        "yourself)")
            raise UnsupportedError(
                f"{self.label}: {op.describe()}: op code {op.code} ({op.name}) is not "
                f"supported{hint} ({did_you_mean(op.name, CONVERTERS)}the {len(CONVERTERS)} "
                "supported ops: npucc.frontends.tflite.CONVERTERS, docs/FRONTENDS.md)")
        try:
            results = fn(self, op)
        except ConversionError as e:
            cls = UnsupportedError if e.unsupported else FrontendError
            raise cls(f"{self.label}: {op.describe()}: {e}") from None
        if not isinstance(results, (list, tuple)):
            results = [results]
        for i, h in zip(op.out_idx, results):
            t = self.tensors[i]
            if isinstance(h, np.ndarray) and t.np_dtype is not None and h.dtype != t.np_dtype \
                    and t.quant is None:
                h = h.astype(t.np_dtype)
            self.handles[i] = h

    # ---- helpers for converters ----
    def producer(self, tensor: int) -> _Op | None:
        """The operator that computes tensor `tensor` in this import, if any."""
        return self._producers.get(tensor)

    def sole_reader(self, tensor: int) -> _Op | None:
        """The one operator that reads tensor `tensor` (once, as its input 0), or None when the
        tensor has other readers or is a graph output."""
        readers = self._readers.get(tensor, []) if tensor >= 0 else []
        if len(readers) != 1 or readers[0] is None or readers[0].in_idx[0] != tensor:
            return None
        return readers[0]

    def emit(self, op: _Op, core_op: str, inputs, attrs=None, *, out: int | None = 0,
             quant_from_output=True) -> Handle:
        """Emit a core op for `op`; its result carries output tensor `out`'s quantization and
        name."""
        t = op.out_tensor(out) if out is not None else None
        quant = t.quant if (t is not None and quant_from_output) else None
        return self.b.emit(core_op, inputs, attrs, label=op.label, quant=quant,
                           name=t.name if t is not None else None)

    def emit_all(self, op: _Op, core_op: str, inputs, attrs=None, *, count: int | None = None
                 ) -> list[Handle]:
        """Emit a core op with several outputs for `op`; the first `count` (default: all) carry
        the quantization and names of `op`'s output tensors in order."""
        ts = [op.out_tensor(k) for k in range(len(op.out_idx) if count is None else count)]
        return self.b.emit_all(core_op, inputs, attrs, label=op.label,
                               quants=[t.quant for t in ts], names=[t.name for t in ts])

    def activation(self, op: _Op, h: Handle, fused: int) -> Handle:
        """Apply a fused activation that the core op could not take as an attribute."""
        if fused == _ACT.NONE:
            return h
        kind = {_ACT.RELU: ("Relu", {}), _ACT.RELU6: ("Clip", {"min": 0.0, "max": 6.0}),
                _ACT.RELU_N1_TO_1: ("Clip", {"min": -1.0, "max": 1.0}),
                _ACT.TANH: ("Tanh", {})}.get(fused)
        if kind is None:
            raise ConversionError(f"fused activation {fused} is not supported")
        return self.emit(op, kind[0], [h], kind[1])
