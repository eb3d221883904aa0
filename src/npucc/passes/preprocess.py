"""insert-preprocess: put input preprocessing (channel reorder, then (x - mean) / std) into the
model, so it is fed raw pixels. fold-input-affine later folds it into the first conv where that
is exact.

    InsertPreprocess(inputs={"image": Preprocess(mean=(123.675, 116.28, 103.53),
                                                 std=(58.395, 57.12, 57.375), reorder=(2, 1, 0))})
    Preprocess.from_rknn(channel_mean_value="103.94 116.78 123.68 58.8", reorder_channel="2 1 0")
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np

from npucc.errors import PassError
from npucc.ir.graph import Graph, Value

from .base import Pass, PassResult, register_pass
from .input_layout import source_layout, transposes_to_nchw


def _floats(v) -> tuple[float, ...]:
    """Numbers from a sequence, a nested one-input RKNN list ([[1, 2, 3]]) or a string "1 2 3"."""
    if isinstance(v, str):
        v = v.replace(",", " ").split()
    return tuple(float(x) for x in np.asarray(v, dtype=np.float64).reshape(-1))


@attrs.frozen
class Preprocess:
    """What a raw input x goes through along its channel axis: y[c] = x[reorder[c]] (reorder
    first), then (y[c] - mean[c]) / std[c]. mean and std hold one value, or one per channel."""

    mean: tuple[float, ...] = attrs.field(default=(0.0,), converter=_floats)
    std: tuple[float, ...] = attrs.field(default=(1.0,), converter=_floats)
    reorder: tuple[int, ...] | None = attrs.field(
        default=None, converter=lambda r: None if r is None else tuple(int(x) for x in _floats(r)))

    @classmethod
    def from_rknn(cls, *, mean_values=None, std_values=None, channel_mean_value=None,
                  reorder_channel=None) -> Preprocess:
        """From RKNN-Toolkit settings: mean_values / std_values ("123.7 116.3 103.5" or
        [[...]]), or the older channel_mean_value "M0 M1 M2 S" meaning (x - M) / S, and
        reorder_channel "2 1 0" (applied before the mean)."""
        if channel_mean_value is not None:
            if mean_values is not None or std_values is not None:
                raise PassError("give channel_mean_value or mean_values/std_values, not both")
            *mean, s = _floats(channel_mean_value)
            if not mean:
                raise PassError(f"channel_mean_value {channel_mean_value!r} needs the means "
                                "and then one scale: 'M0 M1 M2 S'")
            return cls(mean, (s,), reorder_channel)
        return cls(mean_values if mean_values is not None else (0.0,),
                   std_values if std_values is not None else (1.0,), reorder_channel)

    def check(self, channels: int, where: str) -> None:
        for key in ("mean", "std"):
            if len(getattr(self, key)) not in (1, channels):
                raise PassError(f"{where}: {key} {getattr(self, key)} must have 1 or {channels} "
                                "values (one per channel)")
        if any(s == 0 for s in self.std):
            raise PassError(f"{where}: std {self.std} has a zero")
        if self.reorder is not None and sorted(self.reorder) != list(range(channels)):
            raise PassError(f"{where}: reorder {self.reorder} is not a permutation of the "
                            f"{channels} channels")


def _insert(graph: Graph, x: Value, p: Preprocess, label: str, axis: int = 1) -> int:
    """Apply `p` along `axis` of `x` for every current reader of `x`; returns nodes added."""
    uses = list(x.uses)
    anchor = x.producer or next(iter(graph.nodes), None)
    after = x.producer is not None
    c, rank = x.shape[axis], x.type.rank
    shape = (c,) + (1,) * (rank - 1 - axis)
    steps = []
    if p.reorder is not None and p.reorder != tuple(range(c)):
        steps.append(("Gather", np.asarray(p.reorder, np.int64), {"axis": axis}))
    if any(m != 0 for m in p.mean):
        steps.append(("Sub", np.broadcast_to(np.asarray(p.mean), (c,)).reshape(shape), {}))
    if any(s != 1 for s in p.std):
        steps.append(("Div", np.broadcast_to(np.asarray(p.std), (c,)).reshape(shape), {}))
    y = x
    for op, const, attrs_ in steps:
        dtype = None if op == "Gather" else x.dtype
        k = graph.add_constant(const, graph.unique_name(f"{label}_{op.lower()}"), dtype=dtype)
        node = graph.add_node(op, [y, k], attrs_, provenance=[label],
                              **({"after": anchor} if after else {"before": anchor}))
        y, anchor, after = node.output, node, True
    for node, i in uses:
        graph.set_input(node, i, y)
    return len(steps)


@register_pass
@attrs.frozen
class InsertPreprocess(Pass):
    """Make the model take raw inputs: insert each input's preprocessing in front of its readers.

    Guarantee: for every input named in `inputs`, the model fed raw x computes what the original
    model computed on the preprocessed input (x with channels reordered, then (x - mean) / std
    per channel). The channel axis is 1, or, for an NHWC input read through Transposes to NCHW
    (see `source_layout`), axis 1 after those Transposes (axis 3 of the input itself when a
    per-tensor QuantizeLinear sits before them). Names not among the graph's inputs,
    non-float inputs and preprocessing that does not fit the channel count raise PassError."""

    name = "insert-preprocess"
    idempotent = False  # a second run preprocesses again
    inputs: Mapping[str, Preprocess] = attrs.field(factory=dict, converter=dict)

    def run(self, graph: Graph) -> PassResult:
        by_name = {v.name: v for v in graph.inputs}
        added = 0
        for name, p in self.inputs.items():
            v = by_name.get(name)
            if v is None:
                raise PassError(f"insert-preprocess: graph {graph.name} has no input {name!r}; "
                                f"its inputs: {sorted(by_name)}")
            if not v.dtype.is_float or v.type.rank < 2:
                raise PassError(f"insert-preprocess: input {name} is {v.type}; preprocessing "
                                "needs a float input with a channel axis")
            targets, axis = [v], 1
            if source_layout(v) == "NHWC":  # after the transposes, or channels last
                if all(transposes_to_nchw(u) for u in v.users):
                    targets = [u.output for u in v.users]
                else:  # read through a (de)quantize: preprocess the float input itself
                    axis = 3
            for t in targets:
                p.check(t.shape[axis], f"insert-preprocess: input {name}")
                added += _insert(graph, t, p, f"preprocess {name}", axis)
        return PassResult(added > 0, {"nodes": added})
