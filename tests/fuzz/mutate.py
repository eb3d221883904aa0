"""Seeded mutation fuzzing of model files: the harness every frontend's fuzz test uses.

`variants(data, n, seed)` derives `n` hostile byte strings from a valid model file (truncations,
bit flips, chunk deletions/duplications/overwrites, foreign headers, random bytes).
`check_outcome(load, path)` runs one load and classifies it: "loaded" or "npucc-error"; any other
exception (also one the frontends' safety net converted), or an npucc error whose message does not
name the file, fails the test with the variant's description so it can be reproduced.
`classify` is the same without failing (for scripts/fuzz_frontends.py).
"""

from __future__ import annotations

import os
import random
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from npucc.errors import InternalFrontendError, NpuccError

FOREIGN_HEADERS = (b"\x08\x07\x12\x07pytorch", b"PK\x03\x04", b"TFL3", b"\x89PNG\r\n\x1a\n",
                   b"name: \"x\"\nlayer {", b"[net]\nwidth=416\n", b"\x00" * 16, b"\xff" * 16)


def _mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    n = len(data)
    kind = rng.choice(("truncate", "flip", "flip", "bytes", "delete", "duplicate", "overwrite",
                       "insert", "header", "random"))
    if kind == "truncate" or n < 2:
        cut = rng.randrange(0, max(n, 1))
        return f"truncate at {cut}", data[:cut]
    if kind == "flip":
        out = bytearray(data)
        spots = [rng.randrange(n) for _ in range(rng.choice((1, 1, 2, 8)))]
        for i in spots:
            out[i] ^= 1 << rng.randrange(8)
        return f"bit flips at {spots}", bytes(out)
    if kind == "bytes":
        out = bytearray(data)
        i = rng.randrange(n)
        value = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        width = rng.choice((1, 2, 4, 8))
        out[i:i + width] = bytes([value]) * width
        return f"{width} bytes set to {value:#x} at {i}", bytes(out[:n])
    i = rng.randrange(n)
    length = rng.choice((1, 4, 16, 256, max(1, n // 10)))
    if kind == "delete":
        return f"delete {length} bytes at {i}", data[:i] + data[i + length:]
    if kind == "duplicate":
        dup = data[i:i + length] * 2
        return f"duplicate {length} bytes at {i}", data[:i] + dup + data[i + length:]
    if kind == "overwrite":
        j = rng.randrange(n)
        chunk = data[j:j + length]
        return (f"overwrite {len(chunk)} bytes at {i} with bytes from {j}",
                data[:i] + chunk + data[i + len(chunk):])
    if kind == "insert":
        chunk = bytes(rng.randrange(256) for _ in range(length))
        return f"insert {length} random bytes at {i}", data[:i] + chunk + data[i:]
    if kind == "header":
        h = rng.choice(FOREIGN_HEADERS)
        return f"foreign header {h[:8]!r}", h + data[len(h):]
    return "random bytes", bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 64, n))))


def variants(data: bytes, n: int, seed: int = 0) -> Iterator[tuple[str, bytes]]:
    """`n` (description, mutated bytes) pairs, the same for the same seed."""
    rng = random.Random(seed)
    for k in range(n):
        desc, out = _mutate(data, rng)
        yield f"variant {k} (seed {seed}): {desc}", out


def _where(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


def classify(load: Callable[[Path], object], path: Path) -> tuple[str, str]:
    """Run `load(path)`: ("loaded", ""), ("npucc-error", ""), or ("other", what escaped): any
    other exception, the safety net's InternalFrontendError (a case the frontend does not check
    yet), or an npucc error whose message does not name the file."""
    try:
        load(path)
    except InternalFrontendError as e:
        cause = e.__cause__
        return "other", (f"{type(cause).__name__} at {_where(cause)} (caught by the safety "
                         f"net): {cause}")
    except NpuccError as e:
        if os.fspath(path.name) not in str(e):
            return "other", f"npucc error does not name the file {path.name}: {e}"
        return "npucc-error", ""
    except Exception as e:  # noqa: BLE001 - the point is to catch every escape
        return "other", f"{type(e).__name__} at {_where(e)} escaped instead of an npucc error: {e}"
    return "loaded", ""


def check_outcome(load: Callable[[Path], object], path: Path, description: str = "") -> str:
    """Run `load(path)`; return "loaded" or "npucc-error". Anything else fails with an
    AssertionError that describes the variant."""
    outcome, detail = classify(load, path)
    if outcome == "other":
        raise AssertionError(f"{description}: {detail}")
    return outcome


def fuzz_file(load: Callable[[Path], object], original: Path, tmp_dir: Path, n: int,
              seed: int = 0, write: Callable[[Path, bytes], None] | None = None) -> Counter:
    """Mutate `original` `n` times into `tmp_dir` (same file name, so suffix detection works)
    and check each load. `write(path, data)` may place companion files (e.g. a .weights file
    beside a .cfg). Returns a Counter of outcomes."""
    data = original.read_bytes()
    counts: Counter = Counter()
    tmp_dir.mkdir(parents=True, exist_ok=True)
    target = tmp_dir / original.name
    for desc, blob in variants(data, n, seed):
        if write is None:
            target.write_bytes(blob)
        else:
            write(target, blob)
        counts[check_outcome(load, target, desc)] += 1
    return counts
