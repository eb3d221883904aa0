"""Layer types the whole-model tests do not reach, in one small prototxt, against OpenCV."""

import cv2
import numpy as np
import pytest

from npucc.backends.simulator import compile_plan
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


# Layers added for deploy nets (FCN/HED Crop, ShuffleNet, SENet Axpy, MobileNet-v2 ReLU6...), one
# branch each off the input so that every one is a net output; OpenCV implements them all (the
# numpy-checked ones below it does not, or not as Caffe does)
PROTO_MORE = """
name: "zoo2"
input: "data" input_shape { dim: 1 dim: 6 dim: 8 dim: 8 }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool"
        pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "crop_hw" type: "Crop" bottom: "data" bottom: "pool" top: "crop_hw"
        crop_param { axis: 2 offset: 1 offset: 3 } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "crop_chw" type: "Crop" bottom: "data" bottom: "conv" top: "crop_chw"
        crop_param { axis: 1 offset: 1 } }
layer { name: "elu" type: "ELU" bottom: "data" top: "elu" elu_param { alpha: 0.7 } }
layer { name: "absval" type: "AbsVal" bottom: "data" top: "absval" }
layer { name: "x10" type: "Power" bottom: "data" top: "x10" power_param { scale: 10 } }
layer { name: "bnll" type: "BNLL" bottom: "x10" top: "bnll" }
layer { name: "relu6" type: "ReLU6" bottom: "x10" top: "relu6" }
layer { name: "exp" type: "Exp" bottom: "data" top: "exp"
        exp_param { base: 2 scale: 0.5 shift: 1 } }
layer { name: "positive" type: "Power" bottom: "absval" top: "positive"
        power_param { shift: 0.1 } }
layer { name: "log" type: "Log" bottom: "positive" top: "log" }
layer { name: "mvn" type: "MVN" bottom: "data" top: "mvn" }
layer { name: "mvn_mean" type: "MVN" bottom: "data" top: "mvn_mean"
        mvn_param { normalize_variance: false across_channels: true } }
layer { name: "mvn_all" type: "MVN" bottom: "data" top: "mvn_all"
        mvn_param { across_channels: true } }
layer { name: "shuffle" type: "ShuffleChannel" bottom: "data" top: "shuffle"
        shuffle_channel_param { group: 3 } }
layer { name: "swish" type: "Swish" bottom: "data" top: "swish" }
"""

MORE_TOPS = ["crop_hw", "crop_chw", "bnll", "relu6", "exp", "log", "mvn", "mvn_mean", "mvn_all",
             "shuffle", "swish", "elu"]


def test_more_layers_match_opencv(tmp_path):
    """Reference interpreter and simulator plan against OpenCV, each new layer an output."""
    proto = tmp_path / "zoo2.prototxt"
    proto.write_text(PROTO_MORE)
    model = write_caffemodel(tmp_path / "zoo2.caffemodel", caffe.random_blobs(proto, seed=4))
    graph = caffe.load(proto, weights=model)
    assert sorted(v.name for v in graph.outputs) == sorted(MORE_TOPS)
    x = np.random.default_rng(5).uniform(-1, 1, (1, 6, 8, 8)).astype(np.float32)
    net = cv2.dnn.readNetFromCaffe(str(proto), str(model))
    net.setInput(x)
    want = dict(zip(MORE_TOPS, net.forward(MORE_TOPS)))
    names = [v.name for v in graph.outputs]
    for outs in (run_graph(graph, [x]), compile_plan(graph).run([x])):
        for top, got in zip(names, outs):
            assert got.shape == want[top].shape, f"{top}: {got.shape} vs {want[top].shape}"
            assert rel_err(got, want[top]) <= 1e-5, f"{top}: {rel_err(got, want[top]):.2e}"
            assert float(np.std(want[top])) > 1e-3


