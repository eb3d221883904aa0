"""The .npub blob: a loaded blob runs bit-identically to the plan it was built from; builds are
byte-identical; truncated, corrupted, tampered, wrong-version and wrong-target files are refused,
each with its own message naming the file."""

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import npucc
from npucc.api import compile as compile_model
from npucc.backends.npu.blob import graphs_of, write_blob
from npucc.backends.npu.blob_format import ENTRY, HEADER, SECTIONS, Limits, sha256
from npucc.backends.npu.blob_reader import read_blob
from npucc.backends.npu.partition import partition, partitions
from npucc.backends.simulator import compile_plan
from npucc.errors import BlobError, NpuccError
from npucc.ir import DType, parse
from npucc.ir.text import describe_difference, graphs_equal
from npucc.testing import graphs, random_inputs
from tests.fuzz.format_fixtures import forge_blob as forge

from .test_partition import HYBRID, NPU_WINS, partition_cases

REPO = Path(__file__).resolve().parents[3]
TF = REPO / "tests" / "fixtures" / "tf"
TARGET = "rk3588"


def _tflite(name):
    return lambda: compile_model(str(TF / name))


def _ir(text):
    return lambda: compile_model(parse(text, constants="random"), pipeline="")


def _ops(*ops):
    return lambda node: f"{node.op} is not on this NPU" if node.op in ops else ()


def _quantized(dtype, f32_op=None, **options):
    """The float MobileNetV2 fixture quantized by `quantize_model` (calibrated on four random
    inputs); with `f32_op`, the layer of that op stays in float32 (a hybrid graph)."""
    def build():
        from npucc.quantization import quantize_model

        graph = compile_model(str(TF / "mobilenet_v2_float.tflite")).graph
        layers = {sorted(n.provenance)[0]: "f32" for n in graph.nodes if n.op == f32_op}
        q = quantize_model(graph, [random_inputs(graph, seed) for seed in range(4)],
                           dtype=dtype, layer_dtypes=layers or None, progress=False, **options)
        return compile_model(q.graph, pipeline="")
    return build


def _f32_layers(node):
    """Float32 compute layers (not the boundary conversions) are not on this NPU."""
    conversion = node.op in ("QuantizeLinear", "DequantizeLinear")
    return () if conversion or node.outputs[0].type.quant is not None or \
        not node.outputs[0].dtype.is_float else f"f32 {node.op} is not on this NPU"


# (id, model builder, predicate): one line per numerics case
MODELS = [
    ("float", _tflite("mobilenet_v2_float.tflite"), _ops()),
    ("float-cpu-partition", _tflite("ops_zoo_float.tflite"), _ops("Softmax", "Concat")),
    ("tflite-int8-per-channel", _tflite("mobilenet_v2_int8.tflite"), _ops()),
    ("tflite-int8-float-io-cpu-partition", _tflite("small_int8_float_io.tflite"),
     _ops("ReduceMean")),
    ("hybrid-i8-npu-float-cpu", _ir(HYBRID), _ops("Softmax")),
    ("u8", _quantized("u8"), _ops()),
    ("i8-per-channel", _quantized("i8", per_channel=True), _ops()),
    ("dfp16", _quantized("dfp16"), _ops()),
    ("hybrid-u8-f32-gemm-cpu-partition", _quantized("u8", f32_op="Gemm"), _f32_layers),
]


def bits(arrays):
    return [(a.dtype, a.shape, a.tobytes()) for a in arrays]


@pytest.fixture(scope="module", params=MODELS, ids=[m[0] for m in MODELS])
def built(request, tmp_path_factory):
    _, build, supported = request.param
    model = build()
    path = tmp_path_factory.mktemp("blob") / "model.npub"
    npucc.write_blob(path, model, TARGET, supported=supported, cost=NPU_WINS)
    return model, path, supported, build


