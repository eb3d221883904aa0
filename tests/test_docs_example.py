"""docs/WRITING_PASSES.md cannot rot: its code blocks run, stay within their line budgets, and the
failure message it shows is the one its wrong pass produces."""

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, find, settings

import npucc.passes.base as passes_base
from npucc.ir import Graph, TensorType, run_graph
from npucc.testing import check_pass, graphs

DOC = Path(__file__).resolve().parents[1] / "docs" / "WRITING_PASSES.md"
# the budgets DESIGN.md and issue 14 promise: a fusion in ~20 lines and its property test in ~10;
# a commutative fusion in 15 and its IR-text test in 10
BUDGETS = {"fold_mul_chain": 20, "test_fold_mul_chain": 10, "to_gemm": 15,
           "test_fuse_matmul_add": 10}


def code_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def shown_failure() -> str:
    return re.search(r"```text\n(.*?)```", DOC.read_text(), flags=re.S).group(1).rstrip("\n")


def code_lines(block: str) -> int:
    """Non-blank lines, imports and docstrings included."""
    return sum(1 for line in block.splitlines() if line.strip())


@pytest.fixture
def doc_namespace(monkeypatch):
    """Run the doc's blocks in one namespace, registering its passes in a throwaway registry."""
    passes_base.all_passes()  # the built-in passes are registered before the copy
    monkeypatch.setattr(passes_base, "_PASSES", passes_base._PASSES.copy())
    ns: dict = {"__name__": "writing_passes_doc"}
    for block in code_blocks():
        exec(compile(block, str(DOC), "exec"), ns)
    return ns


def test_doc_blocks_are_within_budget():
    blocks = code_blocks()
    assert len(blocks) == 5, "pass, property test, commutative fusion, IR-text test, wrong pass"
    for name, budget in BUDGETS.items():
        block = next(b for b in blocks if f"def {name}(" in b)
        assert code_lines(block) <= budget, block


def test_doc_property_test_passes(doc_namespace):
    doc_namespace["test_fold_mul_chain"]()  # runs the hypothesis test as printed


def test_doc_ir_text_test_passes(doc_namespace):
    doc_namespace["test_fuse_matmul_add"]()


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


def test_doc_fusion_computes_what_numpy_does_in_either_operand_order(doc_namespace):
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((3, 4), np.float32), rng.standard_normal(4).astype(np.float32)
    data = rng.standard_normal((2, 3)).astype(np.float32)
    for bias_first in (False, True):
        g = Graph("mm")
        x = g.add_input("x", TensorType((2, 3), "f32"))
        mm = g.op("MatMul", x, g.add_constant(w))
        bias = g.add_constant(b)
        g.set_outputs([g.op("Add", *((bias, mm) if bias_first else (mm, bias)))])
        report = check_pass("fuse-matmul-add", g)
        assert [n.op for n in report.after.nodes] == ["Gemm"]
        np.testing.assert_allclose(run_graph(report.after, [data])[0], data @ w + b, rtol=1e-5)


def test_doc_shows_the_failure_its_wrong_pass_produces(doc_namespace):
    with pytest.raises(AssertionError) as e:
        doc_namespace["test_fuse_matmul_bias"]()
    # numbers may differ in their last digits with another BLAS: they match any number
    number = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
    shown = re.escape(shown_failure())
    pattern = re.sub(r"(?:\\-)?\d+(?:\\\.\d+)?(?:e[\\\-+]*\d+)?", lambda m: number, shown)
    assert re.fullmatch(pattern, str(e.value)), str(e.value)
    assert "first differing value: %y[" in str(e.value)


def test_doc_property_test_is_not_vacuous(doc_namespace):
    """Its strategy does draw graphs the pass changes."""
    fold = doc_namespace["FoldMulChain"]()
    found = find(graphs(ops=["Mul", "Relu", "Conv"], layout=None),
                 lambda g: check_pass(fold, g).changed,
                 settings=settings(max_examples=500, database=None, deadline=None,
                                   suppress_health_check=list(HealthCheck)))
    assert check_pass(fold, found).counts["mul-chain"] >= 1
