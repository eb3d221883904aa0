"""Reading Caffe files into `caffe_pb2.NetParameter` messages in the current (`layer {}`) format.

Accepts what real model files contain: V1 (`layers { type: CONVOLUTION }`) and V0
(`layers { layer { type: "conv" } }`) nets, upgraded the way Caffe's upgrade_proto does; old-style
net inputs (`input:` with `input_dim:` or `input_shape`), turned into Input layers; include/exclude
rules evaluated for the TEST phase. Blobs come from a binary .caffemodel in any of these formats.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from google.protobuf import text_format
from google.protobuf.message import DecodeError

from ...errors import FrontendError
from . import caffe_pb2

# V1 enum name -> layer type string (the names Caffe's UpgradeV1LayerType gives)
V1_TYPES = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL",
    "CONCAT": "Concat", "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution", "DATA": "Data", "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise",
    "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col", "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU", "SIGMOID": "Sigmoid",
    "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss", "SILENCE": "Silence",
    "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss", "SPLIT": "Split", "SLICE": "Slice",
    "TANH": "TanH", "WINDOW_DATA": "WindowData", "THRESHOLD": "Threshold",
}

# V0 type string -> V1 enum name
V0_TYPES = {
    "accuracy": "ACCURACY", "bnll": "BNLL", "concat": "CONCAT", "conv": "CONVOLUTION",
    "data": "DATA", "dropout": "DROPOUT", "euclidean_loss": "EUCLIDEAN_LOSS",
    "flatten": "FLATTEN", "hdf5_data": "HDF5_DATA", "hdf5_output": "HDF5_OUTPUT",
    "im2col": "IM2COL", "images": "IMAGE_DATA", "infogain_loss": "INFOGAIN_LOSS",
    "innerproduct": "INNER_PRODUCT", "lrn": "LRN", "multinomial_logistic_loss":
    "MULTINOMIAL_LOGISTIC_LOSS", "pool": "POOLING", "relu": "RELU", "sigmoid": "SIGMOID",
    "softmax": "SOFTMAX", "softmax_loss": "SOFTMAX_LOSS", "split": "SPLIT", "tanh": "TANH",
    "window_data": "WINDOW_DATA",
}


def _err(path, msg) -> FrontendError:
    return FrontendError(f"{path}: {msg}")


def read_prototxt(path: Path) -> caffe_pb2.NetParameter:
    """Parse a prototxt (any format version) into an upgraded, TEST-phase-filtered net."""
    net = caffe_pb2.NetParameter()
    try:
        text_format.Merge(Path(path).read_text(encoding="utf-8"), net)
    except (text_format.ParseError, ValueError, RecursionError) as e:
        raise _err(path, f"cannot parse the prototxt: {e}") from None
    except OSError as e:
        raise _err(path, f"cannot read the prototxt: {e}") from None
    net = upgrade(net, path)
    return filter_phase(net, caffe_pb2.TEST)


def read_caffemodel(path: Path) -> dict[str, list[np.ndarray]]:
    """Blobs of a binary .caffemodel by layer name (any format version)."""
    net = caffe_pb2.NetParameter()
    try:
        net.ParseFromString(Path(path).read_bytes())
    except (DecodeError, RecursionError) as e:
        raise _err(path, f"is not a binary Caffe NetParameter: {e}") from None
    except OSError as e:
        raise _err(path, f"cannot read the caffemodel: {e}") from None
    if len(net.layer):
        pairs = [(layer.name, layer.blobs) for layer in net.layer]
    else:  # V1 layers, or V0 layers nested in them
        pairs = [(v1.name or v1.layer.name, v1.blobs if len(v1.blobs) else v1.layer.blobs)
                 for v1 in net.layers]
    out = {}
    for name, blobs in pairs:
        try:
            out[name] = [blob_array(b) for b in blobs]
        except ValueError as e:
            raise _err(path, f"layer '{name}': {e}") from None
    return out


def blob_array(blob) -> np.ndarray:
    """A BlobProto as a float32 array in its declared shape (legacy num/channels/height/width
    if it has no BlobShape). A shape that does not match the values raises ValueError."""
    if blob.HasField("shape"):
        shape = tuple(blob.shape.dim)
    elif blob.HasField("num") or blob.HasField("channels") or blob.HasField("height") \
            or blob.HasField("width"):
        shape = (blob.num, blob.channels, blob.height, blob.width)
    else:
        shape = None
    data = blob.double_data if len(blob.double_data) else blob.data
    arr = np.array(data, dtype=np.float32)
    if shape is None:
        return arr
    if any(d < 0 for d in shape) or math.prod(shape) != arr.size:
        raise ValueError(f"blob declares shape {list(shape)} but holds {arr.size} values")
    return arr.reshape(shape)


# ---- upgrades ----
def upgrade(net, path) -> caffe_pb2.NetParameter:
    """Current-format copy of `net`: V0/V1 layers upgraded, old-style inputs as Input layers."""
    if len(net.layers) and len(net.layer):
        raise _err(path, "mixes V1 'layers' and current 'layer' fields; use one format")
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    if len(net.layers):
        del out.layers[:]
        out.layer.extend(_v1_layers(net, path))
    _upgrade_inputs(out, path)
    return out


def _v1_layers(net, path):
    v1 = list(net.layers)
    if any(layer.HasField("layer") for layer in v1):
        v1 = _v0_to_v1(v1, path)
    for old in v1:
        yield _v1_to_layer(old, path)


def _v1_to_layer(old, path):
    new = caffe_pb2.LayerParameter()
    new.name = old.name
    new.bottom.extend(old.bottom)
    new.top.extend(old.top)
    new.include.extend(old.include)
    new.exclude.extend(old.exclude)
    new.blobs.extend(old.blobs)
    new.loss_weight.extend(old.loss_weight)
    type_name = caffe_pb2.V1LayerParameter.LayerType.Name(old.type)
    if type_name not in V1_TYPES:
        raise _err(path, f"V1 layer '{old.name}' has type {type_name}, which has no current name")
    new.type = V1_TYPES[type_name]
    for field, value in old.ListFields():
        if field.name.endswith("_param") and field.name in new.DESCRIPTOR.fields_by_name:
            getattr(new, field.name).CopyFrom(value)
    return new


def _v0_to_v1(layers, path):
    """V0 connections (`layers { layer {...} bottom top }`) to V1, merging V0 'padding' layers
    into the convolution that reads them, as Caffe does."""
    padding_of = {}  # top of a padding layer -> (its bottom, pad)
    out = []
    for conn in layers:
        v0 = conn.layer
        if v0.type == "padding":
            padding_of[conn.top[0]] = (conn.bottom[0], v0.pad)
            continue
        if v0.type not in V0_TYPES:
            raise _err(path, f"V0 layer '{v0.name}' has type '{v0.type}', which npucc cannot "
                             f"upgrade (known: {', '.join(sorted(V0_TYPES))})")
        v1 = caffe_pb2.V1LayerParameter()
        v1.name = v0.name
        v1.type = caffe_pb2.V1LayerParameter.LayerType.Value(V0_TYPES[v0.type])
        v1.top.extend(conn.top)
        v1.blobs.extend(v0.blobs)
        pad = v0.pad
        for b in conn.bottom:
            if b in padding_of:
                if v0.type != "conv":
                    raise _err(path, f"V0 padding layer feeds '{v0.name}' ({v0.type}); only a "
                                     "convolution can absorb it")
                b, pad = padding_of[b]
            v1.bottom.append(b)
        t = v0.type
        if t == "conv":
            p = v1.convolution_param
            p.num_output = v0.num_output
            p.bias_term = v0.biasterm
            p.kernel_size.append(v0.kernelsize)
            p.stride.append(v0.stride)
            if pad:
                p.pad.append(pad)
            p.group = v0.group
        elif t == "innerproduct":
            v1.inner_product_param.num_output = v0.num_output
            v1.inner_product_param.bias_term = v0.biasterm
        elif t == "pool":
            p = v1.pooling_param
            p.pool = v0.pool
            p.kernel_size = v0.kernelsize
            p.stride = v0.stride
            p.pad = v0.pad
        elif t == "lrn":
            p = v1.lrn_param
            p.local_size, p.alpha, p.beta, p.k = v0.local_size, v0.alpha, v0.beta, v0.k
        elif t == "dropout":
            v1.dropout_param.dropout_ratio = v0.dropout_ratio
        elif t == "concat":
            v1.concat_param.concat_dim = v0.concat_dim
        out.append(v1)
    return out


def _upgrade_inputs(net, path):
    """`input:` + `input_dim:`/`input_shape` -> Input layers at the front of the net."""
    names = list(net.input)
    if not names:
        return
    if len(net.input_shape):
        if len(net.input_shape) != len(names):
            raise _err(path, f"{len(names)} inputs but {len(net.input_shape)} input_shape entries")
        shapes = [list(s.dim) for s in net.input_shape]
    else:
        dims = list(net.input_dim)
        if len(dims) != 4 * len(names):
            raise _err(path, f"{len(names)} inputs need {4 * len(names)} input_dim values, "
                             f"got {len(dims)}")
        shapes = [dims[4 * i:4 * i + 4] for i in range(len(names))]
    layers = []
    for name, shape in zip(names, shapes):
        layer = caffe_pb2.LayerParameter(name=name, type="Input", top=[name])
        layer.input_param.shape.add().dim.extend(shape)
        layers.append(layer)
    rest = list(net.layer)
    del net.layer[:]
    net.layer.extend(layers + rest)
    del net.input[:]
    del net.input_dim[:]
    del net.input_shape[:]


def _rule_matches(rule, phase) -> bool:
    if rule.HasField("phase") and rule.phase != phase:
        return False
    if rule.HasField("min_level") and 0 < rule.min_level:
        return False
    if rule.HasField("max_level") and 0 > rule.max_level:
        return False
    return not len(rule.stage)  # the deploy state has no stages


def filter_phase(net, phase) -> caffe_pb2.NetParameter:
    """Keep the layers Caffe would instantiate in `phase` (NetState level 0, no stages)."""
    keep = []
    for layer in net.layer:
        if len(layer.include):
            included = any(_rule_matches(r, phase) for r in layer.include)
        else:
            included = not any(_rule_matches(r, phase) for r in layer.exclude)
        if included:
            keep.append(layer)
    del net.layer[:]
    net.layer.extend(keep)
    return net
