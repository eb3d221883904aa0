"""Reading a .tflite file as untrusted input: the flatbuffer is verified against the parts of the
TFLite schema npucc reads before any accessor touches it (see `flatbuffer`), then each tensor is
read with its declared sizes checked: element type known, shape within npucc.limits, buffer index
in range, payload length equal to shape x element size, quantization parameters consistent, name
valid UTF-8. Every failure is a FrontendError (`guard` adds the file name).
"""

from __future__ import annotations

import math

import numpy as np
import tflite

from .. import limits
from ..errors import FrontendError, IRError, LimitError, UnsupportedError
from ..ir.types import DType, QuantParams
from .flatbuffer import FlatbufferError, padded, verify

_VEC4 = ("vector", 4)
_INDEX_VECTORS = {1: "Int32Vector", 2: "Uint16Vector", 3: "Uint8Vector"}
SCHEMA = {  # field index: (name, kind) of every offset field npucc follows (schema.fbs order)
    "Model": {1: ("operator_codes", ("tables", "OperatorCode")),
              2: ("subgraphs", ("tables", "SubGraph")), 3: ("description", ("string",)),
              4: ("buffers", ("tables", "Buffer"))},
    "OperatorCode": {1: ("custom_code", ("string",))},
    "SubGraph": {0: ("tensors", ("tables", "Tensor")), 1: ("inputs", _VEC4),
                 2: ("outputs", _VEC4), 3: ("operators", ("tables", "Operator")),
                 4: ("name", ("string",))},
    "Tensor": {0: ("shape", _VEC4), 3: ("name", ("string",)),
               4: ("quantization", ("table", "QuantizationParameters")),
               6: ("sparsity", ("table", "SparsityParameters")), 7: ("shape_signature", _VEC4)},
    "Buffer": {0: ("data", ("vector", 1))},
    "Operator": {1: ("inputs", _VEC4), 2: ("outputs", _VEC4),
                 4: ("builtin_options", ("union", 3, {
                     tflite.BuiltinOptions.ReshapeOptions: "ReshapeOptions",
                     tflite.BuiltinOptions.SqueezeOptions: "SqueezeOptions"})),
                 5: ("custom_options", ("vector", 1)), 8: ("intermediates", _VEC4)},
    "ReshapeOptions": {0: ("new_shape", _VEC4)},
    "SqueezeOptions": {0: ("squeeze_dims", _VEC4)},
    "QuantizationParameters": {0: ("min", _VEC4), 1: ("max", _VEC4), 2: ("scale", _VEC4),
                               3: ("zero_point", ("vector", 8))},
    "SparsityParameters": {0: ("traversal_order", _VEC4), 1: ("block_map", _VEC4),
                           2: ("dim_metadata", ("tables", "DimensionMetadata"))},
    "DimensionMetadata": {3: ("array_segments", ("union", 2, _INDEX_VECTORS)),
                          5: ("array_indices", ("union", 4, _INDEX_VECTORS))},
    "Int32Vector": {0: ("values", _VEC4)},
    "Uint16Vector": {0: ("values", ("vector", 2))},
    "Uint8Vector": {0: ("values", ("vector", 1))},
}

TYPES = {
    tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32, tflite.TensorType.UINT8: np.uint8,
    tflite.TensorType.INT64: np.int64, tflite.TensorType.BOOL: np.bool_,
    tflite.TensorType.INT16: np.int16, tflite.TensorType.INT8: np.int8,
}
TYPE_NAMES = {v: k for k, v in tflite.TensorType.__dict__.items() if not k.startswith("_")}
_OPTION_CODES = {k: v for k, v in tflite.BuiltinOptions.__dict__.items() if not k.startswith("_")}


def read_model(buf: bytes):
    """The verified tflite.Model of a file's bytes."""
    try:
        verify(buf, SCHEMA, "Model")
    except FlatbufferError as e:
        raise FrontendError(f"not a valid TFLite flatbuffer: {e}") from None
    model = tflite.Model.GetRootAsModel(padded(buf), 0)
    if model.SubgraphsLength() < 1:
        raise FrontendError("the model has no subgraph")
    return model


def decode_name(raw: bytes | None, what: str) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise FrontendError(f"{what}: the name {raw[:60]!r} is not UTF-8") from None


def check_index(i: int, n: int, what: str, allow_absent: bool = False) -> int:
    if not (0 <= i < n or (allow_absent and i == -1)):
        raise FrontendError(f"{what} is {i}, outside 0..{n - 1}")
    return i


