"""TensorFlow frontend: imports a frozen GraphDef (.pb) given input names, shapes and output names,
like RKNN's `load_tensorflow(tf_pb, inputs, outputs, input_size_list)`.

    graph = load("frozen.pb", inputs=["input"], outputs=["logits"], input_shapes=[[1, 224, 224, 3]])

TensorFlow itself is not needed: the GraphDef protos are compiled into npucc.frontends.tfproto.
The graph is pruned to the nodes between the given inputs and outputs. Every tensor is a handle:
a numpy array when it is known at import time (Const, and Shape-derived subgraphs, folded as they
are met) or a graph Value. NHWC graphs stay NHWC (NCHW core ops are wrapped in transposes;
data_format="NCHW" ops map directly), so the model's inputs and outputs keep their layout.
"""

from __future__ import annotations

import os

from ...errors import FrontendError
from ...ir import Graph
from ..guard import guarded
from ..tfproto import graph_pb2
from .converters import CONVERTERS
from .importer import TFImporter
from .tensors import tensor_to_array

__all__ = ["CONVERTERS", "TFImporter", "load", "tensor_to_array"]



@guarded
def load(source, *, inputs=None, outputs=None, input_shapes=None, **options) -> Graph:
    """Import a frozen GraphDef.

    inputs: input tensor names (default: every Placeholder); outputs: output tensor names
    (required); input_shapes: shapes in input order or a dict by name (RKNN's input_size_list),
    needed where the Placeholder shape has unknown dims.
    """
    if options:
        raise FrontendError(f"tensorflow frontend: unknown option(s) {sorted(options)}; it takes "
                            "inputs, outputs, input_shapes")
    if isinstance(outputs, str):
        outputs = [outputs]
    if isinstance(inputs, str):
        inputs = [inputs]
    label = os.fspath(source)
    gd = graph_pb2.GraphDef()
    try:
        with open(label, "rb") as f:
            gd.ParseFromString(f.read())
    except OSError as e:
        raise FrontendError(f"{label}: cannot read: {e.strerror}") from None
    except Exception as e:
        raise FrontendError(f"{label}: not a binary GraphDef ({type(e).__name__}: {e})") from None
    return TFImporter(gd, label, inputs, outputs, input_shapes).run()
