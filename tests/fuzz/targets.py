"""What the fuzz tests and scripts/fuzz_frontends.py mutate: one row per (format, fixture) with
the loader to run on each variant. Add a frontend by adding rows; `fixture(tmp_dir)` returns the
path of a valid model file (a committed fixture, or one written into tmp_dir).

Fixtures are small on purpose: mutations should hit the structure (names, shapes, attributes,
offsets) more often than weight bytes, and a few hundred variants must load in seconds.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import format_fixtures as ff
from .mutate import check_outcome, variants

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tf"


class Part(NamedTuple):
    """A piece of the fixture file to mutate instead of its whole bytes (a zip member, a blob
    section): `extract(fixture path)` gives its bytes; `write(variant path, mutated piece,
    fixture path)` writes the file with that piece replaced (the rest intact, checksums redone)."""

    extract: Callable[[Path], bytes]
    write: Callable[[Path, bytes, Path], None]


class Target(NamedTuple):
    format: str
    name: str  # its first word, when a file of the fixture folder, is the file mutated
    fixture: Callable[[Path], Path]  # writes (or finds) the valid file and its companions
    load: Callable[[Path, Path], object]  # (variant path, fixture folder) -> graph
    part: Part | None = None  # mutate this piece inside an intact file


def zip_member(regex: str) -> Part:
    """The member of a zip archive whose name (after the archive's top folder) matches."""
    import re
    import zipfile

    def name(z: zipfile.ZipFile) -> str:
        return next(m for m in z.namelist() if re.fullmatch(regex, m.split("/", 1)[1]))

    def extract(main: Path) -> bytes:
        with zipfile.ZipFile(main) as z:
            return z.read(name(z))

    def write(path: Path, blob: bytes, main: Path) -> None:
        with zipfile.ZipFile(main) as z, zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
            member = name(z)
            for info in z.infolist():
                out.writestr(info.filename, blob if info.filename == member else z.read(info))

    return Part(extract, write)


def small_onnx_model(seed: int = 0):
    """A small ONNX graph using many attribute kinds: Conv (INTS), Cast (INT), Constant (TENSOR),
    Resize (STRING), initializer shape operands, a side branch joined by Concat."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(a, n) for n, a in (
        ("w", rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)),
        ("b", rng.normal(0, 0.1, 4).astype(np.float32)),
        ("scale", np.ones(4, np.float32)), ("bias", np.zeros(4, np.float32)),
        ("mean", np.zeros(4, np.float32)), ("var", np.ones(4, np.float32)),
        ("shape", np.array([1, -1], np.int64)),
        ("fc_w", rng.normal(0, 0.3, (5, 24)).astype(np.float32)),
        ("starts", np.array([0], np.int64)), ("ends", np.array([2], np.int64)),
        ("axes", np.array([1], np.int64)),
        ("roi", np.zeros(0, np.float32)), ("scales", np.array([1, 1, 2, 2], np.float32)))]
    node = helper.make_node
    nodes = [
        node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1], strides=[1, 1],
             kernel_shape=[3, 3]),
        node("BatchNormalization", ["c", "scale", "bias", "mean", "var"], ["bn"], name="bn",
             epsilon=1e-5),
        node("Relu", ["bn"], ["r"], name="relu"),
        node("Transpose", ["r"], ["t"], name="transpose", perm=[0, 1, 3, 2]),
        node("Slice", ["t", "starts", "ends", "axes"], ["s"], name="slice"),
        node("Constant", [], ["k"], name="k", value=numpy_helper.from_array(
            np.full((1, 2, 1, 1), 0.5, np.float32))),
        node("Mul", ["s", "k"], ["m"], name="mul"),
        node("Concat", ["r", "m"], ["cat"], name="concat", axis=1),
        node("MaxPool", ["cat"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        node("Resize", ["p", "roi", "scales"], ["up"], name="resize", mode="nearest"),
        node("AveragePool", ["up"], ["ap"], name="avgpool", kernel_shape=[4, 4],
             strides=[4, 4]),
        node("Cast", ["ap"], ["f"], name="cast", to=TensorProto.FLOAT),
        node("Clip", ["f"], ["cl"], name="clip"),
        node("Reshape", ["cl", "shape"], ["flat"], name="reshape"),
        node("Gemm", ["flat", "fc_w"], ["logits"], name="fc", transB=1, alpha=1.0),
        node("Softmax", ["logits"], ["y"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "fuzz_small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                             producer_name="npucc-fuzz")


def small_onnx_loop_model(seed: int = 0):
    """Control flow unrolled at import: a Loop (trip count from a Shape, a Conv on the carried
    image, an If on the iteration number, a scan output) feeding a reverse Scan over rows."""
    from onnx import TensorProto, helper, numpy_helper

    F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
    vi, node = helper.make_tensor_value_info, helper.make_node
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (2, 2, 3, 3)).astype(np.float32), "w")
    first = helper.make_graph([node("Relu", ["conv"], ["t"])], "then", [], [vi("t", F, None)])
    later = helper.make_graph([node("Tanh", ["conv"], ["e"])], "else", [], [vi("e", F, None)])
    loop_body = helper.make_graph(
        [node("Conv", ["img_in", "w"], ["conv"], name="conv", pads=[1, 1, 1, 1]),
         node("Equal", ["i", "zero"], ["is_first"], name="is_first"),
         node("If", ["is_first"], ["img_out"], name="if", then_branch=first, else_branch=later),
         node("ReduceMean", ["img_out"], ["m"], name="mean", axes=[1, 2, 3], keepdims=0),
         node("Identity", ["cond_in"], ["cond_out"], name="cond")],
        "loop_body", [vi("i", I64, []), vi("cond_in", B, []), vi("img_in", F, [1, 2, 4, 4])],
        [vi("cond_out", B, []), vi("img_out", F, [1, 2, 4, 4]), vi("m", F, [1])],
        [numpy_helper.from_array(np.zeros((), np.int64), "zero")])
    scan_body = helper.make_graph(
        [node("Add", ["acc_in", "row"], ["acc_out"], name="acc"),
         node("Sigmoid", ["acc_out"], ["out"], name="sigmoid")],
        "scan_body", [vi("acc_in", F, [4]), vi("row", F, [4])],
        [vi("acc_out", F, [4]), vi("out", F, [4])])
    nodes = [
        node("Shape", ["x"], ["shape"], name="shape"),
        node("Gather", ["shape", "one"], ["trips"], name="trips", axis=0),
        node("Loop", ["trips", "", "x"], ["img", "means"], name="loop", body=loop_body),
        node("Reshape", ["img", "rows_shape"], ["rows"], name="rows"),
        node("Scan", ["acc0", "rows"], ["acc", "y"], name="scan", body=scan_body,
             num_scan_inputs=1, scan_input_directions=[1]),
    ]
    inits = [w, numpy_helper.from_array(np.array(1, np.int64), "one"),
             numpy_helper.from_array(np.array([8, 4], np.int64), "rows_shape"),
             numpy_helper.from_array(np.zeros(4, np.float32), "acc0")]
    graph = helper.make_graph(
        nodes, "fuzz_loop", [vi("x", F, [1, 2, 4, 4])],
        [vi("y", F, [8, 4]), vi("means", F, [2, 1])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                             producer_name="npucc-fuzz")


def _onnx_fixture(tmp_dir: Path) -> Path:
    path = tmp_dir / "fuzz_small.onnx"
    path.write_bytes(small_onnx_model().SerializeToString())
    return path


def _onnx_loop_fixture(tmp_dir: Path) -> Path:
    path = tmp_dir / "fuzz_loop.onnx"
    path.write_bytes(small_onnx_loop_model().SerializeToString())
    return path


def _committed(name: str) -> Callable[[Path], Path]:
    return lambda tmp_dir: FIXTURES / name


def _load_onnx(path: Path, folder: Path | None = None):
    from npucc.frontends import onnx

    return onnx.load(path)


def _load_tflite(path: Path, folder: Path | None = None):
    from npucc.frontends import tflite

    return tflite.load(path)


def _load_tf(path: Path, folder: Path | None = None, *, fixture: str, shapes: bool = False):
    """shapes: give the stored inputs' shapes (for a Placeholder with an unknown batch)."""
    from npucc.frontends import tensorflow

    names = np.load(FIXTURES / f"{fixture}.npz")
    inputs = [str(n) for n in names["input_names"]]
    given = [names[f"input_{i}"].shape for i in range(len(inputs))] if shapes else None
    return tensorflow.load(path, inputs=inputs, outputs=[str(n) for n in names["output_names"]],
                           input_shapes=given)


def _caffe(d: Path) -> Path:
    from npucc.frontends import caffe
    from tests.fuzz.test_fuzz_caffe import PROTOTXT, _write_caffemodel

    (d / "small.prototxt").write_text(PROTOTXT)
    _write_caffemodel(d / "small.caffemodel", caffe.random_blobs(d / "small.prototxt"))
    return d / "small.prototxt"


def _darknet(d: Path) -> Path:
    import numpy as np

    from npucc.frontends import darknet
    from tests.fuzz.test_fuzz_darknet import CFG

    (d / "small.cfg").write_text(CFG)
    with open(d / "small.weights", "wb") as f:
        f.write(np.array([0, 2, 0], np.int32).tobytes() + np.zeros(1, np.uint64).tobytes())
        for a in darknet.random_weights(d / "small.cfg"):
            f.write(a.astype(np.float32).tobytes())
    return d / "small.cfg"


def _torch(kind: str) -> Callable[[Path], Path]:
    def write(d: Path) -> Path:
        import torch

        from tests.fuzz.test_fuzz_pytorch import SHAPE, _Small

        torch.manual_seed(0)
        model, x = _Small().eval(), torch.rand(*SHAPE)
        if kind == "pt2":
            torch.export.save(torch.export.export(model, (x,)), d / "small.pt2")
        else:
            torch.jit.trace(model, (x,)).save(str(d / "small.pt"))
        return d / f"small.{kind}"
    return write


def _load_caffe(which: str):
    from npucc.frontends import caffe

    if which == "prototxt":
        return lambda p, d: caffe.load(p, weights=d / "small.caffemodel")
    return lambda p, d: caffe.load(d / "small.prototxt", weights=p)


def _load_darknet(which: str):
    from npucc.frontends import darknet

    if which == "cfg":
        return lambda p, d: darknet.load(p, weights=d / "small.weights")
    return lambda p, d: darknet.load(d / "small.cfg", weights=p)


def _load_torch(p: Path, d: Path):
    import npucc
    from tests.fuzz.test_fuzz_pytorch import SHAPE

    return npucc.load(p) if p.suffix == ".pt2" else npucc.load(p, input_shapes=[SHAPE])


def _companion(d: Path, name: str) -> Callable[[Path], Path]:
    return lambda _: d / name


FORMAT_TARGETS = [
    Target("npub", "small.npub (file bytes)", ff.blob_fixture, ff.load_blob),
    *(Target("npub", f"small.npub {s} section", ff.blob_fixture, ff.load_blob,
             ff.blob_section(s)) for s in ("manifest", "program", "tensors", "quant", "io")),
    Target("ir-text", "small.npuir", ff.ir_fixture(False), ff.load_ir),
    Target("ir-text", "quantized.npuir", ff.ir_fixture(True), ff.load_ir),
    Target("build-config", "build.yaml", ff.build_fixture, ff.load_build_config),
    Target("hybrid", "small.hybrid.yaml", ff.hybrid_fixture, ff.load_hybrid),
    Target("dataset", "dataset.txt", ff.dataset_fixture, ff.load_dataset),
    Target("dataset", "s0.npy (named by dataset.txt)", ff.dataset_fixture, ff.load_dataset),
    Target("dataset", "s1.npy (big-endian, Fortran order, no batch axis)", ff.dataset_fixture,
           ff.load_dataset),
    Target("dataset", "s2.png (named by dataset.txt)", ff.dataset_fixture, ff.load_dataset),
    Target("dataset", "s0.npy (npucc run --input)", ff.dataset_fixture, ff.load_run_input),
    Target("calibration-stats", "stats.json", ff.stats_fixture, ff.load_stats),
    Target("calibration-stats", "stats.npz (sha256 updated in the json)", ff.stats_fixture,
           ff.load_stats),
    Target("target", "mynpu.yaml (extends rk3588)", ff.target_fixture(True), ff.load_target),
    Target("target", "standalone.yaml", ff.target_fixture(False), ff.load_target),
]

CONV_CODE = r"code/__torch__/torch/nn/modules/conv(/___torch_mangle_\d+)?\.py"

TARGETS = [
    Target("onnx", "small CNN (built by the test)", _onnx_fixture, _load_onnx),
    Target("onnx", "Loop and Scan (built by the test)", _onnx_loop_fixture, _load_onnx),
    Target("tflite", "ops_zoo_float.tflite", _committed("ops_zoo_float.tflite"), _load_tflite),
    Target("tflite", "small_int8.tflite", _committed("small_int8.tflite"), _load_tflite),
    Target("tflite", "tensor_ops_float.tflite", _committed("tensor_ops_float.tflite"),
           _load_tflite),
    Target("tflite", "lstm_float.tflite", _committed("lstm_float.tflite"), _load_tflite),
    Target("tflite", "cond_ops_float.tflite (IF subgraphs)", _committed("cond_ops_float.tflite"),
           _load_tflite),
    Target("tensorflow", "ops_zoo_pb.pb", _committed("ops_zoo_pb.pb"),
           functools.partial(_load_tf, fixture="ops_zoo_pb")),
    Target("tensorflow", "resize_pb.pb", _committed("resize_pb.pb"),
           functools.partial(_load_tf, fixture="resize_pb")),
    Target("tensorflow", "math_ops_pb.pb", _committed("math_ops_pb.pb"),
           functools.partial(_load_tf, fixture="math_ops_pb")),
    Target("tensorflow", "array_ops_pb.pb", _committed("array_ops_pb.pb"),
           functools.partial(_load_tf, fixture="array_ops_pb")),
    Target("tensorflow", "calls_pb.pb", _committed("calls_pb.pb"),
           functools.partial(_load_tf, fixture="calls_pb")),
    Target("tensorflow", "cond_pb.pb", _committed("cond_pb.pb"),
           functools.partial(_load_tf, fixture="cond_pb", shapes=True)),
    Target("caffe", "small.prototxt", _caffe, _load_caffe("prototxt")),
    Target("caffe", "small.caffemodel", _caffe, _load_caffe("caffemodel")),
    Target("darknet", "small.cfg", _darknet, _load_darknet("cfg")),
    Target("darknet", "small.weights", _darknet, _load_darknet("weights")),
    Target("pytorch", "small.pt2 (zip bytes)", _torch("pt2"), _load_torch),
    Target("pytorch", "small.pt2 models/model.json", _torch("pt2"), _load_torch,
           zip_member("models/model.json")),
    Target("pytorch", "small.pt2 weights config", _torch("pt2"), _load_torch,
           zip_member("data/weights/model_weights_config.json")),
    Target("pytorch", "small.pt (zip bytes)", _torch("pt"), _load_torch),
    Target("pytorch", "small.pt data.pkl", _torch("pt"), _load_torch, zip_member("data.pkl")),
    Target("pytorch", "small.pt code", _torch("pt"), _load_torch, zip_member(CONV_CODE)),
    Target("pytorch", "small.pt debug table", _torch("pt"), _load_torch,
           zip_member(CONV_CODE + r"\.debug_pkl")),
    *FORMAT_TARGETS,
]


def targets(fmt: str) -> list[Target]:
    return [t for t in TARGETS if t.format == fmt]


def original(target: Target, d: Path) -> tuple[Path, Callable[[Path, bytes], None]]:
    """The bytes to mutate (a file named like the loaded file, so errors name it) and how to
    write a variant where the loader reads it."""
    main = target.fixture(d)
    companion = d / target.name.split(" ")[0]  # e.g. the .caffemodel beside the .prototxt
    if companion != main and companion.is_file():
        main = companion
    if target.part is None:
        return main, lambda path, blob: path.write_bytes(blob)
    source = d / "part" / main.name
    source.parent.mkdir()
    source.write_bytes(target.part.extract(main))
    return source, lambda path, blob: target.part.write(path, blob, main)


def fuzz_target(target: Target, n: int, seed: int, d: Path) -> tuple[Counter, list[str]]:
    """Write the fixture into `d`, load `n` variants from `d/variants`; the outcome counts
    (mutate.check_outcome's) and a description of every escape ("other")."""
    source, write = original(target, d)
    work = d / "variants"
    work.mkdir()
    path = work / source.name
    counts: Counter = Counter()
    escapes = []
    for desc, blob in variants(source.read_bytes(), n, seed):
        write(path, blob)
        try:
            counts[check_outcome(lambda p: target.load(p, d), path, desc)] += 1
        except AssertionError as e:
            counts["other"] += 1
            escapes.append(str(e))
    return counts, escapes
