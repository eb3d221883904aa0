"""Writing the `.npub` blob: a partitioned graph, its weights and descriptors in one checksummed,
versioned container (layout in blob_format.py, docs/NPUB.md; reading in blob_reader.py).

    write_blob("model.npub", graph, "rk3588", supported=lambda node: reasons)

Sections: `manifest` (model name, npucc version, target, weights alignment), `program` (the
partitioned graph as IR text, every non-splat constant elided to its sha256), `tensors` (one
descriptor per elided constant: name, dtype, shape, offset, bytes, sha256), `weights` (the raw
little-endian payloads, each aligned), `quant` (every quantized value's parameters), `io` (inputs
and outputs: name, dtype, shape, layout, quantization, preprocessing), `cost` (the target cost
model's report). The bytes depend only on the inputs: JSON with sorted keys, no timestamps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ...atomic import open_atomic
from ...errors import BlobError
from ...ir.graph import Graph, Value
from ...ir.text import format_graph
from ...ir.types import QuantParams, TensorType
from .blob_format import (
    ALIGN,
    ENTRY,
    FORMAT_VERSION,
    HEADER,
    MAGIC,
    NAME_BYTES,
    SECTIONS,
    align,
    encode_json,
    layout,
    sha256,
)
from .partition import partition


def target_name(target) -> str:
    """The name of a target given by name or as an object with a `name`."""
    name = target if isinstance(target, str) else getattr(target, "name", None)
    if not isinstance(name, str) or not name or not name.isascii() or len(name) > NAME_BYTES \
            or "\0" in name:
        raise BlobError(f"target {target!r}: a target name is 1 to {NAME_BYTES} ASCII characters")
    return name


# ---- the program's parts -----------------------------------------------------------------------

def graphs_of(graph: Graph, path: str = "") -> list[tuple[str, Graph]]:
    """(path, graph) for `graph` and every nested graph, in text order ("main", "main/npu0")."""
    path = f"{path}/{graph.name}" if path else graph.name
    out = [(path, graph)]
    for node in graph.nodes:
        for value in node.attrs.values():
            if isinstance(value, Graph):
                out += graphs_of(value, path)
    return out


def is_elided(arr: np.ndarray) -> bool:
    """Whether the text form (max_inline=0) elides this payload: every non-empty payload whose
    elements are not all bitwise equal (those print as one splat value)."""
    flat = np.ascontiguousarray(arr).reshape(-1)
    if flat.size == 0:
        return False
    raw = flat.view(f"u{flat.dtype.itemsize}") if flat.dtype.itemsize in (1, 2, 4, 8) else flat
    return not bool((raw == raw[0]).all())


def payload_bytes(arr: np.ndarray) -> bytes:
    """A payload's bytes in C order, little-endian."""
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def weights(graph: Graph, alignment: int) -> tuple[list[dict], list[bytes]]:
    """(tensor descriptors, the weights section in pieces) for every elided constant, once per
    name."""
    seen: dict[str, tuple[Value, bytes]] = {}
    for _, g in graphs_of(graph):
        for c in g.constants:
            if not is_elided(c.const):
                continue
            data = payload_bytes(c.const)
            if c.name in seen:
                other, other_data = seen[c.name]
                if (other.type, other_data) != (c.type, data):
                    raise BlobError(f"two different constants are named %{c.name}; the blob "
                                    "keys weights by name: rename one")
                continue
            seen[c.name] = (c, data)
    descriptors, chunks, offset = [], [], 0
    for name, (c, data) in seen.items():
        start = align(offset, alignment)
        chunks += [b"\0" * (start - offset), data]
        descriptors.append({"name": name, "dtype": c.dtype.value, "shape": list(c.shape),
                            "layout": "C", "offset": start, "nbytes": len(data),
                            "sha256": sha256(data).hex()})
        offset = start + len(data)
    return descriptors, chunks


def quant_json(q: QuantParams | None):
    if q is None:
        return None
    return {"scheme": q.scheme.value, "scale": list(q.scale), "zero_point": list(q.zero_point),
            "axis": q.axis, "frac_length": q.frac_length, "bits": q.bits}


def quant_table(graph: Graph) -> list[dict]:
    """Every quantized value of the program (graph path, value name, dtype, parameters)."""
    rows = []
    for path, g in graphs_of(graph):
        for v in g.values():
            if v.type.quant is not None:
                rows.append({"graph": path, "value": v.name, "dtype": v.dtype.value,
                             **quant_json(v.type.quant)})
    return rows


def io_entry(name: str, t: TensorType, layout_: str | None, preprocess=None) -> dict:
    return {"name": name, "dtype": t.dtype.value, "shape": list(t.shape), "layout": layout_,
            "quant": quant_json(t.quant), "preprocess": preprocess}


def preprocess_json(p, pixels: str | None = None) -> dict | None:
    """A Preprocess (or a mapping with mean, std, reorder) as JSON; `pixels` "bgr" adds
    {"pixels": "bgr"}: image files go to this input with their channels reversed (the key is
    left out for RGB, so those records stay as they were)."""
    if p is None and pixels != "bgr":
        return None
    p = {} if p is None else p
    get = p.get if isinstance(p, Mapping) else (lambda k, d=None: getattr(p, k, d))
    reorder = get("reorder", None)
    out = {"mean": [float(x) for x in get("mean", (0.0,))],
           "std": [float(x) for x in get("std", (1.0,))],
           "reorder": None if reorder is None else [int(x) for x in reorder]}
    if pixels == "bgr":
        out["pixels"] = "bgr"
    return out


