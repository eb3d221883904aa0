"""Hand-made .tflite files for the hostile-file regression tests: a one-subgraph model written
with the flatbuffer builders of the `tflite` package, where every field can be set to a value a
converter would never write (unknown type codes, out-of-range indices, short buffers...).

    data = build(tensors=[Tensor(b"x", (1, 4)), Tensor(b"c", (1, 4), buffer=1),
                          Tensor(b"y", (1, 4))],
                 buffers=[b"", np.ones((1, 4), np.float32).tobytes()],
                 ops=[Op(tflite.BuiltinOperator.ADD, (0, 1), (2,))], inputs=(0,), outputs=(2,))
"""

from __future__ import annotations

import importlib
from typing import NamedTuple

import flatbuffers
import tflite


def _module(name: str):
    return importlib.import_module(f"tflite.{name}")


class Tensor(NamedTuple):
    name: bytes
    shape: tuple[int, ...]
    buffer: int = 0
    type: int = tflite.TensorType.FLOAT32
    quant: tuple[float, int] | None = None  # per-tensor (scale, zero point)


class Op(NamedTuple):
    code: int | str  # a BuiltinOperator, or the name of a custom op
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    opcode_index: int | None = 0  # None: the index of `code` in the model's sorted codes
    options: tuple[str, dict] | None = None  # builtin options: ("Conv2DOptions", {"Padding": 1})
    custom_options: bytes | None = None  # a custom op's options (a flexbuffer, say)


def _options(b: flatbuffers.Builder, name: str, fields: dict) -> tuple[int, int]:
    """(BuiltinOptions type code, table offset) of an options table with scalar fields."""
    mod = _module(name)
    getattr(mod, f"{name}Start")(b)
    for field, value in fields.items():
        getattr(mod, f"{name}Add{field}")(b, value)
    return getattr(tflite.BuiltinOptions, name), getattr(mod, f"{name}End")(b)


def _int_vector(b: flatbuffers.Builder, values) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(list(values)):
        b.PrependInt32(v)
    return b.EndVector()


def _tables(b: flatbuffers.Builder, offsets) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _quantization(b: flatbuffers.Builder, scale: float, zero_point: int) -> int:
    Q = _module("QuantizationParameters")
    b.StartVector(4, 1, 4)
    b.PrependFloat32(scale)
    scales = b.EndVector()
    b.StartVector(8, 1, 8)
    b.PrependInt64(zero_point)
    zero_points = b.EndVector()
    Q.QuantizationParametersStart(b)
    Q.QuantizationParametersAddScale(b, scales)
    Q.QuantizationParametersAddZeroPoint(b, zero_points)
    return Q.QuantizationParametersEnd(b)


def build(tensors, buffers, ops, inputs, outputs) -> bytes:
    b = flatbuffers.Builder(1024)
    M, S, T, O, C, B = (_module(n) for n in ("Model", "SubGraph", "Tensor", "Operator",
                                              "OperatorCode", "Buffer"))
    buffer_offsets = []
    for data in buffers:
        vec = b.CreateByteVector(data) if data else None
        B.BufferStart(b)
        if vec is not None:
            B.BufferAddData(b, vec)
        buffer_offsets.append(B.BufferEnd(b))
    tensor_offsets = []
    for t in tensors:
        name, shape = b.CreateString(t.name), _int_vector(b, t.shape)
        quant = _quantization(b, *t.quant) if t.quant is not None else None
        T.TensorStart(b)
        T.TensorAddShape(b, shape)
        T.TensorAddType(b, t.type)
        T.TensorAddBuffer(b, t.buffer)
        T.TensorAddName(b, name)
        if quant is not None:
            T.TensorAddQuantization(b, quant)
        tensor_offsets.append(T.TensorEnd(b))
    op_offsets = []
    codes = sorted({op.code for op in ops}, key=lambda c: (isinstance(c, str), c))
    for op in ops:
        ins, outs = _int_vector(b, op.inputs), _int_vector(b, op.outputs)
        opts = _options(b, *op.options) if op.options else None
        custom = b.CreateByteVector(op.custom_options) if op.custom_options is not None else None
        O.OperatorStart(b)
        O.OperatorAddOpcodeIndex(b, codes.index(op.code) if op.opcode_index is None
                                 else op.opcode_index)
        O.OperatorAddInputs(b, ins)
        O.OperatorAddOutputs(b, outs)
        if opts:
            O.OperatorAddBuiltinOptionsType(b, opts[0])
            O.OperatorAddBuiltinOptions(b, opts[1])
        if custom is not None:
            O.OperatorAddCustomOptions(b, custom)
        op_offsets.append(O.OperatorEnd(b))
    code_offsets = []
    for code in codes:
        custom = b.CreateString(code) if isinstance(code, str) else None
        code = tflite.BuiltinOperator.CUSTOM if custom is not None else code
        C.OperatorCodeStart(b)
        if custom is not None:
            C.OperatorCodeAddCustomCode(b, custom)
        C.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
        C.OperatorCodeAddBuiltinCode(b, code)
        C.OperatorCodeAddVersion(b, 1)
        code_offsets.append(C.OperatorCodeEnd(b))
    sg_tensors, sg_ops = _tables(b, tensor_offsets), _tables(b, op_offsets)
    sg_in, sg_out = _int_vector(b, inputs), _int_vector(b, outputs)
    S.SubGraphStart(b)
    S.SubGraphAddTensors(b, sg_tensors)
    S.SubGraphAddInputs(b, sg_in)
    S.SubGraphAddOutputs(b, sg_out)
    S.SubGraphAddOperators(b, sg_ops)
    subgraph = S.SubGraphEnd(b)
    codes, subgraphs, bufs = _tables(b, code_offsets), _tables(b, [subgraph]), \
        _tables(b, buffer_offsets)
    M.ModelStart(b)
    M.ModelAddVersion(b, 3)
    M.ModelAddOperatorCodes(b, codes)
    M.ModelAddSubgraphs(b, subgraphs)
    M.ModelAddBuffers(b, bufs)
    b.Finish(M.ModelEnd(b), file_identifier=b"TFL3")
    return bytes(b.Output())
