"""Mutation fuzzing of the Caffe frontend: every mutated prototxt or .caffemodel either loads or
raises an npucc error naming the mutated file (tests/fuzz/mutate.py)."""

from pathlib import Path

import numpy as np
import pytest

from npucc.frontends import caffe
from npucc.frontends.caffe import caffe_pb2
from tests.fuzz.mutate import fuzz_file

# one layer of most kinds the frontend maps, in-place layers included
PROTOTXT = """name: "small"
input: "data"
input_shape { dim: 1 dim: 3 dim: 12 dim: 12 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 stride: 1 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1"
  batch_norm_param { use_global_stats: true } }
layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "dw" type: "Convolution" bottom: "pool1" top: "dw"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 group: 8 } }
layer { name: "prelu" type: "PReLU" bottom: "dw" top: "dw" }
layer { name: "lrn" type: "LRN" bottom: "dw" top: "lrn"
  lrn_param { local_size: 3 alpha: 0.0001 beta: 0.75 } }
layer { name: "sum" type: "Eltwise" bottom: "pool1" bottom: "lrn" top: "sum" }
layer { name: "slice" type: "Slice" bottom: "sum" top: "a" top: "b"
  slice_param { axis: 1 slice_point: 3 } }
layer { name: "cat" type: "Concat" bottom: "b" bottom: "a" top: "cat" }
layer { name: "up" type: "Deconvolution" bottom: "cat" top: "up"
  convolution_param { num_output: 4 kernel_size: 2 stride: 2 } }
layer { name: "ave" type: "Pooling" bottom: "up" top: "ave"
  pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "flat" type: "Flatten" bottom: "ave" top: "flat" }
layer { name: "fc" type: "InnerProduct" bottom: "flat" top: "fc"
  inner_product_param { num_output: 10 } }
layer { name: "resh" type: "Reshape" bottom: "fc" top: "resh"
  reshape_param { shape { dim: 0 dim: 2 dim: -1 } } }
layer { name: "perm" type: "Permute" bottom: "resh" top: "perm"
  permute_param { order: 0 order: 2 order: 1 } }
layer { name: "prob" type: "Softmax" bottom: "perm" top: "prob" softmax_param { axis: 2 } }
"""
VARIANTS = 400


def _write_caffemodel(path: Path, blobs) -> None:
    net = caffe_pb2.NetParameter()
    for name, arrays in blobs.items():
        layer = net.layer.add()
        layer.name = name
        for a in arrays:
            b = layer.blobs.add()
            b.shape.dim.extend(a.shape)
            b.data.extend(np.asarray(a, np.float32).ravel().tolist())
    path.write_bytes(net.SerializeToString())


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("caffe")
    proto = d / "small.prototxt"
    proto.write_text(PROTOTXT)
    weights = d / "small.caffemodel"
    _write_caffemodel(weights, caffe.random_blobs(proto))
    assert [v.name for v in caffe.load(proto).outputs] == ["prob"]
    return proto, weights


def _check(counts):
    assert sum(counts.values()) == VARIANTS
    assert counts["loaded"] and counts["npucc-error"], counts  # both outcomes are reached


def test_mutated_prototxt(model, tmp_path):
    proto, weights = model
    _check(fuzz_file(lambda p: caffe.load(p, weights=weights), proto, tmp_path, VARIANTS, seed=1))


def test_mutated_prototxt_random_weights(model, tmp_path):
    """Random blobs: the sizes the prototxt declares are all that bounds the allocation."""
    proto, _ = model
    _check(fuzz_file(lambda p: caffe.load(p, weights="random"), proto, tmp_path, VARIANTS,
                     seed=2))


def test_mutated_caffemodel(model, tmp_path):
    proto, weights = model
    _check(fuzz_file(lambda p: caffe.load(proto, weights=p), weights, tmp_path, VARIANTS,
                     seed=3))
