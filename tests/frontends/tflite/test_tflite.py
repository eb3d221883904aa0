"""TFLite frontend against LiteRT: float models to 1e-4 relative, full-int8 models bit-exact.

The models are committed fixtures (tests/fixtures/tf, made by scripts/gen_tf_fixtures.py with
tensorflow-cpu from keras.applications / keras layers with re-randomised weights); their expected
outputs were computed by LiteRT when they were generated. When ai-edge-litert is installed the int8
tests also run LiteRT's reference kernels live on fresh random inputs.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from npucc.backends.simulator import compile_plan
from npucc.errors import FrontendError, UnsupportedError
from npucc.frontends import load as load_any
from npucc.frontends.tflite import load
from npucc.ir.verify import verify
from npucc.numerics import Interpreter, QuantizedExecutionError, is_quantized, run_graph

from .oracle import fixture, litert, needs_litert, needs_tf, random_int8_inputs, rel_error

FLOAT = ["detector_float", "ops_zoo_float", "resize_float", "small_fp16", "keras3_reshape_float",
         pytest.param("mobilenet_v2_float", marks=pytest.mark.slow)]
INT8 = ["small_int8", "keras3_reshape_int8",
        pytest.param("mobilenet_v2_int8", marks=pytest.mark.slow)]
# full-int8 inside, float in and out (QUANTIZE / DEQUANTIZE at the edges: the converter's default)
FLOAT_IO_INT8 = "small_int8_float_io"


@pytest.mark.parametrize("name", FLOAT)
def test_float_model_matches_litert(name):
    path, inputs, expected, _ = fixture(name)
    g = load(path)
    verify(g)
    outs = run_graph(g, inputs)
    assert len(outs) == len(expected)
    for got, want in zip(outs, expected):
        assert rel_error(got, want) <= 1e-4


@pytest.mark.parametrize("name", ["keras3_reshape_float", "keras3_reshape_int8"])
def test_keras3_shape_chains_fold_to_static_reshapes(name):
    """Keras 3 (dynamic batch) writes reshapes as SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE and
    SHAPE -> GATHER -> REDUCE_PROD; with static shapes they fold at import (the outputs are
    checked against LiteRT in the float / int8 tests above)."""
    import tflite

    path, *_ = fixture(name)
    m = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = m.Subgraphs(0)
    codes = {m.OperatorCodes(sg.Operators(i).OpcodeIndex()).BuiltinCode()
             for i in range(sg.OperatorsLength())}
    B = tflite.BuiltinOperator
    assert {B.SHAPE, B.STRIDED_SLICE, B.PACK, B.RESHAPE, B.REDUCE_PROD} <= codes
    g = load(path)
    assert {n.op for n in g.nodes} <= {"Transpose", "Conv", "BatchNorm", "Relu", "MaxPool",
                                       "Reshape", "Gemm", "Add"}


def test_detector_keeps_nhwc_interface_and_names():
    path, inputs, expected, _ = fixture("detector_float")
    g = load_any(str(path))  # through the format table
    assert [v.shape for v in g.inputs] == [x.shape for x in inputs]  # NHWC, as in the model
    assert [v.shape for v in g.outputs] == [e.shape for e in expected]
    ops = {n.op for n in g.nodes}
    assert {"Resize", "Concat", "Conv", "Softmax", "Sigmoid"} <= ops


@pytest.mark.parametrize("name", INT8)
def test_int8_model_is_bit_exact_with_litert_reference(name):
    path, inputs, expected, _ = fixture(name)
    g = load(path)
    verify(g)
    assert all(v.type.quant is not None for v in (*g.inputs, *g.outputs))
    plan = compile_plan(g)
    for outs in (run_graph(g, inputs), plan.run(inputs)):  # reference interpreter and simulator
        for got, want in zip(outs, expected):
            assert got.dtype == want.dtype
            assert int((got != want).sum()) == 0


@needs_litert
@pytest.mark.parametrize("name", INT8)
def test_int8_model_bit_exact_on_fresh_inputs(name):
    path, *_ = fixture(name)
    g = load(path)
    for seed in range(3):
        inputs = random_int8_inputs(path, seed)
        want, _ = litert(path, inputs)
        for got, w in zip(compile_plan(g).run(inputs), want):
            assert int((got != w).sum()) == 0


@needs_litert
def test_int8_quant_params_are_the_models_own():
    path, *_ = fixture("small_int8")
    g = load(path)
    _, it = litert(path, random_int8_inputs(path, 0))
    details = {d["name"]: d for d in it.get_tensor_details()}
    checked = 0
    for n in g.nodes:
        for v in (*n.inputs, *n.outputs):
            d = details.get(v.name) if v is not None else None
            if d is None or v.type.quant is None or tuple(d["shape"]) != v.shape:
                continue
            qp = d["quantization_parameters"]
            scales = np.asarray(v.type.quant.scale)
            assert np.array_equal(np.float32(scales), np.float32(qp["scales"]))
            assert list(v.type.quant.zero_point) == [int(z) for z in qp["zero_points"]] or \
                len(set(qp["zero_points"])) == 1
            checked += 1
    assert checked >= 10
    conv_weights = [n.inputs[1] for n in g.nodes if n.op == "Conv"]
    assert conv_weights and all(w.type.quant.axis == 0 and len(w.type.quant.scale) == w.shape[0]
                                for w in conv_weights if len(w.type.quant.scale) > 1)
    biases = [n.inputs[2] for n in g.nodes if n.op == "Conv" and n.inputs[2] is not None]
    assert all(b.dtype.value == "i32" for b in biases)


@needs_litert
def test_int8_every_kernel_exact_on_its_litert_inputs():
    """extra_int8 mixes mul/sub/leaky relu/pad/resizes/transpose conv/mean/softmax/logistic/tanh/
    hard swish. Each node runs on LiteRT's own values of its inputs; every tensor npucc computes
    must equal LiteRT's, and a node without an integer kernel would be refused by name (never run
    in float)."""
    path, *_ = fixture("extra_int8")
    inputs = random_int8_inputs(path, 1)
    _, it = litert(path, inputs, all_tensors=True)
    details = {d["name"]: d for d in it.get_tensor_details()}
    g = load(path)
    compared, refused = [], []

    def oracle(v):
        d = details.get(v.name)
        if d is not None and tuple(d["shape"]) == v.shape:
            return it.get_tensor(d["index"])
        users = v.users
        if len(users) == 1 and users[0].op == "Transpose":  # NCHW value inside an NHWC wrapper
            after = oracle(users[0].output)
            if after is not None:
                return np.transpose(after, np.argsort(users[0].attrs["perm"]))
        return None

    class PerNode(Interpreter):
        def run_node(self, node, args):
            try:
                outs = super().run_node(node, args)
            except QuantizedExecutionError as e:
                assert node.op in str(e) and "no integer kernel" in str(e)
                refused.append(node.op)
                return [oracle(v) for v in node.outputs]
            for v, a in zip(node.outputs, outs):
                want = oracle(v)
                if want is not None and is_quantized(node):
                    assert int((a != want).sum()) == 0, f"{node.describe()} differs from LiteRT"
                    compared.append(node.op)
                    a[...] = want  # keep later nodes on LiteRT's values
            return outs

    PerNode(g).run(inputs)
    assert not refused
    assert {"Mul", "Sub", "LeakyRelu", "Conv", "ConvTranspose", "Concat", "Softmax",
            "ReduceMean", "Sigmoid", "Tanh", "HardSwish", "Resize"} <= set(compared), \
        (compared, refused)
    bilinear = [n for n in g.nodes if n.op == "Resize" and n.attrs["mode"] == "linear"]
    assert bilinear and compared.count("Resize") == 2


def test_unsupported_op_names_code_index_and_tensors():
    path, *_ = fixture("unsupported_op")
    with pytest.raises(UnsupportedError) as e:
        load(path)
    msg = str(e.value)
    assert "ATAN2" in msg and "op code 156" in msg and "operator #" in msg
    assert "inputs [" in msg and "outputs [" in msg and str(path) in msg


def test_an_unsupported_custom_op_says_where_to_cut_and_the_cut_model_loads(tmp_path):
    """A custom op npucc does not convert (here a select-TF op, as TF2 detectors exported
    with SELECT_TF_OPS hold): the error names the op's inputs as the cut."""
    import tflite

    from tests.fuzz.tflite_builder import Op, Tensor, build

    add, custom = tflite.BuiltinOperator.ADD, "FlexCombinedNonMaxSuppression"
    path = tmp_path / "ssd_tail.tflite"
    path.write_bytes(build(
        tensors=[Tensor(b"x", (1, 4)), Tensor(b"boxes", (1, 4)), Tensor(b"scores", (1, 4)),
                 Tensor(b"detections", (1, 4))],
        buffers=[b""],
        ops=[Op(add, (0, 0), (1,), None), Op(tflite.BuiltinOperator.MUL, (0, 0), (2,), None),
             Op(custom, (1, 2), (3,), None)],
        inputs=(0,), outputs=(3,)))
    with pytest.raises(UnsupportedError, match=r"CUSTOM:FlexCombinedNonMaxSuppression\) is not "
                       r"supported \(a custom op: .* outputs=\['boxes', 'scores'\], CLI "
                       r"--outputs boxes,scores"):
        load(path)
    g = load(path, outputs=["boxes", "scores"])
    x = np.array([[1, -2, 3, 0.5]], np.float32)
    boxes, scores = run_graph(g, [x])
    np.testing.assert_array_equal(boxes, x + x)
    np.testing.assert_array_equal(scores, x * x)


