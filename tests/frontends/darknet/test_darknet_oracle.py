"""Darknet cfgs with random weights: npucc's import run by the reference interpreter must match
OpenCV's Darknet importer (cv2.dnn, 4.x) to 1e-4 relative on each head's raw conv output, and
the decoded boxes must match OpenCV's yolo/region post-processing."""

import cv2
import numpy as np
import pytest

from npucc.frontends import darknet
from npucc.ir import run_graph

from .conftest import write_weights

RTOL = 1e-4


def rel_err(got, want) -> float:
    return float(np.max(np.abs(got - want)) / max(float(np.max(np.abs(want))), 1e-12))


def import_both(cfg, tmp_path, size, seed=0, version=(0, 2, 0), last_gain=1.0):
    """`last_gain` scales the last weight array (the head conv of a single-head net) so that
    random class scores get peaked enough to pass OpenCV's threshold."""
    arrays = darknet.random_weights(cfg, seed=seed, input_size=size)
    arrays[-1] = arrays[-1] * last_gain
    weights = write_weights(tmp_path / "w.weights", arrays, version)
    graph = darknet.load(cfg, weights, input_size=size)
    x = np.random.default_rng(seed + 1).uniform(0, 1, graph.inputs[0].shape).astype(np.float32)
    ours = dict(zip([v.name for v in graph.outputs], run_graph(graph, [x])))
    net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
    net.setInput(x)
    return ours, net


CFGS = [("yolov2-tiny.cfg", (160, 160)), ("yolov3-tiny.cfg", (160, 160)),
        ("yolov4-tiny.cfg", (160, 160)), ("yolov3.cfg", (128, 128))]


@pytest.mark.slow
@pytest.mark.parametrize("name,size", CFGS, ids=[c[0] for c in CFGS])
def test_heads_match_opencv(darknet_models, tmp_path, name, size):
    ours, net = import_both(darknet_models / name, tmp_path, size,
                            last_gain=40.0 if name.startswith("yolov2") else 1.0)
    heads = sorted({int(k.split("_")[0]) for k in ours})
    assert heads, "the cfg has yolo/region heads"
    # OpenCV names a head's input conv conv_<i-1>, a yolo head yolo_<i>, the region head
    # detection_out
    post_names = ["detection_out" if name.startswith("yolov2") else f"yolo_{i}" for i in heads]
    theirs = net.forward([f"conv_{i - 1}" for i in heads] + post_names)
    for k, i in enumerate(heads):
        raw, want = ours[f"{i}_raw"], theirs[k]
        assert rel_err(raw.reshape(want.shape), want) <= RTOL, f"head {i} raw output"
        assert float(np.std(raw)) > 1e-3
        boxes = ours[f"{i}_boxes"][0]
        post = theirs[len(heads) + k].reshape(boxes.shape)
        thresh = float(dict(darknet.parse_cfg(darknet_models / name)[i + 1].options)
                       .get("thresh", 0.2))  # OpenCV default: 0.2
        assert_boxes_match(boxes, post, thresh)


def assert_boxes_match(boxes, post, thresh):
    """OpenCV's rows: x, y, w, h, objectness, then class score = objectness * probability,
    zeroed where not above the cfg's `thresh`."""
    assert boxes.shape == post.shape, (boxes.shape, post.shape)
    np.testing.assert_allclose(boxes[:, :5], post[:, :5], rtol=RTOL, atol=1e-5)
    scores = boxes[:, 5:] * boxes[:, 4:5]
    kept = post[:, 5:] > 0
    np.testing.assert_allclose(scores[kept], post[:, 5:][kept], rtol=RTOL, atol=1e-6)
    assert np.all(scores[~kept] <= thresh + 1e-6)
    assert np.any(scores > 0.1 * thresh), "scores too small for the comparison to mean much"


def test_weights_header_versions_and_short_file(darknet_models, tmp_path):
    """A 0.1 header (32-bit seen) loads the same; a truncated file names both float counts."""
    cfg = darknet_models / "yolov3-tiny.cfg"
    arrays = darknet.random_weights(cfg, seed=3, input_size=(64, 64))
    g1 = darknet.load(cfg, write_weights(tmp_path / "a.weights", arrays, (0, 2, 0)),
                      input_size=(64, 64))
    g2 = darknet.load(cfg, write_weights(tmp_path / "b.weights", arrays, (0, 1, 0)),
                      input_size=(64, 64))
    x = np.random.default_rng(0).uniform(0, 1, (1, 3, 64, 64)).astype(np.float32)
    for a, b in zip(run_graph(g1, [x]), run_graph(g2, [x])):
        np.testing.assert_array_equal(a, b)
    total = sum(a.size for a in arrays)
    short = write_weights(tmp_path / "c.weights", [np.concatenate([a.ravel() for a in arrays])
                                                   [:total - 10]])
    with pytest.raises(Exception, match=f"needs {total} floats.*holds {total - 10}"):
        darknet.load(cfg, short, input_size=(64, 64))


def test_frontends_doc_holds_the_generated_note():
    from pathlib import Path

    from npucc.frontends.docnote import read_note
    doc = Path(__file__).resolve().parents[3] / "docs" / "FRONTENDS.md"
    assert read_note(doc, "darknet-supported") == darknet.supported_note(), \
        "regenerate: python -m npucc.frontends.darknet --write docs/FRONTENDS.md"
    for t in darknet.SECTIONS:
        assert f"| {t} |" in darknet.supported_note()


def test_errors_name_the_section(tmp_path):
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("[net]\nwidth=32\nheight=32\nchannels=3\n[convolutional]\nfilters=4\n"
                   "size=3\nxnor=1\n")
    with pytest.raises(Exception, match=r"bad\.cfg:5: section 0 \[convolutional\]: option\(s\) "
                                        r"xnor are not supported"):
        darknet.load(cfg, weights="random")
    cfg.write_text("[net]\nwidth=32\nheight=32\n[lstm]\n")
    with pytest.raises(Exception, match=r"unknown section type \[lstm\]"):
        darknet.load(cfg, weights="random")
