"""TFLite_Detection_PostProcess (the SSD tail of TF Object Detection API exports) against LiteRT.

The models are written by hand (tests/fuzz/tflite_builder.py): one custom op with flexbuffer
options, fed by model inputs or constant anchors, float32 or uint8, fast or regular NMS. Inputs
are drawn with fixed seeds. The rows a detection fills match LiteRT bit for bit, in the
reference interpreter and the simulator plan; npucc writes zeros in the others (LiteRT's fast NMS
leaves them unwritten: they hold whatever its arena held). LiteRT runs one thread: its regular
NMS spreads classes over threads, which reorders tied scores.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import tflite
from flatbuffers import flexbuffers

from npucc.backends.npu.partition import partition, partitions
from npucc.backends.simulator import compile_plan
from npucc.errors import FrontendError, UnsupportedError
from npucc.frontends.tflite import load
from npucc.numerics import run_graph
from npucc.targets import legalize
from tests.fuzz.mutate import check_outcome, variants
from tests.fuzz.tflite_builder import Op, Tensor, build

from .oracle import litert, needs_litert

CUSTOM = "TFLite_Detection_PostProcess"
F32, U8, I8 = tflite.TensorType.FLOAT32, tflite.TensorType.UINT8, tflite.TensorType.INT8
OUTPUTS = ("detection_boxes", "detection_classes", "detection_scores", "num_detections")
# as TF's export_tflite_ssd_graph writes them (it leaves out detections_per_class and
# use_regular_nms unless asked); N = 24 boxes, 6 classes plus background
OPTIONS = {"max_detections": 30, "max_classes_per_detection": 1, "num_classes": 6,
           "nms_score_threshold": 0.3, "nms_iou_threshold": 0.5, "y_scale": 10.0,
           "x_scale": 10.0, "h_scale": 5.0, "w_scale": 5.0}
N = 24


def flex_map(options: dict) -> bytes:
    """A flexbuffer map of the options, each value in the flexbuffer type of its Python type."""
    b = flexbuffers.Builder()
    with b.Map():
        for key, v in options.items():
            if isinstance(v, bool):
                b.Bool(key, v)
            elif isinstance(v, int):
                b.Int(key, v)
            elif isinstance(v, float):
                b.Float(key, v)
            else:
                b.String(key, v)
    return bytes(b.Finish())


def head_model(options: dict, columns: int, *, anchors: np.ndarray | None = None,
               types=(F32, F32, F32), quants=(None, None, None),
               custom_options: bytes | None = None) -> bytes:
    """One TFLite_Detection_PostProcess: box encodings [1, N, 4] and class predictions
    [1, N, columns] are model inputs; anchors [N, 4] too, or the constant `anchors`."""
    rows = options.get("max_detections", 1) * options.get("max_classes_per_detection", 1)
    rows = rows if 0 < rows < 2**16 else 1
    tensors = [Tensor(b"box_encodings", (1, N, 4), 0, types[0], quants[0]),
               Tensor(b"class_predictions", (1, N, columns), 0, types[1], quants[1]),
               Tensor(b"anchors", (N, 4), 0 if anchors is None else 1, types[2], quants[2]),
               Tensor(b"detection_boxes", (1, rows, 4)), Tensor(b"detection_classes", (1, rows)),
               Tensor(b"detection_scores", (1, rows)), Tensor(b"num_detections", (1,))]
    buffers = [b""] + ([] if anchors is None else [anchors.tobytes()])
    op = Op(CUSTOM, (0, 1, 2), (3, 4, 5, 6),
            custom_options=flex_map(options) if custom_options is None else custom_options)
    return build(tensors=tensors, buffers=buffers, ops=[op],
                 inputs=(0, 1) if anchors is not None else (0, 1, 2), outputs=(3, 4, 5, 6))


def float_head(seed: int, columns: int):
    """Box encodings, class scores (distinct values) and anchors in a unit image."""
    rng = np.random.default_rng(seed)
    enc = rng.normal(0, 1, (1, N, 4)).astype(np.float32)
    scores = rng.uniform(0, 1, (1, N, columns)).astype(np.float32)
    anchors = np.stack([rng.uniform(0.1, 0.9, N), rng.uniform(0.1, 0.9, N),
                        rng.uniform(0.05, 0.5, N), rng.uniform(0.05, 0.5, N)], axis=1)
    return enc, scores, anchors.astype(np.float32)


def filled(options: dict, num: int) -> np.ndarray:
    """Which output rows hold a detection: per kept box its classes (fast NMS, a block of
    max_classes_per_detection rows each) or the first num rows (regular NMS)."""
    per_box = options.get("max_classes_per_detection", 1)
    rows = np.arange(options["max_detections"] * per_box)
    if options.get("use_regular_nms", False):
        return rows < num
    return (rows // per_box < num) & (rows % per_box < min(per_box, options["num_classes"]))


def check_against_litert(path, inputs, options) -> tuple[int, list[np.ndarray]]:
    """npucc's outputs (reference interpreter and plan) against LiteRT's; (num_detections,
    LiteRT's outputs)."""
    want, _ = litert(path, inputs)
    g = load(path)
    assert [n.op for n in g.nodes if n.op != "DequantizeLinear"] == ["DetectionPostProcess"]
    assert [v.name for v in g.outputs] == list(OUTPUTS)
    num = int(want[3][0])
    rows = filled(options, num)
    for how, got in (("reference", run_graph(g, inputs)), ("plan", compile_plan(g).run(inputs))):
        assert [o.dtype for o in got] == [np.float32] * 4, how
        assert [o.shape for o in got] == [w.shape for w in want], how
        assert got[3].tolist() == want[3].tolist(), how
        for k in range(3):
            np.testing.assert_array_equal(got[k][0][rows], want[k][0][rows],
                                          err_msg=f"{how}: {OUTPUTS[k]}")
            assert not got[k][0][~rows].any(), f"{how}: {OUTPUTS[k]} is not zero-padded"
    return num, want


@needs_litert
@pytest.mark.parametrize("nms, per_box, background, const_anchors", [
    ("fast", 1, True, True),  # as the TF Object Detection API exports SSDs
    ("fast", 3, False, False),
    ("fast", 8, True, False),  # more classes per box than there are: gaps in each block
    ("regular", 1, True, True),
    ("regular", 2, False, False),  # max_detections * 2 rows, regular NMS fills max_detections
])
def test_float_head_matches_litert(tmp_path, nms, per_box, background, const_anchors):
    options = {**OPTIONS, "max_classes_per_detection": per_box}
    if nms == "regular":
        options.update(use_regular_nms=True, detections_per_class=4, nms_score_threshold=0.75)
    columns = options["num_classes"] + background
    enc, scores, anchors = float_head(0, columns)
    assert np.unique(scores).size == scores.size  # no ties: any correct order is LiteRT's
    path = tmp_path / "head.tflite"
    path.write_bytes(head_model(options, columns, anchors=anchors if const_anchors else None))
    inputs = [enc, scores] if const_anchors else [enc, scores, anchors]
    num, want = check_against_litert(path, inputs, options)
    assert 0 < num < options["max_detections"]  # some rows are padding
    if nms == "regular":  # LiteRT zeroes the unfilled rows itself
        assert not want[2][0][num:options["max_detections"]].any()
    node = next(iter(load(path).nodes))
    assert node.attrs["detections_per_class"] == (4 if nms == "regular" else 100)
    assert node.attrs["use_regular_nms"] == (nms == "regular")


@needs_litert
@pytest.mark.parametrize("nms, per_box", [("fast", 1), ("fast", 4), ("regular", 1)])
def test_tied_scores_are_ordered_as_litert_orders_them(tmp_path, nms, per_box):
    """Scores in steps of 1/8 tie often. LiteRT's order on ties is its implementation's:
    stable sorts in NMS (lower box first) and in regular NMS's merge (lower class first), the
    first maximum for one class per box, and libstdc++'s std::partial_sort for several."""
    options = {**OPTIONS, "max_classes_per_detection": per_box, "nms_score_threshold": 0.5,
               "use_regular_nms": nms == "regular"}
    enc, scores, anchors = float_head(1, 7)
    scores = np.round(scores * 8) / np.float32(8)
    path = tmp_path / "ties.tflite"
    path.write_bytes(head_model(options, 7, anchors=anchors))
    num, want = check_against_litert(path, [enc, scores], options)
    kept = want[2][0][filled(options, num)]
    assert np.unique(kept).size < kept.size / 2  # teeth: the detections tie


@needs_litert
@pytest.mark.parametrize("nms, per_box, const_anchors", [
    ("fast", 1, True), ("fast", 3, False), ("regular", 1, False)])
def test_uint8_head_is_dequantized_as_litert_does(tmp_path, nms, per_box, const_anchors):
    """Quantized SSDs feed uint8 box encodings, scores and anchors: dequantized with each
    tensor's params (DequantizeLinear nodes; constant anchors fold at import)."""
    options = {**OPTIONS, "max_classes_per_detection": per_box, "nms_score_threshold": 0.6,
               "use_regular_nms": nms == "regular", "detections_per_class": 3}
    rng = np.random.default_rng(2)
    enc = rng.integers(0, 256, (1, N, 4), dtype=np.uint8)
    scores = rng.integers(0, 256, (1, N, 7), dtype=np.uint8)
    anchors = np.concatenate([rng.integers(25, 230, (N, 2)), rng.integers(12, 128, (N, 2))],
                             axis=1).astype(np.uint8)
    quants = ((0.04, 128), (1 / 256, 0), (1 / 255, 0))
    path = tmp_path / "u8.tflite"
    path.write_bytes(head_model(options, 7, anchors=anchors if const_anchors else None,
                                types=(U8, U8, U8), quants=quants))
    g = load(path)
    assert sum(n.op == "DequantizeLinear" for n in g.nodes) == (2 if const_anchors else 3)
    inputs = [enc, scores] if const_anchors else [enc, scores, anchors]
    num, _ = check_against_litert(path, inputs, options)
    assert 0 < num < options["max_detections"]


def test_the_op_stays_float_and_runs_on_the_cpu(tmp_path):
    """The scores come from a LOGISTIC the u8 quantization quantizes; DetectionPostProcess
    has no quantization rule (float32 in the quantized graph) and no NPU kernel: the target's
    legalization sends it to the CPU, and the partitioned graph runs as the flat one."""
    from npucc.quantization import quantize_model

    enc, logits, anchors = float_head(3, 7)
    logits = (logits * 8 - 4).astype(np.float32)
    tensors = [Tensor(b"box_encodings", (1, N, 4)), Tensor(b"logits", (1, N, 7)),
               Tensor(b"class_predictions", (1, N, 7)), Tensor(b"anchors", (N, 4), 1),
               Tensor(b"detection_boxes", (1, 30, 4)), Tensor(b"detection_classes", (1, 30)),
               Tensor(b"detection_scores", (1, 30)), Tensor(b"num_detections", (1,))]
    path = tmp_path / "ssd_tail.tflite"
    path.write_bytes(build(
        tensors=tensors, buffers=[b"", anchors.tobytes()],
        ops=[Op(tflite.BuiltinOperator.LOGISTIC, (1,), (2,), None),
             Op(CUSTOM, (0, 2, 3), (4, 5, 6, 7), None, custom_options=flex_map(OPTIONS))],
        inputs=(0, 1), outputs=(4, 5, 6, 7)))
    g = load(path)
    x = [enc, logits]
    leg = legalize(g, "rk3588")
    (bad,) = leg.unsupported
    assert bad.node.op == "DetectionPostProcess"
    assert bad.violations[0].detail == "DetectionPostProcess is not in rk3588's NPU op list"
    parted = partition(g, leg)  # (the cost model may move the Sigmoid along)
    (cpu,) = [p for p in partitions(parted) if "DetectionPostProcess" in p.ops]
    assert cpu.device == "cpu"
    flat = compile_plan(g).run(x)
    for got, want in zip(compile_plan(parted).run(x), flat):
        np.testing.assert_array_equal(got, want)
    q = quantize_model(g, [x, [e * 0.5 for e in x]], dtype="u8", progress=False)
    (det,) = [n for n in q.graph.nodes if n.op == "DetectionPostProcess"]
    assert all(v.type.quant is None for v in (*det.inputs, *det.outputs))
    assert det.meta["quantize"]  # why it stayed float
    assert any(n.op == "Sigmoid" and n.outputs[0].type.quant is not None for n in q.graph.nodes)
    got = run_graph(q.graph, x)
    assert [o.shape for o in got] == [o.shape for o in flat] and 0 < got[3][0] <= 30


@pytest.mark.parametrize("change, match", [
    ({"num_classes": None}, "custom option num_classes is missing"),
    ({"max_detections": -1}, r"max_detections'=-1: must be >= 1"),
    ({"num_classes": 2**31 - 1}, r"class_predictions must be \[1, 24, 2147483647 or "),
    ({"num_classes": 2**40}, "custom option num_classes=1099511627776 does not fit in int32"),
    ({"max_detections": 2**30, "max_classes_per_detection": 64}, "over the .*-byte limit"),
    ({"y_scale": "10"}, "custom option y_scale must be a number, got a string"),
    ({"h_scale": 0.0}, r"h_scale'=0.0: must be finite and > 0"),
    ({"nms_iou_threshold": 0.0}, r"nms_iou_threshold'=0.0: must be in \(0, 1\]"),
    ({"use_regular_nms": 2}, r"use_regular_nms must be a bool \(or 0 / 1\), got an integer"),
    ({"use_regular_nms": True, "detections_per_class": 0},
     r"detections_per_class'=0: must be >= 1"),
    (b"", r"its custom options \(a flexbuffer map\) are missing"),
    (b"\x07\x00\x01", "its custom options are .*, not a flexbuffer map"),
    (bytes(range(40)), "not a readable flexbuffer map|not a flexbuffer map"),
])
def test_hostile_options_are_refused_naming_the_file_and_op(tmp_path, change, match):
    if isinstance(change, bytes):
        blob = head_model(OPTIONS, 7, custom_options=change)
    else:
        options = {k: v for k, v in {**OPTIONS, **change}.items() if v is not None}
        blob = head_model(options, 7)
    path = tmp_path / "hostile.tflite"
    path.write_bytes(blob)
    with pytest.raises(FrontendError, match=match) as e:
        load(path)
    assert str(path) in str(e.value) and f"operator #0 CUSTOM:{CUSTOM}" in str(e.value)


@pytest.mark.parametrize("types, quants, error, match", [
    ((I8, F32, I8), ((0.1, 0), None, (0.01, 0)), UnsupportedError,
     "box encodings 'box_encodings' is INT8; TFLite's kernel takes FLOAT32 or UINT8"),
    ((U8, F32, F32), ((0.1, 128), None, None), FrontendError,
     "box encodings are UINT8 but anchors FLOAT32: TFLite reads the anchors as"),
    ((F32, U8, F32), (None, None, None), FrontendError,
     "class predictions 'class_predictions' is UINT8 without per-tensor quantization params"),
])
def test_input_types_litert_cannot_run_are_refused(tmp_path, types, quants, error, match):
    path = tmp_path / "types.tflite"
    path.write_bytes(head_model(OPTIONS, 7, types=types, quants=quants))
    with pytest.raises(error, match=re.escape(match)) as e:
        load(path)
    assert str(path) in str(e.value)


def test_mutated_options_load_or_fail_naming_the_file(tmp_path):
    """Seeded mutations of the options' flexbuffer bytes (truncations, bit flips, splices):
    each model loads or fails with an npucc error naming the file, never a crash of the
    flexbuffer reader."""
    counts = {"loaded": 0, "npucc-error": 0}
    path = tmp_path / "mutated.tflite"
    for description, options in variants(flex_map(OPTIONS), 300, seed=3):
        path.write_bytes(head_model(OPTIONS, 7, custom_options=options))
        counts[check_outcome(load, path, description)] += 1
    assert counts["loaded"] > 0 and counts["npucc-error"] > 0, counts
