"""The `.npub` container layout, shared by the writer (blob.py) and the reader (blob_reader.py).
docs/NPUB.md describes the format for readers in other languages.

    header   96 bytes   magic, format version, header size, file size, section count, reserved,
                        npucc version, target name (ASCII, NUL padded)
    table    64 bytes per section: name (ASCII, NUL padded), offset, length, SHA-256 of the bytes
    sections each at the next multiple of ALIGN, in SECTIONS order; zero padding between
    trailer  SHA-256 of every byte before it

All integers are little-endian. The layout is canonical: given the section lengths, every offset
and every padding byte is fixed, so the reader can insist on it and two builds of the same model
are byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import struct

import attrs

MAGIC = b"\x89NPUB\r\n\x1a"  # PNG-style: a non-ASCII first byte; CR LF and ^Z catch text mode
FORMAT_VERSION = 1
ALIGN = 64
HEADER = struct.Struct("<8sIIQII32s32s")  # magic, version, header bytes, file bytes, count,
#                                           reserved, npucc version, target
ENTRY = struct.Struct("<16sQQ32s")  # name, offset, length, sha256
DIGEST_BYTES = 32
NAME_BYTES = 32  # npucc version and target name fields

# every section of format version 1, in file order
SECTIONS = ("manifest", "program", "tensors", "weights", "quant", "io", "cost")


@attrs.frozen
class Limits:
    """Bounds the reader checks before it allocates anything."""

    max_file_bytes: int = 4 << 30
    max_json_bytes: int = 64 << 20  # each JSON section
    max_program_bytes: int = 256 << 20
    max_tensors: int = 1 << 20
    max_rank: int = 8
    max_value_bytes: int = 4 << 30  # any one tensor of the program (weights and activations)


def align(n: int, to: int = ALIGN) -> int:
    return -(-n // to) * to


def header_bytes(count: int) -> int:
    return align(HEADER.size + count * ENTRY.size)


def layout(lengths: list[int]) -> tuple[int, list[int], int]:
    """(header bytes, section offsets, file bytes) of the canonical layout."""
    offset = header_bytes(len(lengths))
    offsets = []
    for n in lengths:
        offsets.append(offset)
        offset = align(offset + n)
    return header_bytes(len(lengths)), offsets, offset + DIGEST_BYTES


def encode_json(obj) -> bytes:
    """Deterministic JSON: sorted keys, fixed separators, ASCII only."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def sha256(data) -> bytes:
    return hashlib.sha256(data).digest()
