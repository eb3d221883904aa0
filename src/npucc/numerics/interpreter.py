"""The reference interpreter under each node's numerics profile."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..ir import interpreter as _float
from ..ir.graph import Graph, Node
from .profiles import select_kernel


class Interpreter(_float.Interpreter):
    """Runs every node with `select_kernel`: the float registry kernel, or the kernel of the
    node's profile (tflite, affine, dfp, fp16). `hook(node, outputs)` runs after every node."""

    def prepare_kernel(self, node: Node) -> Callable[[Sequence[np.ndarray | None]], list]:
        return select_kernel(node)


def run_graph(graph: Graph, inputs, hook=None) -> list[np.ndarray]:
    """Run `graph` node by node, each in its numerics profile; inputs by position or by name."""
    return Interpreter(graph, hook).run(inputs)
