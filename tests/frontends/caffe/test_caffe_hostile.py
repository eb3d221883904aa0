"""Hand-made bad Caffe files (issue 9): each is refused with a FrontendError naming the file and
layer; and a net ending in an in-place layer outputs that layer's result (against OpenCV)."""

import cv2
import numpy as np
import pytest

from npucc.errors import FrontendError
from npucc.frontends import caffe
from npucc.ir import run_graph

from .conftest import write_caffemodel

HEAD = 'name: "h"\ninput: "data"\ninput_shape { dim: 1 dim: 4 dim: 8 dim: 8 }\n'
CONV = ('layer {{ name: "c" type: "Convolution" bottom: "data" top: "c" '
        'convolution_param {{ num_output: 4 {} }} }}')
CROP = ('layer {{ name: "c" type: "Crop" bottom: "data" bottom: "data" top: "c" '
        'crop_param {{ {} }} }}')
LAYER = 'layer {{ name: "x" type: "{}" bottom: "data" top: "x" {} }}'


@pytest.mark.parametrize("layer, message", [
    (CONV.format("kernel_size: 3 group: 0"), r"layer 'c' \(type Convolution\): group 0 is not a "
                                             "positive size"),
    (CONV.format("kernel_size: 0"), r"layer 'c' .*kernel 0 is not a positive size"),
    (CONV.format("kernel_size: 3 stride: 0"), r"layer 'c' .*stride 0 is not a positive size"),
    (CONV.format("kernel_size: 3 dilation: 0"), r"layer 'c' .*dilation 0 is not a positive"),
    (CONV.format("kernel_size: 3 num_output: 0").replace("num_output: 4 ", ""),
     r"layer 'c' .*num_output 0 is not a positive size"),
    (CONV.format("kernel_size: 3").replace("num_output: 4", "num_output: 4000000000"),
     r"layer 'c' .*blob 0 has shape \[4000000000, 4, 3, 3\]: 576000000000 bytes, over the "
     r"4294967296-byte limit"),
    ('layer { name: "d" type: "Deconvolution" bottom: "data" top: "d" '
     'convolution_param { num_output: 4 kernel_size: 2 group: 0 } }',
     r"layer 'd' \(type Deconvolution\): group 0"),
    ('layer { name: "u" type: "Upsample" bottom: "data" top: "u" upsample_param { scale: 0 } }',
     r"layer 'u' .*scale 0 is not a positive size"),
    ('layer { name: "u" type: "Upsample" bottom: "data" top: "u" '
     'upsample_param { scale: 100000 } }', r"layer 'u' .*top 'u' has shape .* over the"),
    ('layer { name: "i" type: "Interp" bottom: "data" top: "i" '
     'interp_param { shrink_factor: 0 } }', r"layer 'i' .*shrink_factor 0"),
    ('layer { name: "f" type: "InnerProduct" bottom: "data" top: "f" '
     'inner_product_param { num_output: 0 } }', r"layer 'f' .*num_output 0"),
    ('layer { name: "p" type: "Power" bottom: "data" top: "p" power_param { power: nan } }',
     r"layer 'p' .*power_param\.power is \[nan\], not a finite number"),
    ('layer { name: "d" type: "Dropout" bottom: "data" top: "d" '
     'dropout_param { dropout_ratio: 2 scale_train: false } }',
     r"layer 'd' .*dropout_ratio 2.0 is not in"),
    ('layer { name: "s" type: "Scale" bottom: "data" top: "s" scale_param { num_axes: -3 } }',
     r"layer 's' .*num_axes -3 is below -1"),
    ('layer { name: "p" type: "PriorBox" bottom: "data" bottom: "data" top: "p" '
     'prior_box_param { min_size: 0 } }', r"layer 'p' .*must be positive"),
    (CROP.format("offset: 1"), r"layer 'c' \(type Crop\): offset 1 \+ size 8 exceed the size 8 "
                               "of axis 2"),
    (CROP.format("offset: 1 offset: 0 offset: 0"), r"layer 'c' .*3 offsets for 2 cropped axes"),
    (CROP.format("axis: 4"), r"layer 'c' .*axis 4 is out of range for a rank-4 blob"),
    (LAYER.format("ShuffleChannel", "shuffle_channel_param { group: 3 }"),
     r"layer 'x' \(type ShuffleChannel\): group 3 does not divide the 4 channels"),
    (LAYER.format("ShuffleChannel", "shuffle_channel_param { group: 0 }"),
     r"layer 'x' .*group 0 is not a positive size"),
    (LAYER.format("Tile", "tile_param { tiles: 0 }"), r"layer 'x' .*tiles 0 is not a positive"),
    (LAYER.format("Tile", "tile_param { tiles: -2 }"), r"layer 'x' .*tiles -2 is not a positive"),
    (LAYER.format("Tile", "tile_param { axis: 1 }"), r"layer 'x' .*tile_param gives no tiles"),
    (LAYER.format("Tile", "tile_param { tiles: 2000000000 }"),
     r"layer 'x' .*top 'x' has shape \[1, 8000000000, 8, 8\]: .* over the"),
    (LAYER.format("Exp", "exp_param { base: -2 }"), r"layer 'x' .*base -2.0 is not positive"),
    (LAYER.format("Log", "log_param { base: 1 }"), r"layer 'x' .*base 1 has no logarithm"),
    (LAYER.format("Log", "log_param { base: 0 }"), r"layer 'x' .*base 0.0 is not positive"),
    (LAYER.format("Clip", "clip_param { min: 1 max: -1 }"), r"layer 'x' .*min 1.0 is above max"),
    (LAYER.format("Clip", "clip_param { min: 1 }"), r"layer 'x' .*needs both min and max"),
    (LAYER.format("ArgMax", "argmax_param { top_k: 0 }"),
     r"layer 'x' .*top_k 0 is not in \[1, 256\]"),
    (LAYER.format("ArgMax", "argmax_param { axis: 1 top_k: 5 }"),
     r"layer 'x' .*top_k 5 is not in \[1, 4\]"),
    (LAYER.format("Reduction", "reduction_param { axis: -5 }"),
     r"layer 'x' .*axis -5 is out of range"),
    (LAYER.format("Embed", "embed_param { num_output: 4 }"),
     r"layer 'x' .*input_dim 0 is not a positive size"),
    (LAYER.format("Threshold", "threshold_param { threshold: inf }"),
     r"layer 'x' .*threshold_param\.threshold is \[inf\], not a finite number"),
    ('layer { name: "a" type: "Axpy" bottom: "data" bottom: "data" bottom: "data" top: "a" }',
     r"layer 'a' \(type Axpy\): the scale \[1, 4, 8, 8\] is not \(N, C\[, 1, 1\]\)"),
    ('layer { name: "p" type: "Parameter" top: "p" parameter_param { shape { dim: 0 } } }',
     r"layer 'p' .*shape 0 is not a positive size"),
    ('layer { name: "p" type: "Parameter" bottom: "data" top: "p" }',
     r"layer 'p' .*takes no bottom, got 1"),
    (LAYER.format("LRN", "lrn_param { local_size: 4 }"), r"layer 'x' .*local_size 4 is even"),
    (LAYER.format("LRN", "lrn_param { local_size: 2147483647 }"),
     r"layer 'x' .*the input padded for local_size has shape \[1, 2147483650, 8, 8\]: .* over"),
    ('layer { name: "c" type: "Concat" top: "c" }', r"layer 'c' .*takes at least 1 bottom, got 0"),
    ('layer { name: "r" type: "BatchReindex" bottom: "data" bottom: "data" top: "r" }',
     r"layer 'r' .*the indices \[1, 4, 8, 8\] are not 1-D"),
    ('layer { name: "p" type: "Pooling" bottom: "data" top: "p" top: "m" '
     'pooling_param { pool: AVE kernel_size: 2 } }',
     r"layer 'p' .*a second top \(the max positions\) needs pool: MAX"),
    (LAYER.format("Upsample", "upsample_param { upsample_h: 16 upsample_w: 16 }"),
     r"layer 'x' .*pad_out_h, pad_out_w, upsample_h, upsample_w are SegNet's: they need a "
     r"second bottom"),
    ('layer { name: "p" type: "Pooling" bottom: "data" top: "p" top: "m" '
     'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n'
     'layer { name: "u" type: "Upsample" bottom: "p" bottom: "data" top: "u" }',
     r"layer 'u' .*the mask \[1, 4, 8, 8\] and the values \[1, 4, 4, 4\] differ in shape"),
    ('layer { name: "p" type: "Pooling" bottom: "data" top: "p" top: "m" '
     'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n'
     'layer { name: "u" type: "Upsample" bottom: "p" bottom: "m" top: "u" '
     'upsample_param { upsample_h: 0 upsample_w: 8 } }',
     r"layer 'u' .*upsample_h 0 is not a positive size"),
])
def test_bad_layer_parameters(tmp_path, layer, message):
    path = tmp_path / "bad.prototxt"
    path.write_text(HEAD + layer)
    with pytest.raises(FrontendError, match=r"bad\.prototxt: " + message):
        caffe.load(path, weights="random")


