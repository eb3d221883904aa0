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
from npucc.errors import FrontendError, UnsupportedError
from npucc.frontends.tflite import OP_NAMES, load
from npucc.ir import Graph
from npucc.ir.types import DType, QuantParams, TensorType
from npucc.ir.verify import verify
from npucc.numerics import run_graph

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
    "shape_ops_float": {"FILL", "RANGE", "BROADCAST_TO", "BROADCAST_ARGS", "ZEROS_LIKE"},
    "patched_ops_float": {"L2_POOL_2D", "RELU_0_TO_1"},
    "cond_ops_float": {"IF"},  # branches (one holding an IF) are subgraphs, imported in place
    "lstm_float": {"UNIDIRECTIONAL_SEQUENCE_LSTM", "REVERSE_V2"},
    "lstm_long_float": {"UNIDIRECTIONAL_SEQUENCE_LSTM"},
    "lstm_clip_float": {"UNIDIRECTIONAL_SEQUENCE_LSTM"},
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
    converter leaves this model's UNPACK and ARG_MAX in float.) Its RELU has output params of
    its own: TFLite requantizes, then clamps (bit-exactness checked above)."""
    path, *_ = fixture("movement_int8")
    g = load(path)
    moved = [n for n in g.nodes if n.op in ("Split", "Pad", "Transpose", "Reshape", "Slice")
             and n.inputs[0].type.quant is not None]
    assert {"Split", "Pad", "Transpose", "Reshape", "Slice"} == {n.op for n in moved}
    assert all(v.type.quant == n.inputs[0].type.quant for n in moved for v in n.outputs)
    (mm,) = [n for n in g.nodes if n.op == "MatMul"]
    assert all(v.type.quant is not None for v in (*mm.inputs, *mm.outputs))
    (relu,) = [n for n in g.nodes if n.op == "Relu"]  # requantizes: params differ
    assert relu.inputs[0].type.quant != relu.outputs[0].type.quant


def test_lstm_maps_onto_the_core_lstm():
    """Bidirectional (two layers, one between REVERSE_V2s), batch-major and time-major layers
    (checked against LiteRT above)."""
    path, *_ = fixture("lstm_float")
    g = load(path)
    lstms = [n for n in g.nodes if n.op == "LSTM"]
    assert sorted(n.attrs["hidden_size"] for n in lstms) == [4, 4, 5, 8]


def test_lstm_cell_clip_is_the_core_lstms_and_acts():
    """Keras writes cell_clip=10; lstm_clip_float is the same 12-step model with cell_clip
    patched to 0.3, where LiteRT's clip changes the output (so both fixtures, checked against
    LiteRT above, show the clip computed, not ignored)."""
    clipped, _, want_clipped, _ = fixture("lstm_clip_float")
    plain, _, want_plain, _ = fixture("lstm_long_float")
    assert {n.attrs["cell_clip"] for n in load(plain).nodes if n.op == "LSTM"} == {10.0}
    assert {n.attrs["cell_clip"] for n in load(clipped).nodes if n.op == "LSTM"} == \
        {float(np.float32(0.3))}
    assert float(np.abs(want_clipped[0] - want_plain[0]).max()) > 1e-2


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


def outputs_by_op(path) -> dict[str, list[tuple[int, str]]]:
    """Subgraph outputs (position, tensor name) by the TFLite op that writes them."""
    m = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = m.Subgraphs(0)
    writer = {}
    for i in range(sg.OperatorsLength()):
        o = sg.Operators(i)
        c = m.OperatorCodes(o.OpcodeIndex())
        for t in o.OutputsAsNumpy():
            writer[int(t)] = OP_NAMES[max(c.BuiltinCode(), c.DeprecatedBuiltinCode())]
    out = {}
    for k in range(sg.OutputsLength()):
        t = sg.Outputs(k)
        out.setdefault(writer[t], []).append((k, sg.Tensors(t).Name().decode()))
    return out


def test_int8_gelu_tables_are_bit_exact_with_litert():
    """GELU int8 (approximate and exact) is TFLite's float32 lookup table, entry by entry: all
    256 input values of each table, through LiteRT's reference kernel."""
    path, *_ = fixture("int8_math")
    assert_outputs_exact("int8_math", outputs_by_op(path)["GELU"])


def assert_outputs_exact(name: str, picked: list[tuple[int, str]]) -> None:
    """The fixture cut at the `picked` (output index, tensor) gives LiteRT's expected outputs
    bit for bit, in the reference interpreter and the plan."""
    path, inputs, expected, _ = fixture(name)
    g = load(path, outputs=[t for _, t in picked])
    for outs in (run_graph(g, inputs), compile_plan(g).run(inputs)):
        for got, (k, _) in zip(outs, picked):
            assert got.dtype == expected[k].dtype and int((got != expected[k]).sum()) == 0


