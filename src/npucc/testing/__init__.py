"""npucc's testing kit: property-test your own passes the way npucc tests its own.

    from hypothesis import given
    from npucc.testing import check_pass, graphs

    @given(graphs(layout=None))
    def test_my_fusion(graph):
        check_pass(MyFusion(), graph)

- `graphs()`, `conv_chains()`, `inputs_for()`, `tensor_types()`, `quant_params()`: hypothesis
  strategies.
- `random_inputs(graph, seed)`: deterministic random inputs for a graph.
- `assert_equivalent(g1, g2)`: both graphs compute the same outputs (per-dtype tolerances).
- `check_pass(pass_or_pipeline, graph)`: a pass keeps the graph valid, honest about changes,
  numerically equivalent and (if declared) idempotent.
- `check_rewrite(before_text, pipeline, expected)`: the same, on IR text, with the result
  compared to a whole expected graph or to CHECK / CHECK-NEXT / CHECK-NOT lines; `parse_ir`,
  `assert_ir`, `assert_same_outputs`, `run_pass` for tests written as IR text.
- The pytest plugin (auto-loaded) provides the `npucc_verify_each` fixture.
"""

from npucc.compare import random_inputs
from npucc.testing.equivalence import (
    TOLERANCES,
    PassCheck,
    assert_equivalent,
    check_pass,
    show_graph,
    tolerance_for,
)
from npucc.testing.filecheck import CheckFailure, assert_checks
from npucc.testing.ir_text import assert_ir, assert_same_outputs, check_rewrite, parse_ir, run_pass

_STRATEGY_NAMES = {"APPLIERS", "DISCONTINUOUS_OPS", "NOT_DRAWN", "GraphBuilder", "applier",
                   "conv_chains", "graphs", "inputs_for", "quant_params", "tensor_types"}


def __getattr__(name):
    """The hypothesis strategies load on first use, so the rest of the kit (and `npucc run`)
    works without hypothesis installed."""
    if name in _STRATEGY_NAMES:
        from npucc.testing import strategies

        return getattr(strategies, name)
    raise AttributeError(f"module 'npucc.testing' has no attribute {name!r}")

__all__ = ["APPLIERS", "DISCONTINUOUS_OPS", "NOT_DRAWN", "TOLERANCES", "CheckFailure",
           "GraphBuilder", "PassCheck", "applier", "assert_checks", "assert_equivalent",
           "conv_chains",
           "assert_ir", "assert_same_outputs", "check_pass", "check_rewrite", "graphs",
           "inputs_for", "parse_ir", "quant_params", "random_inputs", "run_pass", "show_graph",
           "tensor_types", "tolerance_for"]
