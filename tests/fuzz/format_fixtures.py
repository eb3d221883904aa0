"""Fixtures and loaders of npucc's own file formats for the fuzz rows of tests/fuzz/targets.py:
the .npub blob (whole file, and one section at a time with every checksum recomputed), the IR
text form, the `npucc build` config, the hybrid quantization YAML, RKNN dataset.txt files and the
.npy / image files they name (also as `npucc run` inputs), saved calibration statistics, and user
target files.

Every fixture writes into the folder it is given (the fixture folder `d`); a variant is written
to `d/variants/<same name>`, so a dataset.txt naming `../s0.npy` finds the sample in `d` both as
the original (in `d/calib/`) and as a variant.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

# A small float CNN: Conv+Relu, MaxPool, a residual Add, Softmax (the CPU partition of the blob)
SMALL_IR = """graph small(%x: f32[1,3,8,8]) -> (%y) {
  %w = const f32[4,3,3,3] elided
  %b = const f32[4] elided
  %c = Conv(%x, %w, %b) {pads=[1, 1, 1, 1]}
  %r = Relu(%c)
  %p = MaxPool(%r) {kernel_shape=[2, 2], strides=[2, 2]}
  %w2 = const f32[4,4,1,1] elided
  %c2 = Conv(%p, %w2)
  %a = Add(%p, %c2)
  %y = Softmax(%a) {axis=1}
  return %y
}
"""
INPUT_SHAPE = (1, 3, 8, 8)


@functools.lru_cache(maxsize=1)
def small_graph():
    """The float graph of SMALL_IR (random weights, seeded by name); callers must not mutate it."""
    from npucc.ir import parse

    return parse(SMALL_IR, constants="random")


def fresh_graph():
    from npucc.ir import parse

    return parse(SMALL_IR, constants="random")


def samples(n: int = 4, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 255, INPUT_SHAPE).astype(np.float32) for _ in range(n)]


@functools.lru_cache(maxsize=1)
def quantized():
    from npucc.quantization import quantize_model

    return quantize_model(fresh_graph(), samples(), dtype="u8", progress=False,
                          bias_correction=False)


def billion_laughs(levels: int = 9) -> str:
    """A YAML flow list of anchors `a`, `b`... each a list of ten aliases of the one before: it
    expands to over 10**levels elements (PyYAML loads it as shared references)."""
    names = [chr(ord("a") + i) for i in range(levels + 1)]
    items = ["&a [" + ", ".join(["x"] * 10) + "]"]
    items += [f"&{n} [" + ", ".join([f"*{p}"] * 10) + "]" for p, n in zip(names, names[1:])]
    return "[" + ", ".join(items) + "]"


# ---- .npub ------------------------------------------------------------------------------------

def blob_fixture(d: Path) -> Path:
    from npucc.api import compile as compile_model
    from npucc.backends.npu.blob import write_blob

    model = compile_model(quantized().graph, pipeline="")
    path = d / "small.npub"
    write_blob(path, model.graph, "rk3588",
               supported=lambda n: "Softmax runs on the CPU here" if n.op == "Softmax" else ())
    return path


def load_blob(p: Path, d: Path | None = None):
    import npucc

    return npucc.load_blob(p)


def _sections(data: bytes) -> dict[str, bytes]:
    from npucc.backends.npu.blob_format import ENTRY, HEADER, SECTIONS

    out = {}
    for k, name in enumerate(SECTIONS):
        _, off, n, _ = ENTRY.unpack_from(data, HEADER.size + k * ENTRY.size)
        out[name] = data[off:off + n]
    return out


def forge_blob(data: bytes, name: str, new: bytes) -> bytes:
    """`data` with section `name` replaced by `new`, the layout kept canonical and every
    checksum recomputed: a blob only the reader's bounds and consistency checks can refuse."""
    import struct

    from npucc.backends.npu.blob_format import ENTRY, HEADER, SECTIONS, layout, sha256

    parts = {**_sections(data), name: new}
    _, offsets, total = layout([len(parts[s]) for s in SECTIONS])
    out = bytearray(total)
    out[:HEADER.size] = data[:HEADER.size]
    struct.pack_into("<Q", out, 16, total)
    for k, (s, off) in enumerate(zip(SECTIONS, offsets)):
        ENTRY.pack_into(out, HEADER.size + k * ENTRY.size, s.encode(), off, len(parts[s]),
                        sha256(parts[s]))
        out[off:off + len(parts[s])] = parts[s]
    out[-32:] = sha256(bytes(out[:-32]))
    return bytes(out)


def blob_section(name: str):
    """A Part (tests/fuzz/targets.py): mutate one section of the blob, checksums recomputed."""
    from tests.fuzz.targets import Part

    return Part(lambda main: _sections(main.read_bytes())[name],
                lambda path, blob, main: path.write_bytes(forge_blob(main.read_bytes(), name,
                                                                     blob)))


# ---- IR text ----------------------------------------------------------------------------------

def ir_fixture(quant: bool):
    def write(d: Path) -> Path:
        from npucc.ir.text import format_graph

        graph = quantized().graph if quant else small_graph()
        path = d / ("quantized.npuir" if quant else "small.npuir")
        path.write_text(format_graph(graph, max_inline=None))
        return path
    return write


def load_ir(p: Path, d: Path | None = None):
    """What `npucc compile FILE.npuir` does first: read, parse, verify."""
    from npucc.cli.common import load_ir as read
    from npucc.ir.verify import verify

    graph = read(str(p))
    verify(graph)
    return graph


