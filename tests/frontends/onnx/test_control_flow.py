"""ONNX Loop and Scan unrolled at import (their iteration counts known at import time), and If
inside them: every model is checked against onnxruntime on random inputs, never against npucc's
own output. Also the refusals: a data-dependent trip count or condition, a count or body over
npucc.limits.MAX_UNROLLED_NODES."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from npucc import limits
from npucc.errors import FrontendError, UnsupportedError
from npucc.frontends.onnx import load
from npucc.ir import run_graph

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
node = helper.make_node


def _vi(name, elem=F, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def _const(name, value, dtype=None):
    return numpy_helper.from_array(np.asarray(value, dtype), name)


def _body(nodes, inputs, outputs, inits=(), name="body"):
    """A subgraph; inputs / outputs are (name, elem type, shape) tuples."""
    return helper.make_graph(nodes, name, [_vi(*i) for i in inputs], [_vi(*o) for o in outputs],
                             list(inits))


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", [_vi(*i) for i in inputs], [_vi(*o) for o in outputs],
                          list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _save(model, tmp_path, name="model.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def _check(model, tmp_path, feeds: dict, input_shapes=None, rtol=1e-5, atol=1e-6):
    """Import the model, run it with npucc's reference interpreter and onnxruntime; returns the
    graph. No Loop, Scan or If node is left."""
    path = _save(model, tmp_path)
    graph = load(path, input_shapes=input_shapes)
    assert not {n.op for n in graph.nodes} & {"Loop", "Scan", "If"}
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = run_graph(graph, feeds)
    assert len(got) == len(want)
    for ours, theirs in zip(got, want):
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)
    return graph


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# body: v_out = v_in * 0.5 + x (x from the outer scope), s = v_out * i: carried v, scan s
_ACC_NODES = [node("Mul", ["v_in", "half"], ["vh"]), node("Add", ["vh", "x"], ["v_out"]),
              node("Cast", ["i"], ["fi"], to=F), node("Mul", ["v_out", "fi"], ["s"])]
_ACC_INPUTS = [("i", I64, []), ("cond_in", B, []), ("v_in", F, [2, 3])]


def _acc_body(cond_nodes, cond_out="cond_out"):
    return _body(_ACC_NODES + cond_nodes, _ACC_INPUTS,
                 [(cond_out, B, []), ("v_out", F, [2, 3]), ("s", F, None)],
                 [_const("half", 0.5, np.float32)])


def _acc_model(loop_inputs, body, pre=(), inits=(), opset=17):
    return _model([*pre, node("Loop", [*loop_inputs, "v0"], ["v", "scan"], body=body, name="loop")],
                  [("x", F, [2, 3]), ("v0", F, [2, 3])],
                  [("v", F, None), ("scan", F, None)], inits, opset)


@pytest.mark.parametrize("opset", [9, 11, 13, 16, 21])  # Loop-1, -11, -13, -16, -21
def test_loop_with_a_constant_trip_count_carries_values_and_stacks_scan_outputs(opset, tmp_path):
    body = _acc_body([node("Identity", ["cond_in"], ["cond_out"])])
    model = _acc_model(["M", ""], body, inits=[_const("M", 4, np.int64)], opset=opset)
    graph = _check(model, tmp_path, {"x": _rand(2, 3), "v0": _rand(2, 3, seed=1)})
    names = {v.name for n in graph.nodes for v in n.outputs}
    assert {"loop/iter0/v_out", "loop/iter3/s"} <= names
    assert any("loop/iter2/" in p for n in graph.nodes for p in n.provenance)


def test_loop_trip_count_from_a_shape_folds_at_import(tmp_path):
    """keras2onnx / tf2onnx loop over the batch: M = Gather(Shape(x), 0), static once the input
    shape is fixed; the body reads row i of x."""
    body = _body([node("Gather", ["x", "i"], ["row"], axis=0),
                  node("Mul", ["v_in", "half"], ["vh"]), node("Add", ["vh", "row"], ["v_out"]),
                  node("Relu", ["v_out"], ["s"]), node("Identity", ["cond_in"], ["cond_out"])],
                 [("i", I64, []), ("cond_in", B, []), ("v_in", F, [3])],
                 [("cond_out", B, []), ("v_out", F, [3]), ("s", F, [3])],
                 [_const("half", 0.5, np.float32)])
    model = _model([node("Shape", ["x"], ["shape"]), node("Gather", ["shape", "zero"], ["n"]),
                    node("Loop", ["n", "true", "v0"], ["v", "scan"], body=body, name="loop")],
                   [("x", F, ["batch", 3]), ("v0", F, [3])], [("v", F, None), ("scan", F, None)],
                   [_const("zero", 0, np.int64), _const("true", True)])
    graph = _check(model, tmp_path, {"x": _rand(4, 3), "v0": _rand(3, seed=1)},
                   input_shapes={"x": [4, 3]})
    assert graph.outputs[1].shape == (4, 3)


def test_loop_condition_computed_from_the_iteration_number_stops_early(tmp_path):
    """cond_out = i + 1 < 3 with M = INT64_MAX (torch's while loops): three iterations."""
    body = _acc_body([node("Add", ["i", "one"], ["next"]),
                      node("Less", ["next", "three"], ["cond_out"])])
    body.initializer.extend([_const("one", 1, np.int64), _const("three", 3, np.int64)])
    model = _acc_model(["M", "true"], body, inits=[_const("M", np.iinfo(np.int64).max),
                                                   _const("true", True)])
    graph = _check(model, tmp_path, {"x": _rand(2, 3), "v0": _rand(2, 3, seed=1)})
    assert graph.outputs[1].shape == (3, 2, 3)


def test_loop_stops_where_the_trip_count_ends_before_the_condition(tmp_path):
    body = _acc_body([node("Less", ["i", "ten"], ["cond_out"])])
    body.initializer.append(_const("ten", 10, np.int64))
    model = _acc_model(["M", "true"], body, inits=[_const("M", 2, np.int64),
                                                   _const("true", True)])
    _check(model, tmp_path, {"x": _rand(2, 3), "v0": _rand(2, 3, seed=1)})


def test_loop_whose_initial_condition_is_false_runs_no_iteration(tmp_path):
    """No iteration: the carried values are the initial ones, the scan output is empty with the
    shape the body declares."""
    body = _body(_ACC_NODES + [node("Identity", ["cond_in"], ["cond_out"])], _ACC_INPUTS,
                 [("cond_out", B, []), ("v_out", F, [2, 3]), ("s", F, [2, 3])],
                 [_const("half", 0.5, np.float32)])
    model = _acc_model(["M", "false"], body, inits=[_const("M", 5, np.int64),
                                                    _const("false", False)])
    graph = _check(model, tmp_path, {"x": _rand(2, 3), "v0": _rand(2, 3, seed=1)})
    assert graph.outputs[1].shape == (0, 2, 3)


def test_an_empty_scan_output_of_undeclared_shape_is_refused(tmp_path):
    body = _acc_body([node("Identity", ["cond_in"], ["cond_out"])])
    model = _acc_model(["M", ""], body, inits=[_const("M", 0, np.int64)])
    with pytest.raises(UnsupportedError, match=r"node 'loop' \(op Loop.*runs no iteration.*'s'"):
        load(_save(model, tmp_path))


def _conv_loop_model():
    """y: a Conv applied 3 times to x, plus sigmoid(x) (read by the body from the outer scope);
    hist: the carried (1, 2) zeros, one row of channel means concatenated per iteration."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((2, 2, 3, 3)).astype(np.float32) * 0.3
    body = _body(
        [node("Conv", ["img_in", "w"], ["conv"], pads=[1, 1, 1, 1]),
         node("Add", ["conv", "bias_map"], ["img_out"]),
         node("ReduceMean", ["img_out"], ["m"], axes=[2, 3], keepdims=0),
         node("Concat", ["hist_in", "m"], ["hist_out"], axis=0),
         node("Identity", ["cond_in"], ["cond_out"])],
        [("i", I64, []), ("cond_in", B, []), ("img_in", F, [1, 2, 6, 6]), ("hist_in", F, None)],
        [("cond_out", B, []), ("img_out", F, [1, 2, 6, 6]), ("hist_out", F, None)])
    return _model(
        [node("Sigmoid", ["x"], ["bias_map"]),
         node("Loop", ["M", "", "x", "hist0"], ["y", "hist"], body=body, name="conv_loop")],
        [("x", F, [1, 2, 6, 6])], [("y", F, None), ("hist", F, None)],
        [numpy_helper.from_array(w, "w"), _const("M", 3, np.int64),
         _const("hist0", np.zeros((1, 2)), np.float32)])


def test_loop_reads_outer_runtime_values_and_runs_a_conv(tmp_path):
    """The body reads a value computed before the loop (implicit input) and the outer Conv
    weights; each iteration applies a Conv to the carried image; the other carried value grows
    by one row per iteration."""
    graph = _check(_conv_loop_model(), tmp_path, {"x": _rand(1, 2, 6, 6)}, rtol=1e-4,
                   atol=1e-5)
    assert sum(n.op == "Conv" for n in graph.nodes) == 3
    assert graph.outputs[1].shape == (4, 2)


def test_a_cut_keeps_the_nodes_a_loop_body_reads_from_the_outer_scope(tmp_path):
    """outputs= keeps the nodes the model's outputs need: the Sigmoid only the body reads too."""
    path = _save(_conv_loop_model(), tmp_path)
    graph = load(path, outputs=["y"])
    x = _rand(1, 2, 6, 6)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        ["y"], {"x": x})[0]
    np.testing.assert_allclose(run_graph(graph, [x])[0], want, rtol=1e-4, atol=1e-5)


