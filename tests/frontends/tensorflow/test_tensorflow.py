"""TensorFlow frozen-GraphDef frontend against TensorFlow.

Committed fixtures (tests/fixtures/tf/*_pb, made by scripts/gen_tf_fixtures.py) hold the frozen
graph, its input/output names and the outputs TensorFlow computed for the stored inputs. The
`tf_live` test builds a graph with tensorflow-cpu at test time (skipped without it, a failure
under NPUCC_REQUIRE_ORACLES=1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from npucc.backends.simulator import compile_plan
from npucc.errors import FrontendError, UnsupportedError
from npucc.frontends import load as load_any
from npucc.frontends.tensorflow import array_ops, load, math_ops
from npucc.frontends.tfproto import graph_pb2
from npucc.ir import run_graph
from npucc.ir.verify import verify

from ..tflite.oracle import fixture, needs_tf, rel_error

PB = ["resize_pb", "detector_pb", "ops_zoo_pb", pytest.param("mobilenet_v2_pb",
                                                             marks=pytest.mark.slow)]


def _load(name):
    path, inputs, expected, data = fixture(name)
    g = load(path, inputs=[str(n) for n in data["input_names"]],
             outputs=[str(n) for n in data["output_names"]],
             input_shapes=[list(x.shape) for x in inputs])
    return g, inputs, expected


@pytest.mark.parametrize("name", PB)
def test_frozen_graph_matches_tensorflow(name):
    g, inputs, expected = _load(name)
    verify(g)
    outs = run_graph(g, inputs)
    assert len(outs) == len(expected)
    for got, want in zip(outs, expected):
        assert rel_error(got, want) <= 1e-4


# ops of the converter tables the op fixtures do not hold: IsNan (its kernel is the IR's IsNaN,
# tested against onnxruntime), Gather and BatchMatMul (the v1 names of GatherV2, BatchMatMulV2)
NOT_IN_OP_FIXTURES = {"IsNan", "Gather", "BatchMatMul"}


@pytest.mark.parametrize("name, table", [("math_ops_pb", math_ops.CONVERTERS),
                                         ("array_ops_pb", array_ops.CONVERTERS)])
def test_op_fixtures_match_tensorflow_in_the_interpreter_and_the_plan(name, table):
    """Every op of the table is in the fixture's GraphDef, and both executors match TF."""
    path = fixture(name)[0]
    gd = graph_pb2.GraphDef.FromString(path.read_bytes())
    assert set(table) - NOT_IN_OP_FIXTURES <= {nd.op for nd in gd.node}
    g, inputs, expected = _load(name)
    verify(g)
    for outs in (run_graph(g, inputs), compile_plan(g).run(inputs)):
        assert len(outs) == len(expected)
        for got, want in zip(outs, expected):
            assert got.dtype == want.dtype and rel_error(got, want) <= 1e-5


def test_atrous_convolution_folds_into_a_dilated_conv():
    """TF1's SpaceToBatchND -> Conv2D (VALID) -> BatchToSpaceND becomes one Conv with dilations
    = the block and pads = paddings - crops; the pair around a Relu stays data movement (both
    checked against TensorFlow above)."""
    g, _, _ = _load("array_ops_pb")
    convs = [(n.attrs["dilations"], n.attrs["pads"]) for n in g.nodes if n.op == "Conv"]
    assert convs == [((2, 2), (2, 2, 2, 2))]
    assert any(n.op == "Relu" and n.inputs[0].producer.op == "Reshape" for n in g.nodes)


def test_function_calls_are_inlined():
    """convert_variables_to_constants_v2 keeps a nested tf.function bound for XLA (as Keras's
    grouped and depthwise convolutions are: ConvNeXt, RegNet) as a call of a library function.
    Each call becomes its body's nodes, named under the call, including a call nested in a body
    and a result read by output argument name (TopKV2's 'indices': output 1); both executors
    match TensorFlow."""
    path = fixture("calls_pb")[0]
    gd = graph_pb2.GraphDef.FromString(path.read_bytes())
    assert [nd.op for nd in gd.node].count("StatefulPartitionedCall") == 2
    bodies = {nd.op: list(nd.input) for f in gd.library.function for nd in f.node_def}
    assert "PartitionedCall" in bodies and bodies["Cast"] == ["TopKV2:indices:0"]
    g, inputs, expected = _load("calls_pb")
    verify(g)
    assert {"StatefulPartitionedCall/Conv2D", "StatefulPartitionedCall_1/Conv2D"} <= \
        {label for n in g.nodes for label in n.provenance}
    for outs in (run_graph(g, inputs), compile_plan(g).run(inputs)):
        for got, want in zip(outs, expected):
            assert rel_error(got, want) <= 1e-5