def test_round_trip_is_bit_identical(built):
    model, path, supported, _ = built
    loaded = npucc.load_blob(path, TARGET)
    assert loaded.target == TARGET and loaded.graph.name == model.graph.name
    parted = partition(model.graph, supported, cost=NPU_WINS)
    assert graphs_equal(loaded.graph, parted), describe_difference(loaded.graph, parted)
    assert any(n.op == "Partition" for n in loaded.graph.nodes)
    for seed in (0, 1):
        x = random_inputs(model.graph, seed)
        assert bits(loaded.run(x)) == bits(model.run(x))


def test_cpu_partitions_keep_their_reasons(built):
    model, path, supported, _ = built
    blob = read_blob(path)
    cpu_nodes = {n.outputs[0].name for n in model.graph.nodes if supported(n)}
    parts = partitions(blob.graph)
    on_cpu = [r for p in parts if p.device == "cpu" for r in p.reasons]
    assert len(on_cpu) >= len(cpu_nodes)
    for name in cpu_nodes:
        assert any(f"%{name}" in r and "is not on this NPU" in r for r in on_cpu), name


def test_two_builds_are_byte_identical(built, tmp_path):
    _, path, supported, build = built
    again = npucc.write_blob(tmp_path / "again.npub", build(), TARGET, supported=supported,
                             cost=NPU_WINS)
    assert again.read_bytes() == path.read_bytes()


def test_a_quantized_model_is_written_as_its_quantized_graph(tmp_path):
    """`npucc.write_blob` takes quantize_model's result; legalized for rk1808 (RKNPU1 runs u8),
    the whole u8 network (the input quantized before its layout Transpose) is one NPU partition,
    the final Softmax (kept float by a hybrid layer_dtypes entry) runs on the CPU, and the blob
    runs as the plan of the quantized graph."""
    from npucc.quantization import quantize_model

    graph = compile_model(str(TF / "mobilenet_v2_float.tflite")).graph
    softmax = next(n for n in graph.nodes if n.op == "Softmax").output.name
    q = quantize_model(graph, [random_inputs(graph, s) for s in range(2)], progress=False,
                       layer_dtypes={softmax: "f32"})
    path = npucc.write_blob(tmp_path / "q.npub", q, "rk1808")
    loaded = npucc.load_blob(path, "rk1808")
    parts = partitions(loaded.graph)
    assert [p.device for p in parts] == ["npu", "cpu"]
    assert parts[1].ops == {"Softmax": 1}
    assert loaded.blob.cost["target"] == "rk1808" and loaded.blob.cost["npu_time_us"] > 0
    x = random_inputs(graph, 5)
    assert bits(loaded.run(x)) == bits(compile_plan(q.graph).run(x))


def test_builds_in_other_processes_are_byte_identical(tmp_path):
    """Another process (another str hash seed: set and dict orders differ) builds the same bytes."""
    script = (
        "import sys, npucc\n"
        f"m = npucc.compile({str(TF / 'small_int8_float_io.tflite')!r})\n"
        "npucc.write_blob(sys.argv[1], m, 'rk3588', supported=lambda n: "
        "'no' if n.op == 'ReduceMean' else ())\n")
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"b{seed}.npub"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=partition_cases(graphs(max_nodes=10, dtypes=("f32", "f16", "i32", "u8"),
                                   layout=None)), seed=st.integers(0, 2 ** 16))
def test_drawn_graphs_round_trip_through_a_blob(tmp_path, case, seed):
    """Any drawn graph (every dtype, NaN and signed-zero payloads, splats) partitioned by a
    drawn predicate comes back equal and runs to the same bits as the plan of the original."""
    graph, cpu, cost = case
    path = write_blob(tmp_path / "d.npub", graph, TARGET, supported=dict.fromkeys(cpu, "drawn"),
                      cost=cost)
    blob = read_blob(path, TARGET)
    parted = partition(graph, dict.fromkeys(cpu, "drawn"), cost=cost, target=TARGET)
    assert graphs_equal(blob.graph, parted), describe_difference(blob.graph, parted)
    x = random_inputs(graph, seed)
    assert bits(compile_plan(blob.graph).run(x)) == bits(compile_plan(graph).run(x))