def test_if_on_the_iteration_number_inside_a_loop(tmp_path):
    """The body branches on i == 0: each iteration's If folds and its branch is imported under
    the iteration's names."""
    then = _body([node("Neg", ["v_in"], ["t"])], [], [("t", F, [2, 3])], name="then")
    other = _body([node("Mul", ["v_in", "x"], ["e"])], [], [("e", F, [2, 3])], name="else")
    body = _body([node("Equal", ["i", "zero"], ["first"]),
                  node("If", ["first"], ["v_out"], then_branch=then, else_branch=other,
                       name="branch"),
                  node("Identity", ["cond_in"], ["cond_out"])],
                 [("i", I64, []), ("cond_in", B, []), ("v_in", F, [2, 3])],
                 [("cond_out", B, []), ("v_out", F, [2, 3]), ("v_in", F, [2, 3])],
                 [_const("zero", 0, np.int64)])
    model = _acc_model(["M", ""], body, inits=[_const("M", 3, np.int64)])
    graph = _check(model, tmp_path, {"x": _rand(2, 3), "v0": _rand(2, 3, seed=1)})
    names = {v.name for n in graph.nodes for v in n.outputs}
    assert {"loop/iter0/t", "loop/iter1/e", "loop/iter2/e"} <= names


def test_nested_loops_unroll_with_names_of_their_own(tmp_path):
    """The inner loop's trip count is the outer iteration number + 1; its carried sum and the
    outer scan output are checked against onnxruntime."""
    inner = _body([node("Add", ["acc_in", "x"], ["acc_out"]),
                   node("Identity", ["c_in"], ["c_out"])],
                  [("j", I64, []), ("c_in", B, []), ("acc_in", F, [2, 3])],
                  [("c_out", B, []), ("acc_out", F, [2, 3])], name="inner")
    outer = _body([node("Add", ["i", "one"], ["trips"]),
                   node("Loop", ["trips", "", "v_in"], ["v_out"], body=inner, name="inner_loop"),
                   node("Identity", ["cond_in"], ["cond_out"]),
                   node("Identity", ["v_out"], ["s"])],
                  _ACC_INPUTS, [("cond_out", B, []), ("v_out", F, [2, 3]), ("s", F, [2, 3])],
                  [_const("one", 1, np.int64)], name="outer")
    model = _acc_model(["M", ""], outer, inits=[_const("M", 3, np.int64)])
    graph = _check(model, tmp_path, {"x": _rand(2, 3), "v0": _rand(2, 3, seed=1)})
    names = {v.name for n in graph.nodes for v in n.outputs}
    assert "loop/iter2/inner_loop/iter2/acc_out" in names
    assert sum(n.op == "Add" for n in graph.nodes) == 1 + 2 + 3


