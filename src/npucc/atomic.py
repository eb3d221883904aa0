"""Writing files so that nobody ever sees one half-written: the data goes to a temporary file
in the same directory, which is renamed over the target (os.replace) only once it is complete.
A leaf module any layer may import, like npucc.errors and npucc.limits."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

FILE_MODE = 0o644  # mkstemp creates 0600; what npucc writes is for others to read too


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None, *,
                fsync: bool = True) -> Iterator[IO]:
    """`with open_atomic(path) as f: ...` writes `f` to `path` when the block completes; on an
    exception the temporary file is removed and `path` is left as it was. fsync=False skips
    flushing to disk before the rename (many small dump files: a crash may then leave an empty
    file, never a half-written one)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".npucc-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_atomic(path: str | os.PathLike, data: bytes | str, *, fsync: bool = True) -> Path:
    """Write `data` (bytes, or text as UTF-8) to `path` atomically; returns the path."""
    text = isinstance(data, str)
    with open_atomic(path, "w" if text else "wb", "utf-8" if text else None, fsync=fsync) as f:
        f.write(data)
    return Path(path)