# ---- refusals ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small blob with a CPU partition, weights and quantization."""
    model = _ir(HYBRID.replace("%soft = Softmax(%d) {axis=1}", """%w = const f32[4,4,1,1] elided
  %cv = Conv(%d, %w)
  %soft = Softmax(%cv) {axis=1}"""))()
    path = tmp_path_factory.mktemp("small") / "small.npub"
    write_blob(path, model.graph, TARGET, supported=_ops("Softmax"), cost=NPU_WINS)
    return path.read_bytes()


def entries(data):
    return [ENTRY.unpack_from(data, HEADER.size + k * ENTRY.size) for k in range(len(SECTIONS))]


def reseal(data, sections=()):
    """Recompute the SHA-256 of the named sections in the table, then the trailer."""
    out = bytearray(data)
    for k, (name, off, n, _) in enumerate(entries(data)):
        if name.rstrip(b"\0").decode() in sections:
            ENTRY.pack_into(out, HEADER.size + k * ENTRY.size, name, off, n,
                            sha256(bytes(out[off:off + n])))
    out[-32:] = sha256(bytes(out[:-32]))
    return bytes(out)


def section(data, name):
    for raw, off, n, _ in entries(data):
        if raw.rstrip(b"\0").decode() == name:
            return off, n
    raise KeyError(name)


def refused(tmp_path, data, match, **kw):
    path = tmp_path / "bad.npub"
    path.write_bytes(data)
    with pytest.raises(BlobError, match=match) as e:
        read_blob(path, **kw)
    assert str(e.value).startswith(f"{path}: ")
    return str(e.value)


def test_small_blob_loads(small, tmp_path):
    path = tmp_path / "ok.npub"
    path.write_bytes(small)
    assert [p.device for p in partitions(read_blob(path, TARGET).graph)] == ["npu", "cpu", "npu"]


def test_truncated(small, tmp_path):
    refused(tmp_path, small[:-100], f"truncated: the header says {len(small)} bytes, the file "
                                    f"has {len(small) - 100}")
    refused(tmp_path, small[:50], "truncated: 50 bytes, a blob has at least 128")
    refused(tmp_path, small + b"\0", "trailing bytes after the blob")


