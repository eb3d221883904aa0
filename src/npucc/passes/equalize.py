"""equalize: cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization"; AIMET's CLE).

Two convolutions A -> B with a positive-homogeneous function f between them (f(x / s) = f(x) / s
for s > 0) compute the same thing when output channel i of A (weights and bias) is divided by
s_i and input channel i of B is multiplied by s_i. With r1_i = max|W_A[i]| and r2_i =
max|W_B[:, i]|, s_i = sqrt(r1_i * r2_i) / r2_i gives both channels the range sqrt(r1_i * r2_i), so
a per-tensor weight scale wastes fewer levels on small channels.
"""

from __future__ import annotations

import attrs
import numpy as np

from npucc.ir.graph import Graph, Node

from .base import Pass, PassResult, register_pass

# fused activations that commute with a positive per-channel scale
HOMOGENEOUS = ("none", "relu", "leaky_relu", "prelu")
MIN_CHANGE = 0.01  # a pair whose scales all lie within 1 % of 1 is left alone (a fixed point)


def _depthwise(node: Node) -> bool:
    w = node.inputs[1].const
    return node.attrs["group"] > 1 and w.shape[1] == 1 and w.shape[0] == node.attrs["group"]


def _scalable(node: Node) -> bool:
    """a float Conv with constant weights (and bias), dense or depthwise"""
    ins = node.inputs
    return (node.op == "Conv" and node.output.dtype.is_float and node.output.type.quant is None
            and ins[0].type.quant is None and all(v is None or v.is_constant for v in ins[1:])
            and (node.attrs["group"] == 1 or _depthwise(node)))


def _between(a: Node, relu6: str) -> bool:
    act = a.attrs.get("activation", "none")
    if act in HOMOGENEOUS:
        return True
    params = a.attrs.get("activation_params", ())
    return act == "clip" and relu6 == "relu" and tuple(params)[:1] == (0.0,)


def pairs(graph: Graph, relu6: str = "skip") -> list[tuple[Node, Node]]:
    """(A, B) conv pairs CLE may rescale: A's output feeds only B's data input, is no graph
    output, and passes through a positive-homogeneous activation (and max pool)."""
    found = []
    for a in graph.nodes:
        if not _scalable(a) or not _between(a, relu6) or graph.is_output(a.output):
            continue
        uses = a.output.uses
        if len(uses) == 1 and uses[0].index == 0 and _scalable(uses[0].node):
            found.append((a, uses[0].node))
    return found


def _ranges(a: Node, b: Node) -> tuple[np.ndarray, np.ndarray]:
    wa, wb = a.inputs[1].const, b.inputs[1].const
    r1 = np.abs(wa).reshape(wa.shape[0], -1).max(axis=1).astype(np.float64)
    wb_in = wb if _depthwise(b) else np.swapaxes(wb, 0, 1)  # input channel first
    r2 = np.abs(wb_in).reshape(wb_in.shape[0], -1).max(axis=1).astype(np.float64)
    return r1, r2


def _replace(graph: Graph, node: Node, index: int, array: np.ndarray) -> None:
    old = node.inputs[index]
    new = graph.add_constant(array.astype(old.dtype.numpy), graph.unique_name(old.name),
                             dtype=old.dtype)
    graph.set_input(node, index, new)
    if not old.uses and not graph.is_output(old):
        graph.remove_constant(old)


def _clip_to_relu(graph: Graph, a: Node) -> None:
    """replace A (with a fused Clip(0, x)) by the same conv with a fused ReLU"""
    attrs_ = {**a.attrs, "activation": "relu", "activation_params": ()}
    new = graph.add_node(a.op, a.inputs, attrs_, provenance=a.provenance, after=a)
    name = a.output.name
    graph.replace_all_uses_with(a.output, new.output)
    graph.erase(a)
    graph.rename(new.output, name)


def _equalize_pair(graph: Graph, a: Node, b: Node) -> bool:
    r1, r2 = _ranges(a, b)
    ok = (r1 > 0) & (r2 > 0)
    s = np.ones_like(r1)
    s[ok] = np.sqrt(r1[ok] * r2[ok]) / r2[ok]
    if np.all(np.abs(np.log(s)) < np.log1p(MIN_CHANGE)):
        return False
    wa = a.inputs[1].const.astype(np.float64)
    _replace(graph, a, 1, wa / s.reshape((-1,) + (1,) * (wa.ndim - 1)))
    if len(a.inputs) > 2 and a.inputs[2] is not None:
        _replace(graph, a, 2, a.inputs[2].const.astype(np.float64) / s)
    wb = b.inputs[1].const.astype(np.float64)
    shape = (-1,) + (1,) * (wb.ndim - 1) if _depthwise(b) else (1, -1) + (1,) * (wb.ndim - 2)
    _replace(graph, b, 1, wb * s.reshape(shape))
    return True


def equalize_graph(graph: Graph, *, relu6: str = "skip", iterations: int = 50) -> Graph:
    """A copy of `graph` with cross-layer equalization applied (see `Equalize`)."""
    out = graph.copy()
    Equalize(relu6=relu6, iterations=iterations).run(out)
    return out


@register_pass
@attrs.frozen
class Equalize(Pass):
    """Cross-layer equalization of consecutive convolutions.

    Guarantee: for every pair of float Convs A -> B (each dense or depthwise, constant weights)
    where A's output is used only as B's data input, is no graph output, and A's fused
    activation is none, relu, leaky_relu or prelu (f(x/s) = f(x)/s for s > 0; a fused max pool
    commutes too), output channel i of A is divided by s_i = sqrt(r1_i r2_i) / r2_i and input
    channel i of B multiplied by it (r = max |weight| of the channel). Chains (conv -> depthwise
    -> conv) are swept pairwise until no pair moves by more than 1 % (at most `iterations`
    sweeps), which converges to the closed-form triplet scales. Outputs agree up to float
    rounding. A Clip (ReLU6) between A and B is not positive-homogeneous: with relu6="skip"
    (the default) such pairs are left alone; relu6="relu" replaces Clip(0, x) by ReLU and
    equalizes (AIMET's recipe: it changes the float function where activations exceed the clip,
    so it is opt-in)."""

    name = "equalize"
    relu6: str = attrs.field(default="skip",
                             validator=attrs.validators.in_(("skip", "relu")))
    iterations: int = 50

    def run(self, graph: Graph) -> PassResult:
        moved, sweeps = 0, 0
        relaxed = [a for a, _ in pairs(graph, self.relu6) if a.attrs["activation"] == "clip"]
        for a in relaxed:
            _clip_to_relu(graph, a)
        for sweeps in range(1, self.iterations + 1):  # noqa: B007 - counted for the report
            n = sum(_equalize_pair(graph, a, b) for a, b in pairs(graph))
            moved += n
            if n == 0:
                break
        return PassResult(moved + len(relaxed) > 0,
                          {"pairs": moved, "sweeps": sweeps, "relu6_relaxed": len(relaxed)})
