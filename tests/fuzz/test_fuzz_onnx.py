"""Hostile .onnx files: seeded mutations of a small model, and hand-made files (external data that
escapes the model's folder, attributes of the wrong kind, names that are not UTF-8, unknown
element types, payloads that do not match their dims, huge declared shapes). Every outcome is a
loaded graph or an npucc error naming the file; the valid variants are checked against
onnxruntime."""

import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from npucc.backends.simulator import SimulatorError, compile_plan
from npucc.errors import FrontendError
from npucc.frontends.onnx import load
from npucc.ir import run_graph

from .mutate import check_outcome, fuzz_file
from .targets import small_onnx_loop_model, small_onnx_model, targets


@pytest.mark.parametrize("target", targets("onnx"), ids=lambda t: t.name)
def test_mutated_onnx_files_load_or_fail_naming_the_file(target, tmp_path):
    counts = fuzz_file(lambda p: target.load(p, tmp_path), target.fixture(tmp_path),
                       tmp_path / "variants", n=400,
                       seed=1)
    assert counts["loaded"] > 0 and counts["npucc-error"] > 0, counts


def _save(model: onnx.ModelProto, path) -> str:
    path.write_bytes(model.SerializeToString())
    return str(path)


def _refused(path, message: str):
    with pytest.raises(FrontendError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)
    assert check_outcome(load, Path(path)) == "npucc-error"


def _external_model(folder, location: str, *, offset=None, length=None) -> str:
    """y = x + w with w (4 floats) stored as external data at `location`."""
    w = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    info = {"location": location, "offset": offset, "length": length}
    for key, value in info.items():
        if value is not None:
            w.external_data.add(key=key, value=str(value))
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"], name="add")], "ext",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    return _save(model, folder / "model.onnx")


def test_external_data_inside_the_folder_loads_and_matches_onnxruntime(tmp_path):
    (tmp_path / "weights.bin").write_bytes(bytes(8) + np.arange(4, dtype=np.float32).tobytes())
    path = _external_model(tmp_path, "weights.bin", offset=8, length=16)
    x = np.random.default_rng(0).standard_normal(4).astype(np.float32)
    (want,) = ort.InferenceSession(path).run(None, {"x": x})
    np.testing.assert_array_equal(run_graph(load(path), [x])[0], want)


def test_external_data_that_escapes_the_folder_is_refused(tmp_path):
    outside = tmp_path / "secret.bin"
    outside.write_bytes(np.arange(4, dtype=np.float32).tobytes())
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "link.bin").symlink_to(outside)
    (model_dir / "dev.bin").symlink_to("/dev/zero")
    os.mkfifo(model_dir / "fifo.bin")  # opening it for reading must not block the import
    (model_dir / "ok.bin").write_bytes(np.arange(4, dtype=np.float32).tobytes())
    cases = {
        "../secret.bin": "outside the model's folder",
        str(outside): "must be a relative path",
        "/dev/zero": "must be a relative path",
        "link.bin": "outside the model's folder",
        "dev.bin": "outside the model's folder",
        "fifo.bin": "is not a regular file",
        "missing.bin": "cannot open",
        "": "must be a relative path",
    }
    for location, message in cases.items():
        _refused(_external_model(model_dir, location), f"tensor 'w': external data .*{message}")
    _refused(_external_model(model_dir, "ok.bin", offset=8, length=16), "lie past the end")
    _refused(_external_model(model_dir, "ok.bin", length=12), "must equal the tensor's 16 bytes")
    _refused(_external_model(model_dir, "ok.bin", offset="x"), "must be integers")


def _node_model(attrs=None, name="conv") -> onnx.ModelProto:
    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], name=name, pads=[1, 1, 1, 1])
    for a in attrs or []:
        node.attribute.append(a)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                      [1, 1, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])],
                          [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_int_given_where_the_spec_says_ints(tmp_path):
    model = _node_model([helper.make_attribute("strides", 2)])
    _refused(_save(model, tmp_path / "m.onnx"),
             "node 'conv' .*attribute 'strides' is of type INT; the ONNX spec of Conv says INTS")


def test_names_that_are_not_utf8(tmp_path):
    data = _node_model(name="conv_name").SerializeToString().replace(b"conv_name", b"conv\xffname")
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    _refused(str(path), r"node #0 name b'conv\\xffname' is not valid UTF-8")


def test_names_that_are_not_utf8_inside_a_loop_body(tmp_path):
    data = small_onnx_loop_model().SerializeToString().replace(b"is_first", b"is\xfffirst")
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    _refused(str(path), r"node #2 subgraph: node #1 name b'is\\xfffirst' is not valid UTF-8")


def _initializer_model(t: TensorProto) -> onnx.ModelProto:
    g = helper.make_graph([helper.make_node("Add", ["x", t.name], ["y"], name="add")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [t])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def test_unknown_element_type_and_payload_size_mismatches(tmp_path):
    def tensor(**fields):
        t = TensorProto(name="w", dims=fields.pop("dims", [4]), data_type=TensorProto.FLOAT)
        for k, v in fields.items():
            if isinstance(v, list):
                getattr(t, k).extend(v)
            else:
                setattr(t, k, v)
        return t

    cases = [
        (tensor(data_type=999, raw_data=bytes(16)), "element type code 999"),
        (tensor(raw_data=bytes(12)), "holds 12 bytes of raw data; dims .4. of FLOAT need 16"),
        (tensor(float_data=[1.0, 2.0]), "holds 2 values in float_data; dims .4. need 4"),
        (tensor(dims=[1 << 40, 1 << 40], raw_data=b""), "over the .*-byte limit"),
        (tensor(dims=[-3], raw_data=b""), "dimensions must be >= 0"),
        (tensor(dims=[1] * 40, raw_data=bytes(4)), "has rank 40"),
    ]
    for k, (t, message) in enumerate(cases):
        _refused(_save(_initializer_model(t), tmp_path / f"m{k}.onnx"), f"tensor 'w'.*{message}")


def test_huge_shapes_fail_at_import_when_folded_and_in_the_plan_otherwise(tmp_path):
    big = numpy_helper.from_array(np.array([1 << 20, 1 << 20, 1 << 10], np.int64), "shape")
    one = numpy_helper.from_array(np.ones(1, np.float32), "one")
    g = helper.make_graph([helper.make_node("Expand", ["one", "shape"], ["y"], name="expand")],
                          "g", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [one, big])
    folded = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    _refused(_save(folded, tmp_path / "folded.onnx"), "node 'expand'.*over the .*-byte limit")

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                         [1 << 30, 1 << 30])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = _save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
                 tmp_path / "input.onnx")
    with pytest.raises(SimulatorError, match=r"graph input %x has shape .* over the"):
        compile_plan(load(path))


def test_the_fuzz_fixture_matches_onnxruntime(tmp_path):
    path = _save(small_onnx_model(), tmp_path / "small.onnx")
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    (want,) = ort.InferenceSession(path).run(None, {"x": x})
    np.testing.assert_allclose(run_graph(load(path), [x])[0], want, rtol=1e-5, atol=1e-6)


def test_the_loop_fuzz_fixture_matches_onnxruntime(tmp_path):
    path = _save(small_onnx_loop_model(), tmp_path / "loop.onnx")
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 4)).astype(np.float32)
    want = ort.InferenceSession(path).run(None, {"x": x})
    for ours, theirs in zip(run_graph(load(path), [x]), want):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
