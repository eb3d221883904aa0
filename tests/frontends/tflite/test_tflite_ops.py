"""TFLite builtin-op coverage against LiteRT: small fixtures (tests/fixtures/tf, made by
scripts/gen_tf_fixtures.py) that together hold every op the converters table maps beyond the
conv-net basics. Float outputs to 1e-5 relative, integer and boolean outputs exactly, full-int8
outputs bit-exact, in the reference interpreter and the compiled simulator plan.
"""

from __future__ import annotations

import numpy as np
import pytest
import tflite

from npucc.backends.simulator import compile_plan
from npucc.errors import UnsupportedError
from npucc.frontends.tflite import OP_NAMES, load
from npucc.ir import Graph
from npucc.ir.types import DType, QuantParams, TensorType
from npucc.ir.verify import verify
from npucc.numerics import QuantizedExecutionError, run_graph

from .oracle import fixture, litert, needs_litert, random_int8_inputs, rel_error

# fixture -> the TFLite ops it must hold (the converter decides what it writes: checked here)
FLOAT = {
    "math_ops_float": {
        "EXP", "LOG", "SQRT", "RSQRT", "SQUARE", "SQUARED_DIFFERENCE", "POW", "FLOOR", "CEIL",
        "ROUND", "SIN", "COS", "SIGN", "FLOOR_DIV", "FLOOR_MOD", "GELU", "ADD_N", "LOG_SOFTMAX",
        "L2_NORMALIZATION"},
    "logic_ops_float": {
        "EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "LOGICAL_AND",
        "LOGICAL_OR", "LOGICAL_NOT", "SELECT", "SELECT_V2", "CAST", "REDUCE_MIN", "REDUCE_ANY",
        "REDUCE_ALL", "ARG_MAX", "ARG_MIN", "TOPK_V2", "CUMSUM", "ONE_HOT"},
    "tensor_ops_float": {
        "SPLIT", "SPLIT_V", "UNPACK", "REVERSE_V2", "GATHER_ND", "SCATTER_ND", "BATCH_MATMUL",
        "LOCAL_RESPONSE_NORMALIZATION", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND"},
    "shape_ops_float": {"FILL", "RANGE", "BROADCAST_TO", "ZEROS_LIKE"},
    "patched_ops_float": {"L2_POOL_2D", "RELU_0_TO_1"},
    "lstm_float": {"UNIDIRECTIONAL_SEQUENCE_LSTM"},
}
INT8 = {"movement_int8": {"SPLIT", "SPLIT_V", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND",
                          "BATCH_MATMUL", "REDUCE_MIN", "UNPACK", "ARG_MAX"}}


def op_names(path) -> set[str]:
    m = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = m.Subgraphs(0)
    codes = (m.OperatorCodes(sg.Operators(i).OpcodeIndex()) for i in range(sg.OperatorsLength()))
    return {OP_NAMES[max(c.BuiltinCode(), c.DeprecatedBuiltinCode())] for c in codes}


def check_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, want.dtype)
    if want.dtype.kind == "f":
        assert rel_error(got, want) <= 1e-5, what
    else:
        assert int((got != want).sum()) == 0, what


@pytest.mark.parametrize("name", sorted({**FLOAT, **INT8}))
def test_fixture_holds_its_ops(name):
    path, *_ = fixture(name)
    assert {**FLOAT, **INT8}[name] <= op_names(path)


@pytest.mark.parametrize("name", sorted(FLOAT))
def test_float_ops_match_litert(name):
    path, inputs, expected, _ = fixture(name)
    g = load(path)
    verify(g)
    for how, outs in (("reference", run_graph(g, inputs)), ("plan", compile_plan(g).run(inputs))):
        assert len(outs) == len(expected)
        for k, (got, want) in enumerate(zip(outs, expected)):
            check_close(got, want, f"{how} output {k} ({g.outputs[k].name})")


@pytest.mark.parametrize("name", sorted(INT8))
def test_int8_ops_bit_exact_with_litert_reference(name):
    path, inputs, expected, _ = fixture(name)
    g = load(path)
    verify(g)
    for outs in (run_graph(g, inputs), compile_plan(g).run(inputs)):
        for k, (got, want) in enumerate(zip(outs, expected)):
            assert got.dtype == want.dtype
            assert int((got != want).sum()) == 0, f"output {k} ({g.outputs[k].name})"


