"""Reading .npy and .npz arrays: never unpickled (allow_pickle=False), and safe from threads.

numpy parses an array's header with ast.literal_eval, and CPython 3.11 keeps the AST builder's
recursion depth in interpreter-wide state: two threads parsing at once (a threaded Dask worker
loading calibration samples) can fail with `SystemError: AST constructor recursion depth
mismatch` (python/cpython#106905). Every read here parses under one process-wide lock; the
file's bytes are read before taking it, so file I/O still runs in parallel. Other code of the
process that parses Python source in threads is not covered. A leaf module any layer may import.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np

_PARSE_LOCK = threading.Lock()


def npy_from_bytes(data: bytes) -> np.ndarray:
    """The array of a .npy file's bytes (ValueError for a malformed or pickled one)."""
    if not data.startswith(b"\x93NUMPY"):  # numpy would guess "pickled data" for any such file
        raise ValueError("not a .npy file (it does not start with the \\x93NUMPY magic)")
    with _PARSE_LOCK:
        return np.load(io.BytesIO(data), allow_pickle=False)


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """The array of a .npy file (OSError, ValueError)."""
    return npy_from_bytes(Path(path).read_bytes())


def npz_from_bytes(data: bytes) -> dict[str, np.ndarray]:
    """Every array of a .npz file's bytes, by name (ValueError for a malformed one)."""
    with _PARSE_LOCK, np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}
