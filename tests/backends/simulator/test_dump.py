"""Per-layer dumps: one .npy per node output, named by index, op, provenance and value, holding
exactly the reference interpreter's value of that layer; index.json describes every file."""

import json

import numpy as np
import pytest

from npucc.backends.simulator import compile_plan
from npucc.backends.simulator.dump import layer_file_name
from npucc.errors import NpuccError
from npucc.ir import Graph, Interpreter, TensorType


def _graph():
    rng = np.random.default_rng(3)
    g = Graph("dumped")
    x = g.add_input("image", TensorType((1, 2, 6, 6), "f32"))
    c = g.op("Conv", x, g.add_constant(rng.standard_normal((3, 2, 3, 3)).astype(np.float32)),
             pads=(1, 1, 1, 1), provenance=["conv1", "bn1"], name="conv1/out:0")
    r = g.op("Relu", c, provenance=["relu1"])
    f = g.op("Flatten", r, provenance=["flat"])
    a, b = g.op("Split", f, axis=1, split=(50, 58), provenance=["split"])
    g.set_outputs([a, g.op("Sigmoid", b)])  # no provenance on the last node
    return g


def test_dump_writes_every_layer_with_its_reference_value(tmp_path):
    g = _graph()
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    reference = {}
    Interpreter(g, hook=lambda node, outs: reference.update(
        {v.name: o for v, o in zip(node.outputs, outs)})).run([x])

    outs = compile_plan(g).run([x], dump_dir=tmp_path / "layers")

    index = json.loads((tmp_path / "layers" / "index.json").read_text())["layers"]
    nodes = list(g.nodes)
    assert len(index) == sum(len(n.outputs) for n in nodes)
    for entry in index:
        node = nodes[entry["index"]]
        value = node.outputs[entry["output_index"]]
        assert entry["op"] == node.op and entry["value"] == value.name
        assert entry["provenance"] == sorted(node.provenance)
        assert entry["shape"] == list(value.shape) and entry["dtype"] == "float32"
        assert entry["file"] == layer_file_name(entry["index"], node, value.name)
        saved = np.load(tmp_path / "layers" / entry["file"])
        np.testing.assert_allclose(saved, reference[value.name], rtol=1e-5, atol=1e-6)
    names = sorted(p.name for p in (tmp_path / "layers").iterdir())
    assert names == sorted([e["file"] for e in index] + ["index.json"])  # no temp files left
    assert names[0] == "0000_Conv_bn1+conv1_conv1_out_0.npy"  # sorted sources, sanitised value
    assert any(n.startswith("0004_Sigmoid_") for n in names)
    np.testing.assert_allclose(outs[1], reference[g.outputs[1].name], rtol=1e-5)


def test_long_provenance_is_shortened_in_file_names():
    g = Graph()
    x = g.add_input("x", TensorType((2,), "f32"))
    g.set_outputs([g.op("Relu", x, provenance=[f"very/long/layer/name/{i}" for i in range(40)])])
    name = layer_file_name(0, next(iter(g.nodes)), "v")
    assert len(name) < 140 and name.startswith("0000_Relu_very_long_layer_name_0+")


def _two_outputs_named(a: str, b: str):
    g = Graph("names")
    x = g.add_input("x", TensorType((1, 4), "f32"))
    p, q = g.op("Split", x, axis=1, split=(1, 3), provenance=["split"])
    g.rename(p, a)
    g.rename(q, b)
    g.set_outputs([g.op("Relu", p, name="r1"), g.op("Sigmoid", q, name="r2")])
    return g


def _check_dump_against_reference(g, x, directory):
    reference = {}
    Interpreter(g, hook=lambda node, outs: reference.update(
        {v.name: o for v, o in zip(node.outputs, outs)})).run([x])
    compile_plan(g).run([x], dump_dir=directory)
    index = json.loads((directory / "index.json").read_text())
    assert index["complete"] is True
    files = [e["file"] for e in index["layers"]]
    assert len(set(files)) == len(files) == len(reference)
    assert sorted(p.name for p in directory.iterdir()) == sorted(files + ["index.json"])
    for e in index["layers"]:
        assert len(e["file"]) < 200
        np.testing.assert_array_equal(np.load(directory / e["file"]), reference[e["value"]])
    return index


def test_names_that_sanitise_alike_do_not_overwrite_each_other(tmp_path):
    g = _two_outputs_named("a/b", "a_b")
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    index = _check_dump_against_reference(g, x, tmp_path / "d")
    assert {e["value"] for e in index["layers"]} >= {"a/b", "a_b"}


def test_a_400_character_value_name_gets_a_bounded_unique_file_name(tmp_path):
    long_a, long_b = "v" * 399 + "a", "v" * 399 + "b"  # same first 399 characters
    g = _two_outputs_named(long_a, long_b)
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    _check_dump_against_reference(g, x, tmp_path / "d")


def test_a_reused_dump_directory_describes_only_the_last_run(tmp_path):
    d = tmp_path / "layers"
    g = _graph()
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    compile_plan(g).run([x], dump_dir=d)
    small = _two_outputs_named("p", "q")  # a different graph into the same directory
    _check_dump_against_reference(small, np.ones((1, 4), np.float32), d)


def test_a_foreign_non_empty_directory_is_refused_and_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    g = _two_outputs_named("p", "q")
    with pytest.raises(NpuccError, match="not empty"):
        compile_plan(g).run([np.ones((1, 4), np.float32)], dump_dir=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