@needs_litert
def test_int8_gelu_tables_cover_every_input_value():
    path, *_ = fixture("int8_math")
    gelus = outputs_by_op(path)["GELU"]
    plan = compile_plan(load(path, outputs=[name for _, name in gelus]))
    values = np.arange(-128, 128, dtype=np.int8).reshape(16, 2, 8)
    for v in values:
        want, _ = litert(path, [v, v])
        for got, (k, _) in zip(plan.run([v, v]), gelus):
            assert int((got != want[k]).sum()) == 0


def test_int8_ops_without_integer_form_are_refused_by_name():
    """LOG_SOFTMAX and L2_NORMALIZATION are refused at import, by name."""
    path, *_ = fixture("int8_math")
    by_op = outputs_by_op(path)
    for op in ("LOG_SOFTMAX", "L2_NORMALIZATION"):
        with pytest.raises(UnsupportedError, match=f"{op}.*quantized {op} is not supported"):
            load(path, outputs=[by_op[op][0][1]])


@pytest.mark.parametrize("name", ["int8_math", "int8_layernorm"])
def test_int8_squared_difference_rsqrt_and_layer_norm_are_bit_exact_with_litert(name):
    """SQUARED_DIFFERENCE (int8_math), and a Keras LayerNormalization in full int8 (MEAN,
    SQUARED_DIFFERENCE, RSQRT, MUL, SUB: the norm of ConvNeXt / ViT blocks) with RSQRT and
    SQUARED_DIFFERENCE reading model inputs (int8_layernorm): every output of theirs equals
    LiteRT's reference kernels, in the interpreter and the plan."""
    path, *_ = fixture(name)
    picked = [(k, t) for op in ("SQUARED_DIFFERENCE", "RSQRT", "ADD")
              for k, t in outputs_by_op(path).get(op, [])]
    assert len(picked) == (1 if name == "int8_math" else 3)
    assert_outputs_exact(name, picked)


@needs_litert
def test_int8_rsqrt_over_every_input_code():
    """RSQRT's fixed-point Newton-Raphson against live LiteRT with the model input under it
    (y, through MUL and ADD) set to each of the 256 int8 codes."""
    path, *_ = fixture("int8_layernorm")
    (k, tensor), = outputs_by_op(path)["RSQRT"]
    plan = compile_plan(load(path, outputs=[tensor]))
    x = np.zeros((1, 6, 16), np.int8)
    codes = np.arange(-128, 128).astype(np.int8)
    for start in range(0, 256, 96):
        y = np.resize(codes[start:start + 96], 96).reshape(1, 6, 16)
        want, _ = litert(path, [x, y])
        np.testing.assert_array_equal(plan.run([x, y])[0], want[k])


def test_frontends_doc_holds_the_generated_note():
    from pathlib import Path

    from npucc.frontends.docnote import read_note
    from npucc.frontends.tflite import CONVERTERS, supported_note

    doc = Path(__file__).resolve().parents[3] / "docs" / "FRONTENDS.md"
    assert read_note(doc, "tflite-supported") == supported_note(), \
        "regenerate: python -m npucc.frontends.tflite --write docs/FRONTENDS.md"
    assert all(name.removeprefix("CUSTOM:") in supported_note() for name in CONVERTERS)


