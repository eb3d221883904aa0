"""Reference interpreter: runs a Graph node by node with the registry's numpy kernels.

It is the float ground truth the simulator plan and the tests compare against: correctness over
speed. Like torch.fx's Interpreter, `run_node` is the per-node dispatch a subclass may override
(shape propagation, dumping), `prepare_kernel` picks a node's kernel once, and each value is
freed after its last use. Quantized nodes compute in a numerics profile: `npucc.numerics`
subclasses this interpreter with the profile kernels; here they are refused, except conversion
ops whose registry kernel is their exact semantics (QuantizeLinear, DequantizeLinear, Cast).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ..errors import NpuccError
from .graph import Graph, Node
from .types import DType


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
        out.append(_cast_exactly(a, v))
    return out


def _cast_exactly(a: np.ndarray, v) -> np.ndarray:
    """`a` in the input's element type when no value changes beyond float rounding (e.g. int64
    values 0..127 for an i8 input, integral floats for an int input); an error naming the input
    when one would wrap (300 -> 44 in u8), lose its fraction, or overflow to inf."""
    want = v.dtype.numpy
    if a.dtype == want:
        return a
    if a.dtype.kind not in "biuf":
        raise NpuccError(f"input %{v.name} expects {v.dtype.value}, got {a.dtype}")
    if np.can_cast(a.dtype, want, "safe"):
        return a.astype(want)
    if v.dtype is DType.bool:
        raise NpuccError(f"input %{v.name} expects bool, got {a.dtype}")
    bad = None
    if np.issubdtype(want, np.integer):
        info = np.iinfo(want)
        if a.dtype.kind == "f":
            wrong = ~np.isfinite(a) | (a != np.trunc(a))
            wrong[~wrong] = (a[~wrong] < info.min) | (a[~wrong] > info.max)
        else:
            wrong = (a < info.min) | (a > info.max) if a.size else np.zeros(a.shape, bool)
        if wrong.any():
            bad = a[wrong].ravel()[0]
        out = None if bad is not None else a.astype(want)
    else:  # float rounding is expected; overflow to inf is not
        with np.errstate(over="ignore"):
            out = a.astype(want)
        wrong = np.isinf(out) & np.isfinite(a)
        if wrong.any():
            bad = a[wrong].ravel()[0]
    if bad is not None:
        raise NpuccError(f"input %{v.name} expects {v.dtype.value}: the {a.dtype} value "
                         f"{bad.item()!r} does not fit (give values representable in "
                         f"{v.dtype.value})")
    return out


class Interpreter:
    """Run `graph` on numpy arrays. `hook(node, outputs)` is called after every node."""

    def __init__(self, graph: Graph, hook: Callable[[Node, list[np.ndarray]], None] | None = None,
                 check_types: bool = True):
        self.graph = graph
        self.hook = hook
        self.check_types = check_types
        self._kernels: dict[int, object] = {}  # id(node) -> prepared kernel, reused across runs

    def prepare_kernel(self, node: Node) -> Callable[[Sequence[np.ndarray | None]], list]:
        """The node's registry kernel with its attributes bound. A quantized node whose op does
        not declare its registry kernel exact on quantized types is refused."""
        rule = node.opdef.quant
        quantized = any(v is not None and v.type.quant is not None
                        for v in (*node.inputs, *node.outputs))
        if quantized and not (rule is not None and rule.exact_kernel):
            raise InterpreterError(f"{node.describe()} is quantized: it computes in a numerics "
                                   "profile; run the graph with npucc.numerics.run_graph (or "
                                   "npucc.run_graph)")
        opdef, attrs_ = node.opdef, node.attrs
        return lambda args: opdef.evaluate(args, attrs_)

    def run_node(self, node: Node, args: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        # prepared once per node and reused across runs (integer kernels precompute tables)
        kernel = self._kernels.get(id(node))
        if kernel is None:
            if node.op == "Partition":  # its body runs node by node, in this kind of interpreter
                kernel = type(self)(node.attrs["body"], self.hook, self.check_types).run
            else:
                kernel = self.prepare_kernel(node)
            self._kernels[id(node)] = kernel
        return kernel(args)

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
    """Run a float graph with the registry's reference kernels; inputs by position or by name.
    Graphs with quantized nodes run with `npucc.numerics.run_graph`."""
    return Interpreter(graph, hook).run(inputs)