# ---- layers OpenCV lacks (or computes differently): numpy formulas from Caffe's sources ----
def caffe_top_k(x, axis, k):
    """(values, indices) of src/caffe/layers/argmax_layer.cpp: a partial sort of (value,
    index) pairs with std::greater, so equal values come largest index first."""
    rows = np.moveaxis(x, axis, -1)
    order = np.array([sorted(range(rows.shape[-1]), key=lambda j, r=r: (r[j], j), reverse=True)
                      for r in rows.reshape(-1, rows.shape[-1])])
    order = order[:, :k].reshape(rows.shape[:-1] + (k,))
    values = np.take_along_axis(rows, order, -1)
    return np.moveaxis(values, -1, axis), np.moveaxis(order, -1, axis).astype(np.float32)


def _argmax_flat(x, k, with_values):
    """ArgMax without axis: per image over the flattened C, H, W; (N, 1 or 2, k, 1)."""
    values, idx = caffe_top_k(x.reshape(len(x), -1), 1, k)
    out = np.concatenate([idx, values], 1) if with_values else idx
    return out.reshape(len(x), 2 if with_values else 1, k, 1)


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


DATA = (2, 4, 3, 5)
# (id, extra inputs, layer text, formula(inputs, blobs)); the net's input "data" has shape DATA
# and, for ArgMax, ties (values rounded to quarters)
NUMPY_CASES = [
    # src/caffe/layers/threshold_layer.cpp: x > threshold ? 1 : 0
    ("threshold", {}, 'type: "Threshold" threshold_param { threshold: 0.2 }',
     lambda i, b: (i["data"] > np.float32(0.2)).astype(np.float32)),
    ("argmax_axis", {}, 'type: "ArgMax" argmax_param { axis: 1 top_k: 2 }',
     lambda i, b: caffe_top_k(i["data"], 1, 2)[1]),
    ("argmax_axis_values", {},
     'type: "ArgMax" argmax_param { axis: -1 top_k: 3 out_max_val: true }',
     lambda i, b: caffe_top_k(i["data"], 3, 3)[0]),
    ("argmax_flat", {}, 'type: "ArgMax"', lambda i, b: _argmax_flat(i["data"], 1, False)),
    ("argmax_flat_values", {}, 'type: "ArgMax" argmax_param { top_k: 4 out_max_val: true }',
     lambda i, b: _argmax_flat(i["data"], 4, True)),
    # src/caffe/layers/reduction_layer.cpp: the axes from `axis` on reduced away, times coeff
    ("reduction_sum", {}, 'type: "Reduction" reduction_param { axis: 1 coeff: 2 }',
     lambda i, b: 2 * i["data"].sum(axis=(1, 2, 3))),
    ("reduction_asum", {}, 'type: "Reduction" reduction_param { operation: ASUM axis: -1 }',
     lambda i, b: np.abs(i["data"]).sum(axis=3)),
    ("reduction_sumsq", {}, 'type: "Reduction" reduction_param { operation: SUMSQ axis: 2 }',
     lambda i, b: (i["data"] ** 2).sum(axis=(2, 3))),
    ("reduction_mean", {}, 'type: "Reduction" reduction_param { operation: MEAN coeff: -0.5 }',
     lambda i, b: np.float32(-0.5 * i["data"].mean())),
    # src/caffe/layers/tile_layer.cpp: `tiles` copies of everything from `axis` on
    ("tile", {}, 'type: "Tile" tile_param { axis: 2 tiles: 3 }',
     lambda i, b: np.tile(i["data"], (1, 1, 3, 1))),
    ("tile_last", {}, 'type: "Tile" tile_param { axis: -1 tiles: 2 }',
     lambda i, b: np.tile(i["data"], (1, 1, 1, 2))),
    # src/caffe/layers/clip_layer.cpp: max(min, min(x, max))
    ("clip", {}, 'type: "Clip" clip_param { min: -0.3 max: 0.5 }',
     lambda i, b: np.clip(i["data"], -0.3, 0.5)),
    # src/caffe/layers/log_layer.cpp: log_base(shift + scale * x) (OpenCV ignores log_param)
    ("log_base", {}, 'type: "Log" log_param { base: 10 scale: 2 shift: 3 }',
     lambda i, b: np.log10(3 + 2 * i["data"])),
    # src/caffe/layers/swish_layer.cpp: x * sigmoid(beta * x) (OpenCV ignores beta)
    ("swish_beta", {}, 'type: "Swish" swish_param { beta: 2.5 }',
     lambda i, b: i["data"] * _sigmoid(2.5 * i["data"])),
    # SENet's src/caffe/layers/axpy_layer.cpp: top = bottom[2], then += bottom[0] * bottom[1]
    # per channel. OpenCV 4.14 scales bottom[2] and adds bottom[1] instead.
    ("axpy", {"a": (2, 4, 1, 1), "y": DATA}, 'type: "Axpy" bottom: "a" bottom: "data" bottom: "y"',
     lambda i, b: i["a"] * i["data"] + i["y"]),
    ("axpy_2d_scale", {"a": (2, 4), "y": DATA},
     'type: "Axpy" bottom: "a" bottom: "data" bottom: "y"',
     lambda i, b: i["a"][:, :, None, None] * i["data"] + i["y"]),
    # src/caffe/layers/embed_layer.cpp: row static_cast<int>(x) of the weights, plus the bias
    ("embed", {"ids": (2, 3)}, 'type: "Embed" bottom: "ids" embed_param { num_output: 4 '
                               'input_dim: 5 }',
     lambda i, b: b["y"][0][i["ids"].astype(int)] + b["y"][1]),
    # src/caffe/layers/batch_reindex_layer.cpp: top[i] = bottom[0][bottom[1][i]]
    ("batch_reindex", {"idx": (3,)}, 'type: "BatchReindex" bottom: "data" bottom: "idx"',
     lambda i, b: i["data"][i["idx"].astype(int)]),
]