def options(op, cls):
    """Operator `op`'s builtin options as `cls`, None when it has none; the union's type must be
    `cls` (another type's table would be misread)."""
    code = op.BuiltinOptionsType()
    if code == 0 or op.BuiltinOptions() is None:
        return None
    if code != _OPTION_CODES[cls.__name__]:
        names = {v: k for k, v in _OPTION_CODES.items()}
        raise FrontendError(f"its options are {names.get(code, f'type {code}')}, expected "
                             f"{cls.__name__}")
    table = op.BuiltinOptions()
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    return opts


class Tensor:
    """One TFLite tensor: name, shape, numpy dtype, quantization, constant payload."""

    def __init__(self, model, sg, index: int, file_bytes: bytes):
        t = sg.Tensors(index)
        self.index = index
        self.name = decode_name(t.Name(), f"tensor #{index}") or f"tensor_{index}"
        what = f"tensor '{self.name}'"
        self.type_code = t.Type()
        if self.type_code not in TYPE_NAMES:
            raise FrontendError(f"{what} has unknown element type code {self.type_code}")
        self.np_dtype = TYPES.get(self.type_code)
        self.shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        if len(self.shape) > limits.MAX_RANK or any(d < -1 for d in self.shape):
            raise FrontendError(f"{what} has an invalid shape {list(self.shape)[:20]}")
        # -1 where the converter left a dim dynamic (`shape` then holds 1 there)
        self.signature = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) \
            if t.ShapeSignatureLength() else self.shape
        self.sparsity = t.Sparsity()
        self.variable = bool(t.IsVariable())  # state (LSTM h and c): zeros until assigned
        self.quant = self._quant(t.Quantization(), what)
        self.data = self._data(model, t.Buffer(), what, file_bytes)

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type_code, str(self.type_code))

    def _quant(self, q, what: str) -> QuantParams | None:
        if q is None or q.ScaleIsNone() or q.ScaleLength() == 0 or self.np_dtype is None \
                or not np.issubdtype(self.np_dtype, np.integer):
            return None
        with np.errstate(invalid="ignore"):  # NaN scales are refused below
            scale = q.ScaleAsNumpy().astype(np.float64)
        zp = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(1, np.int64)
        if len(zp) not in (1, len(scale)):
            raise FrontendError(f"{what} has {len(scale)} quantization scales and {len(zp)} "
                                 "zero points")
        axis = int(q.QuantizedDimension()) if len(scale) > 1 else None
        try:
            quant = QuantParams.affine(scale, zp if len(zp) > 1 else int(zp[0]), axis=axis,
                                       bits=8 * np.dtype(self.np_dtype).itemsize)
            if all(d >= 0 for d in self.shape):
                quant.check_against(self.shape, DType.from_numpy(self.np_dtype))
        except IRError as e:
            raise FrontendError(f"{what}: invalid quantization: {e}") from None
        return quant

    def _data(self, model, buffer_index: int, what: str, file_bytes: bytes):
        check_index(buffer_index, model.BuffersLength(), f"{what}: buffer index")
        buf = model.Buffers(buffer_index)
        if buf is None:
            return None
        raw = None
        if buf.Offset() > 1:  # payload stored after the flatbuffer (models over 2 GB)
            start, size = buf.Offset(), buf.Size()
            if start + size > len(file_bytes):
                raise FrontendError(f"{what}: its data ({size} bytes at byte {start}) lie past "
                                     f"the end of the {len(file_bytes)}-byte file")
            raw = file_bytes[start:start + size]
        elif buf.DataLength() > 0:
            raw = buf.DataAsNumpy().tobytes()
        if not raw:
            return None
        if self.np_dtype is None:
            raise UnsupportedError(f"{what} has unsupported type {self.type_name}")
        itemsize = np.dtype(self.np_dtype).itemsize
        if self.sparsity is None:
            try:
                want = limits.check_shape(self.shape, itemsize, what)
            except LimitError as e:
                raise FrontendError(str(e)) from None
            if len(raw) != want:
                raise FrontendError(f"{what} holds {len(raw)} bytes; shape {list(self.shape)} "
                                     f"of {self.type_name} needs {want}")
            return np.frombuffer(raw, dtype=self.np_dtype).reshape(self.shape)
        if len(raw) % itemsize or math.prod(max(d, 0) for d in self.shape) * itemsize > \
                limits.MAX_TENSOR_BYTES:
            raise FrontendError(f"{what}: sparse payload of {len(raw)} bytes does not fit shape "
                                 f"{list(self.shape)} of {self.type_name} within the limits")
        return np.frombuffer(raw, dtype=self.np_dtype)