@pytest.mark.parametrize("shape, layer, message", [
    ("dim: 1 dim: -4 dim: 8 dim: 8", "ReLU", r"input 'data' has shape \[1, -4, 8, 8\]: "
                                             "dimensions must be >= 0"),
    ("dim: 1 dim: 0 dim: 8 dim: 8", "ReLU", r"input 'data' has a zero dimension"),
    ("dim: 1 dim: 400000 dim: 80000 dim: 80000", "ReLU", r"input 'data' has shape .* over the "
                                                         "4294967296-byte limit"),
    ("dim: 1 dim: 4", "Upsample", r"layer 'x' \(type Upsample\): takes a rank 4 bottom"),
    ("dim: 3", "BatchNorm", r"layer 'x' \(type BatchNorm\): takes a rank 2 or more bottom"),
])
def test_bad_input_shapes(tmp_path, shape, layer, message):
    path = tmp_path / "bad.prototxt"
    path.write_text(f'input: "data"\ninput_shape {{ {shape} }}\n'
                    f'layer {{ name: "x" type: "{layer}" bottom: "data" top: "x" }}')
    with pytest.raises(FrontendError, match=r"bad\.prototxt: " + message):
        caffe.load(path, weights="random")


def test_binary_bytes_are_not_a_prototxt(tmp_path):
    path = tmp_path / "bad.prototxt"
    path.write_bytes(b"\xff\xfe\x00name: 'x'")
    with pytest.raises(FrontendError, match=r"bad\.prototxt: cannot parse the prototxt"):
        caffe.load(path, weights="random")


