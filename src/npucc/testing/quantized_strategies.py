"""Hypothesis strategies for quantized graphs, every scheme the quantize passes produce.

    from hypothesis import given
    from npucc.testing.quantized_strategies import quantization_cases

    @given(quantization_cases(dtypes=("u8", "dfp16")))
    def test_plan_matches_interpreter(case):
        ...case.quantized...

A case is a float graph drawn by `npucc.testing.graphs`, ranges calibrated on it (min / max over
two random input sets), a precision (u8, i8, dfp8, dfp16, fp16), per-tensor or per-channel
weights, the arithmetic of the affine nodes (affine or tflite), and the graph `quantize_graph`
makes from them.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
from hypothesis import strategies as st

from npucc.ir import Graph, run_graph
from npucc.passes.quantize import quantize_graph
from npucc.testing.inputs import random_inputs
from npucc.testing.strategies import graphs

DTYPES = ("u8", "i8", "dfp8", "dfp16", "fp16")
CALIBRATION_SEEDS = (0, 1)  # the input sets check_pass and assert_equivalent draw


def calibrate(graph: Graph, seeds: Sequence[int] = CALIBRATION_SEEDS
              ) -> dict[str, tuple[float, float]]:
    """min / max of every float value over `random_inputs(graph, seed)` for each seed."""
    ranges: dict[str, tuple[float, float]] = {}

    def note(name, a):
        if a.dtype.kind == "f" and a.size:
            lo, hi = float(a.min()), float(a.max())
            old = ranges.get(name, (lo, hi))
            ranges[name] = (min(lo, old[0]), max(hi, old[1]))

    for seed in seeds:
        inputs = random_inputs(graph, seed)
        for v, a in zip(graph.inputs, inputs):
            note(v.name, a)
        run_graph(graph, inputs, hook=lambda node, outs: [note(v.name, a) for v, a in
                                                          zip(node.outputs, outs)])
    return ranges


@attrs.frozen
class QuantizationCase:
    graph: Graph  # the float graph
    ranges: dict
    dtype: str
    per_channel: bool
    numerics: str

    @property
    def quantized(self) -> Graph:
        return quantize_graph(self.graph, self.ranges, self.dtype, self.per_channel,
                              numerics=self.numerics)

    def __repr__(self) -> str:
        return (f"QuantizationCase(dtype={self.dtype}, per_channel={self.per_channel}, "
                f"numerics={self.numerics}, graph=\n{self.graph})")


def quantization_cases(dtypes: Sequence[str] = DTYPES, *, per_channel: bool | None = None,
                       numerics: Sequence[str] = ("affine",), ops=None, max_nodes: int = 8
                       ) -> st.SearchStrategy[QuantizationCase]:
    """Cases over float graphs of `ops` (default: the graph strategy's mix of continuous ops;
    ops without a quantization rule stay float between Dequantize / Quantize nodes).
    per_channel None draws either; numerics: the arithmetics drawn for u8 / i8."""
    @st.composite
    def draw(draw_):
        g = draw_(graphs(ops=ops, max_nodes=max_nodes))
        dtype = draw_(st.sampled_from(list(dtypes)))
        pc = draw_(st.booleans()) if per_channel is None else per_channel
        arith = draw_(st.sampled_from(list(numerics)))
        return QuantizationCase(g, calibrate(g), dtype, pc, arith)
    return draw()


def quantized_graphs(dtypes: Sequence[str] = DTYPES, **kwargs) -> st.SearchStrategy[Graph]:
    """Quantized graphs (the `quantized` of `quantization_cases`)."""
    return quantization_cases(dtypes, **kwargs).map(lambda case: case.quantized)
