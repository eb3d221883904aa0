"""docs/WRITING_PASSES.md cannot rot: its code blocks run, and stay within their line budgets."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, find, settings

import npucc.passes.base as passes_base
from npucc.ir import Graph, TensorType, run_graph
from npucc.testing import check_pass, graphs

DOC = Path(__file__).resolve().parents[1] / "docs" / "WRITING_PASSES.md"
PASS_LINES, TEST_LINES = 20, 10  # the budgets DESIGN.md promises: a fusion in ~20, its test in ~10


def code_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def code_lines(block: str) -> int:
    """Non-blank lines, imports and docstrings included."""
    return sum(1 for line in block.splitlines() if line.strip())


@pytest.fixture
def doc_namespace(monkeypatch):
    """Run the doc's blocks in one namespace, registering its pass in a throwaway registry."""
    passes_base.all_passes()  # the built-in passes are registered before the copy
    monkeypatch.setattr(passes_base, "_PASSES", passes_base._PASSES.copy())
    ns: dict = {"__name__": "writing_passes_doc"}
    for block in code_blocks():
        exec(compile(block, str(DOC), "exec"), ns)
    return ns


def test_doc_has_a_pass_and_a_test_within_budget():
    pass_block, test_block = code_blocks()
    assert code_lines(pass_block) <= PASS_LINES, pass_block
    assert code_lines(test_block) <= TEST_LINES, test_block


def test_doc_property_test_passes(doc_namespace):
    doc_namespace["test_fold_mul_chain"]()  # runs the hypothesis test as printed


def test_doc_pass_folds_what_it_says(doc_namespace):
    # (x * 2) * 3 == x * 6, checked against numpy
    g = Graph("chain")
    x = g.add_input("x", TensorType((2, 3), "f32"))
    two, three = g.add_constant(np.float32(2)), g.add_constant(np.float32(3))
    g.set_outputs([g.op("Mul", g.op("Mul", x, two), three)])
    report = check_pass("fold-mul-chain,dce", g)
    assert [n.op for n in report.after.nodes] == ["Mul"]
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(run_graph(report.after, [data])[0], data * 6)


def test_doc_property_test_is_not_vacuous(doc_namespace):
    """Its strategy does draw graphs the pass changes."""
    fold = doc_namespace["FoldMulChain"]()
    found = find(graphs(ops=["Mul", "Relu", "Conv"], layout=None),
                 lambda g: check_pass(fold, g).changed,
                 settings=settings(max_examples=500, database=None, deadline=None,
                                   suppress_health_check=list(HealthCheck)))
    assert check_pass(fold, found).counts["mul-chain"] >= 1
