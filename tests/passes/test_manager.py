"""PassManager: reports, error naming, and the instruments (timing, print, verify, validate)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from npucc.errors import PassError, VerificationError
from npucc.ir import Graph, TensorType
from npucc.passes import (
    Instrument,
    PassManager,
    PassResult,
    PrintIR,
    Timing,
    ValidateEach,
    VerifyEach,
    default_instruments,
    function_pass,
    run_passes,
)
from npucc.passes.instruments import current_default_instruments
from npucc.testing import parse_ir

TEXT = """
graph m(%x: f32[2,3]) -> (%out) {
  %one = const f32[2,3] dense<1.0>
  %two = const f32[2,3] dense<2.0>
  %three = Add(%one, %two) : f32[2,3]
  %a = Add(%x, %three) : f32[2,3]
  %dead = Relu(%a) : f32[2,3]
  %out = Relu(%a) : f32[2,3]
  return %out
}
"""


@function_pass("test-boom")
def boom(graph):
    """Test pass that always fails."""
    raise ValueError("kaboom")


@function_pass("test-silent-change")
def silent_change(graph):
    """Test pass that changes the graph but reports no change (breaks the contract)."""
    graph.add_constant(np.array([1.0, 2.0], np.float32), "unreported")
    return False


@function_pass("test-relu-to-sigmoid")
def relu_to_sigmoid(graph):
    """Test pass that changes what the graph computes (wrong on purpose)."""
    n = 0
    for node in list(graph.nodes):
        if node.op == "Relu":
            new = graph.add_node("Sigmoid", node.inputs, before=node).output
            graph.replace_all_uses_with(node.output, new)
            graph.erase(node)
            n += 1
    return n


@function_pass("test-corrupt")
def corrupt(graph):
    """Test pass that edits node inputs behind the graph's bookkeeping."""
    node = next(n for n in graph.nodes if n.op == "Relu")
    node.inputs = (graph.inputs[0],)
    return True


class Recorder(Instrument):
    def __init__(self, log, fail_after=None):
        self.log, self.fail_after = log, fail_after

    def enter_run(self, graph, pipeline):
        self.log.append(("enter", str(pipeline)))

    def before_pass(self, pass_, graph):
        self.log.append(("before", pass_.name))

    def after_pass(self, pass_, graph, result):
        self.log.append(("after", pass_.name, result.changed))
        if pass_.name == self.fail_after:
            raise RuntimeError("instrument broke")

    def pass_failed(self, pass_, graph, error):
        self.log.append(("failed", pass_.name, type(error).__name__))

    def exit_run(self, graph, report):
        self.log.append(("exit", len(report.records)))


def test_report_and_hook_order():
    log = []
    g = parse_ir(TEXT)
    report = PassManager("fold-constants,cse,dce", [Recorder(log)]).run(g)
    assert [r.name for r in report.records] == ["fold-constants", "cse", "dce"]
    assert [r.changed for r in report.records] == [True, True, False]
    assert report.records[0].counts == {"folded": 1}
    assert report.records[1].counts == {"constants": 0, "nodes": 1}
    assert all(r.seconds >= 0 for r in report.records) and report.changed
    assert "fold-constants" in report.table() and "total" in report.table()
    assert log == [("enter", "fold-constants,cse,dce"),
                   ("before", "fold-constants"), ("after", "fold-constants", True),
                   ("before", "cse"), ("after", "cse", True),
                   ("before", "dce"), ("after", "dce", False), ("exit", 3)]


def test_pass_error_names_the_pass_and_those_before_it():
    log = []
    with pytest.raises(PassError) as e:
        run_passes(parse_ir(TEXT), "dce,fold-constants,test-boom,cse", [Recorder(log)])
    msg = str(e.value)
    assert "pass test-boom failed (after: dce, fold-constants): ValueError: kaboom" in msg
    assert isinstance(e.value.__cause__, ValueError)
    assert e.value.pass_name == "test-boom"
    assert e.value.passes_before == ("dce", "fold-constants")
    assert log[-1] == ("failed", "test-boom", "ValueError")
    with pytest.raises(PassError, match=r"pass test-boom failed \(first pass\)"):
        run_passes(parse_ir(TEXT), "test-boom")


def test_instrument_error_names_the_pass_and_instrument():
    with pytest.raises(PassError) as e:
        run_passes(parse_ir(TEXT), "dce,cse", [Recorder([], fail_after="cse")])
    assert "pass cse failed the Recorder check (after: dce): RuntimeError: instrument broke" \
        in str(e.value)
    assert isinstance(e.value.__cause__, RuntimeError)


