"""Reference interpreter: runs a Graph node by node with the registry's numpy kernels.

It is the ground truth the simulator plan and the tests compare against: correctness over speed.
Like torch.fx's Interpreter, `run_node` is the per-node dispatch a subclass may override (shape
propagation, dumping, quantized execution), and each value is freed after its last use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..errors import NpuccError
from .graph import Graph, Node
from .quantized import select_kernel


class InterpreterError(NpuccError):
    """A kernel failed or produced a result that does not match the node's type."""


def coerce_inputs(graph: Graph, inputs) -> list[np.ndarray]:
    """Accept inputs as a sequence (graph input order) or a mapping by input name; check them."""
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if isinstance(inputs, Mapping):
        missing = [v.name for v in graph.inputs if v.name not in inputs]
        extra = sorted(set(inputs) - {v.name for v in graph.inputs})
        if missing or extra:
            raise NpuccError(f"graph {graph.name} inputs are {[v.name for v in graph.inputs]}; "
                             f"missing {missing}, unexpected {extra}")
        arrays = [inputs[v.name] for v in graph.inputs]
    else:
        arrays = list(inputs)
        if len(arrays) != len(graph.inputs):
            raise NpuccError(f"graph {graph.name} takes {len(graph.inputs)} inputs "
                             f"({[v.name for v in graph.inputs]}), got {len(arrays)}")
    out = []
    for v, a in zip(graph.inputs, arrays):
        a = np.asarray(a)
        if a.shape != v.shape:
            raise NpuccError(f"input %{v.name} expects shape {list(v.shape)}, got {list(a.shape)}")
        want = v.dtype.numpy
        if a.dtype != want:
            if np.can_cast(a.dtype, want, "same_kind"):
                a = a.astype(want)
            else:
                raise NpuccError(f"input %{v.name} expects {v.dtype.value}, got {a.dtype}")
        out.append(a)
    return out


class Interpreter:
    """Run `graph` on numpy arrays. `hook(node, outputs)` is called after every node."""

    def __init__(self, graph: Graph, hook: Callable[[Node, list[np.ndarray]], None] | None = None,
                 check_types: bool = True):
        self.graph = graph
        self.hook = hook
        self.check_types = check_types
        self._kernels: dict[int, object] = {}  # id(node) -> prepared kernel, reused across runs

    def run_node(self, node: Node, args: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        # the float registry kernel, or the integer kernel of a quantized node (ir/quantized.py),
        # prepared once per node (integer kernels precompute multipliers and lookup tables)
        kernel = self._kernels.get(id(node))
        if kernel is None:
            kernel = self._kernels[id(node)] = self._prepare(node)
        return kernel(args)

    def _prepare(self, node: Node):
        if node.op == "Partition":  # run the body node by node, under the same hook
            body = Interpreter(node.attrs["body"], self.hook, self.check_types)
            return body.run
        return select_kernel(node)

    def run(self, inputs) -> list[np.ndarray]:
        g = self.graph
        env: dict[int, np.ndarray] = {}
        for v, a in zip(g.inputs, coerce_inputs(g, inputs)):
            env[id(v)] = a
        for c in g.constants:
            env[id(c)] = c.const
        nodes = list(g.nodes)
        last_use: dict[int, int] = {}
        for i, n in enumerate(nodes):
            for v in n.inputs:
                if v is not None:
                    last_use[id(v)] = i
        keep = {id(v) for v in g.outputs}
        for i, node in enumerate(nodes):
            args = [None if v is None else env[id(v)] for v in node.inputs]
            try:
                outs = self.run_node(node, args)
            except NpuccError:
                raise
            except Exception as e:  # a kernel bug or bad data: say which node
                raise InterpreterError(f"{node.describe()} failed: {type(e).__name__}: {e}") from e
            if self.check_types:
                self._check(node, outs)
            for v, a in zip(node.outputs, outs):
                env[id(v)] = a
            if self.hook is not None:
                self.hook(node, outs)
            for v in node.inputs:
                if v is not None and last_use.get(id(v)) == i and id(v) not in keep \
                        and v.producer is not None:
                    env.pop(id(v), None)
        return [env[id(v)] for v in g.outputs]

    @staticmethod
    def _check(node: Node, outs: list[np.ndarray]) -> None:
        if len(outs) != len(node.outputs):
            raise InterpreterError(f"{node.describe()}: kernel returned {len(outs)} outputs, "
                                   f"node has {len(node.outputs)}")
        for v, a in zip(node.outputs, outs):
            if a.shape != v.shape or a.dtype != v.dtype.numpy:
                raise InterpreterError(
                    f"{node.describe()}: kernel returned {a.dtype}{list(a.shape)} for "
                    f"%{v.name}: {v.type}")


def run_graph(graph: Graph, inputs, hook=None) -> list[np.ndarray]:
    """Run `graph` with the reference kernels; inputs by position or by name."""
    return Interpreter(graph, hook).run(inputs)
