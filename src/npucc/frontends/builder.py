"""The graph-building core every frontend shares: tensors as *handles* (a numpy array when the
value is known at import time, a graph Value otherwise) and `emit`, which applies a core op and
evaluates it with the op's reference kernel when all its inputs are static. So constant and
shape-derived subgraphs fold during import and shape operands reach core ops as attributes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .. import limits
from ..errors import IRError, NpuccError
from ..ir import Graph, Value
from ..ir.registry import get_op
from ..ir.types import DType, TensorType

Handle = np.ndarray | Value
NOT_FOLDED = frozenset({"QuantizeLinear", "DequantizeLinear"})  # keep quantization visible


class ConversionError(Exception):
    """Raised while converting one source op; the frontend's importer adds the file, the node or
    layer name and the op type. `unsupported` marks a feature npucc declares unsupported (as
    opposed to an invalid model)."""

    def __init__(self, message: str, unsupported: bool = True):
        super().__init__(message)
        self.unsupported = unsupported


class FoldError(Exception):
    """A core op could not be evaluated on static inputs (the message says why)."""


class ConstantTypeError(Exception):
    """A static array has an element type npucc tensors cannot hold (float64, strings...)."""


def check_result_sizes(op: str, types) -> None:
    """LimitError before an op evaluated at import time would allocate an oversized result."""
    for k, t in enumerate(types):
        limits.check_shape(t.shape, t.dtype.numpy.itemsize, f"the result {k} of {op}")


def static_full(shape, value, dtype, what: str) -> np.ndarray:
    """np.full(shape, value) for a shape read from the model, checked against npucc.limits
    first (a ConversionError naming `what` instead of a huge allocation)."""
    try:
        limits.check_shape(shape, np.dtype(dtype).itemsize, what)
    except NpuccError as e:
        raise ConversionError(str(e), False) from None
    return np.full(tuple(shape), value, dtype=dtype)


def static_arange(start, limit, delta, what: str, dtype=None) -> np.ndarray:
    """np.arange(start, limit, delta) for bounds read from the model: a zero or non-finite step
    and a result over npucc.limits are ConversionErrors naming `what`."""
    start, limit, delta = (np.asarray(v).reshape(()) for v in (start, limit, delta))
    dtype = np.result_type(start, limit, delta) if dtype is None else np.dtype(dtype)
    a, b, d = (float(v) for v in (start, limit, delta))
    if d == 0 or not all(np.isfinite((a, b, d))):
        raise ConversionError(f"{what}: start {a:g}, limit {b:g}, delta {d:g} do not make a "
                              "finite range", False)
    count = max(0, int(np.ceil((b - a) / d)))
    try:
        limits.check_shape([count], dtype.itemsize, what)
    except NpuccError as e:
        raise ConversionError(str(e), False) from None
    return np.arange(start, limit, delta).astype(dtype)


def _kept_params(opdef, values, attrs) -> list[TensorType] | None:
    """Output types for an op whose quantization rule keeps input 0's params (Reshape, Flatten,
    MaxPool... on an integer tensor, as onnxruntime's QOperator models apply them): input 0's
    params on each output of its integer type. None: let the graph infer the types."""
    x = values[0] if values else None
    if opdef.quant is None or opdef.quant.output != "same" or x is None or x.type.quant is None:
        return None
    types = opdef.infer_types([None if v is None else v.type for v in values],
                              opdef.normalize_attrs(attrs))
    return [TensorType(t.shape, t.dtype, x.type.quant) if t.dtype == x.dtype else t
            for t in types]


class GraphBuilder:
    """Adds core ops to `graph`, folding those whose inputs are all static arrays.

    `names` maps id(array) -> the source-model name a static array takes when it becomes a graph
    constant (the frontend fills it as it binds tensors; the arrays must stay alive).
    """

    def __init__(self, graph: Graph, fold: bool = True):
        self.graph = graph
        self.fold = fold
        self.names: dict[int, str] = {}
        self._constants: dict[int, tuple[np.ndarray, Value]] = {}  # id(array) -> (array, const)

    def materialize(self, arr: np.ndarray) -> Value:
        """The graph constant holding `arr` (created once per array object)."""
        hit = self._constants.get(id(arr))
        if hit is not None:
            return hit[1]
        name = self.names.get(id(arr))
        try:
            dtype = DType.from_numpy(arr.dtype)
        except IRError:
            what = f"constant '{name}'" if name else "a constant"
            raise ConstantTypeError(f"{what} has element type {arr.dtype}; npucc tensors are "
                                    f"{', '.join(d.value for d in DType)}") from None
        if name is not None and self.graph.has_value(name):
            name = self.graph.unique_name(name)
        v = self.graph.add_constant(arr, name, dtype=dtype)
        self._constants[id(arr)] = (arr, v)  # holding arr keeps its id from being reused
        return v

    def value(self, h: Handle) -> Value:
        return h if isinstance(h, Value) else self.materialize(h)

    def emit(self, op: str, inputs: Sequence[Handle | None], attrs: Mapping | None = None,
             provenance: Iterable[str] = ()) -> tuple[tuple[Handle, ...], object]:
        """Apply `op`; returns (outputs, the node added or None when the op was folded)."""
        opdef = get_op(op)
        attrs = dict(attrs or {})
        if self.fold and op not in NOT_FOLDED and \
                all(h is None or isinstance(h, np.ndarray) for h in inputs):
            try:
                norm = opdef.normalize_attrs(attrs)
                types = opdef.infer_types([None if h is None else TensorType.of(h)
                                           for h in inputs], norm)
                check_result_sizes(op, types)
                return tuple(opdef.evaluate(list(inputs), norm)), None
            except NpuccError as e:
                raise FoldError(f"cannot evaluate {op} on constants: {e}") from None
            except Exception as e:  # noqa: BLE001 - a kernel rejecting these values
                raise FoldError(f"cannot evaluate {op} on constants: {type(e).__name__}: "
                                f"{e}") from None
        values = [None if h is None else self.value(h) for h in inputs]
        node = self.graph.add_node(op, values, attrs, provenance=provenance,
                                   output_types=_kept_params(opdef, values, attrs))
        return node.outputs, node
