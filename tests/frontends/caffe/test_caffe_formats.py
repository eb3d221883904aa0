"""Caffe file quirks real models have (old input fields, V0/V1 layers, round_mode, names
starting with '_') and the errors a user sees. Numbers are checked against OpenCV or numpy."""

import cv2
import numpy as np
import pytest

from npucc.errors import FrontendError
from npucc.frontends import caffe
from npucc.ir import run_graph

from .conftest import write_caffemodel

NET_BODY = """
layer { name: "_conv" type: "Convolution" bottom: "data" top: "_conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "_pool" type: "Pooling" bottom: "_conv" top: "_pool"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 %s } }
"""


def _run_pair(proto, tmp_path, feeds_shape=(1, 3, 8, 8)):
    blobs = caffe.random_blobs(proto)
    model = write_caffemodel(tmp_path / "m.caffemodel", blobs)
    g = caffe.load(proto, weights=model)
    x = np.random.default_rng(0).uniform(-1, 1, feeds_shape).astype(np.float32)
    (ours,) = run_graph(g, [x])
    # OpenCV's schema spells BVLC's `round_mode` (field 13) as its own `ceil_mode` (field 13)
    cv_proto = tmp_path / "opencv.prototxt"
    cv_proto.write_text(proto.read_text().replace("round_mode: CEIL", "ceil_mode: true")
                        .replace("round_mode: FLOOR", "ceil_mode: false"))
    net = cv2.dnn.readNetFromCaffe(str(cv_proto), str(model))
    net.setInput(x)
    return ours, net.forward(), g


@pytest.mark.parametrize("header", [
    'input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8',
    'input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }',
    'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 '
    'dim: 8 dim: 8 } } }'])
@pytest.mark.parametrize("round_mode", ["", "round_mode: CEIL", "round_mode: FLOOR"])
def test_inputs_round_mode_and_underscore_names(tmp_path, header, round_mode):
    proto = tmp_path / "net.prototxt"
    proto.write_text(header + NET_BODY % round_mode)
    ours, theirs, g = _run_pair(proto, tmp_path)
    # 8 + 2 - 3 = 7 over stride 2: ceil gives 5 windows, floor 4
    want_size = 4 if "FLOOR" in round_mode else 5
    assert ours.shape == (1, 4, want_size, want_size)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert {n.provenance for n in g.nodes} == {frozenset({"_conv"}), frozenset({"_pool"})}


def test_v0_format_is_upgraded(tmp_path):
    """A V0 net (`layers { layer { type: "conv" } }`, with a V0 padding layer) equals its
    current-format twin, checked by OpenCV on the twin."""
    v0 = tmp_path / "v0.prototxt"
    v0.write_text('''input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layers { layer { name: "pad1" type: "padding" pad: 1 } bottom: "data" top: "pad1" }
layers { layer { name: "conv1" type: "conv" num_output: 4 kernelsize: 3 stride: 1 }
         bottom: "pad1" top: "conv1" }
layers { layer { name: "relu1" type: "relu" } bottom: "conv1" top: "conv1" }
layers { layer { name: "pool1" type: "pool" pool: MAX kernelsize: 2 stride: 2 }
         bottom: "conv1" top: "pool1" }
''')
    new = tmp_path / "new.prototxt"
    new.write_text('''input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
''')
    blobs = caffe.random_blobs(new)
    model = write_caffemodel(tmp_path / "m.caffemodel", blobs)
    model_v1 = write_caffemodel(tmp_path / "v1.caffemodel", blobs, v1=True)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
    (ours,) = run_graph(caffe.load(v0, weights=model_v1), [x])
    net = cv2.dnn.readNetFromCaffe(str(new), str(model))
    net.setInput(x)
    np.testing.assert_allclose(ours, net.forward(), rtol=1e-5, atol=1e-6)


def test_unknown_layer_type_names_file_layer_and_type(tmp_path):
    proto = tmp_path / "odd.prototxt"
    proto.write_text('input: "data" input_dim: 1 input_dim: 3 input_dim: 4 input_dim: 4\n'
                     'layer { name: "mystery" type: "FancyOp" bottom: "data" top: "y" }\n')
    with pytest.raises(FrontendError, match=r"odd\.prototxt: layer 'mystery' \(type FancyOp\): "
                                            r"unknown layer type 'FancyOp'"):
        caffe.load(proto, weights="random")


def test_blob_shape_mismatch_names_layer_and_both_shapes(tmp_path):
    proto = tmp_path / "net.prototxt"
    proto.write_text('input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n'
                     + NET_BODY % "")
    write_caffemodel(tmp_path / "net.caffemodel",
                     {"_conv": [np.zeros((4, 2, 3, 3), np.float32),
                                np.zeros(4, np.float32)]})
    with pytest.raises(FrontendError, match=r"layer '_conv'.*shape \[4, 2, 3, 3\].*"
                                            r"implies \[4, 3, 3, 3\]"):
        caffe.load(proto)  # finds net.caffemodel beside the prototxt


def test_unsupported_field_is_refused(tmp_path):
    proto = tmp_path / "net.prototxt"
    proto.write_text('input: "data" input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8\n'
                     'layer { name: "c" type: "Convolution" bottom: "data" top: "c" '
                     'convolution_param { num_output: 2 kernel_size: 1 axis: 2 } }\n')
    with pytest.raises(FrontendError, match="axis 2 is not supported"):
        caffe.load(proto, weights="random")


def test_supported_note_lists_every_mapper():
    note = caffe.supported_note()
    for t in caffe.MAPPERS:
        assert f"| {t} |" in note or f"{t}," in note or f", {t} |" in note


def test_frontends_doc_holds_the_generated_note():
    from pathlib import Path

    from npucc.frontends.docnote import read_note
    doc = Path(__file__).resolve().parents[3] / "docs" / "FRONTENDS.md"
    assert read_note(doc, "caffe-supported") == caffe.supported_note(), \
        "regenerate: python -m npucc.frontends.caffe --write docs/FRONTENDS.md"


def test_every_parameter_field_is_handled_or_ignored():
    """Each mapper lists every field of its parameter message as handled or ignored (so a
    prototxt setting a field npucc would drop is refused), and lists no field the message lacks."""
    from npucc.frontends.caffe import caffe_pb2

    layer = caffe_pb2.LayerParameter()
    for t, spec in caffe.MAPPERS.items():
        if spec.param is None:
            continue
        names = {f.name for f in getattr(layer, spec.param).DESCRIPTOR.fields}
        listed = set(spec.fields) | set(spec.ignored)
        assert names == listed, f"{t}: unlisted {names - listed}, foreign {listed - names}"
