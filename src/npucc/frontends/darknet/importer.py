"""The walk: [net] gives the graph input, then each section's mapper runs in order; [yolo] and
[region] heads become the graph outputs."""

from __future__ import annotations

from pathlib import Path

from ...errors import FrontendError
from ...ir import DType, Graph, TensorType, Value
from . import sections as _mappers  # noqa: F401 - importing it registers the section mappers
from .context import SECTIONS, Context


class Importer:
    def __init__(self, sections, path, weights, input_size=None, batch=1):
        self.path = Path(path)
        self.sections = sections
        self.weights = weights
        self.graph = Graph(self.path.stem)
        net = Context(self, -1, sections[0])
        h, w = net.int("height", 0, lo=0), net.int("width", 0, lo=0)
        c = net.int("channels", 3, lo=1)
        if input_size is not None:
            h, w = input_size
        if not (h and w):
            if "inputs" in sections[0].options:
                raise FrontendError(f"{self.path}: [net] gives inputs= but no width/height: a "
                                    "flat-input net (darknet's char-RNN cfgs, with [rnn], [gru] "
                                    "or [lstm] layers that carry their state across calls) is "
                                    "not supported")
            raise FrontendError(f"{self.path}: [net] needs width= and height= (or pass "
                                "input_size=(h, w))")
        shape = (batch, c, h, w)
        net.check_size(shape, "the input")
        self.input = self.graph.add_input("data", TensorType(shape, DType.f32))
        self.outputs: list[Value] = []
        self.heads: list[tuple[int, Value, Value]] = []

    def run(self) -> Graph:
        for index, sec in enumerate(self.sections[1:]):
            ctx = Context(self, index, sec)
            spec = SECTIONS.get(sec.type)
            if spec is None:
                raise ctx.error(f"unknown section type [{sec.type}] (supported: "
                                f"{', '.join(sorted(SECTIONS))})")
            bad = sorted(set(sec.options) - set(spec.keys) - set(spec.ignored))
            if bad:
                raise ctx.error(f"option(s) {', '.join(bad)} are not supported (supported: "
                                f"{', '.join(spec.keys) or 'none'})")
            out = spec.fn(ctx)
            ctx.check_size(out.shape, "the output")
            self.outputs.append(out)
        if not self.outputs:
            raise FrontendError(f"{self.path}: no layer sections after [net]")
        self.weights.finish(self.path)
        if self.heads:
            outs = []
            for index, raw, boxes in self.heads:
                outs.append(self._expose(raw, f"{index}_raw"))
                self.graph.rename(boxes, f"{index}_boxes")
                outs.append(boxes)
        else:
            outs = [self._expose(self.outputs[-1], "output")]
        self.graph.set_outputs(outs)
        return self.graph

    def _expose(self, v: Value, name: str) -> Value:
        if v.producer is None or any(o is v for o in self.graph.outputs):
            v = self.graph.add_node("Identity", [v], output_names=[name],
                                    provenance=v.producer.provenance if v.producer else ()
                                    ).outputs[0]
        elif not self.graph.has_value(name):
            self.graph.rename(v, name)
        return v
