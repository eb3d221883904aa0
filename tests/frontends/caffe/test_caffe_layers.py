"""Layer types the whole-model tests do not reach, in one small prototxt, against OpenCV."""

import cv2
import numpy as np

from npucc.frontends import caffe
from npucc.ir import run_graph

from .conftest import write_caffemodel
from .test_caffe_oracle import RTOL, rel_err

PROTO = """
name: "zoo"
input: "data" input_shape { dim: 1 dim: 4 dim: 6 dim: 6 }
layer { name: "deconv" type: "Deconvolution" bottom: "data" top: "deconv"
        convolution_param { num_output: 6 kernel_size: 3 stride: 2 pad: 1 group: 2 } }
layer { name: "prelu" type: "PReLU" bottom: "deconv" top: "prelu" }
layer { name: "norm" type: "Normalize" bottom: "prelu" top: "norm"
        norm_param { across_spatial: false channel_shared: false } }
layer { name: "slice" type: "Slice" bottom: "norm" top: "s1" top: "s2"
        slice_param { axis: 1 slice_point: 2 } }
layer { name: "conv" type: "Convolution" bottom: "s1" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 2 dilation: 2 } }
layer { name: "sig" type: "Sigmoid" bottom: "conv" top: "sig" }
layer { name: "tanh" type: "TanH" bottom: "s2" top: "tanh" }
layer { name: "max" type: "Eltwise" bottom: "sig" bottom: "tanh" top: "max"
        eltwise_param { operation: MAX } }
layer { name: "prod" type: "Eltwise" bottom: "max" bottom: "tanh" top: "prod"
        eltwise_param { operation: PROD } }
layer { name: "sum" type: "Eltwise" bottom: "prod" bottom: "max" top: "sum"
        eltwise_param { operation: SUM coeff: 0.5 coeff: -2 } }
layer { name: "power" type: "Power" bottom: "sum" top: "power"
        power_param { power: 2 scale: 0.5 shift: 3 } }
layer { name: "bn" type: "BatchNorm" bottom: "power" top: "bn" }
layer { name: "scale" type: "Scale" bottom: "bn" top: "bn" scale_param { bias_term: true } }
layer { name: "relu" type: "ReLU" bottom: "bn" top: "bn" relu_param { negative_slope: 0.2 } }
layer { name: "perm" type: "Permute" bottom: "bn" top: "perm"
        permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "flat" type: "Flatten" bottom: "perm" top: "flat" flatten_param { axis: 2 } }
layer { name: "reshape" type: "Reshape" bottom: "flat" top: "reshape"
        reshape_param { shape { dim: 0 dim: -1 dim: 4 } } }
layer { name: "softmax" type: "Softmax" bottom: "reshape" top: "softmax"
        softmax_param { axis: 2 } }
layer { name: "pool" type: "Pooling" bottom: "bn" top: "pool"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "pool" top: "ip"
        inner_product_param { num_output: 5 } }
"""


def test_layer_zoo_matches_opencv(tmp_path):
    proto = tmp_path / "zoo.prototxt"
    proto.write_text(PROTO)
    model = write_caffemodel(tmp_path / "zoo.caffemodel", caffe.random_blobs(proto, seed=2))
    graph = caffe.load(proto, weights=model)
    x = np.random.default_rng(3).uniform(-1, 1, (1, 4, 6, 6)).astype(np.float32)
    ours = dict(zip([v.name for v in graph.outputs], run_graph(graph, [x])))
    assert set(ours) == {"softmax", "ip"}
    net = cv2.dnn.readNetFromCaffe(str(proto), str(model))
    net.setInput(x)
    for top, want in zip(["softmax", "ip"], net.forward(["softmax", "ip"])):
        got = ours[top].reshape(want.shape)
        assert rel_err(got, want) <= RTOL, f"{top}: relative error {rel_err(got, want):.2e}"
        assert float(np.std(want)) > 1e-4
