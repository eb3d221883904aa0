"""Reading ONNX tensors and names from an untrusted model: nothing is allocated or opened before the
declared sizes and paths are checked.

- names: protobuf hands back `bytes` for a string field that is not UTF-8; `check_names` refuses
  such a model once, up front, so no later code sees a bytes name.
- tensors: a known element type; dims >= 0, rank and byte size within npucc.limits; the payload
  (raw_data or the typed field) exactly as long as the dims and type declare.
- external data (`read_external`): npucc reads it itself, onnx never opens the path. `location`
  must be relative, resolve (symlinks included) to a regular file inside the model's folder, and
  `offset + length` must lie inside that file with `length` equal to the tensor's declared size.
"""

from __future__ import annotations

import math
import os
import stat

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ... import limits
from ...errors import FrontendError, LimitError, UnsupportedError

_PACKED_4BIT = {v for k, v in onnx.TensorProto.DataType.items()
                if k in ("INT4", "UINT4", "FLOAT4E2M1")}


def _type_name(data_type: int) -> str:
    if data_type in onnx.TensorProto.DataType.values():
        return onnx.TensorProto.DataType.Name(data_type)
    return f"code {data_type}"


def _graph_names(g: onnx.GraphProto, where: str):
    """(what, name) of every name in graph `g` and the subgraphs of its nodes."""
    yield f"{where}graph name", g.name
    for what, items in (("initializer", g.initializer), ("input", g.input),
                        ("output", g.output), ("value_info", g.value_info)):
        for k, v in enumerate(items):
            yield f"{where}{what} #{k} name", v.name
    for k, n in enumerate(g.node):
        at = f"{where}node #{k}"
        yield from ((f"{at} name", n.name), (f"{at} op_type", n.op_type),
                    (f"{at} domain", n.domain))
        yield from ((f"{at} input", s) for s in n.input)
        yield from ((f"{at} output", s) for s in n.output)
        for a in n.attribute:
            yield f"{at} attribute name", a.name
            subgraphs = [a.g] if a.HasField("g") else []
            for sub in subgraphs + list(a.graphs):
                yield from _graph_names(sub, f"{at} subgraph: ")


def check_names(model: onnx.ModelProto, label: str) -> None:
    """FrontendError if a name the importer reads is not valid UTF-8 (protobuf gives bytes)."""
    fields = [(f"opset import #{k} domain", o.domain) for k, o in enumerate(model.opset_import)]
    for what, value in [*fields, *_graph_names(model.graph, "")]:
        if not isinstance(value, str):
            raise FrontendError(f"{label}: {what} {bytes(value)[:60]!r} is not valid UTF-8")


def declared_nbytes(t: onnx.TensorProto, what: str) -> tuple[np.dtype, int]:
    """(numpy dtype, payload bytes) the tensor's type and dims declare, checked against limits."""
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type))
    except (KeyError, ValueError, TypeError):
        raise UnsupportedError(f"{what} has element type {_type_name(t.data_type)}, which npucc "
                               "does not read") from None
    if dtype.kind in "OUS":
        raise UnsupportedError(f"{what} holds {_type_name(t.data_type)}; npucc tensors are numeric")
    try:
        nbytes = limits.check_shape(list(t.dims), dtype.itemsize, what)
    except LimitError as e:
        raise FrontendError(str(e)) from None
    if t.data_type in _PACKED_4BIT:
        nbytes = (math.prod(t.dims) + 1) // 2
    return dtype, nbytes


def to_array(t: onnx.TensorProto, what: str, base_dir: str | None) -> np.ndarray:
    """The tensor's value, every declared size checked first (see the module docstring)."""
    dtype, nbytes = declared_nbytes(t, what)
    if t.data_location == onnx.TensorProto.EXTERNAL and not t.raw_data:
        if base_dir is None:
            raise FrontendError(f"{what} is stored in an external file; load the model from its "
                                "path")
        inline = onnx.TensorProto()
        inline.CopyFrom(t)
        del inline.external_data[:]
        inline.data_location = onnx.TensorProto.DEFAULT
        inline.raw_data = read_external(t, base_dir, nbytes, what)
        t = inline
    elif t.HasField("raw_data"):
        if len(t.raw_data) != nbytes:
            raise FrontendError(f"{what} holds {len(t.raw_data)} bytes of raw data; dims "
                                f"{list(t.dims)} of {_type_name(t.data_type)} need {nbytes}")
    else:
        field = helper.tensor_dtype_to_field(t.data_type)
        count, want = len(getattr(t, field)), math.prod(t.dims)
        if dtype.kind == "c":
            want *= 2
        elif t.data_type in _PACKED_4BIT:
            want = nbytes
        if count != want:
            raise FrontendError(f"{what} holds {count} values in {field}; dims {list(t.dims)} "
                                f"need {want}")
    try:
        return numpy_helper.to_array(t)
    except Exception as e:  # noqa: BLE001 - onnx's decoder on a payload whose size was checked
        raise FrontendError(f"cannot read {what}: {type(e).__name__}: {e}") from None


def read_external(t: onnx.TensorProto, base_dir: str, nbytes: int, what: str) -> bytes:
    """The `nbytes` of an external tensor, after the location checks of the module docstring."""
    info = {e.key: e.value for e in t.external_data}
    location = info.get("location", "")
    where = f"{what}: external data location {location!r}"
    if not location or "\0" in location or os.path.isabs(location) or \
            os.path.splitdrive(location)[0]:
        raise FrontendError(f"{where} must be a relative path inside the model's folder")
    folder = os.path.realpath(base_dir)
    path = os.path.realpath(os.path.join(folder, location))
    if os.path.commonpath([folder, path]) != folder:
        raise FrontendError(f"{where} resolves to {path}, outside the model's folder {folder}")
    try:
        offset, length = int(info.get("offset", 0)), int(info.get("length", nbytes))
    except ValueError:
        raise FrontendError(f"{where}: offset and length must be integers") from None
    if offset < 0 or length != nbytes:
        raise FrontendError(f"{where}: offset {offset} and length {length} must be >= 0 and "
                            f"the length must equal the tensor's {nbytes} bytes")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise FrontendError(f"{where}: cannot open {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise FrontendError(f"{where}: {path} is not a regular file")
        if offset + length > st.st_size:
            raise FrontendError(f"{where}: bytes {offset}..{offset + length} lie past the end "
                                f"of the {st.st_size}-byte file")
        f.seek(offset)
        data = f.read(length)
    if len(data) != length:
        raise FrontendError(f"{where}: read {len(data)} of {length} bytes")
    return data