def _feeds(extra, rng):
    feeds = {"data": np.round(rng.uniform(-1, 1, DATA) * 4).astype(np.float32) / 4}
    feeds["data"] += rng.uniform(-1e-3, 1e-3, DATA).astype(np.float32) * (rng.random(DATA) < 0.5)
    for name, shape in extra.items():
        feeds[name] = rng.uniform(-1, 1, shape).astype(np.float32)
    if "ids" in feeds:  # indices as floats, some with a fraction (truncated, as in Caffe)
        feeds["ids"] = rng.integers(0, 5, extra["ids"]).astype(np.float32) + 0.5
    if "idx" in feeds:
        feeds["idx"] = np.array([1, 0, 1], np.float32)
    return feeds


@pytest.mark.parametrize("case", NUMPY_CASES, ids=[c[0] for c in NUMPY_CASES])
def test_layer_matches_caffe_formula(tmp_path, case):
    """Layers OpenCV does not implement as Caffe does, against numpy formulas written from the
    Caffe source files cited in NUMPY_CASES: reference interpreter and simulator plan."""
    _, extra, layer, formula = case
    shapes = {"data": DATA, **extra}
    bottom = "" if "bottom:" in layer else ' bottom: "data"'
    proto = tmp_path / "one.prototxt"
    proto.write_text("".join(f'input: "{n}" input_shape {{ {" ".join(f"dim: {d}" for d in s)} }}\n'
                             for n, s in shapes.items())
                     + f'layer {{ name: "y" {layer}{bottom} top: "y" }}\n')
    blobs = caffe.random_blobs(proto, seed=6)
    graph = caffe.load(proto, weights=write_caffemodel(tmp_path / "one.caffemodel", blobs))
    feeds = _feeds(extra, np.random.default_rng(7))
    want = formula(feeds, blobs)
    ins = [feeds[v.name] for v in graph.inputs]
    for (got,) in (run_graph(graph, ins), compile_plan(graph).run(ins)):
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_parameter_layer_is_its_blob(tmp_path):
    """src/caffe/layers/parameter_layer.cpp: no bottom, the top is blob 0 (OpenCV lacks it)."""
    proto = tmp_path / "param.prototxt"
    proto.write_text('input: "data" input_shape { dim: 1 dim: 2 dim: 3 }\n'
                     'layer { name: "p" type: "Parameter" top: "p" '
                     'parameter_param { shape { dim: 1 dim: 2 dim: 3 } } }\n'
                     'layer { name: "y" type: "Eltwise" bottom: "data" bottom: "p" top: "y" }\n')
    blobs = caffe.random_blobs(proto, seed=8)
    graph = caffe.load(proto, weights=write_caffemodel(tmp_path / "param.caffemodel", blobs))
    x = np.random.default_rng(9).uniform(-1, 1, (1, 2, 3)).astype(np.float32)
    for (got,) in (run_graph(graph, [x]), compile_plan(graph).run([x])):
        np.testing.assert_allclose(got, x + blobs["p"][0], rtol=1e-6)


