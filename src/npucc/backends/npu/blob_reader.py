"""Reading and checking an `.npub` blob (see blob_format.py for the layout).

    blob = read_blob("model.npub", target="rk3588")   # Blob: header fields, graph, io, cost...

Checked, in order, before anything is trusted: the file size against the limit and the header;
magic; format version; header size, file size and section count; the SHA-256 over the file; the
section table (names, the canonical offsets, lengths, each section's SHA-256, zero padding); the
target (a mismatch names both); then each section: JSON shapes and types, every tensor descriptor
(dtype, shape, bytes, alignment, bounds, no overlap, SHA-256), the program (parsed with the
weights, verified), the quant table and IO descriptors against the program, and the size of every
tensor. Every problem raises BlobError naming the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import attrs
import numpy as np

from ...errors import BlobError, NpuccError
from ...ir.graph import Graph
from ...ir.text import parse
from ...ir.types import DType
from ...ir.verify import verification_problems
from .blob import graphs_of, io_table, quant_table, target_name
from .blob_format import (
    DIGEST_BYTES,
    ENTRY,
    FORMAT_VERSION,
    HEADER,
    MAGIC,
    SECTIONS,
    Limits,
    align,
    encode_json,
    header_bytes,
    layout,
    sha256,
)


@attrs.frozen
class Section:
    name: str
    offset: int
    length: int
    sha256: str


@attrs.frozen(eq=False)
class Blob:
    """A checked blob: header fields, the program graph (partitioned), and the descriptors."""

    path: str
    format_version: int
    npucc_version: str
    target: str
    sections: tuple[Section, ...]
    file_sha256: str
    graph: Graph
    tensors: list
    quant: list
    io: dict
    cost: dict


class _Reader:
    def __init__(self, path, limits: Limits):
        self.path = str(path)
        self.limits = limits

    def fail(self, message: str) -> BlobError:
        return BlobError(f"{self.path}: {message}")

    # ---- container ----
    def read(self) -> bytes:
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                minimum = HEADER.size + DIGEST_BYTES
                if size < minimum:
                    raise self.fail(f"truncated: {size} bytes, a blob has at least {minimum}")
                if size > self.limits.max_file_bytes:
                    raise self.fail(f"{size} bytes is over the limit of "
                                    f"{self.limits.max_file_bytes} bytes for a blob")
                head = f.read(HEADER.size)
                self.check_header(head, size)
                f.seek(0)
                data = f.read(size + 1)
        except OSError as e:
            raise self.fail(f"cannot read: {e.strerror or e}") from None
        if len(data) != size:
            raise self.fail(f"changed while being read ({size} bytes, then {len(data)})")
        return data

    def check_header(self, head: bytes, size: int) -> None:
        magic, version, hbytes, fbytes, count, reserved, ver, tgt = HEADER.unpack(head)
        if magic != MAGIC:
            raise self.fail(f"not an npucc blob (magic {magic!r}, expected {MAGIC!r})")
        if version != FORMAT_VERSION:
            raise self.fail(f"blob format version {version}; this npucc (format version "
                            f"{FORMAT_VERSION}) cannot read it: rebuild the blob with this "
                            "npucc")
        if count != len(SECTIONS):
            raise self.fail(f"header lists {count} sections, format version {FORMAT_VERSION} "
                            f"has {len(SECTIONS)}")
        if hbytes != header_bytes(count):
            raise self.fail(f"header size {hbytes}, expected {header_bytes(count)}")
        if size < hbytes + DIGEST_BYTES:
            raise self.fail(f"truncated: {size} bytes, the header and section table alone take "
                            f"{hbytes + DIGEST_BYTES}")
        if fbytes != size:
            what = "truncated" if size < fbytes else "trailing bytes after the blob"
            raise self.fail(f"{what}: the header says {fbytes} bytes, the file has {size}")
        if reserved:
            raise self.fail(f"reserved header field is {reserved}, not 0")
        self.npucc_version = self.text_field(ver, "npucc version")
        self.target = self.text_field(tgt, "target name")

    def text_field(self, raw: bytes, what: str) -> str:
        text = raw.rstrip(b"\0").decode("latin-1")
        if not text or not text.isascii() or not text.isprintable():
            raise self.fail(f"bad {what} field {raw!r} in the header")
        return text

    def sections(self, data: bytes) -> dict[str, bytes]:
        if sha256(data[:-DIGEST_BYTES]) != data[-DIGEST_BYTES:]:
            raise self.fail("checksum mismatch: the file is corrupted (its SHA-256 does not "
                            "match the one it records)")
        entries = [ENTRY.unpack_from(data, HEADER.size + k * ENTRY.size)
                   for k in range(len(SECTIONS))]
        names = [e[0].rstrip(b"\0") for e in entries]
        if names != [s.encode() for s in SECTIONS]:
            raise self.fail(f"section table lists {[n.decode('latin-1') for n in names]}, "
                            f"expected {list(SECTIONS)}")
        lengths = [e[2] for e in entries]
        if sum(lengths) > len(data):
            raise self.fail(f"sections total {sum(lengths)} bytes, the file has {len(data)}")
        hbytes, offsets, total = layout(lengths)
        if total != len(data) or [e[1] for e in entries] != offsets:
            raise self.fail("section offsets or lengths do not fit the file: the section table "
                            "was tampered with")
        out, self.table = {}, []
        padding_from = HEADER.size + len(SECTIONS) * ENTRY.size
        for name, (raw, off, n, digest), end in zip(SECTIONS, entries, offsets[1:] + [total - 32]):
            if raw != name.encode().ljust(16, b"\0"):
                raise self.fail(f"section name field {raw!r} is not NUL padded")
            section = data[off:off + n]
            if sha256(section) != digest:
                raise self.fail(f"section {name} is corrupted (its SHA-256 does not match the "
                                "section table)")
            if any(data[off + n:end]):
                raise self.fail(f"nonzero padding after section {name}")
            out[name] = section
            self.table.append(Section(name, off, n, digest.hex()))
        if any(data[padding_from:hbytes]):
            raise self.fail("nonzero padding after the section table")
        return out

    # ---- sections ----
    def json(self, sections, name: str, kind: type):
        raw = sections[name]
        if len(raw) > self.limits.max_json_bytes:
            raise self.fail(f"section {name} has {len(raw)} bytes, over the limit of "
                            f"{self.limits.max_json_bytes}")
        try:
            obj = json.loads(raw.decode("ascii"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise self.fail(f"section {name} is not valid JSON: {e}") from None
        if not isinstance(obj, kind):
            raise self.fail(f"section {name} holds a {type(obj).__name__}, expected a "
                            f"{kind.__name__}")
        try:
            canonical = encode_json(obj) == raw
        except (ValueError, RecursionError):  # NaN or infinity, or nested too deeply
            canonical = False
        if not canonical:
            raise self.fail(f"section {name} is not in canonical JSON form")
        return obj

    def manifest(self, sections) -> dict:
        m = self.json(sections, "manifest", dict)
        keys = {"format_version", "model", "npucc_version", "target", "weights_alignment"}
        if set(m) != keys:
            raise self.fail(f"manifest has keys {sorted(m)}, expected {sorted(keys)}")
        if not _is_int(m["format_version"]) or (m["format_version"], m["npucc_version"],
                                                m["target"]) != \
                (FORMAT_VERSION, self.npucc_version, self.target):
            raise self.fail(f"the manifest (format {m['format_version']!r}, npucc "
                            f"{m['npucc_version']!r}, target {m['target']!r}) disagrees with "
                            f"the header (format {FORMAT_VERSION}, npucc "
                            f"{self.npucc_version!r}, target {self.target!r})")
        a = m["weights_alignment"]
        if not _is_int(a) or a < 1 or a > 1 << 16 or a & (a - 1):
            raise self.fail(f"manifest weights_alignment {a!r} is not a power of two <= 65536")
        return m

    def tensors(self, sections, alignment: int) -> tuple[list, dict[str, np.ndarray]]:
        descs = self.json(sections, "tensors", list)
        blob = sections["weights"]
        if len(descs) > self.limits.max_tensors:
            raise self.fail(f"{len(descs)} tensors, over the limit of {self.limits.max_tensors}")
        keys = {"name", "dtype", "shape", "layout", "offset", "nbytes", "sha256"}
        arrays, end, pads = {}, 0, []
        for k, d in enumerate(descs):
            where = f"tensor descriptor {k}"
            if not isinstance(d, dict) or set(d) != keys:
                raise self.fail(f"{where}: expected an object with keys {sorted(keys)}")
            name, shape = d["name"], d["shape"]
            if not isinstance(name, str) or name in arrays:
                raise self.fail(f"{where}: name {name!r} is not a string or is repeated")
            where = f"tensor {name!r}"
            try:
                dtype = DType(d["dtype"])
            except (ValueError, TypeError):
                raise self.fail(f"{where}: unknown dtype {d['dtype']!r}") from None
            if not isinstance(shape, list) or len(shape) > self.limits.max_rank or \
                    not all(_is_int(x) and x >= 0 for x in shape):
                raise self.fail(f"{where}: bad shape {shape!r}")
            nbytes = int(np.prod(shape, dtype=object)) * dtype.numpy.itemsize
            off = d["offset"]
            if d["layout"] != "C" or not _is_int(d["nbytes"]) or d["nbytes"] != nbytes or \
                    off != align(end, alignment) or off + nbytes > len(blob):
                raise self.fail(f"{where}: layout, size or offset is wrong or out of bounds "
                                f"(offset {off!r}, {d['nbytes']!r} bytes for {dtype.value}"
                                f"{shape}, weights section of {len(blob)} bytes)")
            pads.append((end, off))
            data = blob[off:off + nbytes]
            if sha256(data).hex() != d["sha256"]:
                raise self.fail(f"{where}: its bytes do not match its SHA-256")
            arr = np.frombuffer(data, dtype=dtype.numpy.newbyteorder("<")).reshape(shape)
            if dtype is DType.bool and np.frombuffer(data, np.uint8).max(initial=0) > 1:
                raise self.fail(f"{where}: bool bytes other than 0 and 1")
            arrays[name] = arr.astype(dtype.numpy, copy=False)
            end = off + nbytes
        if end != len(blob) or any(x for e, o in pads for x in blob[e:o]):
            raise self.fail("weights section has bytes outside its tensors")
        return descs, arrays

    def program(self, sections, arrays) -> Graph:
        raw = sections["program"]
        if len(raw) > self.limits.max_program_bytes:
            raise self.fail(f"program has {len(raw)} bytes, over the limit of "
                            f"{self.limits.max_program_bytes}")
        used = _Recording(arrays)
        try:
            graph = parse(raw.decode("utf-8"), constants=used, source=f"{self.path}:program")
            problems = verification_problems(graph)
        except UnicodeDecodeError as e:
            raise self.fail(f"program is not UTF-8: {e}") from None
        except RecursionError:
            raise self.fail("program nests graphs too deeply") from None
        except NpuccError as e:
            raise self.fail(f"bad program: {e}") from None
        if problems:
            raise self.fail("program fails verification: " + "; ".join(problems[:5]))
        unused = sorted(set(arrays) - used.read)
        if unused:
            raise self.fail(f"weights hold tensors the program does not use: {unused[:5]}")
        big = [(p, v.name) for p, g in graphs_of(graph) for v in g.values()
               if v.type.size * v.dtype.numpy.itemsize > self.limits.max_value_bytes]
        if big:
            raise self.fail(f"value %{big[0][1]} in {big[0][0]} is over the limit of "
                            f"{self.limits.max_value_bytes} bytes")
        return graph

    def check_io(self, io: dict, graph: Graph) -> None:
        want = io_table(graph)
        if set(io) != {"inputs", "outputs"} or any(not isinstance(io[k], list) or
                                                   len(io[k]) != len(want[k]) for k in want):
            raise self.fail("io section does not list the program's inputs and outputs")
        for k in ("inputs", "outputs"):
            for got, exp in zip(io[k], want[k]):
                fixed = ("name", "dtype", "shape", "quant")
                if not isinstance(got, dict) or set(got) != set(exp) or \
                        any(encode_json(got[f]) != encode_json(exp[f]) for f in fixed):
                    raise self.fail(f"io section: {k} entry {got!r} does not match the program "
                                    f"({exp['name']!r}: {exp['dtype']}{exp['shape']})")
                if got["layout"] not in (None, "NCHW", "NHWC") or \
                        not _valid_preprocess(got["preprocess"]):
                    raise self.fail(f"io section: {k} entry {exp['name']!r} has a bad layout or "
                                    "preprocess field")


class _Recording(Mapping):
    """The weights by name, remembering which names the parser asked for."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.read: set[str] = set()

    def __getitem__(self, name):
        value = self.arrays[name]
        self.read.add(name)
        return value

    def __iter__(self):
        return iter(self.arrays)

    def __len__(self):
        return len(self.arrays)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _valid_preprocess(p) -> bool:
    if p is None:
        return True
    return isinstance(p, dict) and set(p) - {"pixels"} == {"mean", "std", "reorder"} and \
        p.get("pixels", "bgr") == "bgr" and all(
        isinstance(p[k], list) and all(isinstance(x, float) for x in p[k])
        for k in ("mean", "std")) and (p["reorder"] is None or (
            isinstance(p["reorder"], list) and all(_is_int(x) for x in p["reorder"])))


def read_blob(path, target=None, *, limits: Limits | None = None) -> Blob:
    """Read and check the blob at `path` (see the module docstring); `target` (a name or an object
    with a `name`), when given, must be the target the blob was built for."""
    r = _Reader(path, limits or Limits())
    data = r.read()
    sections = r.sections(data)
    if target is not None and target_name(target) != r.target:
        raise r.fail(f"built for target {r.target}, not {target_name(target)}")
    manifest = r.manifest(sections)
    descs, arrays = r.tensors(sections, manifest["weights_alignment"])
    graph = r.program(sections, arrays)
    if graph.name != manifest["model"]:
        raise r.fail(f"the manifest names model {manifest['model']!r}, the program "
                     f"{graph.name!r}")
    quant = r.json(sections, "quant", list)
    if sections["quant"] != encode_json(quant_table(graph)):
        raise r.fail("the quant table does not match the program's quantization parameters")
    io = r.json(sections, "io", dict)
    r.check_io(io, graph)
    cost = r.json(sections, "cost", dict)
    return Blob(str(Path(path)), FORMAT_VERSION, r.npucc_version, r.target, tuple(r.table),
                data[-DIGEST_BYTES:].hex(), graph, descs, quant, io, cost)
