"""Per-layer dumps: one .npy per node output, named by index, op, provenance and value, holding
exactly the reference interpreter's value of that layer; index.json describes every file."""

import json

import numpy as np

from npucc.backends.simulator import compile_plan
from npucc.backends.simulator.dump import layer_file_name
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
