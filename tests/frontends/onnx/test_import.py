"""ONNX import behaviour: framework detection, errors, input shapes, cutting, names and folding.
Numbers are checked against onnxruntime, never against npucc's own output."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from npucc.errors import FrontendError, UnsupportedError
from npucc.frontends import FRONTENDS, detect_framework, load
from npucc.ir import run_graph


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _ort(model, feeds):
    return ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)


def _conv_model(dims=("N", 3, "H", "W")):
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3))
                                .astype(np.float32), "conv.w")
    return _model([helper.make_node("Conv", ["x", "conv.w"], ["y"], name="conv1",
                                    auto_pad="SAME_UPPER", strides=[2, 2]),
                   helper.make_node("Relu", ["y"], ["out"], name="relu1")],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
                  [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], [w])


def test_detect_framework_by_suffix_and_object():
    assert detect_framework("m.onnx") == "onnx"
    assert detect_framework("M.PT2") == "pytorch"
    assert detect_framework(("net.prototxt", "net.caffemodel")) == "caffe"
    assert detect_framework("yolov3.cfg") == "darknet"
    assert detect_framework(onnx.ModelProto()) == "onnx"


def test_unknown_suffix_lists_known_ones():
    with pytest.raises(FrontendError) as e:
        load("model.xyz")
    for f in FRONTENDS.values():
        for s in f.suffixes:
            assert s in str(e.value)


def test_input_shapes_fix_symbolic_dims_by_name_and_by_order(tmp_path):
    m = _conv_model()
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 7)).astype(np.float32)
    (want,) = _ort(m, {"x": x})
    for shapes in ({"x": [2, 3, 9, 7]}, [[2, 3, 9, 7]]):
        g = load(m, input_shapes=shapes)
        np.testing.assert_allclose(run_graph(g, [x])[0], want, rtol=1e-5, atol=1e-5)


def test_unknown_dim_error_names_the_input():
    with pytest.raises(FrontendError, match=r"input 'x' has unknown dim 0 \('N'\), dim 2 \('H'\)"):
        load(_conv_model())
    with pytest.raises(FrontendError, match=r"input 'x' dim 1 is 3 in the model"):
        load(_conv_model(), input_shapes={"x": [1, 4, 8, 8]})


def test_names_are_traceable():
    g = load(_conv_model((1, 3, 8, 8)))
    assert [v.name for v in g.inputs] == ["x"] and [v.name for v in g.outputs] == ["out"]
    nodes = list(g.nodes)
    assert [(n.op, set(n.provenance), n.output.name) for n in nodes] == [
        ("Conv", {"conv1"}, "y"), ("Relu", {"relu1"}, "out")]
    assert nodes[0].inputs[1].name == "conv.w" and nodes[0].inputs[1].is_constant
    assert list(nodes[0].attrs["pads"]) == [0, 0, 1, 1]  # SAME_UPPER made explicit


def test_shape_subgraph_folds_into_reshape_attribute():
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape (as torch exports flatten) becomes one
    Reshape with an explicit shape."""
    i64 = lambda name, v: numpy_helper.from_array(np.asarray(v, np.int64), name)  # noqa: E731
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"], name="flatten")]
    m = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
               [i64("zero", 0), i64("ax0", [0]), i64("minus1", [-1])])
    g = load(m)
    assert [(n.op, tuple(n.attrs["shape"])) for n in g.nodes] == [("Reshape", (2, 12))]
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(run_graph(g, [x])[0], _ort(m, {"x": x})[0])


def test_cut_outputs_and_inputs():
    m = _conv_model((1, 3, 8, 8))
    g = load(m, outputs=["y"])
    assert [n.op for n in g.nodes] == ["Conv"] and [v.name for v in g.outputs] == ["y"]
    g = load(m, inputs=["y"], input_shapes={"y": [1, 4, 4, 4]})
    assert [n.op for n in g.nodes] == ["Relu"] and [v.name for v in g.inputs] == ["y"]


