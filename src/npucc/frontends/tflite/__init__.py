"""TensorFlow Lite frontend: reads a .tflite flatbuffer with the `tflite` schema package and maps
subgraph 0's builtin ops to the core op set.

    graph = load("model.tflite")                       # inputs/outputs of subgraph 0
    graph = load("model.tflite", outputs=["logits"])   # cut at tensors by name

Layout: TFLite tensors are NHWC and stay so (the graph's inputs and outputs keep the model's
layout); NCHW core ops are wrapped in transposes (see tf_common).

Quantized models (int8/uint8, per tensor or per channel) keep their parameters: every integer
tensor with scale/zero point becomes a TensorType with QuantParams, weights keep theirs (the
per-channel axis follows the weight transposition), int32 biases carry scale = x_scale * w_scale.
Such nodes run with npucc.numerics' tflite profile, bit-exact with TFLite's reference kernels.
fp16 weights (DEQUANTIZE of a float16 constant) and sparse weights (DENSIFY) become dense float32
constants at import time.
"""

from __future__ import annotations

import os

from ...errors import FrontendError
from ...ir import Graph
from ..guard import guarded
from .conv import fused_attrs
from .converters import CONVERTERS
from .importer import OP_NAMES, TFLiteImporter
from .quantized import densify_array
from .tensor_ops import symmetric_pad

__all__ = ["CONVERTERS", "OP_NAMES", "TFLiteImporter", "densify_array", "fused_attrs", "load",
           "symmetric_pad"]


@guarded
def load(source, *, inputs=None, outputs=None, input_shapes=None, **options) -> Graph:
    """Import a .tflite model (path or bytes) into a Graph.

    inputs / outputs: tensor names at which to cut the model (default: subgraph 0's own).
    input_shapes: shapes for inputs with unknown dims, a dict by name or a list in input order.
    """
    if options:
        raise FrontendError(f"tflite frontend: unknown option(s) {sorted(options)}; it takes "
                            "inputs, outputs, input_shapes")
    if isinstance(source, (bytes, bytearray)):
        buf, label = bytes(source), "<tflite bytes>"
    else:
        label = os.fspath(source)
        try:
            with open(label, "rb") as f:
                buf = f.read()
        except OSError as e:
            raise FrontendError(f"{label}: cannot read: {e.strerror}") from None
    return TFLiteImporter(buf, label, inputs=inputs, outputs=outputs,
                          input_shapes=input_shapes).run()