@needs_litert
@pytest.mark.parametrize("name", sorted(INT8))
def test_int8_ops_bit_exact_on_fresh_inputs(name):
    path, *_ = fixture(name)
    plan = compile_plan(load(path))
    for seed in range(3):
        inputs = random_int8_inputs(path, seed)
        want, _ = litert(path, inputs)
        for got, w in zip(plan.run(inputs), want):
            assert int((got != w).sum()) == 0


def test_int8_data_movement_keeps_the_models_params():
    """SPLIT / SPLIT_V / SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND move integers: their core ops
    carry the model's own params and run the integer kernels (no float fallback). (The
    converter leaves this model's UNPACK and ARG_MAX in float.)"""
    path, *_ = fixture("movement_int8")
    g = load(path)
    moved = [n for n in g.nodes if n.op in ("Split", "Pad", "Transpose", "Reshape", "Slice")
             and n.inputs[0].type.quant is not None]
    assert {"Split", "Pad", "Transpose", "Reshape", "Slice"} == {n.op for n in moved}
    assert all(v.type.quant == n.inputs[0].type.quant for n in moved for v in n.outputs)
    (mm,) = [n for n in g.nodes if n.op == "MatMul"]
    assert all(v.type.quant is not None for v in (*mm.inputs, *mm.outputs))


def test_dilated_conv_triple_folds_into_one_conv():
    """SPACE_TO_BATCH_ND -> CONV_2D -> BATCH_TO_SPACE_ND (TF's dilated convolution) is one Conv
    with dilations 2 and the pads minus the crops; the lone SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND
    pair of the same fixture is written out with Pad / Reshape / Transpose / Slice."""
    path, *_ = fixture("tensor_ops_float")
    g = load(path)
    (conv,) = [n for n in g.nodes if n.op == "Conv"]
    assert conv.attrs["dilations"] == (2, 2) and conv.attrs["pads"] == (2, 2, 2, 2)
    assert conv.inputs[0].producer.inputs[0] in g.inputs  # reads `y` itself (through NCHW)
    assert any(n.op == "Pad" for n in g.nodes)


def test_lstm_maps_onto_the_core_lstm():
    path, *_ = fixture("lstm_float")
    g = load(path)
    lstms = [n for n in g.nodes if n.op == "LSTM"]
    assert len(lstms) == 2 and {n.attrs["hidden_size"] for n in lstms} == {8, 5}


def test_int8_arg_max_runs_on_the_integers():
    """ArgMax of an int8 tensor (TFLite's int8 ARG_MAX) runs on the integers in the tflite
    profile: the order of the integers is the order of the reals."""
    g = Graph("argmax")
    x = g.add_input("x", TensorType((2, 7), DType.i8, QuantParams.affine([0.05], 3)))
    (y,) = g.add_node("ArgMax", [x], {"axis": 1, "keepdims": False}).outputs
    g.set_outputs([y])
    xs = np.random.default_rng(0).integers(-128, 128, (2, 7)).astype(np.int8)
    for outs in (run_graph(g, [xs]), compile_plan(g).run([xs])):
        assert np.array_equal(outs[0], np.argmax(xs, axis=1))


def test_int8_ops_without_integer_form_are_refused_by_name():
    """GELU runs nowhere exactly in the tflite profile (refused when run, naming node, op and
    profile); LOG_SOFTMAX, SQUARED_DIFFERENCE and L2_NORMALIZATION are refused at import."""
    path, inputs, *_ = fixture("int8_gaps")
    m = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = m.Subgraphs(0)
    outputs = [sg.Tensors(sg.Outputs(k)).Name().decode() for k in range(sg.OutputsLength())]
    g = load(path, outputs=outputs[:1])
    with pytest.raises(QuantizedExecutionError, match="Gelu.*tflite profile"):
        run_graph(g, inputs)
    for name, op in zip(outputs[1:], ("LOG_SOFTMAX", "SQUARED_DIFFERENCE", "L2_NORMALIZATION")):
        with pytest.raises(UnsupportedError, match=f"{op}.*quantized {op} is not supported"):
            load(path, outputs=[name])


def test_frontends_doc_holds_the_generated_note():
    from pathlib import Path

    from npucc.frontends.docnote import read_note
    from npucc.frontends.tflite import CONVERTERS, supported_note

    doc = Path(__file__).resolve().parents[3] / "docs" / "FRONTENDS.md"
    assert read_note(doc, "tflite-supported") == supported_note(), \
        "regenerate: python -m npucc.frontends.tflite --write docs/FRONTENDS.md"
    assert all(name.removeprefix("CUSTOM:") in supported_note() for name in CONVERTERS)
