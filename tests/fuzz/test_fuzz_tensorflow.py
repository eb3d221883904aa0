"""Hostile frozen GraphDefs (.pb): seeded mutations of committed fixtures, and hand-made graphs
whose constants and attributes hold what TensorFlow never writes. Every outcome is a loaded graph
or an npucc error naming the file."""

import numpy as np
import pytest

from npucc.errors import FrontendError
from npucc.frontends.tensorflow import load
from npucc.frontends.tfproto import graph_pb2, types_pb2
from npucc.ir import run_graph

from .mutate import check_outcome, fuzz_file
from .targets import targets


@pytest.mark.parametrize("target", targets("tensorflow"), ids=lambda t: t.name)
def test_mutated_graphdefs_load_or_fail_naming_the_file(target, tmp_path):
    counts = fuzz_file(lambda p: target.load(p, tmp_path), target.fixture(tmp_path),
                       tmp_path / "variants", n=300,
                       seed=1)
    assert counts["loaded"] > 0 and counts["npucc-error"] > 0, counts


def _graph(const_tensor=None, pool_attrs=None) -> graph_pb2.GraphDef:
    """x (1x4x4x1) -> MaxPool 2x2 -> + c (a Const of 4 floats, reshaped by broadcasting)."""
    gd = graph_pb2.GraphDef()
    x = gd.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = types_pb2.DT_FLOAT
    for d in (1, 4, 4, 1):
        x.attr["shape"].shape.dim.add(size=d)
    pool = gd.node.add(name="pool", op="MaxPool", input=["x"])
    attrs = {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": b"VALID"}
    attrs.update(pool_attrs or {})
    for key, value in attrs.items():
        if value is None:
            continue
        if value == ():
            pool.attr[key].Clear()  # present, without a value
        elif isinstance(value, bytes):
            pool.attr[key].s = value
        else:
            pool.attr[key].list.i.extend(value)
    c = gd.node.add(name="c", op="Const")
    c.attr["dtype"].type = types_pb2.DT_FLOAT
    if const_tensor is None:
        const_tensor = c.attr["value"].tensor
        const_tensor.dtype = types_pb2.DT_FLOAT
        const_tensor.tensor_shape.dim.add(size=1)
        const_tensor.tensor_content = np.arange(1, dtype=np.float32).tobytes()
    else:
        c.attr["value"].tensor.CopyFrom(const_tensor)
    gd.node.add(name="y", op="AddV2", input=["pool", "c"])
    return gd


def _save(gd, path):
    path.write_bytes(gd.SerializeToString())
    return path


def _load(path):
    return load(path, inputs=["x"], outputs=["y"])


def test_the_hand_made_base_graph_loads_and_computes_max_pool_plus_c(tmp_path):
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    (y,) = run_graph(_load(_save(_graph(), tmp_path / "g.pb")), [x])
    np.testing.assert_array_equal(y[0, :, :, 0], [[5, 7], [13, 15]])  # 2x2 maxima of 0..15


def _tensor(dtype=types_pb2.DT_FLOAT, dims=(4,), **fields):
    from npucc.frontends.tfproto import tensor_pb2

    t = tensor_pb2.TensorProto(dtype=dtype)
    for d in dims:
        t.tensor_shape.dim.add(size=d)
    for key, value in fields.items():
        if isinstance(value, list):
            getattr(t, key).extend(value)
        else:
            setattr(t, key, value)
    return t


HOSTILE = {
    "unknown dtype enum": (dict(const_tensor=_tensor(dtype=77, tensor_content=bytes(16))),
                           "tensor dtype code 77 is not supported"),
    "content size mismatch": (dict(const_tensor=_tensor(tensor_content=bytes(12))),
                              "tensor_content holds 12 bytes; shape .4. of DT_FLOAT needs 16"),
    "more values than the shape": (dict(const_tensor=_tensor(float_val=[1.0] * 9)),
                                   "lists 9 values for shape"),
    "int8 value out of range": (dict(const_tensor=_tensor(dtype=types_pb2.DT_INT8,
                                                          int_val=[1, 300])),
                                "values outside the DT_INT8 range"),
    "huge declared shape": (dict(const_tensor=_tensor(dims=(1 << 31, 1 << 31),
                                                      float_val=[1.0])),
                            "over the .*-byte limit"),
    "negative dim": (dict(const_tensor=_tensor(dims=(-5,), float_val=[1.0])),
                     "dimensions must be >= 0"),
    "missing attribute": (dict(pool_attrs={"strides": None}), "attribute 'strides' is missing"),
    "attribute without a value": (dict(pool_attrs={"padding": ()}),
                                  "attribute 'padding' is missing"),
    "attribute of the wrong length": (dict(pool_attrs={"ksize": [2, 2]}),
                                      r"expected 4 integers .*\[2, 2\]"),
    "zero stride": (dict(pool_attrs={"strides": [1, 0, 0, 1]}), "must be >= 1"),
    "string not UTF-8": (dict(pool_attrs={"padding": b"SA\xffME"}), "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hand_made_hostile_graphdef_fails_naming_the_file_and_the_problem(case, tmp_path):
    parts, message = HOSTILE[case]
    path = _save(_graph(**parts), tmp_path / "hostile.pb")
    with pytest.raises(FrontendError, match=message) as info:
        _load(path)
    assert str(path) in str(info.value)
    assert check_outcome(_load, path) == "npucc-error"


@pytest.mark.parametrize("entries, mask, match", [
    (5, 0, r"strided slice spec addresses 5 axes of an input of shape \[1, 4, 4, 1\]"),
    (4, b"", "attribute 'begin_mask' must be an integer, got str"),
])
def test_a_hostile_strided_slice(tmp_path, entries, mask, match):
    """A spec longer than the input's rank, a mask that is a string (both escaped as internal
    IndexError / ValueError)."""
    gd = _graph()
    for name in ("begin", "end", "strides"):
        c = gd.node.add(name=name, op="Const")
        c.attr["dtype"].type = types_pb2.DT_INT32
        c.attr["value"].tensor.CopyFrom(_tensor(types_pb2.DT_INT32, (entries,),
                                                int_val=[1] * entries))
    s = gd.node.add(name="s", op="StridedSlice", input=["x", "begin", "end", "strides"])
    if isinstance(mask, bytes):
        s.attr["begin_mask"].s = mask
    path = _save(gd, tmp_path / "slice.pb")
    with pytest.raises(FrontendError, match=r"slice.pb: node 's' \(StridedSlice\): " + match):
        load(path, inputs=["x"], outputs=["s"])


def test_a_tensor_name_with_a_bad_output_index(tmp_path):
    gd = _graph()
    gd.node[-1].input[1] = "c:notanumber"
    path = _save(gd, tmp_path / "names.pb")
    with pytest.raises(FrontendError, match="names.pb: .*output index 'notanumber'"):
        _load(path)