def test_bit_flipped(small, tmp_path):
    off, n = section(small, "weights")
    data = bytearray(small)
    data[off + n // 2] ^= 0x10
    refused(tmp_path, bytes(data), "checksum mismatch: the file is corrupted")


def test_tampered_sections_and_header_with_a_fixed_checksum(small, tmp_path):
    off, n = section(small, "weights")
    data = bytearray(small)
    data[off] ^= 1
    refused(tmp_path, reseal(bytes(data)), "section weights is corrupted")
    # the target name changed in the header only: the manifest disagrees
    head = bytearray(small)
    head[64:96] = b"rk1808".ljust(32, b"\0")
    refused(tmp_path, reseal(bytes(head)), r"disagrees with the header \(.*target 'rk1808'")
    # a section made longer (its bytes and table hash consistent): the layout is not canonical
    k = SECTIONS.index("io")
    name, off, n, digest = entries(small)[k]
    longer = bytearray(small)
    ENTRY.pack_into(longer, HEADER.size + k * ENTRY.size, name, off, n + 64, digest)
    refused(tmp_path, reseal(bytes(longer), ("io",)), "section offsets or lengths do not fit")
    reserved = bytearray(small)
    struct.pack_into("<I", reserved, 28, 7)
    refused(tmp_path, reseal(bytes(reserved)), "reserved header field is 7")
    count = bytearray(small)
    struct.pack_into("<I", count, 24, 1000)
    refused(tmp_path, reseal(bytes(count)), "header lists 1000 sections")


def test_wrong_version(small, tmp_path):
    data = bytearray(small)
    struct.pack_into("<I", data, 8, 2)
    refused(tmp_path, reseal(bytes(data)), "blob format version 2; this npucc "
                                           r"\(format version 1\) cannot read it")


def test_wrong_target(small, tmp_path):
    refused(tmp_path, small, "built for target rk3588, not rk1808", target="rk1808")


def test_not_a_blob_and_over_the_limit(small, tmp_path):
    refused(tmp_path, b"graph g() -> () {\n  return\n}\n".ljust(200, b" "), "not an npucc blob")
    refused(tmp_path, small, "over the limit of 1000 bytes", limits=Limits(max_file_bytes=1000))


def test_forged_descriptors_are_bounds_checked_before_any_allocation(small, tmp_path):
    off, n = section(small, "tensors")
    descs = json.loads(small[off:off + n])
    canon = dict(sort_keys=True, separators=(",", ":"))
    huge = [dict(descs[0], shape=[1 << 40, 1 << 20], nbytes=(1 << 60) * 4)] + descs[1:]
    refused(tmp_path, forge(small, "tensors", json.dumps(huge, **canon).encode()),
            "layout, size or offset is wrong or out of bounds")
    shifted = [dict(descs[0], offset=descs[0]["offset"] + 64)] + descs[1:]
    refused(tmp_path, forge(small, "tensors", json.dumps(shifted, **canon).encode()),
            "layout, size or offset is wrong")
    refused(tmp_path, forge(small, "tensors", b"[" * 100000 + b"]" * 100000), "not valid JSON")
    refused(tmp_path, forge(small, "tensors", b"{}"), "holds a dict, expected a list")


def test_forged_program_and_tables_are_checked_against_each_other(small, tmp_path):
    off, n = section(small, "program")
    program = small[off:off + n]
    refused(tmp_path, forge(small, "program", program.replace(b"Relu", b"Reluu")),
            "bad program: .*:program:.*unknown op 'Reluu'")
    wrong_digest = program.replace(b"elided<sha256:", b"elided<sha256:0")
    refused(tmp_path, forge(small, "program", wrong_digest), "does not match its recorded sha256")
    off, n = section(small, "quant")
    rows = json.loads(small[off:off + n])
    rows[0]["zero_point"] = [4]
    refused(tmp_path, forge(small, "quant", json.dumps(rows, sort_keys=True,
                                                       separators=(",", ":")).encode()),
            "the quant table does not match the program")
    refused(tmp_path, forge(small, "io", b'{"inputs":[],"outputs":[]}'),
            "io section does not list the program's inputs and outputs")


def test_a_program_the_simulator_refuses_names_the_file(tmp_path):
    """A forged program that passes the reader's checks (a QuantizeLinear whose scale attribute
    is one ulp off its output type's) fails compiling the plan: a BlobError naming the file."""
    from tests.fuzz.format_fixtures import _sections, blob_fixture, forge_blob

    data = blob_fixture(tmp_path).read_bytes()
    program = _sections(data)["program"]
    scale = program.split(b"QuantizeLinear(%x) {scale=[", 1)[1].split(b"]", 1)[0]
    other = repr(float(np.nextafter(float(scale), 2.0))).encode()
    path = tmp_path / "forged.npub"
    path.write_bytes(forge_blob(data, "program", program.replace(
        b"QuantizeLinear(%x) {scale=[" + scale, b"QuantizeLinear(%x) {scale=[" + other, 1)))
    with pytest.raises(BlobError, match=f"{path}: the program does not compile: "):
        npucc.load_blob(path)


CORRUPTIONS = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 7)),
                                        min_size=1, max_size=4)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 30)),
    st.tuples(st.just("overwrite"), st.integers(0, 1 << 30), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 30), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 30), st.integers(1, 64)),
)


