"""Structural verification of a FlatBuffer before generated accessors read it.

The `flatbuffers` Python runtime trusts the buffer: a corrupt offset makes an accessor read out of
bounds (struct.error), at a negative position, or a "vector" longer than the file. `verify` walks
every table, vector and string a schema names, from the root, and checks that each lies inside
the buffer (like the C++ `flatbuffers::Verifier` that LiteRT runs on every model). What it checks:

- a table's vtable and object lie inside the buffer, and each field lies inside its object;
- each offset field (string, vector, table, union) of the schema points inside the buffer, and a
  vector's `length * element size` bytes do too; vectors of tables are verified element by element.

Scalars need no schema: after `verify`, a scalar field lies inside its (verified) object, so a
read of up to 8 bytes from it stays inside `padded(buf)`, the buffer plus 8 zero bytes, which is
what the accessors should be given. Each (position, table type) is verified once, so shared
subtables cost nothing and the work is bounded by the file size.

A schema maps a table name to {field index: (field name, kind)}; kinds:
    ("string",)  ("vector", element bytes)  ("table", name)  ("tables", name)
    ("union", type field index, {type code: table name})   (other codes: a table of any type)
"""

from __future__ import annotations

import struct

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
PADDING = 8


class FlatbufferError(Exception):
    """The buffer is not a well-formed FlatBuffer of the schema (the message says where)."""


def padded(buf: bytes) -> bytes:
    return bytes(buf) + bytes(PADDING)


def verify(buf: bytes, schema: dict, root: str) -> None:
    """Raise FlatbufferError unless `buf` holds a structurally valid `root` table of `schema`."""
    v = _Verifier(buf, schema)
    v.table(v.offset(0, "the root offset"), root, root)


class _Verifier:
    def __init__(self, buf: bytes, schema: dict):
        self.buf = buf
        self.n = len(buf)
        self.schema = schema
        self.done: set[tuple[int, str]] = set()

    def need(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or size < 0 or pos + size > self.n:
            raise FlatbufferError(f"{what}: {size} bytes at byte {pos} lie outside the "
                                  f"{self.n}-byte file")

    def u32(self, pos: int, what: str) -> int:
        self.need(pos, 4, what)
        return _U32.unpack_from(self.buf, pos)[0]

    def offset(self, pos: int, what: str) -> int:
        return pos + self.u32(pos, what)

    def table(self, pos: int, name: str, what: str) -> None:
        if (pos, name) in self.done:
            return
        self.done.add((pos, name))
        self.need(pos, 4, what)
        vt = pos - _I32.unpack_from(self.buf, pos)[0]
        self.need(vt, 4, f"{what} (its vtable)")
        vt_size, obj_size = _U16.unpack_from(self.buf, vt)[0], _U16.unpack_from(self.buf, vt + 2)[0]
        if vt_size < 4 or vt_size % 2 or obj_size < 4:
            raise FlatbufferError(f"{what}: malformed vtable (size {vt_size}, object {obj_size})")
        self.need(vt, vt_size, f"{what} (its vtable)")
        self.need(pos, obj_size, what)
        fields = {}
        for i in range((vt_size - 4) // 2):
            f = _U16.unpack_from(self.buf, vt + 4 + 2 * i)[0]
            if f and not 4 <= f < obj_size:
                raise FlatbufferError(f"{what}: field {i} at offset {f} lies outside its "
                                      f"{obj_size}-byte table")
            if f:
                fields[i] = (pos + f, obj_size - f)
        for i, (field, kind) in self.schema.get(name, {}).items():
            if i in fields:
                self.field(fields[i], kind, fields, f"{what}.{field}")

    def field(self, where: tuple[int, int], kind: tuple, fields: dict, what: str) -> None:
        pos, room = where
        if room < 4:
            raise FlatbufferError(f"{what}: an offset field needs 4 bytes, its table has {room}")
        target = self.offset(pos, what)
        tag = kind[0]
        if tag == "table":
            self.table(target, kind[1], what)
        elif tag == "union":
            type_field, tables = kind[1], kind[2]
            if type_field in fields:
                code = self.buf[fields[type_field][0]]
                if code:
                    self.table(target, tables.get(code, ""), what)
        else:
            length = self.u32(target, f"{what} (its length)")
            width = {"string": 1, "vector": kind[1] if len(kind) > 1 else 4, "tables": 4}[tag]
            self.need(target + 4, length * width, f"{what} ({length} elements)")
            if tag == "tables":
                for k in range(length):
                    element = target + 4 + 4 * k
                    self.table(self.offset(element, f"{what}[{k}]"), kind[1], f"{what}[{k}]")
