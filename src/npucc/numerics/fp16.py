"""The `fp16` profile: float16 storage, float32 arithmetic, one rounding per op.

What it emulates: an NPU's float16 mode (RKNN's float_dtype='float16'): weights and activations
are stored as IEEE binary16; convolutions and matrix products multiply float16 operands and
accumulate in float32 (the registry kernels accumulate float16 in float32 and round once); every
other op computes in float32 on the float16 values, and each op's output is rounded to nearest
even float16 (overflow to inf, as the hardware saturates differently per chip). Elementwise
functions (exp, sigmoid...) are float32 evaluations rounded to float16, not a hardware LUT.
"""

from __future__ import annotations

import numpy as np

from ..ir.graph import Node
from ..ir.types import DType
from .profiles import ANY_OP, Kernel, kernel


@kernel("fp16", ANY_OP)
def fp16_kernel(node: Node) -> Kernel:
    """Every op: float16 inputs widened to float32, the registry kernel, outputs typed float16
    rounded to float16."""
    opdef, attrs_ = node.opdef, node.attrs
    widen = [v is not None and v.dtype is DType.f16 for v in node.inputs]
    narrow = [v.dtype is DType.f16 for v in node.outputs]

    def run(args):
        wide = [a.astype(np.float32) if w else a for a, w in zip(args, widen)]
        outs = opdef.evaluate(wide, attrs_)
        return [o.astype(np.float16) if n else o for o, n in zip(outs, narrow)]
    return run
