"""Reading a Darknet tree file (data/9k.tree): the class hierarchy of a tree softmax.

Each line is `name parent`: the class's name and the line index (from 0) of its parent, or -1
for a root. Darknet's read_tree groups consecutive lines with the same parent; its tree softmax
(softmax_tree) is a softmax within each group. The file is named by a cfg, so it is untrusted:
it is read up to MAX_TREE_BYTES, must be UTF-8 text, and every line must be `name parent` with a
parent that is -1 or an earlier line (a tree, as darknet's hierarchy code assumes). Errors name
the file and line but never quote the file's text.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from ...errors import FrontendError

MAX_TREE_BYTES = 64 << 20  # data/9k.tree (9418 classes) is 140 kB


def read_tree_groups(path: Path, section_error: Callable[[str], FrontendError]) -> list[int]:
    """The sizes of the softmax groups of the tree file at `path`, in file order (they add up
    to its line count). `section_error` makes the error naming the cfg section that refers to
    the file."""
    def error(msg):
        return section_error(f"tree file {path}: {msg}")

    lines = _read_text(path, error).splitlines()
    if not lines:
        raise error("empty")
    sizes: list[int] = []
    last = None
    for i, line in enumerate(lines):
        fields = line.split()
        if len(fields) != 2:
            raise error(f"line {i + 1}: expected 'name parent', got {len(fields)} fields")
        try:
            parent = int(fields[1])
        except ValueError:
            raise error(f"line {i + 1}: the parent is not an integer") from None
        if not -1 <= parent < i:
            raise error(f"line {i + 1}: parent {parent} is not -1 (a root)"
                        + (f" nor an earlier line (0 to {i - 1})" if i else ""))
        if parent == last:
            sizes[-1] += 1
        else:
            sizes.append(1)
            last = parent
    return sizes


def _read_text(path: Path, error) -> str:
    """The UTF-8 text of the regular file `path`, refused past MAX_TREE_BYTES. It is opened
    non-blocking: a FIFO or device named by the cfg must not hang the import."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise error(f"cannot read it: {e.strerror or e}") from None
    except ValueError as e:  # a NUL in the path
        raise error(f"cannot read it: {e}") from None
    too_big = f"larger than {MAX_TREE_BYTES} bytes (npucc.frontends.darknet.tree.MAX_TREE_BYTES)"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error("not a regular file")
        if st.st_size > MAX_TREE_BYTES:
            raise error(too_big)
        with open(fd, "rb", closefd=False) as f:
            raw = f.read(MAX_TREE_BYTES + 1)
    except OSError as e:
        raise error(f"cannot read it: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_TREE_BYTES:  # it grew since fstat
        raise error(too_big)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"not a text file (not UTF-8 at byte {e.start})") from None
    if "\0" in text:
        raise error(f"not a text file (a NUL byte at character {text.index(chr(0))})")
    return text