def test_truncated_file_gives_one_clear_error(tmp_path):
    full = _conv_model((1, 3, 8, 8)).SerializeToString()
    for cut in (len(full) // 2, len(full) - 7, 5):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(full[:cut])
        with pytest.raises(FrontendError) as e:
            load(path)
        assert str(path) in str(e.value)
        assert "truncated or corrupt" in str(e.value) or "no ONNX graph" in str(e.value)
        assert e.value.__cause__ is None and "\n" not in str(e.value)


def test_missing_file_error():
    with pytest.raises(FrontendError, match="nope.onnx: no such file"):
        load("nope.onnx")


def test_unsupported_op_names_file_node_op_opset_and_where_the_supported_ops_are(tmp_path):
    m = _model([helper.make_node("Relu", ["x"], ["r"], name="ok"),
                helper.make_node("Unique", ["r"], ["y"], name="unique_node")],
               [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], opset=13)
    path = tmp_path / "unique.onnx"
    onnx.save(m, path)
    with pytest.raises(UnsupportedError) as e:
        load(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: node 'unique_node' (op Unique, opset 13): ")
    assert "supported ops: npucc.frontends.onnx.supported_ops()" in msg
    assert "Abs, " not in msg  # not the whole list of 170 names
    m.graph.name = "uniq"
    with pytest.raises(UnsupportedError) as e:  # an in-memory model is named once, by its graph
        load(m)
    assert str(e.value).startswith("<ModelProto> (graph 'uniq'): node 'unique_node' (op Unique")


def test_unsupported_attribute_value_is_named():
    m = _model([helper.make_node("Resize", ["x", "", "scales"], ["y"], name="rs", mode="cubic")],
               [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
               [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")])
    with pytest.raises(UnsupportedError, match=r"node 'rs' \(op Resize, opset 17\): mode='cubic'"):
        load(m)


def test_unknown_attribute_is_rejected_not_ignored():
    m = _model([helper.make_node("Relu", ["x"], ["y"], name="r", surprise=1)],
               [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(UnsupportedError, match=r"attribute\(s\) surprise are not supported"):
        load(m)


def test_external_data_model(tmp_path):
    m = _conv_model((1, 3, 8, 8))
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    (want,) = _ort(m, {"x": x})
    path = tmp_path / "ext.onnx"
    onnx.save(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    assert (tmp_path / "weights.bin").stat().st_size == 4 * 3 * 3 * 3 * 4
    np.testing.assert_allclose(run_graph(load(path), [x])[0], want, rtol=1e-5, atol=1e-5)


def test_output_that_aliases_an_input_keeps_its_name():
    m = _model([helper.make_node("Identity", ["x"], ["y"])],
               [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    g = load(m)
    assert [v.name for v in g.outputs] == ["y"]
    x = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(run_graph(g, [x])[0], x)


def _if_model(path, cond_nodes, cond_inits=()):
    """y = If(cond) then x * 2 (an outer constant) else x + 1 (a branch initializer); z = If on a
    False constant: then Neg(x), else Relu(x)."""
    two = numpy_helper.from_array(np.asarray(2.0, np.float32), "two")
    then = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["t_out"])], "then", [],
                             [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, [1, 4])])
    other = helper.make_graph([helper.make_node("Add", ["x", "one"], ["e_out"])], "else", [],
                              [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(np.asarray(1.0, np.float32), "one")])
    neg = helper.make_graph([helper.make_node("Neg", ["x"], ["n_out"])], "neg", [],
                            [helper.make_tensor_value_info("n_out", TensorProto.FLOAT, [1, 4])])
    relu = helper.make_graph([helper.make_node("Relu", ["x"], ["r_out"])], "relu", [],
                             [helper.make_tensor_value_info("r_out", TensorProto.FLOAT, [1, 4])])
    nodes = cond_nodes + [
        helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other, name="if1"),
        helper.make_node("If", ["no"], ["z"], then_branch=neg, else_branch=relu, name="if2")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("y", "z")],
        [two, numpy_helper.from_array(np.asarray(False), "no"), *cond_inits])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_an_if_on_a_shape_condition_imports_the_taken_branch(tmp_path):
    """Exporters branch on sizes: the condition (Shape -> Gather -> Greater) folds at import and
    the taken branch (reading an outer constant, or its own initializer) is imported in place;
    checked against onnxruntime."""
    cond = [helper.make_node("Shape", ["x"], ["shape"]),
            helper.make_node("Gather", ["shape", "one_idx"], ["n"]),
            helper.make_node("Greater", ["n", "three"], ["cond"])]
    inits = [numpy_helper.from_array(np.asarray(1, np.int64), "one_idx"),
             numpy_helper.from_array(np.asarray(3, np.int64), "three")]
    path = _if_model(tmp_path / "if.onnx", cond, inits)
    g = load(path)
    assert not any(n.op == "If" for n in g.nodes)
    x = np.array([[-1.5, 0.0, 2.0, 3.5]], np.float32)
    want = ort.InferenceSession(str(path)).run(None, {"x": x})
    for got, w in zip(run_graph(g, [x]), want):
        np.testing.assert_array_equal(got, w)


def test_an_if_on_a_computed_condition_computes_both_branches(tmp_path):
    """sum(x) > 2 decides at run time: both branches are imported and Where selects; against
    onnxruntime on inputs that take each branch."""
    cond = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0),
            helper.make_node("Greater", ["s", "two"], ["cond"])]
    path = _if_model(tmp_path / "if.onnx", cond)
    g = load(path)
    assert not any(n.op == "If" for n in g.nodes)
    for x in (np.array([[-1.5, 0.0, 2.0, 3.5]], np.float32),
              np.array([[-1.5, 0.0, 2.0, -3.5]], np.float32)):
        want = ort.InferenceSession(str(path)).run(None, {"x": x})
        for got, w in zip(run_graph(g, [x]), want):
            np.testing.assert_array_equal(got, w)


def test_a_run_time_shape_is_refused_with_the_cut_that_compiles_the_rest(tmp_path):
    """A Reshape whose target shape is computed from the data (as detection post-processing
    does): the error names the node and a cut at its run-time inputs; loading with that cut
    gives the model up to the node, equal to onnxruntime's tensors there."""
    model = _conv_model(dims=(1, 3, 8, 8))
    model.graph.node.extend([
        helper.make_node("ReduceMax", ["out"], ["m"], keepdims=0, name="peak"),
        helper.make_node("Cast", ["m"], ["n"], to=TensorProto.INT64, name="count"),
        helper.make_node("Unsqueeze", ["n", "zero"], ["shape"], name="as_shape"),
        helper.make_node("Reshape", ["out", "shape"], ["flat"], name="reshape1")])
    model.graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), "zero"))
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info("flat", TensorProto.FLOAT, None))
    path = tmp_path / "dyn.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(UnsupportedError, match=r"dyn\.onnx: node 'reshape1' \(op Reshape.*"
                                               r"computed at run time here; .*cut it there "
                                               r"with outputs=\['out', 'shape'\] \(CLI "
                                               r"--outputs out,shape\)"):
        load(path)
    g = load(path, outputs=["out", "shape"])
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    del model.graph.node[-1], model.graph.output[:]  # onnxruntime's view of the same cut
    model.graph.output.extend([helper.make_tensor_value_info("out", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("shape", TensorProto.INT64, None)])
    for got, want in zip(run_graph(g, [x]), _ort(model, {"x": x})):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_a_newer_opset_loads_when_its_ops_mean_what_they_meant_at_the_newest_npucc_reads():
    """The installed onnx's newest opset (28 with onnx 1.23): Conv and Relu have kept their
    definitions since an opset npucc reads, so npucc reads the model (checked against
    onnxruntime); an op redefined after that (Mod at 28, inside an If's branch) is refused by
    name."""
    from npucc.backends.simulator import compile_plan
    from npucc.frontends.onnx import MAX_OPSET

    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    w = numpy_helper.from_array(rng.normal(size=(3, 2, 3, 3)).astype(np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1])
    relu = helper.make_node("Relu", ["c"], ["y"])
    opset = onnx.defs.onnx_opset_version()
    if opset <= MAX_OPSET:
        pytest.skip(f"the installed onnx knows no opset newer than {MAX_OPSET}")
    m = helper.make_model(helper.make_graph([conv, relu], "g", [x], [y], [w]),
                          opset_imports=[helper.make_opsetid("", opset)])
    feed = rng.normal(size=(1, 2, 5, 5)).astype(np.float32)
    want = ort.InferenceSession(m.SerializeToString()).run(None, {"x": feed})[0]
    got = compile_plan(load(m)).run([feed])[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    branch = helper.make_graph(
        [helper.make_node("Mod", ["s", "l"], ["r"], fmod=1)], "then", [],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.float32(v), n) for v, n in ((5, "s"), (3, "l"))])
    cond = numpy_helper.from_array(np.array(True), "cond")
    if_ = helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)
    m = helper.make_model(helper.make_graph([if_], "g", [], [y], [cond]),
                          opset_imports=[helper.make_opsetid("", opset)])
    with pytest.raises(UnsupportedError, match=r"redefined after opset \d+: Mod \(opset 28\)"):
        load(m)


def test_image_scaler_of_the_older_model_zoo_matches_onnxruntime():
    """ImageScaler (experimental, opset <= 9; Tiny YOLOv2 and emotion FER+ in the ONNX model
    zoo start with it): x * scale + bias[c], as onnxruntime still computes it."""
    from npucc.backends.simulator import compile_plan

    node = helper.make_node("ImageScaler", ["x"], ["y"], scale=1 / 255, bias=[0.1, -0.2, 0.3])
    m = helper.make_model(helper.make_graph(
        [node, helper.make_node("Relu", ["y"], ["z"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 5])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3, 4, 5])]),
        opset_imports=[helper.make_opsetid("", 8)])
    m.ir_version = 3
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 4, 5)).astype(np.float32)
    want = ort.InferenceSession(m.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(compile_plan(load(m)).run([x])[0], want, rtol=1e-6, atol=1e-6)
