"""Per-layer dumps (the role of RKNN's NN_LAYER_DUMP): every node's outputs saved as .npy files
named `<index>_<op>_<source names>_<value name>.npy`, plus `index.json` describing each file.

Every file is written to a temporary name and renamed into place, so a reader never sees a
partial file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from ...ir.graph import Node

INDEX_FILE = "index.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_MAX_SOURCES = 80  # characters of source names kept in a file name


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "_"


def layer_file_name(index: int, node: Node, value_name: str) -> str:
    """`0007_Conv_conv1+bn1_x.npy`: step index, op, source-model names (provenance), value."""
    parts = [f"{index:04d}", _safe(node.op)]
    if node.provenance:
        sources = _safe("+".join(sorted(node.provenance)))
        if len(sources) > _MAX_SOURCES:
            digest = hashlib.sha1(sources.encode()).hexdigest()[:8]
            sources = f"{sources[:_MAX_SOURCES]}~{digest}"
        parts.append(sources)
    parts.append(_safe(value_name))
    return "_".join(parts) + ".npy"


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class LayerDump:
    """Writes one graph run's layer outputs into `directory` (created if missing)."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.entries: list[dict] = []

    def write(self, index: int, node: Node, arrays) -> None:
        for v, a in zip(node.outputs, arrays):
            name = layer_file_name(index, node, v.name)
            _atomic_write(self.directory / name, lambda f, a=a: np.save(f, a))
            self.entries.append({
                "file": name, "index": index, "node": node.describe(), "op": node.op,
                "provenance": sorted(node.provenance), "value": v.name,
                "output_index": v.index, "shape": list(a.shape), "dtype": str(a.dtype),
            })

    def close(self) -> Path:
        """Write index.json; returns its path."""
        path = self.directory / INDEX_FILE
        text = json.dumps({"layers": self.entries}, indent=1)
        _atomic_write(path, lambda f: f.write(text.encode()))
        return path
