"""Dtype rules the op modules share: the type a kernel accumulates in, and type inference for
ops that take one tensor of a given kind of dtype and return its type."""

from __future__ import annotations

import numpy as np

from npucc.errors import IRError
from npucc.ir.types import DType


def accumulator(dtype) -> np.dtype:
    """The dtype a kernel computes in: float16 is accumulated in float32 (and rounded once at the
    end); every other dtype in itself."""
    return np.dtype(np.float32) if dtype == np.float16 else np.dtype(dtype)


def in_accumulator(x: np.ndarray) -> np.ndarray:
    """x in its accumulation type (float16 -> float32)."""
    return x.astype(accumulator(x.dtype))


def checked_input_type(accepts, what: str):
    """Inference for a one-input op whose output has its input's type (quantization dropped),
    for inputs whose dtype `accepts`; otherwise IRError "takes a <what> tensor"."""
    def infer(types, attrs_):
        t = types[0]
        if not accepts(t.dtype):
            raise IRError(f"takes a {what} tensor, got {t.dtype.value}")
        return t.without_quant()
    return infer


float_input = checked_input_type(lambda d: d.is_float, "float")
numeric_input = checked_input_type(lambda d: d.is_float or d.is_int, "numeric")
bool_input = checked_input_type(lambda d: d is DType.bool, "bool")


def same_dtype(types, names) -> None:
    """Raise IRError unless every present input has the dtype of the first (`names` name the
    inputs in the message)."""
    first = types[0]
    for name, t in zip(names, types):
        if t is not None and t.dtype != first.dtype:
            raise IRError(f"{name} is {t.dtype.value} but {names[0]} is {first.dtype.value}")
