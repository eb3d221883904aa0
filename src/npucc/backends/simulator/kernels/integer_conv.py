"""Integer fast kernels (nodes of the affine and dfp profiles): the numerics layer's plan forms
bound to the plan's arrays, so a quantized Conv writes its output in place and its images may be
stored channels-last (numerics/integer/planned_conv.py)."""

from __future__ import annotations

from ....ir.graph import Node
from ....numerics.integer.planned_conv import planned_conv
from . import CAN, CANNOT, PREFERS, BuildContext, fast_kernel


def _layouts(node: Node) -> tuple[int, int]:
    """A depthwise conv prefers channels-last images (its compiled loop vectorizes over the
    channels), a direct 1x1 conv takes either layout on either side; other convs take NCHW."""
    planned = planned_conv(node)
    if planned is None or not planned.channels_last:
        return CANNOT, CANNOT
    return (PREFERS, PREFERS) if planned.kind == "depthwise" else (CAN, CAN)


@fast_kernel("Conv", integer=True, channels_last=_layouts)
def conv(ctx: BuildContext):
    planned = planned_conv(ctx.node)
    return None if planned is None else planned.bind(ctx.inputs[0], ctx.outputs[0])
