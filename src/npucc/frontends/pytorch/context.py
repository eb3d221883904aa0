"""What an ATen converter sees (Ctx), the ATEN registry and the errors converters raise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ...errors import FrontendError
from ...ir import Value
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


def _np_dtype(dtype) -> np.dtype:
    try:
        return np.dtype(_NP_OF_TORCH[dtype])
    except KeyError:
        raise _Unsupported(f"dtype {dtype} is not supported") from None


def _array(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return np.ascontiguousarray(t.numpy()).astype(_np_dtype(t.dtype), copy=True)


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
