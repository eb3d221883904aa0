"""Hostile PyTorch files (issue 9): npucc never unpickles from a model file, never lets torch turn
a file's strings into code, checks every tensor's bytes before torch reads them, and survives a
TorchScript file that crashes torch.

Where the hazard is torch's own behaviour, the test shows it first with torch (the payloads only
write a marker file in the test's temporary folder), then shows npucc refusing the same file.
"""

import ctypes
import json
import pickle
import pickletools
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import npucc
from npucc.errors import FrontendError
from npucc.frontends import pytorch_script
from npucc.ir import run_graph

SHAPE = (1, 3, 8, 8)
SRC = Path(__file__).resolve().parents[3] / "src"


class _Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class _Payload:
    """Unpickling this runs python code that writes `marker`."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return _Small().eval(), torch.rand(*SHAPE)


@pytest.fixture(scope="module")
def pt2(model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pt2") / "small.pt2"
    torch.export.save(torch.export.export(model[0], (model[1],)), path)
    return path


@pytest.fixture(scope="module")
def pt(model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pt") / "small.pt"
    torch.jit.trace(model[0], (model[1],)).save(str(path))
    return path


def _rewrite(src: Path, dst: Path, changes: dict) -> Path:
    """Copy a zip archive, replacing members (by name below the root folder): a value is the new
    bytes, a function of the old bytes, or None to drop the member."""
    zin = zipfile.ZipFile(src)
    with zipfile.ZipFile(dst, "w") as out:
        for info in zin.infolist():
            member = info.filename.split("/", 1)[1]
            data = zin.read(info)
            if member in changes:
                change = changes[member]
                data = change(data) if callable(change) else change
            if data is not None:
                out.writestr(info.filename, data)
    return dst


def _json_edit(fn):
    def edit(data: bytes) -> bytes:
        obj = json.loads(data)
        fn(obj)
        return json.dumps(obj).encode()
    return edit


def _torch_export_load(path: Path):
    try:
        return torch.export.load(path)
    except Exception:  # noqa: BLE001 - torch fails after running the payload; that is the point
        return None


# ---- .pt2: pickle ----
def test_pickled_weight_payload_is_refused(pt2, tmp_path):
    """The pickle proof: weights config says use_pickle, the payload writes a file."""
    marker = tmp_path / "marker"

    def pickled(cfg):
        cfg["config"]["conv.weight"]["use_pickle"] = True
    hostile = _rewrite(pt2, tmp_path / "hostile.pt2", {
        "data/weights/model_weights_config.json": _json_edit(pickled),
        "data/weights/weight_0": pickle.dumps(_Payload(marker), protocol=2)})
    _torch_export_load(hostile)
    assert marker.exists(), "torch.export.load runs the payload"
    marker.unlink()
    with pytest.raises(FrontendError, match=r"hostile\.pt2: .*'conv\.weight' is stored as a "
                                            r"pickled object; npucc never unpickles"):
        npucc.load(hostile)
    assert not marker.exists()


def test_pickled_constant_object_is_refused(pt2, tmp_path):
    marker = tmp_path / "marker"
    hostile = _rewrite(pt2, tmp_path / "hostile.pt2", {
        "data/constants/model_constants_config.json": json.dumps({"config": {"obj": {
            "path_name": "opaque_obj_0", "is_param": False, "use_pickle": True,
            "tensor_meta": None}}}).encode()})
    with zipfile.ZipFile(hostile, "a") as z:
        root = z.namelist()[0].split("/")[0]
        z.writestr(f"{root}/data/constants/opaque_obj_0", pickle.dumps(_Payload(marker)))
    _torch_export_load(hostile)
    assert marker.exists(), "torch.export.load unpickles opaque constants"
    marker.unlink()
    with pytest.raises(FrontendError, match=r"hostile\.pt2: .*'obj' is stored as a pickled"):
        npucc.load(hostile)
    assert not marker.exists()


def test_sample_inputs_are_never_read(model, pt2, tmp_path):
    """torch.export.load unpickles sample inputs (falling back to unrestricted unpickling);
    npucc does not read them, so the model loads and the payload never runs."""
    marker = tmp_path / "marker"
    hostile = _rewrite(pt2, tmp_path / "hostile.pt2", {
        "data/sample_inputs/model.pt": pickle.dumps(_Payload(marker), protocol=2)})
    _torch_export_load(hostile)
    assert marker.exists()
    marker.unlink()
    (ours,) = run_graph(npucc.load(hostile), [model[1].numpy()])
    with torch.no_grad():
        np.testing.assert_allclose(ours, model[0](model[1]).numpy(), rtol=1e-5, atol=1e-6)
    assert not marker.exists()


def test_legacy_pickled_format_is_refused(pt2, tmp_path):
    old = _rewrite(pt2, tmp_path / "old.pt2", {"archive_format": None})
    with pytest.raises(FrontendError, match=r"old\.pt2: an old-format \.pt2 .*pickled"):
        npucc.load(old)


# ---- .pt2: strings torch turns into code ----
def test_symbolic_size_code_is_refused(pt2, tmp_path):
    """torch's deserializer hands symbolic sizes to sympy.sympify, which evaluates them."""
    marker = tmp_path / "marker"

    def inject(program):
        sizes = program["graph_module"]["graph"]["tensor_values"]["x"]["sizes"]
        sizes[0] = {"as_expr": {"expr_str": f"__import__('os').system('touch {marker}')",
                                "hint": {"as_int": 1}}}
    hostile = _rewrite(pt2, tmp_path / "hostile.pt2", {"models/model.json": _json_edit(inject)})
    _torch_export_load(hostile)
    assert marker.exists(), "torch.export.load evaluates the expression"
    marker.unlink()
    with pytest.raises(FrontendError, match=r"hostile\.pt2: symbolic size .* is not size "
                                            r"arithmetic"):
        npucc.load(hostile)
    assert not marker.exists()


