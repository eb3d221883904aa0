"""Reading .npy and .npz arrays: never unpickled (allow_pickle=False), and safe from threads.

numpy parses an array's header with ast.literal_eval, and CPython 3.11 keeps the AST builder's
recursion depth in interpreter-wide state: two threads parsing at once (a threaded Dask worker
loading calibration samples) can fail with `SystemError: AST constructor recursion depth
mismatch` (python/cpython#106905). Every read here parses under one process-wide lock; the
file's bytes are read before taking it, so file I/O still runs in parallel. Other code of the
process that parses Python source in threads is not covered.

The files are untrusted: the header's shape and dtype are checked against `npucc.limits` and
against the bytes the file holds before numpy allocates the array, object arrays (pickles) are
refused (so are structured, void and date arrays: no npucc input holds them), files are read only
when regular and not bigger than an array can be, and .npz members are read one by one from the
zip after their declared size is checked. Every failure is a ValueError (OSError for a file that
cannot be opened). A leaf module any layer may import.
"""

from __future__ import annotations

import io
import os
import stat
import threading
import tokenize
import zipfile
import zlib

import numpy as np

from . import limits
from .errors import LimitError

_PARSE_LOCK = threading.Lock()
_HEADER_SLACK = 1 << 16  # bytes a .npy file holds beyond its data (magic and header)


def _check_header(data: bytes) -> None:
    """ValueError unless the header declares a numeric array within the limits whose bytes the
    data holds (called under the parse lock: numpy parses the header with ast)."""
    f = io.BytesIO(data)
    fmt = np.lib.format
    major, _ = fmt.read_magic(f)
    read = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
    try:
        shape, _, dtype = read(f)
    except (SyntaxError, tokenize.TokenError, TypeError, RecursionError, MemoryError) as e:
        raise ValueError(f"malformed .npy header ({type(e).__name__}: {e})") from None
    if dtype.hasobject:
        raise ValueError(f"the array holds Python objects ({dtype}): only numeric arrays are "
                         "read, never pickled data")
    if dtype.fields is not None or dtype.subdtype is not None or dtype.kind in "VmM":
        raise ValueError(f"the array has dtype {dtype}: only plain numeric (or text) arrays "
                         "are read")
    try:
        nbytes = limits.check_shape(shape, dtype.itemsize, f"the {dtype} array")
    except LimitError as e:
        raise ValueError(str(e)) from None
    held = len(data) - f.tell()
    if held < nbytes:
        raise ValueError(f"the header declares {list(shape)} {dtype} ({nbytes} bytes), the file "
                         f"holds {held} bytes of data")


def npy_from_bytes(data: bytes) -> np.ndarray:
    """The array of a .npy file's bytes (ValueError for a malformed, oversized or pickled one)."""
    if not data.startswith(b"\x93NUMPY"):  # numpy would guess "pickled data" for any such file
        raise ValueError("not a .npy file (it does not start with the \\x93NUMPY magic)")
    with _PARSE_LOCK:
        _check_header(data)
        return np.load(io.BytesIO(data), allow_pickle=False)


def read_limited(path: str | os.PathLike, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes` (ValueError otherwise: /dev/zero or a
    FIFO would never end, a huge file would be read into memory before any check)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise ValueError("not a regular file")
    if st.st_size > max_bytes:
        raise ValueError(f"{st.st_size} bytes, over the limit of {max_bytes}")
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"grew past the limit of {max_bytes} bytes while being read")
    return data


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """The array of a .npy file (OSError, ValueError)."""
    return npy_from_bytes(read_limited(path, limits.MAX_TENSOR_BYTES + _HEADER_SLACK))


def npz_from_bytes(data: bytes) -> dict[str, np.ndarray]:
    """Every array of a .npz file's bytes, by name (ValueError for a malformed one)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            out = {}
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                if info.file_size > limits.MAX_TENSOR_BYTES + _HEADER_SLACK:  # before inflating
                    raise ValueError(f"member {info.filename} declares {info.file_size} bytes, "
                                     f"over the limit of {limits.MAX_TENSOR_BYTES}")
                out[info.filename[:-4]] = npy_from_bytes(z.read(info))
            return out
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as e:
        raise ValueError(f"not a readable .npz archive ({type(e).__name__}: {e})") from None