def dilated_conv_model(kind: str, paddings, crops, seed=0) -> bytes:
    """SPACE_TO_BATCH_ND -> CONV_2D / DEPTHWISE_CONV_2D (VALID) -> BATCH_TO_SPACE_ND, as old TF
    converters wrote dilated convolutions (today's converter fuses them itself, so the file is
    written by hand); input 1x9x8x3, block 2x2, 3x3 kernel with 4 outputs."""
    from tests.fuzz.tflite_builder import Op, Tensor, build

    rng = np.random.default_rng(seed)
    i32 = tflite.TensorType.INT32
    (pt, pb), (pl, pr) = paddings
    (ct, cb), (cl, cr) = crops
    hb, wb = (9 + pt + pb) // 2, (8 + pl + pr) // 2
    w = rng.standard_normal((1, 3, 3, 4) if kind == "depthwise" else (4, 3, 3, 3))
    code, options = (tflite.BuiltinOperator.DEPTHWISE_CONV_2D,
                     ("DepthwiseConv2DOptions", {"Padding": tflite.Padding.VALID, "StrideW": 1,
                                                 "StrideH": 1, "DepthMultiplier": 1,
                                                 "DilationWFactor": 1, "DilationHFactor": 1})) \
        if kind == "depthwise" else \
        (tflite.BuiltinOperator.CONV_2D,
         ("Conv2DOptions", {"Padding": tflite.Padding.VALID, "StrideW": 1, "StrideH": 1,
                            "DilationWFactor": 1, "DilationHFactor": 1,
                            "FusedActivationFunction": tflite.ActivationFunctionType.RELU}))
    if kind == "depthwise":  # 3 channels, multiplier 1 (4 outputs would need multiplier 4/3)
        w = w[..., :3]
    cout = w.shape[-1] if kind == "depthwise" else w.shape[0]
    tensors = [Tensor(b"x", (1, 9, 8, 3)), Tensor(b"block", (2,), 1, i32),
               Tensor(b"paddings", (2, 2), 2, i32), Tensor(b"s2b", (4, hb, wb, 3)),
               Tensor(b"w", w.shape, 3), Tensor(b"bias", (cout,), 4),
               Tensor(b"conv", (4, hb - 2, wb - 2, cout)), Tensor(b"crops", (2, 2), 5, i32),
               Tensor(b"y", (1, 2 * (hb - 2) - ct - cb, 2 * (wb - 2) - cl - cr, cout))]
    buffers = [b"", np.int32([2, 2]).tobytes(), np.int32(paddings).tobytes(),
               w.astype(np.float32).tobytes(),
               rng.standard_normal(cout).astype(np.float32).tobytes(),
               np.int32(crops).tobytes()]
    B = tflite.BuiltinOperator
    ops = [Op(B.SPACE_TO_BATCH_ND, (0, 1, 2), (3,), None),
           Op(code, (3, 4, 5), (6,), None, options),
           Op(B.BATCH_TO_SPACE_ND, (6, 1, 7), (8,), None)]
    return build(tensors=tensors, buffers=buffers, ops=ops, inputs=(0,), outputs=(8,))


@needs_litert
@pytest.mark.parametrize("kind", ["conv", "depthwise"])
@pytest.mark.parametrize("paddings, crops", [(((2, 3), (2, 2)), ((1, 0), (0, 0))),
                                             (((0, 1), (0, 0)), ((0, 0), (0, 0)))])
def test_dilated_conv_triple_folds_and_matches_litert(tmp_path, kind, paddings, crops):
    """The triple is one Conv with dilations 2 and pads = paddings - crops, equal to LiteRT
    running the three ops; cut at the inner conv's output (a second reader), each op converts
    alone (Pad / Reshape / Transpose...) and still matches."""
    path = tmp_path / "dilated.tflite"
    path.write_bytes(dilated_conv_model(kind, paddings, crops))
    x = np.random.default_rng(1).standard_normal((1, 9, 8, 3)).astype(np.float32)
    (want,), it = litert(path, [x], all_tensors=True)
    g = load(path)
    (conv,) = [n for n in g.nodes if n.op == "Conv"]
    (pt, pb), (pl, pr) = paddings
    (ct, cb), (cl, cr) = crops
    assert conv.attrs["dilations"] == (2, 2)
    assert conv.attrs["pads"] == (pt - ct, pl - cl, pb - cb, pr - cr)
    assert {n.op for n in g.nodes} <= {"Transpose", "Conv"}
    for got in (run_graph(g, [x])[0], compile_plan(g).run([x])[0]):
        assert rel_error(got, want) <= 1e-5
    g = load(path, outputs=["y", "conv"])
    (conv,) = [n for n in g.nodes if n.op == "Conv"]
    assert conv.attrs["dilations"] == (1, 1)
    got = run_graph(g, [x])
    assert rel_error(got[0], want) <= 1e-5
    conv_t = next(d for d in it.get_tensor_details() if d["name"] == "conv")
    assert rel_error(got[1], it.get_tensor(conv_t["index"])) <= 1e-5


@pytest.mark.parametrize("num_splits", [2**31 - 1, 0, -3])
def test_split_count_from_the_file_is_checked_before_use(tmp_path, num_splits):
    """A SPLIT declaring 2**31 - 1 pieces (or none) is refused by name, never turned into a
    list of that many sizes."""
    from tests.fuzz.tflite_builder import Op, Tensor, build

    i32 = tflite.TensorType.INT32
    blob = build(tensors=[Tensor(b"axis", (), 1, i32), Tensor(b"x", (1, 4)),
                          Tensor(b"a", (1, 2)), Tensor(b"b", (1, 2))],
                 buffers=[b"", np.int32(1).tobytes()],
                 ops=[Op(tflite.BuiltinOperator.SPLIT, (0, 1), (2, 3), None,
                         ("SplitOptions", {"NumSplits": num_splits}))],
                 inputs=(1,), outputs=(2, 3))
    path = tmp_path / "split.tflite"
    path.write_bytes(blob)
    with pytest.raises(FrontendError, match=r"operator #0 SPLIT.*pieces but 2 outputs"):
        load(path)