@pytest.mark.parametrize("field, value, message", [
    ("target", "torch.os.system", r"node target 'torch\.os\.system' is not a registered"),
    ("name", "x = __import__('os')", r"name .* is not an identifier"),
])
def test_program_strings_that_would_be_code_are_refused(pt2, tmp_path, field, value, message):
    def edit(program):
        program["graph_module"]["graph"]["nodes"][0][field] = value
    hostile = _rewrite(pt2, tmp_path / "hostile.pt2", {"models/model.json": _json_edit(edit)})
    with pytest.raises(FrontendError, match=r"hostile\.pt2: " + message):
        npucc.load(hostile)


# ---- .pt2: tensor bytes ----
def test_empty_weight_payload_is_refused(pt2, tmp_path):
    """torch.export.load turns an empty weight file into zeros."""
    empty = _rewrite(pt2, tmp_path / "empty.pt2", {"data/weights/weight_0": b""})
    ep = torch.export.load(empty)
    assert not ep.state_dict["conv.weight"].any()
    with pytest.raises(FrontendError, match=r"empty\.pt2: .*'conv\.weight': payload "
                                            r"data/weights/weight_0 holds 0 bytes.*needs 432"):
        npucc.load(empty)


def test_short_weight_payload_is_refused(pt2, tmp_path):
    short = _rewrite(pt2, tmp_path / "short.pt2", {"data/weights/weight_0": lambda d: d[:200]})
    with pytest.raises(FrontendError, match=r"short\.pt2: .*holds 200 bytes.*needs 432"):
        npucc.load(short)


def test_weight_view_past_its_payload_is_refused(pt2, tmp_path):
    def offset(cfg):
        cfg["config"]["conv.weight"]["tensor_meta"]["storage_offset"] = {"as_int": 5}
    bad = _rewrite(pt2, tmp_path / "bad.pt2", {
        "data/weights/model_weights_config.json": _json_edit(offset)})
    with pytest.raises(FrontendError, match=r"bad\.pt2: .*holds 432 bytes.*offset 5\) needs 452"):
        npucc.load(bad)


def test_zip_member_holding_less_than_it_declares_is_refused(pt2, tmp_path):
    """The central directory keeps weight_0's size but says 0 stored bytes with CRC 0 (the CRC
    of nothing): reading it yields no bytes and no CRC error."""
    data = bytearray(pt2.read_bytes())
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46:pos + 46 + name_len].endswith(b"data/weights/weight_0"):
            struct.pack_into("<II", data, pos + 16, 0, 0)  # CRC-32, compressed size
        pos = data.find(b"PK\x01\x02", pos + 4)
    bad = tmp_path / "bad.pt2"
    bad.write_bytes(bytes(data))
    with pytest.raises(FrontendError, match=r"bad\.pt2: not a readable \.pt2 ExportedProgram: "
                                            r"member .*weight_0 declares 432 bytes but holds 0"):
        npucc.load(bad)


