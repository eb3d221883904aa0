"""Fast kernels: per-op builders that bind a node to preallocated arrays once, at plan time.

A builder gets a `BuildContext` (the node, the arrays its inputs live in, its preallocated output
arrays, its scratch arrays) and returns a zero-argument *step* that computes the outputs in place,
or None when the fast path does not apply (dtype, rank...): the plan then runs the registry's
reference kernel for that node. Declaring a kernel also tells the buffer planner what it may do:

- `view`: the output is a reshaped view of input 0 (no step at all; shares its storage);
- `inplace`: inputs whose storage the output may take over when they die at this node (the step
  must then be correct with `out` aliasing that input, as numpy ufuncs are);
- `scratch`: `(shape, dtype)` temporaries the step needs; their contents are undefined at the start
  of the step (all steps share one scratch arena);
- `channels_last`: how the kernel takes a 4-D input 0 and output stored channels-last (NHWC bytes,
  seen by every kernel as an (N, C, H, W) transposed view), each `CANNOT`, `CAN` or `PREFERS`. The
  plan stores a value so when its producer and all its consumers can and one of them prefers it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

from ....ir.graph import Node
from ....ir.ops.elementwise import apply_activation
from ....registry import Registry

Step = Callable[[], None]


@attrs.define
class BuildContext:
    node: Node
    inputs: list[np.ndarray | None]
    outputs: list[np.ndarray]
    scratch: list[np.ndarray]

    @property
    def attrs(self) -> Any:
        return self.node.attrs

    def is_const(self, k: int) -> bool:
        v = self.node.inputs[k] if k < len(self.node.inputs) else None
        return v is not None and v.is_constant


def _never(node: Node) -> bool:
    return False


def _no_inputs(node: Node) -> Sequence[int]:
    return ()


def _no_scratch(node: Node) -> list:
    return []


CANNOT, CAN, PREFERS = 0, 1, 2


def _no_channels_last(node: Node) -> tuple[int, int]:
    return CANNOT, CANNOT


@attrs.frozen
class FastKernel:
    op: str
    build: Callable[[BuildContext], Step | None] | None
    view: Callable[[Node], bool] = _never
    inplace: Callable[[Node], Sequence[int]] = _no_inputs
    scratch: Callable[[Node], list[tuple[tuple[int, ...], np.dtype]]] = _no_scratch
    channels_last: Callable[[Node], tuple[int, int]] = _no_channels_last  # (input 0, output)


FAST_KERNELS: Registry[FastKernel] = Registry("fast kernel")  # float nodes
# nodes of the integer profiles (affine, dfp): their numerics kernels bound to the plan's arrays
INTEGER_FAST_KERNELS: Registry[FastKernel] = Registry("integer fast kernel")


def fast_kernel(*ops: str, view=None, inplace=None, scratch=None, channels_last=None,
                integer: bool = False):
    """Decorator: register the builder for `ops` (see the module docstring), for float nodes or
    (`integer`) for nodes of the affine and dfp profiles."""
    table = INTEGER_FAST_KERNELS if integer else FAST_KERNELS

    def register(build):
        for op in ops:
            table[op] = FastKernel(op, build, view or _never, inplace or _no_inputs,
                                   scratch or _no_scratch, channels_last or _no_channels_last)
        return build

    return register


def is_f32(*arrays) -> bool:
    return all(a is None or a.dtype == np.float32 for a in arrays)


def activation_in_place(kind: str, params: Sequence[float]) -> Callable[..., Any] | None:
    """`act(y, axis=1, channels=slice(None))` applying a fused activation to `y` in place (None
    for 'none'); the same arithmetic as `elementwise.apply_activation`. A per-channel activation
    (prelu) finds the channels along `axis` of `y` (2 for an NHWC view of the result, 0 for one
    image's block of channels), `channels` selecting the parameters of such a block."""
    if kind == "none":
        return None
    if kind == "relu":  # as a clip: numpy's maximum against a scalar is 4x slower
        zero, inf = np.float32(0), np.float32(np.inf)
        return lambda y, axis=1, channels=None: np.clip(y, zero, inf, out=y)
    if kind == "clip":
        lo, hi = (np.float32(p) for p in params)
        return lambda y, axis=1, channels=None: np.clip(y, lo, hi, out=y)
    if kind == "prelu":
        slopes = np.asarray(params, np.float32)

        def prelu(y, axis=1, channels=slice(None)):
            s = slopes if slopes.size == 1 else slopes[channels]
            shape = [1] * y.ndim
            shape[axis] = s.size
            np.copyto(y, np.where(y >= 0, y, y * s.reshape(shape)))
        return prelu
    return lambda y, axis=1, channels=None: np.copyto(y, apply_activation(y, kind, params))


from . import conv, elementwise, integer_conv, linear, pool, shape  # noqa: E402,F401  (register)
