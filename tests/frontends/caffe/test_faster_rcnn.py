"""ZF Faster R-CNN (py-faster-rcnn test prototxt, with its Python ProposalLayer and ROIPooling)
against OpenCV. OpenCV cannot run `type: 'Python'` layers; its own Proposal layer takes the same
role, so the OpenCV side reads a copy of the prototxt with that one layer rewritten to OpenCV's
`Proposal` type. OpenCV's Proposal does not drop boxes under RPN min_size, so npucc's Proposal is
given min_size=0 for the comparison (its default, 16, is py-faster-rcnn's TEST config)."""

import re

import cv2
import numpy as np
import pytest

from npucc.frontends import caffe
from npucc.ir import run_graph

from .conftest import write_caffemodel
from .test_caffe_oracle import RTOL, rel_err

PROPOSAL_FOR_OPENCV = (
    "type: 'Proposal'\\1proposal_param { feat_stride: 16 base_size: 16 ratio: 0.5 ratio: 1 "
    "ratio: 2 scale: 8 scale: 16 scale: 32 pre_nms_topn: 6000 post_nms_topn: 300 "
    "nms_thresh: 0.7 }")


@pytest.mark.slow
def test_zf_faster_rcnn_matches_opencv(caffe_models, tmp_path):
    proto = caffe_models / "py_faster_rcnn/ZF_faster_rcnn_end2end_test.prototxt"
    shapes = {"data": (1, 3, 320, 480)}
    model = write_caffemodel(tmp_path / "m.caffemodel",
                             caffe.random_blobs(proto, seed=0, input_shapes=shapes))
    tops = ["rpn_cls_prob_reshape", "rpn_bbox_pred", "rois", "cls_prob", "bbox_pred"]
    graph = caffe.load(proto, weights=model, input_shapes=shapes, outputs=tops,
                       proposal={"min_size": 0.0})
    feeds = {"data": np.random.default_rng(1).uniform(-1, 1, shapes["data"]).astype(np.float32),
             "im_info": np.array([[320, 480, 1.0]], np.float32)}
    ours = dict(zip(tops, run_graph(graph, feeds)))

    cv_proto = tmp_path / "opencv.prototxt"
    cv_proto.write_text(re.sub(r"type: 'Python'(.*?)python_param \{.*?\n  \}",
                               PROPOSAL_FOR_OPENCV, proto.read_text(), flags=re.S))
    net = cv2.dnn.readNetFromCaffe(str(cv_proto), str(model))
    for name, x in feeds.items():
        net.setInput(x, name)
    layers = ["rpn_cls_prob_reshape", "rpn_bbox_pred", "proposal", "cls_prob", "bbox_pred"]
    theirs = dict(zip(tops, net.forward(layers)))
    assert np.count_nonzero(ours["rois"].any(axis=1)) == 300, "fewer than 300 proposals"
    for top in tops:
        want = theirs[top]
        got = ours[top].reshape(want.shape)
        assert rel_err(got, want) <= RTOL, f"{top}: relative error {rel_err(got, want):.2e}"