def io_table(graph: Graph, layouts: Mapping[str, str] | None = None,
             preprocess: Mapping | None = None, pixels: Mapping[str, str] | None = None) -> dict:
    """IO descriptors. A 4-D value's layout is taken from `layouts`, else guessed: for an input
    as set-input-layout does (NHWC when read only by transposes to NCHW, else NCHW); an output is
    NHWC when a transpose to NHWC makes it, else not known (null), as for other ranks."""
    from ...passes.input_layout import source_layout

    layouts, preprocess, pixels = dict(layouts or {}), dict(preprocess or {}), dict(pixels or {})

    def out_layout(v: Value) -> str | None:
        p = v.producer
        return "NHWC" if p is not None and p.op == "Transpose" and \
            tuple(p.attrs["perm"]) == (0, 2, 3, 1) else None

    def lay(v: Value, guess) -> str | None:
        return layouts.get(v.name, guess(v) if v.type.rank == 4 else None)

    flat = _flat(graph)
    return {"inputs": [io_entry(v.name, v.type, lay(w, source_layout),
                                preprocess_json(preprocess.get(v.name), pixels.get(v.name)))
                       for v, w in zip(graph.inputs, flat.inputs)],
            "outputs": [io_entry(v.name, v.type, lay(w, out_layout))
                        for v, w in zip(graph.outputs, flat.outputs)]}


def _flat(graph: Graph) -> Graph:
    if any(n.op == "Partition" for n in graph.nodes):
        from ...ir.ops.partition import inline_partitions

        return inline_partitions(graph)
    return graph


# ---- the container -----------------------------------------------------------------------------

def build_blob(graph: Graph, target, *, io: dict | None = None, cost_report=None,
               alignment: int = ALIGN) -> bytes:
    """The bytes of the blob for a (partitioned) graph; see the module docstring."""
    return b"".join(blob_pieces(graph, target, io=io, cost_report=cost_report,
                                alignment=alignment))


def blob_pieces(graph: Graph, target, *, io: dict | None = None, cost_report=None,
                alignment: int = ALIGN) -> list[bytes]:
    """The blob as a list of byte strings to write one after the other (no copy of the weights
    into one buffer)."""
    from npucc import __version__

    name = target_name(target)
    if alignment < 1 or alignment & (alignment - 1):
        raise BlobError(f"weights alignment {alignment} is not a power of two")
    descriptors, weight_pieces = weights(graph, alignment)
    cost = cost_report if cost_report is not None else {}
    if not isinstance(cost, Mapping):
        cost = cost.to_dict() if hasattr(cost, "to_dict") else dict(cost)
    sections = {
        "manifest": encode_json({"format_version": FORMAT_VERSION, "model": graph.name,
                                 "npucc_version": __version__, "target": name,
                                 "weights_alignment": alignment}),
        "program": format_graph(graph, max_inline=0).encode("utf-8"),
        "tensors": encode_json(descriptors),
        "weights": weight_pieces,
        "quant": encode_json(quant_table(graph)),
        "io": encode_json(io if io is not None else io_table(graph)),
    }
    try:
        sections["cost"] = encode_json(cost)
    except (TypeError, ValueError) as e:
        raise BlobError(f"the cost report is not plain JSON: {e}") from None
    pieces = [sections[s] if isinstance(sections[s], list) else [sections[s]] for s in SECTIONS]
    lengths = [sum(len(p) for p in ps) for ps in pieces]
    head, offsets, total = layout(lengths)
    table = [HEADER.pack(MAGIC, FORMAT_VERSION, head, total, len(SECTIONS), 0,
                         __version__.encode("ascii"), name.encode("ascii"))]
    for sec, ps, off, n in zip(SECTIONS, pieces, offsets, lengths):
        digest = hashlib.sha256()
        for p in ps:
            digest.update(p)
        table.append(ENTRY.pack(sec.encode("ascii"), off, n, digest.digest()))
    out = [b"".join(table)]
    out.append(b"\0" * (head - len(out[0])))
    for ps, off, n, end in zip(pieces, offsets, lengths, offsets[1:] + [total - 32]):
        out += ps
        out.append(b"\0" * (end - off - n))
    digest = hashlib.sha256()
    for p in out:
        digest.update(p)
    return out + [digest.digest()]




def write_blob(path, graph: Graph, target, *, supported=None, cost=None, io: dict | None = None,
               cost_report=None, alignment: int = ALIGN) -> Path:
    """Partition `graph` (unless it already is: `supported` and `cost` as for
    `partition.partition`; without `supported`, the target's legalization decides, and its cost
    model fills `cost_report`; without `cost`, the target's cost model places the work) and
    write its blob to `path` through a temporary file renamed into place. Returns the path."""
    if not any(n.op == "Partition" for n in graph.nodes):
        legalized = supported is None
        if legalized:
            from ...targets import legalize

            supported = legalize(graph, target)
        graph = partition(graph, supported, cost=cost, target=target)
        if legalized and cost_report is None:  # as partitioned, moved nodes included
            from .cost import estimate

            cost_report = estimate(graph, target).to_dict()
    pieces = blob_pieces(graph, target, io=io, cost_report=cost_report, alignment=alignment)
    path = Path(path)
    with open_atomic(path) as f:
        f.writelines(pieces)
    return path
