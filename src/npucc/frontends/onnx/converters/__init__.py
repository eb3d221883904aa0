"""ONNX op converters: one function per ONNX op type (or family), registered in CONVERTERS.

A converter takes a `NodeContext`, reads attributes with `cx.attr` (an attribute it does not read,
or mark with `cx.ignore`, is reported as unsupported), emits core ops with `cx.emit`, and returns
the handle (or tuple of handles) of the node's outputs in order. It raises
`importer.unsupported(...)` for a feature npucc does not support and `importer.invalid(...)` for a
malformed node; the importer adds file, node name, op type and opset to the message.
"""

from __future__ import annotations

from collections.abc import Callable

from npucc.errors import FrontendError
from npucc.registry import Registry

CONVERTERS: Registry[Callable] = Registry("ONNX op", error=FrontendError)


def converter(*op_types: str):
    """Register the decorated function as the converter of `op_types`."""

    def register(fn):
        for t in op_types:
            CONVERTERS[t] = fn
        return fn

    return register


def supported_ops() -> list[str]:
    return sorted(CONVERTERS)


from . import (  # noqa: E402,F401  (register the converters)
    contrib,
    control_flow,
    elementwise,
    nn,
    quant,
    sampling,
    signal,
    static,
    tensor,
    transformer,
)