@pytest.mark.parametrize("code", ["CONV_2D", "BATCH_TO_SPACE_ND"])
def test_operator_without_inputs_is_refused_by_name(tmp_path, code):
    """The dilated-convolution lookup meets operators with no inputs (a hostile file) and
    leaves the refusal to the converter."""
    from tests.fuzz.tflite_builder import Op, Tensor, build

    blob = build(tensors=[Tensor(b"x", (1, 4, 4, 1)), Tensor(b"y", (1, 4, 4, 1))],
                 buffers=[b""], ops=[Op(getattr(tflite.BuiltinOperator, code), (), (1,))],
                 inputs=(0,), outputs=(1,))
    path = tmp_path / "bad.tflite"
    path.write_bytes(blob)
    with pytest.raises(FrontendError, match=f"operator #0 {code}.*input 0 is required"):
        load(path)


def test_unsupported_operator_names_where_the_supported_ops_are(tmp_path):
    """An operator npucc does not convert (CONV_3D here) is named with its code, and the error
    points at the list of converted ops instead of printing all of it."""
    from tests.fuzz.tflite_builder import Op, Tensor, build

    blob = build(tensors=[Tensor(b"x", (1, 2, 4, 4, 1)), Tensor(b"y", (1, 2, 4, 4, 1))],
                 buffers=[b""], ops=[Op(tflite.BuiltinOperator.CONV_3D, (0,), (1,))],
                 inputs=(0,), outputs=(1,))
    path = tmp_path / "conv3d.tflite"
    path.write_bytes(blob)
    with pytest.raises(UnsupportedError) as e:
        load(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: operator #0 CONV_3D") and "(CONV_3D) is not supported" in msg
    assert "supported ops: npucc.frontends.tflite.CONVERTERS" in msg and "ADD, " not in msg


@needs_litert
def test_if_branches_selected_at_run_time_match_litert():
    """IF operators on conditions computed from the data (cond_ops_float: one IF with two
    outputs, an IF inside a branch): both branches are imported and each output selected, so
    every combination of taken branches matches LiteRT."""
    path, inputs, _, _ = fixture("cond_ops_float")
    plan = compile_plan(load(path))
    rng = np.random.default_rng(5)
    taken = set()
    for k in range(12):
        x = rng.uniform(-1, 1, inputs[0].shape).astype(np.float32) + (k % 3 - 1) * 0.6
        y = rng.uniform(-1, 1, inputs[1].shape).astype(np.float32) * (0.4 if k % 2 else 1.0)
        want, _ = litert(path, [x, y])
        for i, (got, w) in enumerate(zip(plan.run([x, y]), want)):
            check_close(got, w, f"draw {k}, output {i}")
        taken.add((bool(x.mean() > y.mean()), bool(x[0, 0] > 0), bool(y.max() > 0.5)))
    assert len(taken) >= 5, taken  # most branch combinations were exercised


def _if_ops(blob: bytes):
    """(subgraph, operator index, IfOptions) of every IF in the model."""
    m = tflite.Model.GetRootAsModel(blob, 0)
    found = []
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for k in range(sg.OperatorsLength()):
            op = sg.Operators(k)
            code = m.OperatorCodes(op.OpcodeIndex())
            if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == tflite.BuiltinOperator.IF:
                table = op.BuiltinOptions()
                o = tflite.IfOptions()
                o.Init(table.Bytes, table.Pos)
                found.append((s, k, o))
    return found


@pytest.mark.parametrize("hostile", ["main graph", "arity", "depth"])
def test_hostile_if_branches_are_refused_naming_the_file(tmp_path, monkeypatch, hostile):
    """An IF whose branch is the main graph, or takes another number of inputs than the IF
    passes, and IFs nested deeper than the limit (a branch naming its own subgraph nests
    without end), are FrontendErrors naming the file."""
    import struct

    from npucc.frontends.tflite import importer

    path, *_ = fixture("cond_ops_float")
    blob = bytearray(path.read_bytes())
    sub, _, o = next((s, k, o) for s, k, o in _if_ops(bytes(blob)) if s != 0)  # a nested IF
    message = {"main graph": "subgraph 0 nests deeper than 8 levels or calls the main graph",
               "arity": f"subgraph {sub} takes .* inputs, the operator passes 1",
               "depth": "nests deeper than 0 levels"}[hostile]
    if hostile == "depth":
        monkeypatch.setattr(importer, "MAX_SUBGRAPH_DEPTH", 0)
    else:
        struct.pack_into("<i", blob, o._tab.Pos + o._tab.Offset(4),  # then_subgraph_index
                         0 if hostile == "main graph" else sub)
    bad = tmp_path / "bad_if.tflite"
    bad.write_bytes(bytes(blob))
    with pytest.raises(FrontendError, match=rf"{bad}: operator #\d+ IF.*{message}"):
        load(bad)
