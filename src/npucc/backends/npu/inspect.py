"""What `npucc inspect FILE.npub` shows: a checked blob summarised as a JSON-able dict, and as text.

    summary = blob_summary(read_blob("model.npub"))
    print(format_summary(summary))
"""

from __future__ import annotations

import os

from ...ir.text import format_type
from .blob_reader import Blob
from .partition import conversions, partitions


def blob_summary(blob: Blob) -> dict:
    """Header, sections, partitions (device, node counts by op, reasons), conversions, IO, weights
    and the cost report of a blob."""
    return {
        "file": blob.path,
        "file_bytes": os.path.getsize(blob.path),
        "sha256": blob.file_sha256,
        "format_version": blob.format_version,
        "npucc_version": blob.npucc_version,
        "target": blob.target,
        "model": blob.graph.name,
        "sections": [{"name": s.name, "offset": s.offset, "bytes": s.length, "sha256": s.sha256}
                     for s in blob.sections],
        "partitions": [{"name": p.name, "device": p.device, "nodes": p.nodes, "ops": dict(p.ops),
                        "reasons": list(p.reasons), "inputs": list(p.inputs),
                        "outputs": list(p.outputs)} for p in partitions(blob.graph)],
        "conversions": [{"op": n.op, "outputs": [v.name for v in n.outputs],
                         "types": [format_type(v.type) for v in n.outputs]}
                        for n in conversions(blob.graph)],
        "io": blob.io,
        "weights": {"tensors": len(blob.tensors),
                    "bytes": sum(t["nbytes"] for t in blob.tensors)},
        "cost": blob.cost,
    }


def _io_line(e: dict) -> str:
    q = e["quant"]
    s = f"    {e['name']}: {e['dtype']}{e['shape']}"
    if e["layout"]:
        s += f" {e['layout']}"
    if q is not None:
        s += (f" affine scale={_short(q['scale'])} zp={_short(q['zero_point'])}"
              if q["scheme"] == "affine" else f" dfp fl={q['frac_length']}")
    if e.get("preprocess"):
        p = e["preprocess"]
        s += f" preprocess mean={p['mean']} std={p['std']} reorder={p['reorder']}"
        if p.get("pixels"):
            s += f" pixels={p['pixels']}"
    return s


def _short(xs: list) -> str:
    if len(xs) == 1:
        return f"{xs[0]:.6g}"
    return f"[{len(xs)} values]"


def format_summary(s: dict) -> str:
    """The summary as the text `npucc inspect` prints."""
    lines = [f"{s['file']}: npucc blob format {s['format_version']}, built by npucc "
             f"{s['npucc_version']} for target {s['target']}",
             f"  model {s['model']}, {s['file_bytes']} bytes, sha256 {s['sha256'][:16]}",
             "sections:"]
    for sec in s["sections"]:
        lines.append(f"  {sec['name']:<9} offset {sec['offset']:>10}  {sec['bytes']:>10} bytes  "
                     f"sha256 {sec['sha256'][:16]}")
    npu = sum(p["nodes"] for p in s["partitions"] if p["device"] == "npu")
    cpu = sum(p["nodes"] for p in s["partitions"] if p["device"] == "cpu")
    lines.append(f"partitions: {len(s['partitions'])} ({npu} nodes on the NPU, {cpu} on the CPU)")
    for p in s["partitions"]:
        ops = ", ".join(f"{op} {n}" for op, n in sorted(p["ops"].items(), key=lambda x: -x[1]))
        lines.append(f"  {p['name']}: {p['device'].upper()}, {p['nodes']} nodes ({ops})")
        lines += [f"      reason: {r}" for r in p["reasons"]]
    if s["conversions"]:
        lines.append("conversions at the boundaries:")
        lines += [f"  {c['op']} -> {', '.join(c['outputs'])}: {', '.join(c['types'])}"
                  for c in s["conversions"]]
    lines.append("inputs:")
    lines += [_io_line(e) for e in s["io"]["inputs"]]
    lines.append("outputs:")
    lines += [_io_line(e) for e in s["io"]["outputs"]]
    w = s["weights"]
    lines.append(f"weights: {w['tensors']} tensors, {w['bytes']} bytes")
    cost = s["cost"]
    if not cost:
        lines.append("cost: no cost report in this blob")
    else:
        first = ("total_time_us", "fps")  # then any other scalar, and the memory figures
        keys = [k for k in first if k in cost] + sorted(k for k in cost if k not in first)
        memory = cost.get("memory") if isinstance(cost.get("memory"), dict) else {}
        items = [(k, cost[k]) for k in keys if isinstance(cost[k], (int, float, str))]
        lines.append("cost: " + ", ".join(f"{k} {v}" for k, v in items + list(memory.items())))
    return "\n".join(lines)
