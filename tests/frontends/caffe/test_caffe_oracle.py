"""Whole Caffe models with random weights: npucc's import run by the reference interpreter must
match OpenCV's Caffe importer (cv2.dnn, 4.x) to 1e-4 relative, output by output."""

import cv2
import numpy as np
import pytest

from npucc.frontends import caffe
from npucc.ir import run_graph

from .conftest import write_caffemodel

pytestmark = pytest.mark.slow

RTOL = 1e-4


def rel_err(got, want) -> float:
    """max |got - want| over max |want| (error relative to the tensor's scale)."""
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-12))


def last_layer_writing(prototxt_net, top):
    return [layer.name for layer in prototxt_net.layer if top in layer.top][-1]


def run_both(prototxt, tmp_path, input_shapes, *, scale_blobs=None, seed=0, extra_tops=()):
    """(npucc outputs, OpenCV outputs) by top name, on the same random weights and inputs."""
    blobs = caffe.random_blobs(prototxt, seed=seed, input_shapes=input_shapes)
    for name, factor in (scale_blobs or {}).items():
        blobs[name] = [b * factor for b in blobs[name]]
    model = write_caffemodel(tmp_path / "model.caffemodel", blobs)
    graph = caffe.load(prototxt, weights=model, input_shapes=input_shapes)
    rng = np.random.default_rng(seed + 1)
    feeds = {v.name: rng.uniform(-1, 1, v.shape).astype(np.float32) for v in graph.inputs}
    ours = dict(zip([v.name for v in graph.outputs], run_graph(graph, feeds)))

    net = cv2.dnn.readNetFromCaffe(str(prototxt), str(model))
    for name, x in feeds.items():
        net.setInput(x, name)
    from npucc.frontends.caffe.reader import read_prototxt
    parsed = read_prototxt(prototxt)
    tops = list(ours) + list(extra_tops)
    layer_names = [last_layer_writing(parsed, t) for t in tops]
    theirs = dict(zip(tops, net.forward(layer_names)))
    if extra_tops:
        graph.set_outputs(list(graph.outputs) + [graph.value(t) for t in extra_tops])
        ours.update(zip(extra_tops, run_graph(graph, feeds)[-len(extra_tops):]))
    return ours, theirs


def assert_match(ours, theirs, tops=None):
    for top in tops or ours:
        got, want = ours[top], theirs[top]
        assert got.size == want.size, f"{top}: npucc {got.shape}, OpenCV {want.shape}"
        got = got.reshape(want.shape)
        err = rel_err(got, want)
        assert err <= RTOL, f"{top}: relative error {err:.2e} > {RTOL}"


CLASSIFIERS = [
    ("bvlc_alexnet/deploy.prototxt", {"data": (1, 3, 107, 107)}),
    ("bvlc_reference_caffenet/deploy.prototxt", {"data": (1, 3, 107, 107)}),
    ("legacy_formats/bvlc_alexnet_deploy_V1_layers.prototxt", {"data": (1, 3, 115, 115)}),
    ("squeezenet/SqueezeNet_v1.1_deploy.prototxt", {"data": (1, 3, 99, 99)}),
    ("resnet/ResNet-50-deploy.prototxt", {"data": (1, 3, 208, 208)}),
]


@pytest.mark.parametrize("rel,shapes", CLASSIFIERS, ids=[c[0].split("/")[0] for c in CLASSIFIERS])
def test_classifier_matches_opencv(caffe_models, tmp_path, rel, shapes):
    # softmax outputs of random nets are nearly uniform, so compare the logits too
    logits = {"bvlc_alexnet": "fc8", "bvlc_reference_caffenet": "fc8", "legacy_formats": "fc8",
              "squeezenet": "pool10", "resnet": "fc1000"}[rel.split("/")[0]]
    ours, theirs = run_both(caffe_models / rel, tmp_path, shapes, extra_tops=(logits,))
    assert_match(ours, theirs)
    assert float(np.std(ours[logits])) > 1e-3  # the comparison is not between constants


def test_mobilenet_ssd_matches_opencv(caffe_models, tmp_path):
    """BN-merged MobileNet-SSD: the mbox tensors, PriorBox and DetectionOutput (the conf convs
    get larger weights so that random scores pass the 0.25 confidence threshold)."""
    proto = caffe_models / "mobilenet_ssd/MobileNetSSD_deploy.prototxt"
    shapes = {"data": (1, 3, 160, 160)}
    conf = [layer.name for layer in caffe.reader.read_prototxt(proto).layer
            if layer.name.endswith("_mbox_conf")]
    ours, theirs = run_both(proto, tmp_path, shapes, scale_blobs={n: 8.0 for n in conf},
                            extra_tops=("mbox_loc", "mbox_conf_flatten", "mbox_priorbox"))
    assert_match(ours, theirs, ["mbox_loc", "mbox_conf_flatten", "mbox_priorbox"])
    assert_detections_match(ours["detection_out"], theirs["detection_out"])


def test_mobilenet_ssd_with_batchnorm_matches_opencv(caffe_models, tmp_path):
    """The same net with BatchNorm + Scale layers kept."""
    proto = caffe_models / "mobilenet_ssd/deploy.prototxt"
    ours, theirs = run_both(proto, tmp_path, {"data": (1, 3, 128, 128)},
                            extra_tops=("mbox_loc", "mbox_conf_flatten", "mbox_priorbox"))
    assert_match(ours, theirs, ["mbox_loc", "mbox_conf_flatten", "mbox_priorbox"])


def assert_detections_match(ours, theirs):
    """DetectionOutput rows as a set: OpenCV pads with zero rows and orders by score; npucc
    (like Caffe SSD) orders by label, then score, and pads with image id -1."""
    want = theirs.reshape(-1, 7)
    want = want[want[:, 2] > 0]
    got = ours.reshape(-1, 7)
    got = got[got[:, 0] >= 0]
    assert len(want) > 1, "no detections: the test would prove nothing"
    assert got.shape == want.shape, f"npucc kept {len(got)} boxes, OpenCV {len(want)}"
    got = got[np.argsort(-got[:, 2], kind="stable")]
    want = want[np.argsort(-want[:, 2], kind="stable")]
    np.testing.assert_array_equal(got[:, :2], want[:, :2])
    np.testing.assert_allclose(got[:, 2:], want[:, 2:], rtol=RTOL, atol=RTOL)