def _calls_graph(edit):
    gd = graph_pb2.GraphDef.FromString(fixture("calls_pb")[0].read_bytes())
    edit(gd, {f.signature.name: f for f in gd.library.function})
    return gd


def _rename_function(gd, fns):
    gd.node[[nd.name for nd in gd.node].index("StatefulPartitionedCall")].attr["f"].func.name = \
        "gone"


def _recurse(gd, fns):
    top3 = next(f for name, f in fns.items() if "top3" in name)
    call = top3.node_def.add(name="again", op="PartitionedCall", input=["t"])
    call.attr["f"].func.name = top3.signature.name


def _misread(gd, fns):
    body = next(f for name, f in fns.items() if "top3" in name)
    next(nd for nd in body.node_def if nd.op == "Cast").input[0] = "TopKV2:scores:0"


@pytest.mark.parametrize("edit, match", [
    (_rename_function, r"node 'StatefulPartitionedCall' \(StatefulPartitionedCall\): it calls "
     r"function 'gone', which is not in the GraphDef's function library"),
    (_recurse, r"node '.*again.*' \(PartitionedCall\): function calls nested more than 32 deep"),
    (_misread, r"calling function '__inference_top3_\d+': 'TopKV2:scores:0' names no output of "
     "TopKV2"),
])
def test_function_call_errors_name_the_file_the_node_and_the_function(tmp_path, edit, match):
    path = tmp_path / "calls.pb"
    path.write_bytes(_calls_graph(edit).SerializeToString())
    with pytest.raises(FrontendError, match=match) as e:
        load(path, inputs=["x"], outputs=["Identity"])
    assert str(e.value).startswith(str(path))


def test_pruned_to_the_cut_and_layout_kept():
    path, inputs, _, data = fixture("detector_pb")
    g = load_any(str(path), inputs=[str(n) for n in data["input_names"]],
                 outputs=["Identity:0"])
    assert [v.shape for v in g.inputs] == [inputs[0].shape]  # NHWC, as in the model
    assert len(g.outputs) == 1 and g.outputs[0].name == "Identity"
    full = load(path, inputs=[str(n) for n in data["input_names"]],
                outputs=[str(n) for n in data["output_names"]])
    assert len(g) < len(full)  # the softmax branch is not imported


def test_conditionals_with_a_static_predicate_import_the_branch_taken():
    """A TF1 graph whose is_training PlaceholderWithDefault(False) picks the inference branches,
    as TF2 control flow (If, StatelessIf; one reading the graph's input) and TF1's (Switch /
    Merge): only the branches taken are imported (the others hold a dropout's RandomUniform and
    a training FusedBatchNormV3, which npucc refuses); both executors match TensorFlow."""
    path = fixture("cond_pb")[0]
    gd = graph_pb2.GraphDef.FromString(path.read_bytes())
    assert {"If", "StatelessIf", "Switch", "Merge", "RandomUniform"} <= {nd.op for nd in gd.node}
    g, inputs, expected = _load("cond_pb")
    verify(g)
    assert sorted(n.op for n in g.nodes if n.op != "Transpose") == \
        ["Add", "BatchNorm", "BatchNorm", "Clip", "Conv", "Relu"]
    for outs in (run_graph(g, inputs), compile_plan(g).run(inputs)):
        for got, want in zip(outs, expected):
            assert rel_error(got, want) <= 1e-5