def corrupt(data: bytes, how) -> bytes:
    out = bytearray(data)
    kind, *args = how
    if kind == "flip":
        for pos, bit in args[0]:
            out[pos % len(out)] ^= 1 << bit
    elif kind == "truncate":
        del out[args[0] % len(out):]
    elif kind == "overwrite":
        pos = args[0] % len(out)
        out[pos:pos + len(args[1])] = args[1]
    elif kind == "insert":
        pos = args[0] % (len(out) + 1)
        out[pos:pos] = args[1]
    else:
        pos = args[0] % len(out)
        del out[pos:pos + args[1]]
    return bytes(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(how=CORRUPTIONS, fix_checksum=st.booleans())
def test_no_corruption_is_accepted(small, tmp_path, how, fix_checksum):
    """Any change to the bytes (with or without the trailing checksum recomputed) is refused with
    an npucc error naming the file; nothing else escapes, and no changed file loads."""
    data = corrupt(small, how)
    if fix_checksum and len(data) >= 32:
        data = data[:-32] + sha256(data[:-32])
    assume(data != small)
    path = tmp_path / "corrupt.npub"
    path.write_bytes(data)
    with pytest.raises(NpuccError) as e:
        read_blob(path)
    assert isinstance(e.value, BlobError) and str(e.value).startswith(f"{path}: ")


# ---- writing ----------------------------------------------------------------------------------

def test_write_is_atomic_and_leaves_no_temporary_file(small, tmp_path):
    path = tmp_path / "m.npub"
    path.write_bytes(small)
    graph = read_blob(path).graph
    with pytest.raises(BlobError, match="a target name is 1 to 32 ASCII characters"):
        write_blob(path, graph, "x" * 40)
    assert path.read_bytes() == small and sorted(os.listdir(tmp_path)) == ["m.npub"]


def test_cost_report_and_io_descriptors(tmp_path):
    from npucc.passes import Preprocess

    model = compile_model(str(TF / "mobilenet_v2_float.tflite"), input_layout="NCHW",
                          preprocess={"xs_0": Preprocess(mean=(1, 2, 3), std=(4.0,))})
    path = npucc.write_blob(tmp_path / "m.npub", model, TARGET, supported=_ops(),
                            cost_report={"total_time_us": 12.5, "fps": 80000.0})
    blob = read_blob(path, TARGET)
    assert blob.cost == {"total_time_us": 12.5, "fps": 80000.0}
    (inp,) = blob.io["inputs"]
    assert inp["name"] == "xs_0" and inp["shape"] == [1, 3, 96, 96] and inp["layout"] == "NCHW"
    assert inp["preprocess"] == {"mean": [1.0, 2.0, 3.0], "std": [4.0], "reorder": None}
    (out,) = blob.io["outputs"]
    assert out["dtype"] == "f32" and out["quant"] is None and out["layout"] is None
    int8 = read_blob(npucc.write_blob(tmp_path / "q.npub", _tflite("small_int8_float_io.tflite")(),
                                      TARGET, supported=_ops()))
    assert int8.io["inputs"][0]["quant"] is None  # float IO: the Quantize is inside the model
    assert int8.io["outputs"][0]["dtype"] == "f32"
    assert int8.quant and all(row["scheme"] == "affine" for row in int8.quant)
    x = random_inputs(model.graph, 0)
    assert bits(npucc.load_blob(path).run(x)) == bits(model.run(x))


def test_weights_are_aligned_and_little_endian(small, tmp_path):
    off, n = section(small, "tensors")
    descs = json.loads(small[off:off + n])
    w_off, _ = section(small, "weights")
    assert w_off % 64 == 0 and descs
    for d in descs:
        assert d["offset"] % 64 == 0
        raw = small[w_off + d["offset"]:w_off + d["offset"] + d["nbytes"]]
        arr = np.frombuffer(raw, DType(d["dtype"]).numpy.newbyteorder("<"))
        assert arr.size == int(np.prod(d["shape"]))
    (tmp_path / "x.npub").write_bytes(small)
    graph = read_blob(tmp_path / "x.npub").graph
    const = {c.name: c.const for _, g in graphs_of(graph) for c in g.constants}
    for d in descs:
        raw = small[w_off + d["offset"]:w_off + d["offset"] + d["nbytes"]]
        assert raw == const[d["name"]].astype(const[d["name"]].dtype.newbyteorder("<")).tobytes()
