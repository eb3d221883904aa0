"""Conditionals whose predicate is known at import time, as in a model frozen with its
`is_training` (or Keras learning-phase) placeholder left at its default: TF1's Switch / Merge and
TF2's If / StatelessIf. Only the branch taken is imported.

Switch gives the tensor DEAD on the output the predicate does not take; a node reading a DEAD
tensor is itself dead and is not converted (the importer's rule: its op may be one npucc does not
support, such as the RandomUniform of a training-mode dropout); Merge passes its one live input.
If imports the body of the branch taken, its inputs 1... as the arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..tf_common import ConversionError

if TYPE_CHECKING:
    from .importer import _Node


class _Dead:
    """The value of a tensor on a branch the predicate does not take."""

    def __repr__(self) -> str:
        return "DEAD"


DEAD = _Dead()


def _predicate(n: _Node, i: int) -> bool:
    p = n.static(i, "predicate")
    if p.size != 1:
        raise ConversionError(f"the predicate must be one value, got shape {list(p.shape)}",
                              False)
    return bool(p.reshape(()))


def switch(n: _Node):
    """Switch(data, pred): output 1 is data when pred holds, output 0 when not."""
    x = n.input(0)
    return [DEAD, x] if _predicate(n, 1) else [x, DEAD]


def merge(n: _Node):
    """Merge: its one live input, and that input's index."""
    xs = [n.input(i) for i in range(len(n.data_inputs))]
    live = [i for i, x in enumerate(xs) if x is not DEAD]
    if not live:
        return [DEAD, DEAD]
    if len(live) > 1:
        raise ConversionError(f"{len(live)} of its inputs are live: only a conditional whose "
                              "predicate is known at import time is supported (not a loop)")
    return [xs[live[0]], np.int32(live[0])]


def if_op(n: _Node):
    """If / StatelessIf(cond, inputs...): the branch function the predicate takes, inlined."""
    branch = "then_branch" if _predicate(n, 0) else "else_branch"
    return n.imp.inline(n, n.attr(branch).name, n.data_inputs[1:], branch)


CONVERTERS = {"Switch": switch, "Merge": merge, "If": if_op, "StatelessIf": if_op}
