"""Hypothesis strategies for property-testing passes: random valid graphs, their inputs, tensor
types and quantization parameters.

    from hypothesis import given
    from npucc.testing import graphs, check_pass

    @given(graphs(max_nodes=10))
    def test_my_pass(graph):
        check_pass(MyPass(), graph)

`graphs()` grows a graph op by op. Each step picks an op from the mix and an existing value the op
can apply to, and draws attributes that fit that value (a Conv's kernel, stride, padding, dilation
and group fit its spatial size and channels; pools get valid windows; Concat finds or makes
partners of compatible shape; ...). Weights and other constants are small random values from a
seed drawn by hypothesis. The graphs deliberately contain work for cleanup passes: duplicated
nodes (CSE), dead branches (DCE), all-constant subexpressions (constant folding) and no-op shaped
ops (an identity Transpose, a zero Pad, a same-shape Reshape...).

Ops are drawn through a table of per-op *appliers* (`APPLIERS`, keyed by op name). Only ops that
exist in the registry (`npucc.ir.OPS`) are offered. A registered op without a hand-written
applier is drawn by one derived from its declaration when it is elementwise (`derived.py`), so
the strategy covers new ops as they land; any other op must be listed in `NOT_DRAWN` with a
reason, or a test fails. Register an applier for your own op with `@applier("MyOp", ...)`.

The package, by concept: `builder` (the graph being drawn), `appliers` (the table and shared
helpers), one module of appliers per op family (`elementwise`, `conv`, `spatial`, `shape`,
`normalization`, `quant`), `derived` (appliers read off op declarations), `graph_strategy`
(`graphs()`), `conv_chains` (conv chains shaped for the simulator plan's special paths),
`tensors` (inputs, types, quant params).
"""

# registering appliers; elementwise first: hypothesis shrinks the op choice towards the first
from . import elementwise  # noqa: F401

# isort: split
from . import conv, normalization, quant, recurrent, shape, spatial  # noqa: F401
from .appliers import APPLIERS, DISCONTINUOUS_OPS, Applier, applier
from .builder import LAYOUTS, MAX_DIM, MAX_SIDE, NCHW_TO_NHWC, NHWC_TO_NCHW, GraphBuilder
from .conv_chains import conv_chains
from .derived import NOT_DRAWN, derive, drawable, undrawable
from .elementwise import constant_operand
from .graph_strategy import graphs
from .tensors import inputs_for, quant_params, tensor_types

__all__ = ["APPLIERS", "DISCONTINUOUS_OPS", "LAYOUTS", "MAX_DIM", "MAX_SIDE", "NCHW_TO_NHWC",
           "NHWC_TO_NCHW", "NOT_DRAWN", "Applier", "GraphBuilder", "applier", "constant_operand",
           "conv_chains",
           "derive", "drawable", "graphs", "inputs_for", "quant_params", "tensor_types",
           "undrawable"]
