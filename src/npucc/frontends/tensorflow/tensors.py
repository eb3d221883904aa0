"""TensorProto to numpy: dtypes and the typed value fields."""

from __future__ import annotations

import math

import numpy as np

from ... import limits
from ...errors import LimitError
from ..tf_common import (
    ConversionError,
)
from ..tfproto import types_pb2

_DTYPES = {
    types_pb2.DT_FLOAT: np.float32, types_pb2.DT_HALF: np.float16,
    types_pb2.DT_DOUBLE: np.float64, types_pb2.DT_INT32: np.int32,
    types_pb2.DT_INT64: np.int64, types_pb2.DT_INT8: np.int8, types_pb2.DT_UINT8: np.uint8,
    types_pb2.DT_INT16: np.int16, types_pb2.DT_BOOL: np.bool_,
}
_VAL_FIELDS = {np.float32: "float_val", np.float16: "half_val", np.float64: "double_val",
               np.int32: "int_val", np.int64: "int64_val", np.int8: "int_val",
               np.uint8: "int_val", np.int16: "int_val", np.bool_: "bool_val"}


def _dtype_name(code: int) -> str:
    return types_pb2.DataType.Name(code) if code in types_pb2.DataType.values() else f"code {code}"


def tensor_to_array(t) -> np.ndarray:
    """A TensorProto as a numpy array; its shape, byte size and values checked first."""
    dt = _DTYPES.get(t.dtype)
    if dt is None:
        raise ConversionError(f"tensor dtype {_dtype_name(t.dtype)} is not supported")
    shape = [d.size for d in t.tensor_shape.dim]
    try:
        nbytes = limits.check_shape(shape, np.dtype(dt).itemsize, "the tensor")
    except LimitError as e:
        raise ConversionError(str(e), False) from None
    n = math.prod(shape)
    if t.tensor_content:
        if len(t.tensor_content) != nbytes:
            raise ConversionError(f"tensor_content holds {len(t.tensor_content)} bytes; shape "
                                  f"{shape} of {_dtype_name(t.dtype)} needs {nbytes}", False)
        return np.frombuffer(t.tensor_content, dtype=dt).reshape(shape).copy()
    vals = getattr(t, _VAL_FIELDS[dt])
    if len(vals) > n:
        raise ConversionError(f"the tensor lists {len(vals)} values for shape {shape}", False)
    if dt is np.float16 or np.issubdtype(dt, np.integer):  # stored widened: check the range
        wide = np.array(vals, np.int64)
        info = np.iinfo(np.uint16 if dt is np.float16 else dt)
        if wide.size and (wide.min() < info.min or wide.max() > info.max):
            raise ConversionError(f"tensor values outside the {_dtype_name(t.dtype)} range", False)
        arr = wide.astype(np.uint16).view(np.float16) if dt is np.float16 else wide.astype(dt)
    else:
        arr = np.array(vals, dtype=dt)
    if arr.size == n:
        return arr.reshape(shape)
    if arr.size == 1 or arr.size == 0:  # one value repeated (or all zeros)
        return np.full(shape, arr.reshape(-1)[0] if arr.size else 0, dtype=dt)
    last = np.full(n, arr[-1], dtype=dt)  # TF repeats the last value
    last[:arr.size] = arr
    return last.reshape(shape)
