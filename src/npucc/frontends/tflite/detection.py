"""Converter of the custom op TFLite_Detection_PostProcess (the SSD tail of TF Object Detection
API exports) to the core DetectionPostProcess, with its flexbuffer options read as untrusted
data: every key is checked for its type and range, so a hostile file fails naming the op."""

from __future__ import annotations

import math

import numpy as np
from flatbuffers import flexbuffers

from ...ir import Value
from ..tf_common import ConversionError, Handle, quant_of

# key -> (kind, default); None: the key is required
_OPTIONS = {
    "max_detections": ("int", None),
    "max_classes_per_detection": ("int", None),
    "detections_per_class": ("int", 100),
    "use_regular_nms": ("bool", False),
    "nms_score_threshold": ("float", None),
    "nms_iou_threshold": ("float", None),
    "num_classes": ("int", None),
    "y_scale": ("float", None),
    "x_scale": ("float", None),
    "h_scale": ("float", None),
    "w_scale": ("float", None),
}
_INT32 = (-2**31, 2**31 - 1)


def _kind_of(ref) -> str:
    for kind, name in (("Null", "null"), ("Bool", "a bool"), ("Int", "an integer"),
                       ("Float", "a float"), ("String", "a string"), ("Map", "a map")):
        if getattr(ref, f"Is{kind}"):
            return name
    return "a vector or blob"


def _value(ref, key: str, kind: str):
    """The value of option `key` as TFLite reads it (AsInt32, AsFloat: float32, AsBool), from
    a flexbuffer value of the matching type only."""
    if kind == "int" and ref.IsInt:
        v = ref.AsInt
        if not _INT32[0] <= v <= _INT32[1]:
            raise ConversionError(f"custom option {key}={v} does not fit in int32", False)
        return v
    if kind == "float" and (ref.IsFloat or ref.IsInt):
        with np.errstate(over="ignore"):
            v = float(np.float32(ref.AsFloat))
        if math.isnan(v):
            raise ConversionError(f"custom option {key} is NaN", False)
        return v
    if kind == "bool" and (ref.IsBool or (ref.IsInt and ref.AsInt in (0, 1))):
        return bool(ref.AsInt)
    want = {"int": "an integer", "float": "a number", "bool": "a bool (or 0 / 1)"}[kind]
    raise ConversionError(f"custom option {key} must be {want}, got {_kind_of(ref)}", False)


def read_options(raw: bytes) -> dict:
    """The op's options from its custom_options bytes (a flexbuffer map)."""
    if not raw:
        raise ConversionError("its custom options (a flexbuffer map) are missing", False)
    try:
        root = flexbuffers.GetRoot(raw)
        if not root.IsMap:
            raise ConversionError(f"its custom options are {_kind_of(root)}, not a flexbuffer "
                                  "map", False)
        options = root.AsMap
        out = {}
        for key, (kind, default) in _OPTIONS.items():
            try:
                ref = options[key]
            except KeyError:
                ref = None
            if ref is None or ref.IsNull:
                if default is None:
                    raise ConversionError(f"custom option {key} is missing", False)
                out[key] = default
            else:
                out[key] = _value(ref, key, kind)
    except ConversionError:
        raise
    except Exception as e:  # noqa: BLE001 - the flexbuffer reader fails on corrupt bytes in
        # its own ways (IndexError, struct.error, UnicodeDecodeError, RecursionError...)
        raise ConversionError(f"its custom options are not a readable flexbuffer map "
                              f"({type(e).__name__})", False) from None
    return out


def _float_input(imp, op, i: int, what: str) -> Handle:
    """Input i in float32: float32 as it is, uint8 dequantized with its per-tensor params (a
    constant at import time); TFLite's kernel takes no other type."""
    t, x = op.tensor(i), op.input(i)
    if t.np_dtype == np.float32:
        return x
    if t.np_dtype != np.uint8:
        raise ConversionError(f"{what} '{t.name}' is {t.type_name}; TFLite's kernel takes "
                              "FLOAT32 or UINT8")
    q = quant_of(x)
    if q is None or q.axis is not None:
        raise ConversionError(f"{what} '{t.name}' is UINT8 without per-tensor quantization "
                              "params", False)
    scale, zero_point, _ = q.as_affine()
    if isinstance(x, Value) and x.is_constant:
        return (np.asarray(x.const).astype(np.int64) - zero_point[0]).astype(np.float32) \
            * np.float32(scale[0])
    return imp.b.emit("DequantizeLinear", [x], {"scale": scale, "zero_point": zero_point},
                      label=op.label)


def detection_postprocess(imp, op):
    """TFLite_Detection_PostProcess: box encodings [1, N, >=4], class predictions
    [1, N, classes (+1 background)], anchors [N, 4]; four float32 outputs. uint8 inputs are
    dequantized first (TFLite reads uint8 anchors exactly when the box encodings are uint8)."""
    if len(op.in_idx) != 3 or len(op.out_idx) != 4:
        raise ConversionError(f"takes 3 inputs and 4 outputs, got {len(op.in_idx)} and "
                              f"{len(op.out_idx)}", False)
    if op.op.CustomOptionsFormat() != 0:
        raise ConversionError(f"custom options format {op.op.CustomOptionsFormat()} is not "
                              "FLEXBUFFERS (0)", False)
    raw = op.op.CustomOptionsAsNumpy().tobytes() if op.op.CustomOptionsLength() else b""
    attrs = read_options(raw)
    if (op.tensor(0).np_dtype == np.uint8) != (op.tensor(2).np_dtype == np.uint8):
        raise ConversionError(f"box encodings are {op.tensor(0).type_name} but anchors "
                              f"{op.tensor(2).type_name}: TFLite reads the anchors as the box "
                              "encodings' type", False)
    inputs = [_float_input(imp, op, i, what) for i, what in
              enumerate(("box encodings", "class predictions", "anchors"))]
    # the outputs are float32 whatever the file declares (TFLite sets their types itself)
    return imp.b.emit_all("DetectionPostProcess", inputs, attrs, label=op.label,
                          names=[op.out_tensor(k).name for k in range(4)])
