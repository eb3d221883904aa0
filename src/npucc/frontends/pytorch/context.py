"""What an ATen converter sees (Ctx), the ATEN registry and the errors converters raise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ...errors import FrontendError
from ...ir import Value
from ...ir.types import DType
from ...registry import Registry
from ..builder import ConstantTypeError, FoldError

if TYPE_CHECKING:
    from .lowering import AtenLowering



class _Unsupported(Exception):
    """An ATen op or argument the direct lowering does not handle (reported with the torch op)."""


class _Invalid(Exception):
    """A torch graph the lowering cannot make sense of (reported with the torch op)."""


_NP_OF_TORCH = {torch.float32: np.float32, torch.float16: np.float16, torch.int64: np.int64,
                torch.int32: np.int32, torch.int16: np.int16, torch.int8: np.int8,
                torch.uint8: np.uint8, torch.bool: np.bool_}


_TORCH_OF_NP = {np.dtype(v): k for k, v in _NP_OF_TORCH.items()}


def _np_dtype(dtype) -> np.dtype:
    try:
        return np.dtype(_NP_OF_TORCH[dtype])
    except KeyError:
        raise _Unsupported(f"dtype {dtype} is not supported") from None


def _array(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return np.asarray(t.numpy(), order="C").astype(_np_dtype(t.dtype), copy=True)


class Ctx:
    """What an ATen converter sees."""

    def __init__(self, lowering: AtenLowering, node):
        self.lowering = lowering
        self.node = node
        self.created = []

    def emit(self, op: str, inputs: Sequence, **attrs):
        try:
            outs, node = self.lowering.builder.emit(op, inputs, attrs, [self.node.name])
        except FoldError as e:
            raise _Invalid(str(e)) from None
        except ConstantTypeError as e:
            raise _Unsupported(str(e)) from None
        if node is not None:
            self.created.append(node)
        return outs[0] if len(outs) == 1 else outs

    @staticmethod
    def shape(h) -> tuple[int, ...]:
        return tuple(h.shape)

    @staticmethod
    def np_dtype(h) -> np.dtype:
        return h.dtype.numpy if isinstance(h, Value) else h.dtype

    def promoted(self, a, b) -> tuple:
        """a and b in the dtype torch computes a binary op in (torch.result_type: an int64 tensor
        minus a float32 one is float32, an int tensor times 0.5 is float32, a 0-d tensor does
        not widen a tensor of its kind); python numbers become 0-d arrays."""
        def probe(v):  # a tensor with v's dtype and rank (0-d or not), or the python number
            if not isinstance(v, (Value, np.ndarray)):
                return v
            return torch.empty((0,) * min(len(v.shape), 1),
                               dtype=_TORCH_OF_NP[np.dtype(self.np_dtype(v))])
        dtype = _np_dtype(torch.result_type(probe(a), probe(b)))
        return self.cast(a, dtype), self.cast(b, dtype)

    def cast(self, value, dtype) -> Value | np.ndarray:
        """value (a Value, array or python number) in numpy dtype `dtype`."""
        if not isinstance(value, (Value, np.ndarray)):
            return np.asarray(value, dtype=dtype)
        if self.np_dtype(value) == dtype:
            return value
        if isinstance(value, np.ndarray):
            return value.astype(dtype)
        return self.emit("Cast", [value], to=DType.from_numpy(dtype))

    def like(self, value, ref) -> np.ndarray:
        """A python scalar as a 0-d array of ref's dtype (tensors pass through)."""
        if isinstance(value, (Value, np.ndarray)):
            return value
        return np.asarray(value, dtype=self.np_dtype(ref))


ATEN: Registry[Callable] = Registry("aten op", error=FrontendError)


def aten(*names: str):
    def register(fn):
        for n in names:
            ATEN[n] = fn
        return fn
    return register