def _scan_model(opset=17, **attrs):
    """Scan over two inputs (x scanned on axis 0, y on axis `scan_input_axes[1]`) with a running
    sum state; scan outputs: the state, and x_t * y_t."""
    body = _body([node("Add", ["sum_in", "xt"], ["sum_out"]),
                  node("Mul", ["xt", "yt"], ["prod"]),
                  node("Identity", ["sum_out"], ["state_copy"])],
                 [("sum_in", F, [3]), ("xt", F, [3]), ("yt", F, [3])],
                 [("sum_out", F, [3]), ("state_copy", F, [3]), ("prod", F, [3])])
    return _model([node("Scan", ["s0", "x", "y"], ["sum", "states", "prods"], body=body,
                        num_scan_inputs=2, name="scan", **attrs)],
                  [("s0", F, [3]), ("x", F, [4, 3]), ("y", F, [3, 4])],
                  [("sum", F, None), ("states", F, None), ("prods", F, None)], opset=opset)


@pytest.mark.parametrize("attrs", [
    dict(scan_input_axes=[0, 1]),
    dict(scan_input_axes=[0, -1], scan_input_directions=[1, 0]),
    dict(scan_input_axes=[0, 1], scan_input_directions=[0, 1], scan_output_axes=[1, -1],
         scan_output_directions=[1, 0]),
], ids=["forward", "reverse-input", "output-axes-reverse-output"])
def test_scan_forward_and_reverse_with_axes(attrs, tmp_path):
    feeds = {"s0": _rand(3), "x": _rand(4, 3, seed=1), "y": _rand(3, 4, seed=2)}
    _check(_scan_model(**attrs), tmp_path, feeds)


