"""Per-layer dumps (the role of RKNN's NN_LAYER_DUMP): every node's outputs saved as .npy files
named `<index>_<op>_<source names>_<value name>.npy`, plus `index.json` describing each file.

File names are safe, bounded and unique: characters outside [A-Za-z0-9._+-] become `_`; a name
part longer than its budget is cut and gets `~` and a hash of its full text, so a 400-character
value name fits the file system; a name that clashes with an earlier file of the run (outputs
`a/b` and `a_b` of one node, or names differing in case on a case-insensitive file system) gets
`~`, the output index and a hash.

A dump directory describes exactly one run. It must be new, empty, or an earlier npucc dump:
then the earlier run's files (`NNNN_*.npy` and index.json) are removed first; any other non-empty
directory is refused, so npucc never deletes files it did not write. index.json is written when
the run starts (`"complete": false`) and again at the end (`"complete": true`). Every file is
written to a temporary name and renamed into place, so a reader never sees a partial file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from ...atomic import open_atomic
from ...errors import NpuccError
from ...ir.graph import Node

INDEX_FILE = "index.json"
FORMAT = "npucc-layer-dump"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_OURS = re.compile(r"^(\d{4,}_.*\.npy|\..*\.\d+\.tmp)$")  # dump files and their temp names
_MAX_SOURCES = 80  # characters of source names kept in a file name
_MAX_VALUE = 60  # characters of the value name kept in a file name


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _part(text: str, limit: int) -> str:
    """`text` made file-name safe; when longer than `limit`, its prefix, `~` and a hash of the
    original."""
    safe = _UNSAFE.sub("_", text).strip("_") or "_"
    if len(safe) <= limit:
        return safe
    return f"{safe[:limit]}~{_digest(text)}"


def layer_file_name(index: int, node: Node, value_name: str) -> str:
    """`0007_Conv_conv1+bn1_x.npy`: step index, op, source-model names (provenance), value."""
    parts = [f"{index:04d}", _part(node.op, 40)]
    if node.provenance:
        parts.append(_part("+".join(sorted(node.provenance)), _MAX_SOURCES))
    parts.append(_part(value_name, _MAX_VALUE))
    return "_".join(parts) + ".npy"


def _atomic_write(path: Path, write) -> None:
    with open_atomic(path, fsync=False) as f:  # one file per layer: no fsync each
        write(f)


def _is_npucc_dump(directory: Path) -> bool:
    try:
        return json.loads((directory / INDEX_FILE).read_text()).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def prepare_directory(directory: Path) -> None:
    """Create `directory`, or empty it of an earlier npucc dump; refuse any other content."""
    directory.mkdir(parents=True, exist_ok=True)
    names = os.listdir(directory)
    if not names:
        return
    if not _is_npucc_dump(directory):
        raise NpuccError(f"dump directory {directory} is not empty and holds no npucc dump "
                         f"({INDEX_FILE} from an earlier run); give a new or empty directory")
    for name in names:
        if _OURS.match(name) or name == INDEX_FILE:
            (directory / name).unlink()


class LayerDump:
    """Writes one graph run's layer outputs into `directory` (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)
        prepare_directory(self.directory)
        self.entries: list[dict] = []
        self._used: set[str] = set()  # case-folded names written in this run
        self._write_index(complete=False)

    def _unique(self, name: str, index: int, node: Node, output_index: int) -> str:
        if name.casefold() in self._used:
            tag = _digest(f"{index}/{node.describe()}/{output_index}")
            name = f"{name[:-len('.npy')]}~{output_index}{tag}.npy"
        self._used.add(name.casefold())
        return name

    def write(self, index: int, node: Node, arrays) -> None:
        for v, a in zip(node.outputs, arrays):
            name = self._unique(layer_file_name(index, node, v.name), index, node, v.index)
            _atomic_write(self.directory / name, lambda f, a=a: np.save(f, a))
            self.entries.append({
                "file": name, "index": index, "node": node.describe(), "op": node.op,
                "provenance": sorted(node.provenance), "value": v.name,
                "output_index": v.index, "shape": list(a.shape), "dtype": str(a.dtype),
            })

    def _write_index(self, complete: bool) -> Path:
        path = self.directory / INDEX_FILE
        text = json.dumps({"format": FORMAT, "complete": complete, "layers": self.entries},
                          indent=1)
        _atomic_write(path, lambda f: f.write(text.encode()))
        return path

    def close(self) -> Path:
        """Write the final index.json; returns its path."""
        return self._write_index(complete=True)
