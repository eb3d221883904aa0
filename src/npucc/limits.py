"""Size limits for untrusted model files, checked before anything is allocated.

A model file declares sizes (a layer's filter count, a tensor's shape, an archive member's
length); npucc compares them with these limits, and with the bytes the file really holds, before
it allocates. A declared size above a limit is refused with an error naming the file and layer.
"""

from __future__ import annotations

import math

# One tensor (a weight blob, a constant, an archive member holding one): 4 GiB.
MAX_TENSOR_BYTES = 4 << 30
# Elements of one tensor shape (also activations, whose shapes come from the file): 2**31.
MAX_TENSOR_ELEMENTS = 1 << 31
# Rank of one tensor.
MAX_RANK = 8


def tensor_problem(shape, itemsize: int = 4) -> str | None:
    """Why a tensor of `shape` (and `itemsize`-byte elements) may not be allocated, or None.
    `shape` is any sequence of Python ints (checked with exact integer arithmetic)."""
    dims = [int(d) for d in shape]
    if len(dims) > MAX_RANK:
        return f"rank {len(dims)} exceeds the limit of {MAX_RANK} (npucc.limits.MAX_RANK)"
    if any(d < 0 for d in dims):
        return f"shape {dims} has a negative dimension"
    n = math.prod(dims)
    if n > MAX_TENSOR_ELEMENTS:
        return (f"shape {dims} has {n} elements, over the limit of {MAX_TENSOR_ELEMENTS} "
                "(npucc.limits.MAX_TENSOR_ELEMENTS)")
    if n * itemsize > MAX_TENSOR_BYTES:
        return (f"shape {dims} needs {n * itemsize} bytes, over the limit of {MAX_TENSOR_BYTES} "
                "(npucc.limits.MAX_TENSOR_BYTES)")
    return None