def test_scan_at_opset_9(tmp_path):
    feeds = {"s0": _rand(3), "x": _rand(4, 3, seed=1), "y": _rand(4, 3, seed=2)}
    model = _scan_model(opset=9)
    model.graph.input[2].type.tensor_type.shape.dim[0].dim_value = 4
    model.graph.input[2].type.tensor_type.shape.dim[1].dim_value = 3
    _check(model, tmp_path, feeds)


def test_scan_8_is_refused_by_name(tmp_path):
    with pytest.raises(UnsupportedError, match=r"node 'scan' \(op Scan, opset 8\): Scan-8"):
        load(_save(_scan_model(opset=8), tmp_path))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # jit.script, TorchScript exporter
def test_a_torchscript_loop_exported_by_torch_onnx_matches_onnxruntime(tmp_path):
    """torch.jit.script'ed loops exported by the TorchScript exporter: a for loop over
    x.size(0) (M from Shape, the batch dim dynamic) and a while loop (M = INT64_MAX, the
    condition computed from a carried counter)."""
    torch = pytest.importorskip("torch")

    @torch.jit.script
    def loops(x, w):
        acc = torch.zeros_like(x[0])
        for i in range(x.size(0)):
            acc = acc * 0.5 + torch.tanh(x[i] @ w)
        k = 0
        while k < 3:
            acc = acc + float(k)
            k += 1
        return acc

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(4, 4))

        def forward(self, x):
            return loops(x, self.w)

    path = tmp_path / "scripted.onnx"
    torch.onnx.export(Net(), (torch.randn(2, 3, 4),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}})
    assert sum(n.op_type == "Loop" for n in onnx.load(str(path)).graph.node) == 2
    graph = load(path, input_shapes={"x": [5, 3, 4]})
    x = _rand(5, 3, 4)
    (want,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})
    np.testing.assert_allclose(run_graph(graph, [x])[0], want, rtol=1e-5, atol=1e-6)


# ---- refusals ----

def test_a_data_dependent_trip_count_is_refused_naming_the_node(tmp_path):
    pre = [node("ReduceMax", ["x"], ["mx"], keepdims=0), node("Cast", ["mx"], ["n"], to=I64)]
    body = _acc_body([node("Identity", ["cond_in"], ["cond_out"])])
    model = _acc_model(["n", ""], body, pre)
    with pytest.raises(UnsupportedError,
                       match=r"model\.onnx: node 'loop' \(op Loop, opset 17\): input 0 \(the "
                             r"trip count M, tensor 'n'\) must be known at import time.*"
                             r"outputs="):
        load(_save(model, tmp_path))


def test_a_data_dependent_condition_is_refused_naming_the_node(tmp_path):
    body = _acc_body([node("ReduceSum", ["v_out"], ["total"], keepdims=0),
                      node("Less", ["total", "limit"], ["cond_out"])])
    body.initializer.append(_const("limit", 10.0, np.float32))
    model = _acc_model(["M", "true"], body, inits=[_const("M", 8, np.int64),
                                                   _const("true", True)])
    with pytest.raises(UnsupportedError, match=r"node 'loop' \(op Loop.*condition the body "
                                               r"computes \(tensor 'cond_out', iteration 0\)"):
        load(_save(model, tmp_path))