@pytest.mark.parametrize("inputs, output, match", [
    (["x", "is_training"], "a", r"node 'cond' \(StatelessIf\): input 0 \(predicate, "
     r"'is_training'\) must be known at import time"),
    (["x"], "cond_4/dropout/Mul", r"output 'cond_4/dropout/Mul' is on a branch that its "
     "conditional's predicate does not take"),
])
def test_conditional_errors(inputs, output, match):
    with pytest.raises(FrontendError, match=match):
        load(fixture("cond_pb")[0], inputs=inputs, outputs=[output],
             input_shapes=[[1, 8, 8, 3], []][:len(inputs)])


def test_a_recursive_branch_function_is_refused(tmp_path):
    """The else branch of 'cond' made to return an If that takes it again."""
    from npucc.frontends.tfproto import types_pb2

    gd = graph_pb2.GraphDef.FromString(fixture("cond_pb")[0].read_bytes())
    name = next(nd for nd in gd.node if nd.name == "cond").attr["else_branch"].func.name
    fn = next(f for f in gd.library.function if f.signature.name == name)
    no = fn.node_def.add(name="no", op="Const")
    no.attr["dtype"].type = no.attr["value"].tensor.dtype = types_pb2.DT_BOOL
    no.attr["value"].tensor.bool_val.append(False)
    again = fn.node_def.add(name="again", op="StatelessIf",
                            input=["no:output:0", fn.signature.input_arg[0].name])
    again.attr["then_branch"].func.name = again.attr["else_branch"].func.name = name
    fn.ret[fn.signature.output_arg[0].name] = "again:output:0"
    path = tmp_path / "recursive.pb"
    path.write_bytes(gd.SerializeToString())
    with pytest.raises(FrontendError, match=r"node 'cond(/else_branch/again)+' \(StatelessIf\): "
                       "conditionals nested more than 32 deep"):
        load(path, inputs=["x"], outputs=["a"], input_shapes=[[1, 8, 8, 3]])


def test_input_shapes_by_node_or_tensor_name_and_checked():
    """input_shapes: a dict by node ('x') or tensor name ('x:0'), or a list with one shape per
    input; a key naming no input or a list of another length is an error, not ignored."""
    path = fixture("math_ops_pb")[0]
    g = load(path, inputs=["x", "y:0"], outputs=["Identity"],
             input_shapes={"x:0": [1, 3, 5, 4], "y": [1, 3, 5, 4]})
    assert [v.shape for v in g.inputs] == [(1, 3, 5, 4)] * 2
    with pytest.raises(FrontendError, match=r"input_shapes names \['z:0'\], which are not among "
                       r"the inputs \['x', 'y'\]"):
        load(path, inputs=["x", "y"], outputs=["Identity"], input_shapes={"z:0": [1, 3, 5, 4]})
    with pytest.raises(FrontendError, match=r"input_shapes gives 1 shapes for the 2 inputs"):
        load(path, inputs=["x", "y"], outputs=["Identity"], input_shapes=[[1, 3, 5, 4]])


def test_wrong_output_name_lists_closest_candidates():
    path, _, _, data = fixture("detector_pb")
    with pytest.raises(FrontendError) as e:
        load(path, inputs=[str(n) for n in data["input_names"]], outputs=["Identityy_1"])
    msg = str(e.value)
    assert "Identityy_1" in msg and "closest" in msg and "'Identity_1'" in msg


