"""Shape ops: Reshape-like ops are views of their input's buffer (no step, no copy); Concat and
Transpose copy straight into their output buffer."""

from __future__ import annotations

import numpy as np

from . import BuildContext, fast_kernel


def _always(node):
    return True


# The output holds the input's elements in the same (C) order, so it is a reshaped view.
fast_kernel("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", view=_always)(None)


@fast_kernel("Concat")
def concat(ctx: BuildContext):
    xs = tuple(ctx.inputs)
    (out,) = ctx.outputs
    axis = ctx.attrs["axis"]
    return lambda: np.concatenate(xs, axis=axis, out=out)


@fast_kernel("Transpose")
def transpose(ctx: BuildContext):
    (x,) = ctx.inputs
    (out,) = ctx.outputs
    view = x.transpose(ctx.attrs["perm"])
    return lambda: np.copyto(out, view)