def test_a_scan_output_that_changes_shape_is_refused(tmp_path):
    """The carried value grows (allowed), the scan output reads it (each iteration's values must
    have one shape to be stacked)."""
    body = _body([node("Concat", ["v_in", "x"], ["v_out"], axis=0),
                  node("Identity", ["cond_in"], ["cond_out"]),
                  node("Identity", ["v_out"], ["s"])],
                 [("i", I64, []), ("cond_in", B, []), ("v_in", F, None)],
                 [("cond_out", B, []), ("v_out", F, None), ("s", F, None)])
    model = _acc_model(["M", ""], body, inits=[_const("M", 3, np.int64)])
    with pytest.raises(FrontendError, match=r"node 'loop'.*scan output 0 \('scan'\) has shape "
                                            r"\[4, 3\] at iteration 0 and \[6, 3\] at iteration 1"):
        load(_save(model, tmp_path))


def test_a_loop_without_trip_count_or_condition_is_refused(tmp_path):
    body = _acc_body([node("Identity", ["cond_in"], ["cond_out"])])
    with pytest.raises(UnsupportedError, match=r"node 'loop'.*never ends"):
        load(_save(_acc_model(["", ""], body), tmp_path))


def test_a_huge_trip_count_is_refused_before_unrolling(tmp_path):
    body = _acc_body([node("Identity", ["cond_in"], ["cond_out"])])
    path = _save(_acc_model(["M", ""], body, inits=[_const("M", 10**12, np.int64)]), tmp_path)
    with pytest.raises(FrontendError, match=r"model\.onnx: node 'loop' \(op Loop.*"
                                            r"1000000000000 iterations.*MAX_UNROLLED_NODES"):
        load(path)


def test_nested_loops_multiply_against_the_unroll_limit(tmp_path, monkeypatch):
    """Each loop fits alone (30 iterations of 6 nodes, of 2 nodes) but not nested: the inner
    loop's copies in every outer iteration count."""
    monkeypatch.setattr(limits, "MAX_UNROLLED_NODES", 200)
    inner = _body([node("Add", ["acc_in", "x"], ["acc_out"]),
                   node("Identity", ["c_in"], ["c_out"])],
                  [("j", I64, []), ("c_in", B, []), ("acc_in", F, [2, 3])],
                  [("c_out", B, []), ("acc_out", F, [2, 3])], name="inner")
    outer = _body([node("Loop", ["M", "", "v_in"], ["v_out"], body=inner, name="inner_loop"),
                   node("Identity", ["cond_in"], ["cond_out"]),
                   node("Identity", ["v_out"], ["s"])],
                  _ACC_INPUTS, [("cond_out", B, []), ("v_out", F, [2, 3]), ("s", F, [2, 3])],
                  name="outer")
    path = _save(_acc_model(["M", ""], outer, inits=[_const("M", 30, np.int64)]), tmp_path)
    with pytest.raises(FrontendError, match=r"model\.onnx: node 'loop(/iter\d+/inner_loop)?' "
                                            r"\(op Loop.*over the limit of 200"):
        load(path)


def test_an_empty_body_still_counts_against_the_unroll_limit(tmp_path):
    """A body of no nodes (its outputs are its inputs) costs 1 per iteration: 10**12 of them are
    refused at once rather than looped over."""
    body = _body([], [("i", I64, []), ("cond_in", B, []), ("v_in", F, [2, 3])],
                 [("cond_in", B, []), ("v_in", F, [2, 3])])
    model = _model([node("Loop", ["M", "", "v0"], ["v"], body=body, name="loop")],
                   [("v0", F, [2, 3])], [("v", F, None)], [_const("M", 10**12, np.int64)])
    with pytest.raises(FrontendError, match=r"node .loop.*1000000000000 iterations of 1 node each"):
        load(_save(model, tmp_path))


def test_a_while_loop_that_never_stops_hits_the_unroll_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_UNROLLED_NODES", 100)
    body = _acc_body([node("Identity", ["cond_in"], ["cond_out"])])
    path = _save(_acc_model(["", "true"], body, inits=[_const("true", True)]), tmp_path)
    with pytest.raises(FrontendError, match=r"node 'loop' \(op Loop.*iteration 16 of 6 nodes "
                                            r"each after the 96 nodes.*over the limit of 100"):
        load(path)