# ---- npucc build config -----------------------------------------------------------------------

BUILD_YAML = """\
model_parameters:
  onnx_model: ../small.onnx
  input_shapes: {x: [1, 3, 8, 8]}
  outputs: [y]
  working_dir: ../build
  output_model_file_prefix: small
input_parameters:
  input_layout_rt: NCHW
  mean_value: [123.675, 116.28, 103.53]
  std_value: [58.395, 57.12, 57.375]
  reorder_channel: [2, 1, 0]
calibration_parameters:
  cal_data_dir: ../calib/dataset.txt
  calibration_type: normal
  quantized_dtype: u8
  per_channel: false
  rgb2bgr: false
  hybrid_config: ../small.hybrid.yaml
  max_samples: 2
compiler_parameters:
  target: rk1808
  report: false
  analysis_samples: 1
"""


def build_fixture(d: Path) -> Path:
    from tests.fuzz.targets import small_onnx_model

    dataset_fixture(d)
    hybrid_fixture(d)
    (d / "small.onnx").write_bytes(small_onnx_model().SerializeToString())
    (d / "cfg").mkdir(exist_ok=True)
    (d / "cfg" / "build.yaml").write_text(BUILD_YAML)  # paths ../x: the same from d/variants
    return d / "cfg" / "build.yaml"


def load_build_config(p: Path, d: Path):
    from npucc.cli.build_config import load_build_config as load

    return load(p)


# ---- hybrid quantization YAML -----------------------------------------------------------------

def hybrid_fixture(d: Path) -> Path:
    from npucc.quantization.hybrid import write_hybrid_config

    path = d / "small.hybrid.yaml"
    write_hybrid_config(path, quantized())
    text = path.read_text().replace("custom_quantize_layers: {}",
                                    "custom_quantize_layers: {'@c:out0': dfp16, r: int16}")
    path.write_text(text)
    return path


def load_hybrid(p: Path, d: Path | None = None):
    from npucc.quantization.hybrid import read_hybrid_config

    return read_hybrid_config(p, small_graph())


# ---- dataset.txt, .npy samples, images --------------------------------------------------------

def dataset_fixture(d: Path) -> Path:
    from PIL import Image

    xs = samples(3)
    np.save(d / "s0.npy", xs[0])
    np.save(d / "s1.npy", np.asfortranarray(xs[1][0]).astype(">f4"))  # no batch axis, Fortran
    Image.fromarray(xs[2][0].transpose(1, 2, 0).astype(np.uint8)).save(d / "s2.png")
    (d / "calib").mkdir(exist_ok=True)
    (d / "calib" / "dataset.txt").write_text("# three samples\n../s0.npy\n\n../s1.npy\n"
                                             "../s2.png\n")
    return d / "calib" / "dataset.txt"


def load_dataset(p: Path, d: Path | None = None):
    """Every sample of a dataset (a dataset.txt, or one .npy / image file) for small_graph."""
    from npucc.quantization.dataset import Dataset

    return list(Dataset(p).samples(small_graph()))


def load_run_input(p: Path, d: Path | None = None):
    """`npucc run MODEL --input FILE`'s reader."""
    from npucc.cli.model import _read_input_file

    return _read_input_file(str(p), small_graph(), "x")


# ---- calibration statistics -------------------------------------------------------------------

def stats_fixture(d: Path) -> Path:
    from npucc.quantization.calibrate import calibrate

    npz, _ = calibrate(fresh_graph(), samples(), progress=False).save(d / "stats")
    return npz


def load_stats(p: Path, d: Path):
    """CalibrationStats.load of a pair where `p` is the mutated member: a mutated .json gets the
    original .npz beside it; a mutated .npz gets the original .json with its sha256 updated (so
    the variant reaches the npz reader instead of the mismatch check)."""
    from npucc.quantization.calibration_stats import CalibrationStats

    npz = p.with_suffix(".npz")
    if p.suffix == ".json":
        shutil.copyfile(d / "stats.npz", npz)
    else:
        meta = json.loads((d / "stats.json").read_text())
        meta["npz_sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
        p.with_suffix(".json").write_text(json.dumps(meta, indent=1))
    return CalibrationStats.load(npz)


# ---- user target files ------------------------------------------------------------------------

def target_fixture(extends: bool):
    """A user target file: one that extends a shipped target and overrides a few keys, or a
    standalone copy of rk3588 with every key (flow-style YAML, so mutations hit structure)."""
    def write(d: Path) -> Path:
        import yaml

        from npucc.targets.target import _merged, _shipped_dir

        if extends:
            path = d / "mynpu.yaml"
            path.write_text("extends: rk3588\nname: mynpu\nclock_mhz: 800\ncores: 2\n"
                            "constraints:\n  stride_range: {max: 4}\n  pad_mode: {modes: "
                            "[constant, reflect]}\ncost: {mac_efficiency: 0.5}\n"
                            "pool_fusion:\n- {kernel: 2, stride: 2, parity: even, "
                            "excluded_sizes: [7], max_width: {8: 64, 16: 32}}\n")
            return path
        data, _ = _merged(str(_shipped_dir() / "rk3588.yaml"))
        path = d / "standalone.yaml"
        path.write_text(yaml.safe_dump(data, default_flow_style=True, width=100))
        return path
    return write


def load_target(p: Path, d: Path | None = None):
    """Read the target file (uncached) and check a small graph against it, as a build does."""
    from npucc.targets import target as targets
    from npucc.targets.legalize import legalize

    t = targets._load(str(p.resolve()))
    return legalize(quantized().graph, t)