SEGNET_POOLS = """
input: "data" input_shape { dim: 1 dim: 3 dim: 9 dim: 11 }
layer { name: "pool1" type: "Pooling" bottom: "data" top: "pool1" top: "mask1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "pool2" type: "Pooling" bottom: "data" top: "pool2" top: "mask2"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "pool3" type: "Pooling" bottom: "data" top: "pool3" top: "mask3"
        pooling_param { pool: MAX global_pooling: true } }
"""
SEGNET_UPSAMPLES = """
layer { name: "up1" type: "Upsample" bottom: "pool1" bottom: "mask1" top: "up1"
        upsample_param { upsample_h: 9 upsample_w: 11 } }
layer { name: "up2" type: "Upsample" bottom: "pool2" bottom: "mask2" top: "up2"
        upsample_param { scale: 2 pad_out_h: true pad_out_w: true } }
"""


def caffe_unpool(x, mask, oh, ow):
    """caffe-segnet's src/caffe/layers/upsample_layer.cpp: a zero map, then
    top[mask[i]] = bottom[i] in each plane."""
    out = np.zeros(x.shape[:2] + (oh * ow,), np.float32)
    for n, c in np.ndindex(*x.shape[:2]):
        out[n, c, mask[n, c].astype(int).ravel()] = x[n, c].ravel()
    return out.reshape(x.shape[:2] + (oh, ow))


def test_segnet_pooling_mask_and_unpooling(tmp_path):
    """SegNet: Pooling's second top (each max's position) against OpenCV, which computes it
    too; Upsample's max-unpooling, which OpenCV lacks, against caffe_unpool. Ceil-mode edge
    windows, overlapping windows with padding, global pooling."""
    proto = tmp_path / "segnet.prototxt"
    proto.write_text(SEGNET_POOLS + SEGNET_UPSAMPLES)
    tops = ["pool1", "mask1", "pool2", "mask2", "pool3", "mask3", "up1", "up2"]
    graph = caffe.load(proto, weights="random", outputs=tops)
    x = np.random.default_rng(10).uniform(-1, 1, (1, 3, 9, 11)).astype(np.float32)
    pools_only = tmp_path / "pools.prototxt"
    pools_only.write_text(SEGNET_POOLS)
    net = cv2.dnn.readNetFromCaffe(str(pools_only))
    net.setInput(x)
    want = {}
    for name, (values, mask) in zip(["1", "2", "3"],
                                    net.forwardAndRetrieve(["pool1", "pool2", "pool3"])):
        want["pool" + name], want["mask" + name] = values, mask
    want["up1"] = caffe_unpool(want["pool1"], want["mask1"], 9, 11)
    want["up2"] = caffe_unpool(want["pool2"], want["mask2"], 9, 11)
    assert float(np.abs(want["up1"]).sum()) > 0
    for outs in (run_graph(graph, [x]), compile_plan(graph).run([x])):
        for top, got in zip(tops, outs):
            np.testing.assert_array_equal(got, want[top], err_msg=top)