def test_verify_each_catches_a_corrupting_pass():
    with pytest.raises(PassError) as e:
        run_passes(parse_ir(TEXT), "dce,test-corrupt", [VerifyEach()])
    assert "pass test-corrupt failed the VerifyEach check (after: dce)" in str(e.value)
    assert isinstance(e.value.__cause__, VerificationError)


def test_verify_each_rejects_an_invalid_input_graph():
    g = parse_ir(TEXT)
    next(n for n in g.nodes if n.op == "Relu").inputs = (g.inputs[0],)
    with pytest.raises(PassError, match="input graph is invalid before pipeline dce"):
        run_passes(g, "dce", [VerifyEach()])


def test_unchanged_contract_is_checked_only_with_verify_or_validate(monkeypatch):
    monkeypatch.setattr("npucc.passes.manager.current_default_instruments", lambda: ())
    run_passes(parse_ir(TEXT), "test-silent-change")  # no checking instrument: not noticed
    for inst in (VerifyEach(), ValidateEach()):
        with pytest.raises(PassError) as e:
            run_passes(parse_ir(TEXT), "dce,test-silent-change", [inst])
        msg = str(e.value)
        assert "pass test-silent-change reported changed=False but changed the graph" in msg
        assert "(after: dce)" in msg and "+  %unreported = const f32[2] dense<[1.0, 2.0]>" in msg


def test_validate_each_catches_a_wrong_rewrite_and_passes_a_right_one():
    with pytest.raises(PassError) as e:
        run_passes(parse_ir(TEXT), "fold-constants,test-relu-to-sigmoid", [ValidateEach(seed=3)])
    assert "pass test-relu-to-sigmoid failed the ValidateEach check (after: fold-constants)" \
        in str(e.value)
    assert "differs" in str(e.value)
    v = ValidateEach()
    run_passes(parse_ir(TEXT), "fold-constants,cse,dce", [v])
    assert v._before == []


def test_validate_each_drops_its_snapshot_when_a_pass_fails():
    v = ValidateEach()
    with pytest.raises(PassError):
        run_passes(parse_ir(TEXT), "dce,test-boom", [v])
    assert v._before == []


def test_print_ir_before_and_after_named_passes():
    out = io.StringIO()
    g = parse_ir(TEXT)
    run_passes(g, "fold-constants,cse,dce", [PrintIR(before=["cse"], after=["dce"], file=out)])
    text = out.getvalue()
    assert text.count("// ----- IR") == 2
    before_cse = text.split("// ----- IR before cse -----\n")[1].split("// -----")[0]
    assert "%dead = Relu(%a)" in before_cse and "%three = const" in before_cse
    assert text.split("// ----- IR after dce -----\n")[1].strip() == str(g)
    out = io.StringIO()
    run_passes(parse_ir(TEXT), "cse,dce", [PrintIR(after=["all"], file=out)])
    assert out.getvalue().count("// ----- IR after") == 2


def test_timing_collects_and_prints():
    out = io.StringIO()
    t = Timing(file=out)
    run_passes(parse_ir(TEXT), "fold-constants,dce", [t])
    assert [r.name for r in t.records] == ["fold-constants", "dce"]
    assert t.total() >= 0
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["pass", "changed", "ms", "counts"]
    assert lines[1].startswith("fold-constants") and lines[-1].startswith("total")


def test_default_instruments_scope():
    log = []
    outer = current_default_instruments()
    with default_instruments(Recorder(log)):
        run_passes(parse_ir(TEXT), "dce")
        with default_instruments(Recorder(["ignored"])):
            pm = PassManager("dce", [Recorder(log)])
            assert len([i for i in pm.active_instruments() if isinstance(i, Recorder)]) == 1
    assert current_default_instruments() == outer
    run_passes(parse_ir(TEXT), "dce")
    assert log.count(("before", "dce")) == 1


def test_changed_flag_from_plain_returns():
    g = Graph()
    x = g.add_input("x", TensorType((1,), "f32"))
    g.set_outputs([g.op("Relu", x)])

    @function_pass("test-returns-int")
    def returns_int(graph):
        """Test pass returning a count."""
        return 2

    rec = run_passes(g, "test-returns-int").records[0]
    assert rec.changed and rec.counts == {"changes": 2}
    assert PassResult.of(False) == PassResult(False)


def test_run_level_instrument_errors_are_pass_errors():
    class BadEnter(Instrument):
        def enter_run(self, graph, pipeline):
            raise KeyError("no")

    class BadExit(Instrument):
        def exit_run(self, graph, report):
            raise ValueError("late")

    with pytest.raises(PassError, match="BadEnter failed before the first pass: KeyError"):
        run_passes(parse_ir(TEXT), "dce", [BadEnter()])
    with pytest.raises(PassError, match="instrument BadExit failed after dce, cse: ValueError"):
        run_passes(parse_ir(TEXT), "dce,cse", [BadExit()])