def test_caffemodel_blob_shape_that_lies_is_refused(tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text(HEAD + CONV.format("kernel_size: 3"))
    blobs = caffe.random_blobs(path)
    model = write_caffemodel(tmp_path / "bad.caffemodel", blobs)
    from npucc.frontends.caffe import caffe_pb2

    net = caffe_pb2.NetParameter.FromString(model.read_bytes())
    net.layer[0].blobs[0].shape.dim[0] = 1 << 40
    model.write_bytes(net.SerializeToString())
    with pytest.raises(FrontendError, match=r"bad\.caffemodel: layer 'c': blob declares shape "
                                            r"\[1099511627776, 4, 3, 3\] but holds 144 values"):
        caffe.load(path, weights=model)


def test_in_place_last_layer_is_the_output(tmp_path):
    """ReLU with top == bottom after the last conv: Caffe's output is the ReLU's result. Before
    the fix the net imported with no outputs at all."""
    path = tmp_path / "inplace.prototxt"
    path.write_text(HEAD + CONV.format("kernel_size: 3 pad: 1")
                    + '\nlayer { name: "r" type: "ReLU" bottom: "c" top: "c" }')
    model = write_caffemodel(tmp_path / "inplace.caffemodel", caffe.random_blobs(path))
    graph = caffe.load(path, weights=model)
    assert [v.name for v in graph.outputs] == ["c"]
    x = np.random.default_rng(0).uniform(-1, 1, (1, 4, 8, 8)).astype(np.float32)
    (ours,) = run_graph(graph, [x])
    net = cv2.dnn.readNetFromCaffe(str(path), str(model))
    net.setInput(x)
    want = net.forward()
    assert (want < 0).sum() == 0 and (want == 0).any()  # the ReLU ran in OpenCV too
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-6)
