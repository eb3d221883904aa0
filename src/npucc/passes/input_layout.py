"""set-input-layout: choose the layout (NCHW or NHWC) in which a compiled model takes its 4-D
image inputs. The model computes exactly the same function whichever layout is chosen: the
input's declared shape changes, and one Transpose (cancelled later by canonicalize-layout) maps
the new layout to the one the network was built for."""

from __future__ import annotations

from typing import Literal

import attrs

from npucc.errors import PassError
from npucc.ir.graph import Graph, Value
from npucc.ir.types import TensorType

from .base import Pass, PassResult, register_pass

TO_NCHW = (0, 3, 1, 2)  # transpose an NHWC tensor to NCHW
TO_NHWC = (0, 2, 3, 1)


def transposes_to_nchw(node) -> bool:
    """node transposes its 4-D input from NHWC to NCHW (a Transpose, or the Reshape that a
    Transpose moving only size-1 axes becomes)."""
    if node.op == "Transpose":
        return tuple(node.attrs["perm"]) == TO_NCHW
    shape = node.inputs[0].shape
    if node.op != "Reshape" or len(shape) != 4:  # (a 4-D value may be another op's operand 1)
        return False
    moved = [k for k in TO_NCHW if shape[k] != 1]
    return moved == sorted(moved) \
        and tuple(node.output.shape) == tuple(shape[k] for k in TO_NCHW)


def _layout_free(node) -> bool:
    """An elementwise reader blind to the layout: a per-tensor (de)quantize or a cast."""
    return node.op == "Cast" or (node.op in ("QuantizeLinear", "DequantizeLinear")
                                 and node.attrs.get("axis") is None)


def layout_readers(value: Value) -> list:
    """The readers of `value`, looking through layout-free ones (a float-input quantized model
    reads its NHWC input through a QuantizeLinear, then transposes)."""
    out = []
    for u in value.users:
        out += layout_readers(u.output) if _layout_free(u) else [u]
    return out


def source_layout(value: Value) -> str:
    """The layout SetInputLayout gave a 4-D graph input (Value.meta["layout"]), else "NHWC" for
    one read only by transposes to NCHW (how NHWC frameworks are imported), possibly through
    per-tensor (de)quantize or cast nodes, else "NCHW"."""
    if value.type.rank == 4 and value.meta.get("layout") in ("NCHW", "NHWC"):
        return value.meta["layout"]  # set by SetInputLayout: later passes may fold its Transpose
    readers = layout_readers(value)
    nhwc = value.type.rank == 4 and bool(readers) and not value.producer and all(
        transposes_to_nchw(u) for u in readers)
    return "NHWC" if nhwc else "NCHW"


@register_pass
@attrs.frozen
class SetInputLayout(Pass):
    """Make 4-D graph inputs take `layout` ("source": leave them as the source model has them).

    Guarantee: every selected 4-D input (`inputs`: names, default all) whose current layout
    (`source`: "auto" reads it from the graph, see `source_layout`) differs from `layout` is
    replaced by an input of the same name and position whose shape is permuted to `layout`,
    followed by a Transpose back to the old layout that every former reader now reads. For the
    same image, given in the chosen layout, the outputs are bit-identical. With layout="source"
    the pass does nothing. Unknown input names raise PassError."""

    name = "set-input-layout"
    layout: Literal["source", "NCHW", "NHWC"] = "source"
    inputs: tuple[str, ...] = ()
    source: Literal["auto", "NCHW", "NHWC"] = "auto"

    def run(self, graph: Graph) -> PassResult:
        if self.layout == "source":
            return PassResult(False)
        names = {v.name for v in graph.inputs}
        unknown = [n for n in self.inputs if n not in names]
        if unknown:
            raise PassError(f"set-input-layout: graph {graph.name} has no input(s) {unknown}; "
                            f"its inputs: {sorted(names)}")
        changed = 0
        for i, old in enumerate(graph.inputs):
            if old.type.rank != 4 or (self.inputs and old.name not in self.inputs):
                continue
            src = source_layout(old) if self.source == "auto" else self.source
            if src == self.layout:
                old.meta["layout"] = self.layout
                continue
            to_new, back = (TO_NHWC, TO_NCHW) if self.layout == "NHWC" else (TO_NCHW, TO_NHWC)
            t = old.type
            new = graph.add_input(graph.unique_name(old.name + "_" + self.layout.lower()),
                                  TensorType([t.shape[k] for k in to_new], t.dtype, t.quant),
                                  index=i)
            first = next(iter(graph.nodes), None)
            node = graph.add_node("Transpose", [new], {"perm": back}, before=first,
                                  output_types=[t], provenance=[f"input {old.name}"])
            graph.replace_all_uses_with(old, node.output)
            name = old.name
            graph.remove_input(old)
            graph.rename(new, name)
            new.meta["layout"] = self.layout
            changed += 1
        return PassResult(changed > 0, {"inputs": changed})