@needs_litert
def test_a_constant_of_zero_elements_with_an_empty_buffer_is_its_value(tmp_path):
    """onnx-tf writes a reshape to a scalar with new_shape a [0]-shaped tensor whose buffer is
    empty (openWakeWord's hey_jarvis .tflite): it has no bytes to hold, so it is a constant;
    against LiteRT."""
    import tflite

    from tests.fuzz.tflite_builder import Op, Tensor, build

    path = tmp_path / "to_scalar.tflite"
    path.write_bytes(build(
        tensors=[Tensor(b"x", (1, 1)), Tensor(b"new_shape", (0,), buffer=1,
                                               type=tflite.TensorType.INT32),
                 Tensor(b"s", ()), Tensor(b"y", ())],
        buffers=[b"", b""],
        ops=[Op(tflite.BuiltinOperator.RESHAPE, (0, 1), (2,), None),
             Op(tflite.BuiltinOperator.MUL, (2, 2), (3,), None)],
        inputs=(0,), outputs=(3,)))
    x = np.array([[-1.5]], np.float32)
    (want,), _ = litert(path, [x])
    (got,) = run_graph(load(path), [x])
    assert got.shape == want.shape == ()
    np.testing.assert_array_equal(got, want)


@needs_litert
@needs_tf
def test_a_dynamic_input_loads_at_the_given_size_and_a_failure_at_the_declared_one_says_so(
        tmp_path):
    """A TF function over [None, None] audio (openWakeWord's melspectrogram .tflite): the file
    declares shape [1, 1] with signature [-1, -1]. At [1, 1] the 16-tap conv cannot run: the
    error names the input and input_shapes; at the given size it matches LiteRT resized so.
    An input_shapes name that is not an input is refused."""
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    w = np.random.default_rng(0).standard_normal((16, 1, 4)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def frames(x):
        return tf.nn.relu(tf.nn.conv1d(tf.expand_dims(x, -1), tf.constant(w), stride=4,
                                       padding="VALID"))

    conv = tf.lite.TFLiteConverter.from_concrete_functions([frames.get_concrete_function()],
                                                           frames)
    path = tmp_path / "frames.tflite"
    path.write_bytes(conv.convert())
    name = load(path, input_shapes=[[1, 64]]).inputs[0].name
    with pytest.raises(FrontendError, match=rf"input '{re.escape(name)}' has dynamic dims "
                       rf"\(signature \[-1, -1\]\) and is loaded at its declared shape "
                       rf"\[1, 1\]: give its size with input_shapes="):
        load(path)
    with pytest.raises(FrontendError, match=r"input_shapes names \['input'\], which are not"):
        load(path, input_shapes={"input": [1, 64]})
    x = np.random.default_rng(1).standard_normal((1, 64)).astype(np.float32)
    it = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.resize_tensor_input(it.get_input_details()[0]["index"], [1, 64])
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    want = it.get_tensor(it.get_output_details()[0]["index"])
    (got,) = run_graph(load(path, input_shapes={name: [1, 64]}), [x])
    assert got.shape == want.shape and rel_error(got, want) < 1e-5


def test_cut_at_named_output_and_unknown_name():
    path, inputs, *_ = fixture("small_int8")
    g = load(path, outputs=["functional_1/add_1/Add"])
    assert [v.name for v in g.outputs] == ["functional_1/add_1/Add"]
    assert g.outputs[0].shape == (1, 24, 24, 8)
    run_graph(g, inputs)
    with pytest.raises(FrontendError, match="closest"):
        load(path, outputs=["functional_1/add_1/Addd"])


def test_float_io_int8_model_is_bit_exact_with_litert_reference():
    path, inputs, expected, _ = fixture(FLOAT_IO_INT8)
    g = load(path)
    assert [n.op for n in g.nodes if n.op == "QuantizeLinear"], "expected a QUANTIZE at the input"
    for outs in (run_graph(g, inputs), compile_plan(g).run(inputs)):
        for got, want in zip(outs, expected):
            assert got.dtype == want.dtype == np.float32
            assert int((got != want).sum()) == 0


@needs_litert
def test_float_input_quantize_rounds_ties_away_from_zero_like_litert():
    """Inputs exactly halfway between two quantization steps: TFLite rounds them away from zero
    (the core QuantizeLinear's ONNX default would round half of them the other way)."""
    path, inputs, _, _ = fixture(FLOAT_IO_INT8)
    g = load(path)
    (quantize,) = [n for n in g.nodes if n.op == "QuantizeLinear"]
    scale, zp = np.float32(quantize.attrs["scale"][0]), quantize.attrs["zero_point"][0]
    rng = np.random.default_rng(5)
    k = rng.integers(-100 - zp, 100 - zp, size=inputs[0].shape)
    x = ((k + 0.5) * scale).astype(np.float32)
    ties = (x / scale) == (k + 0.5)  # exactly halfway in float32, as TFLite computes it
    x = np.where(ties, x, np.float32(0))
    assert ties.mean() > 0.5
    assert (np.rint(x / scale) != np.trunc(x / scale + np.copysign(0.5, x))).any()  # teeth
    want, _ = litert(path, [x])
    for got, w in zip(compile_plan(g).run([x]), want):
        assert int((got != w).sum()) == 0


@needs_litert
@pytest.mark.parametrize("layout", ["source", "NCHW"])
def test_float_io_int8_model_compiles_with_preprocessing(layout):
    """The NHWC input reaches the transposes through a QuantizeLinear: its layout is still
    found, and the model fed raw 0-255 pixels gives bit for bit what LiteRT gives on the
    pixels normalized (channels reordered, then (x - mean) / std) by hand in numpy."""
    import npucc
    from npucc.passes import Preprocess

    path, *_ = fixture(FLOAT_IO_INT8)
    pre = Preprocess(mean=(120.0, 110.0, 100.0), std=(60.0, 62.0, 64.0), reorder=(2, 1, 0))
    model = npucc.compile(str(path), preprocess={"xs_0": pre}, input_layout=layout)
    raw = np.random.default_rng(7).integers(0, 256, (1, 24, 24, 3)).astype(np.float32)
    norm = (raw[..., list(pre.reorder)] - np.float32(pre.mean)) / np.float32(pre.std)
    want, _ = litert(path, [norm.astype(np.float32)])
    x = raw if layout == "source" else raw.transpose(0, 3, 1, 2)
    for got, w in zip(model.run([x]), want):
        assert got.dtype == w.dtype and int((got != w).sum()) == 0