# ---- TorchScript ----
def _storage_of(pt: Path, name: str) -> str:
    """The data/ record of a TorchScript parameter, found through its traced code order."""
    state = torch.jit.load(str(pt)).state_dict()
    sizes = {k: v.numel() * 4 for k, v in state.items()}
    z = zipfile.ZipFile(pt)
    records = {i.filename.split("/", 1)[1]: i.file_size for i in z.infolist()}
    (record,) = [r for r, n in records.items() if r.startswith("data/") and n == sizes[name]]
    return record


@pytest.mark.parametrize("keep", [0, 0.5])
def test_truncated_torchscript_storage_is_refused(pt, tmp_path, keep):
    """torch.jit.load crashes on an empty storage record and reads heap bytes as weights from a
    half one (see test_truncated_storage_crashes_torch)."""
    record = _storage_of(pt, "conv.weight")
    bad = _rewrite(pt, tmp_path / "bad.pt", {record: lambda d: d[:int(len(d) * keep)]})
    with pytest.raises(FrontendError, match=rf"bad\.pt: .*storage {record} \(FloatStorage, 108 "
                                            r"elements\) needs 432 bytes"):
        npucc.load(bad, input_shapes=[SHAPE])


@pytest.mark.slow
def test_truncated_storage_crashes_torch(pt, tmp_path):
    record = _storage_of(pt, "conv.weight")
    bad = _rewrite(pt, tmp_path / "bad.pt", {record: b""})
    script = f"import torch; print(torch.jit.load({str(bad)!r}).state_dict()['conv.weight'])"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert run.returncode == -11  # SIGSEGV


def _set_storage_numel(data: bytes, key: str, numel: int) -> bytes:
    """data.pkl with storage `key` declaring `numel` elements (the one-byte BININT1 that ends
    its persistent id)."""
    ops = list(pickletools.genops(data))
    for i, (op, arg, _) in enumerate(ops):
        if op.name == "BINUNICODE" and arg == key and ops[i - 2][1] == "torch FloatStorage":
            (pos,) = [p for o, _, p in ops[i:i + 6] if o.name == "BININT1"][:1]
            out = bytearray(data)
            out[pos + 1] = numel
            return bytes(out)
    raise AssertionError(f"no storage {key}")


def test_torchscript_tensor_past_its_storage_is_refused(pt, tmp_path):
    """Storage and record agree (50 floats), but the tensor view reads 108 of them."""
    record = _storage_of(pt, "conv.weight")
    key = record.split("/")[1]
    bad = _rewrite(pt, tmp_path / "bad.pt", {
        "data.pkl": lambda d: _set_storage_numel(d, key, 50), record: lambda d: d[:200]})
    with pytest.raises(FrontendError, match=r"bad\.pt: .*sizes \[4, 3, 3, 3\].*reaches past its "
                                            rf"storage {record} of 50 elements"):
        npucc.load(bad, input_shapes=[SHAPE])


def _crash(*args):
    ctypes.string_at(0)  # SIGSEGV


def test_a_crash_while_reading_torchscript_ends_only_the_child(pt, monkeypatch):
    """torch's TorchScript reader can crash on a corrupt file (e.g. an out-of-range index in a
    debug table, found by tests/fuzz; whether it crashes depends on memory layout): here the
    child's work is replaced by a certain SIGSEGV."""
    monkeypatch.setattr(pytorch_script, "_to_program", _crash)
    with pytest.raises(FrontendError, match=r"small\.pt: torch crashed reading this TorchScript "
                                            r"file \(signal 11\)"):
        npucc.load(pt, input_shapes=[SHAPE])
    monkeypatch.undo()
    (ours,) = run_graph(npucc.load(pt, input_shapes=[SHAPE]), [np.ones(SHAPE, np.float32)])
    assert ours.shape == (1, 2)


def test_src_never_unpickles():
    """The rule the repository's hooks enforce, kept as a test."""
    banned = ("pickle.load", "torch.load(", "weights_only=False", "allow_pickle=True")
    hits = [f"{p.relative_to(SRC)}: {b}" for p in SRC.rglob("*.py") for b in banned
            if b in p.read_text()]
    assert not hits
