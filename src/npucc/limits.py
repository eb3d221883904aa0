"""The size limits npucc checks model files and graphs against before it allocates anything.

A model file is untrusted: the sizes it declares (tensor shapes, ranks, payload lengths) are
checked here first, so a hostile or corrupt file fails with an error naming the tensor instead of
exhausting memory. The frontends check every constant and graph input; the simulator plan checks
every value and its arena. Raise a limit for a bigger model with the environment variable named
beside it (read once, at import), or by assigning the module attribute.
"""

from __future__ import annotations

import math
import operator
import os

from .errors import LimitError


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        raise LimitError(f"{name}={os.environ[name]!r} is not an integer") from None


MAX_TENSOR_BYTES = _env_int("NPUCC_MAX_TENSOR_BYTES", 4 << 30)  # one tensor: 4 GiB
MAX_ARENA_BYTES = _env_int("NPUCC_MAX_ARENA_BYTES", 16 << 30)  # a plan's activations: 16 GiB
MAX_IMAGE_PIXELS = _env_int("NPUCC_MAX_IMAGE_PIXELS", 1 << 26)  # a dataset image: 8192 x 8192
MAX_RANK = 16  # dimensions of one tensor (numpy allows 64; real models use at most 6 or so)
# nodes that unrolling loops (ONNX Loop, Scan) may copy into one graph: iterations x body nodes,
# nested loops multiplied
MAX_UNROLLED_NODES = _env_int("NPUCC_MAX_UNROLLED_NODES", 100_000)


def check_shape(shape, itemsize: int, what: str) -> int:
    """The byte size of a tensor of `shape` and element size `itemsize`; LimitError naming
    `what` if the rank, a dimension or the size is out of bounds."""
    shape = tuple(shape)
    if len(shape) > MAX_RANK:
        raise LimitError(f"{what} has rank {len(shape)}; npucc takes at most {MAX_RANK} "
                         "(npucc.limits.MAX_RANK)")
    try:
        shape = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise LimitError(f"{what} has shape {list(shape)}: dimensions must be integers") from None
    if any(d < 0 for d in shape):
        raise LimitError(f"{what} has shape {list(shape)}: dimensions must be >= 0")
    nbytes = math.prod(shape) * itemsize
    if nbytes > MAX_TENSOR_BYTES:
        raise LimitError(f"{what} has shape {list(shape)}: {nbytes} bytes, over the "
                         f"{MAX_TENSOR_BYTES}-byte limit of one tensor (raise it with "
                         "NPUCC_MAX_TENSOR_BYTES)")
    return nbytes


def check_arena(nbytes: int, what: str) -> None:
    if nbytes > MAX_ARENA_BYTES:
        raise LimitError(f"{what} needs {nbytes} bytes of activations, over the "
                         f"{MAX_ARENA_BYTES}-byte limit (raise it with NPUCC_MAX_ARENA_BYTES)")


def check_unrolled(nodes: int, what: str) -> None:
    """LimitError naming `what` if unrolling loops would copy more than MAX_UNROLLED_NODES
    nodes into the graph."""
    if nodes > MAX_UNROLLED_NODES:
        raise LimitError(f"{what} makes {nodes} nodes, over the limit of {MAX_UNROLLED_NODES} "
                         "unrolled nodes (npucc.limits.MAX_UNROLLED_NODES; raise it with "
                         "NPUCC_MAX_UNROLLED_NODES)")
