"""Hostile .tflite files: seeded mutations of committed fixtures, and hand-made files whose fields
hold what no converter writes. Every outcome is a loaded graph or an npucc error naming the file;
the valid hand-made base model is checked against LiteRT so the builder itself is sound."""

import numpy as np
import pytest
import tflite

from npucc.errors import FrontendError, UnsupportedError
from npucc.frontends.tflite import load
from npucc.ir import run_graph
from tests.frontends.tflite.oracle import litert, needs_litert

from .mutate import check_outcome, fuzz_file
from .targets import targets
from .tflite_builder import Op, Tensor, build

ADD = tflite.BuiltinOperator.ADD
F32 = tflite.TensorType.FLOAT32


@pytest.mark.parametrize("target", targets("tflite"), ids=lambda t: t.name)
def test_mutated_tflite_files_load_or_fail_naming_the_file(target, tmp_path):
    counts = fuzz_file(lambda p: target.load(p, tmp_path), target.fixture(tmp_path),
                       tmp_path / "variants", n=250,
                       seed=1)
    assert counts["loaded"] > 0 and counts["npucc-error"] > 0, counts


def _add_model(tensors=None, buffers=None, ops=None, inputs=(0,), outputs=(2,)) -> bytes:
    """x + c with c a constant; any part replaced by the caller."""
    const = np.arange(4, dtype=np.float32).reshape(1, 4)
    return build(tensors=tensors or [Tensor(b"x", (1, 4)), Tensor(b"c", (1, 4), buffer=1),
                                     Tensor(b"y", (1, 4))],
                 buffers=buffers or [b"", const.tobytes()],
                 ops=ops or [Op(ADD, (0, 1), (2,))], inputs=inputs, outputs=outputs)


@needs_litert
def test_the_hand_made_base_model_matches_litert(tmp_path):
    path = tmp_path / "add.tflite"
    path.write_bytes(_add_model())
    x = np.random.default_rng(0).standard_normal((1, 4)).astype(np.float32)
    (want,), _ = litert(path, [x])
    np.testing.assert_array_equal(run_graph(load(path), [x])[0], want)


HOSTILE = {
    "unknown dtype enum": (dict(tensors=[Tensor(b"x", (1, 4)), Tensor(b"c", (1, 4), 1, 99),
                                         Tensor(b"y", (1, 4))]), "unknown element type code 99"),
    "unsupported dtype": (dict(tensors=[Tensor(b"x", (1, 4)),
                                        Tensor(b"c", (1, 4), 1, tflite.TensorType.COMPLEX64),
                                        Tensor(b"y", (1, 4))]), "unsupported type COMPLEX64"),
    "short payload": (dict(buffers=[b"", bytes(12)]), "holds 12 bytes; shape .* needs 16"),
    "huge declared shape": (dict(tensors=[Tensor(b"x", (1, 4)),
                                          Tensor(b"c", (1 << 30, 1 << 30), 1),
                                          Tensor(b"y", (1, 4))]), "over the .*-byte limit"),
    "negative dim": (dict(tensors=[Tensor(b"x", (1, 4)), Tensor(b"c", (1, -7), 1),
                                   Tensor(b"y", (1, 4))]), "invalid shape"),
    "buffer index out of range": (dict(tensors=[Tensor(b"x", (1, 4)), Tensor(b"c", (1, 4), 9),
                                                Tensor(b"y", (1, 4))]), "buffer index is 9"),
    "tensor index out of range": (dict(ops=[Op(ADD, (0, 57), (2,))]),
                                  "input tensor index is 57"),
    "opcode index out of range": (dict(ops=[Op(ADD, (0, 1), (2,), opcode_index=3)]),
                                  "opcode index is 3"),
    "subgraph output out of range": (dict(outputs=(-4,)), "subgraph output is -4"),
    "name not UTF-8": (dict(tensors=[Tensor(b"x", (1, 4)), Tensor(b"c\xff\xfe", (1, 4), 1),
                                     Tensor(b"y", (1, 4))]), "is not UTF-8"),
    "missing operand": (dict(ops=[Op(ADD, (0,), (2,))]), "input 1 is required"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hand_made_hostile_file_fails_naming_the_file_and_the_problem(case, tmp_path):
    parts, message = HOSTILE[case]
    path = tmp_path / "hostile.tflite"
    path.write_bytes(_add_model(**parts))
    with pytest.raises(FrontendError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)
    assert check_outcome(load, path) == "npucc-error"


def test_offsets_outside_the_file_are_refused_before_any_read(tmp_path):
    data = bytearray(_add_model())
    root = int.from_bytes(data[:4], "little")
    data[root:root + 4] = (len(data) * 3).to_bytes(4, "little", signed=True)  # vtable far away
    path = tmp_path / "offsets.tflite"
    path.write_bytes(bytes(data))
    with pytest.raises(FrontendError, match=r"offsets.tflite: not a valid TFLite flatbuffer: "
                                            r"Model \(its vtable\)"):
        load(path)


def test_options_of_another_type_are_refused(tmp_path):
    """A CONV_2D whose builtin options table is declared a Pool2DOptions would be misread."""
    from tests.frontends.tflite.oracle import fixture

    path, *_ = fixture("ops_zoo_float")
    model = tflite.Model.GetRootAsModel(path.read_bytes(), 0)
    sg = model.Subgraphs(0)
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        if model.OperatorCodes(op.OpcodeIndex()).BuiltinCode() == tflite.BuiltinOperator.CONV_2D:
            break
    table = op._tab
    field = table.Offset(10)  # builtin_options_type (field 3)
    data = bytearray(path.read_bytes())
    data[table.Pos + field] = tflite.BuiltinOptions.Pool2DOptions
    bad = tmp_path / "options.tflite"
    bad.write_bytes(bytes(data))
    with pytest.raises(FrontendError, match="options.tflite: .*CONV_2D.*its options are "
                                            "Pool2DOptions, expected Conv2DOptions"):
        load(bad)


def test_unsupported_stays_an_unsupported_error(tmp_path):
    path = tmp_path / "u.tflite"
    path.write_bytes(_add_model(tensors=[Tensor(b"x", (1, 4)),
                                         Tensor(b"c", (1, 4), 1, tflite.TensorType.STRING),
                                         Tensor(b"y", (1, 4))]))
    with pytest.raises(UnsupportedError, match="u.tflite"):
        load(path)