@pytest.mark.tf_live
@needs_tf
def test_live_fused_batch_norm_graph(tmp_path):
    """FusedBatchNormV3 and V2 (TF 1.x's tf.nn.fused_batch_norm), BiasAdd, explicit-padding conv
    and MatMul built with tf.raw_ops."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    rng = np.random.default_rng(0)
    w = tf.constant(rng.normal(0, 0.3, (3, 3, 4, 6)).astype(np.float32))
    stats = [tf.constant(rng.uniform(0.5, 1.5, 6).astype(np.float32)) for _ in range(4)]
    dense = tf.constant(rng.normal(0, 0.3, (6, 5)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec((1, 9, 9, 4), tf.float32)])
    def fn(x):
        y = tf.raw_ops.Conv2D(input=x, filter=w, strides=[1, 2, 2, 1], padding="EXPLICIT",
                              explicit_paddings=[0, 0, 1, 2, 2, 1, 0, 0])
        y = tf.raw_ops.FusedBatchNormV3(x=y, scale=stats[0], offset=stats[1], mean=stats[2],
                                        variance=stats[3], is_training=False)[0]
        y = tf.raw_ops.FusedBatchNormV2(x=y, scale=stats[3], offset=stats[2], mean=stats[1],
                                        variance=stats[0], is_training=False)[0]
        y = tf.nn.elu(y)
        y = tf.reduce_mean(y, axis=[1, 2])
        return tf.nn.bias_add(tf.matmul(y, dense), tf.ones(5))

    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    path = tmp_path / "g.pb"
    path.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    x = rng.uniform(-1, 1, (1, 9, 9, 4)).astype(np.float32)
    want = fn(x).numpy()
    g = load(path, inputs=[frozen.inputs[0].name.split(":")[0]],
             outputs=[frozen.outputs[0].name])
    assert [n.op for n in g.nodes].count("BatchNorm") == 2
    assert {"Conv", "Gemm"} <= {n.op for n in g.nodes}
    assert rel_error(run_graph(g, [x])[0], want) <= 1e-4


def test_frontends_doc_holds_the_generated_note():
    from npucc.frontends.docnote import read_note
    from npucc.frontends.tensorflow import supported_note

    doc = Path(__file__).resolve().parents[3] / "docs" / "FRONTENDS.md"
    assert read_note(doc, "tensorflow-supported") == supported_note(), \
        "regenerate: python -m npucc.frontends.tensorflow --write docs/FRONTENDS.md"


def test_a_run_time_shape_is_refused_with_the_cut(tmp_path):
    """A Reshape whose shape is computed from the data: the error names the node and the cut
    at its run-time inputs."""
    from npucc.frontends.tfproto import types_pb2

    g = graph_pb2.GraphDef()

    def add(name, op, inputs=(), **attrs):
        nd = g.node.add(name=name, op=op)
        nd.input.extend(inputs)
        for k, v in attrs.items():
            nd.attr[k].type = v
        return nd

    x = add("x", "Placeholder", dtype=types_pb2.DT_FLOAT)
    dim = x.attr["shape"].shape.dim
    dim.add(size=1), dim.add(size=4)
    axis = add("axis", "Const", dtype=types_pb2.DT_INT32)
    axis.attr["value"].tensor.dtype = types_pb2.DT_INT32
    axis.attr["value"].tensor.tensor_shape.dim.add(size=1)
    axis.attr["value"].tensor.int_val.append(1)
    add("peak", "Max", ["x", "axis"], T=types_pb2.DT_FLOAT, Tidx=types_pb2.DT_INT32)
    add("count", "Cast", ["peak"], SrcT=types_pb2.DT_FLOAT, DstT=types_pb2.DT_INT32)
    add("flat", "Reshape", ["x", "count"], T=types_pb2.DT_FLOAT, Tshape=types_pb2.DT_INT32)
    path = tmp_path / "dyn.pb"
    path.write_bytes(g.SerializeToString())
    with pytest.raises(FrontendError, match=r"dyn\.pb: .*'flat'.*Reshape.*must be known at "
                                            r"import time; .*cut it there with outputs=\['x', "
                                            r"'count'\] \(CLI --outputs x,count\)"):
        load(path, inputs=["x"], outputs=["flat"])


def test_unsupported_op_names_close_matches_and_where_the_ops_are(tmp_path):
    """A misspelt op ("Rellu") is named with the close match, and the error points at the
    converted ops instead of printing all of them."""
    from npucc.frontends.tfproto import types_pb2

    g = graph_pb2.GraphDef()
    x = g.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = types_pb2.DT_FLOAT
    x.attr["shape"].shape.dim.add(size=4)
    bad = g.node.add(name="act", op="Rellu")
    bad.input.append("x")
    bad.attr["T"].type = types_pb2.DT_FLOAT
    path = tmp_path / "rellu.pb"
    path.write_bytes(g.SerializeToString())
    with pytest.raises(UnsupportedError) as e:
        load(path, outputs=["act"])
    msg = str(e.value)
    assert str(path) in msg and "op Rellu is not supported (did you mean Relu" in msg
    assert "supported ops: npucc.frontends.tensorflow.CONVERTERS" in msg and "Abs, " not in msg
