"""Operands that trained models compute from the data, where npucc used to need them at import:
a Clip bound (openWakeWord's melspectrogram clips its log-mel to max - 80 dB) and an If
condition (openWakeWord's hey_jarvis runs a verifier when the first score passes a threshold).
Each small model here is built with onnx.helper and checked against onnxruntime."""

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from npucc.errors import UnsupportedError
from npucc.frontends.onnx import load
from npucc.ir import run_graph

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(*i) for i in inputs],
                          [helper.make_tensor_value_info(*o) for o in outputs], list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _const(name, value):
    return numpy_helper.from_array(np.asarray(value, np.float32), name)


def _check(model, feeds, input_shapes=None):
    graph = load(model, input_shapes=input_shapes)
    assert not any(n.op == "If" for n in graph.nodes)
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)
    got = run_graph(graph, feeds)
    for ours, theirs in zip(got, want):
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bounds", ["min", "max", "both", "min_static_max", "max_static_min"])
def test_clip_bounds_computed_from_the_data_match_onnxruntime(bounds):
    """min = ReduceMax(x) - 2 and / or max = ReduceMin(x) + 1.5, next to a static bound;
    with both computed, min > max can happen and every value is max."""
    nodes = [helper.make_node("ReduceMax", ["x"], ["peak"], keepdims=0),
             helper.make_node("Sub", ["peak", "two"], ["lo_run"]),
             helper.make_node("ReduceMin", ["x"], ["low"], keepdims=0),
             helper.make_node("Add", ["low", "one_half"], ["hi_run"])]
    lo, hi = {"min": ("lo_run", ""), "max": ("", "hi_run"), "both": ("lo_run", "hi_run"),
              "min_static_max": ("lo_run", "hi_static"),
              "max_static_min": ("lo_static", "hi_run")}[bounds]
    nodes.append(helper.make_node("Clip", ["x", lo, hi], ["y"]))
    inits = [_const("two", 2.0), _const("one_half", 1.5), _const("hi_static", 0.25),
             _const("lo_static", -0.5)]
    model = _model(nodes, [("x", F, [2, 16])], [("y", F, [2, 16])], inits)
    for seed in range(3):
        x = np.random.default_rng(seed).standard_normal((2, 16)).astype(np.float32)
        _check(model, {"x": x * (1 + seed)})


def _verifier_model(then_shape=(1, 1)):
    """score = Sigmoid(x W); if score >= 0.5 (bool, computed): Sigmoid(x V) (a branch that
    reads the outer input and has an initializer of its own) else score (Identity)."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 1)).astype(np.float32), "w")
    v = numpy_helper.from_array(rng.standard_normal((8, int(np.prod(then_shape))))
                                .astype(np.float32), "v")
    then = helper.make_graph(
        [helper.make_node("MatMul", ["x", "v"], ["tv"]),
         helper.make_node("Sigmoid", ["tv"], ["t_out"])], "then", [],
        [helper.make_tensor_value_info("t_out", F, list(then_shape))], [v])
    other = helper.make_graph([helper.make_node("Identity", ["score"], ["e_out"])], "else", [],
                              [helper.make_tensor_value_info("e_out", F, [1, 1])])
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"]),
             helper.make_node("Sigmoid", ["xw"], ["score"]),
             helper.make_node("GreaterOrEqual", ["score", "half"], ["pass"]),
             helper.make_node("Squeeze", ["pass"], ["cond"]),
             helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other,
                              name="verify")]
    return _model(nodes, [("x", F, [1, 8])], [("y", F, None)], [w, _const("half", 0.5)])


def test_an_if_on_a_condition_computed_from_the_data_matches_onnxruntime_both_ways():
    model = _verifier_model()
    taken = set()
    for seed in range(40):
        x = np.random.default_rng(seed).standard_normal((1, 8)).astype(np.float32)
        score = 1 / (1 + np.exp(-(x @ numpy_helper.to_array(model.graph.initializer[0]))))
        taken.add(bool(score[0, 0] >= 0.5))
        _check(model, {"x": x})
    assert taken == {True, False}


def test_an_if_whose_branches_differ_in_shape_is_refused_naming_the_node_and_output():
    with pytest.raises(UnsupportedError, match=r"node 'verify' \(op If.*computed at run time.*"
                                               r"output 0 \('y'\) is float32\[1, 2\] in "
                                               r"then_branch but float32\[1, 1\] in else_branch"):
        load(_verifier_model(then_shape=(1, 2)))
