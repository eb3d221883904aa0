"""Where the parameters come from: a .weights file read in layer order, or seeded random ones."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ...errors import FrontendError


class WeightsReader:
    """Floats of a .weights file consumed in layer order, never past its end: `take` raises
    `Short` before anything is allocated."""

    class Short(Exception):
        """The file ends before the parameters the cfg declares."""

    def __init__(self, path: Path):
        self.path = path
        raw = Path(path).read_bytes()
        if len(raw) < 12:
            raise FrontendError(f"{path}: too short for a Darknet weights header")
        major, minor, revision = (int(v) for v in np.frombuffer(raw[:12], np.int32))
        seen_bytes = 8 if major * 10 + minor >= 2 and major < 1000 and minor < 1000 else 4
        self.transpose = major > 1000 or minor > 1000
        body = raw[12 + seen_bytes:]
        self.floats = np.frombuffer(body[:len(body) // 4 * 4], np.float32)
        self.version = (major, minor, revision)
        self.pos = 0

    def take(self, n: int, shape, init: str) -> np.ndarray:
        if self.pos + n > self.floats.size:
            raise self.Short(f"weights file too short: the cfg needs {self.pos + n} floats up "
                             f"to this section (its parameters are floats {self.pos} to "
                             f"{self.pos + n}), {self.path} holds {self.floats.size} after "
                             "the header")
        start, self.pos = self.pos, self.pos + n
        return self.floats[start:self.pos].reshape(shape)

    def finish(self, cfg: Path) -> None:
        if self.pos < self.floats.size:
            raise FrontendError(f"{self.path}: weights file too long: the cfg {cfg} needs "
                                f"{self.pos} floats after the header, the file holds "
                                f"{self.floats.size} (wrong cfg for these weights?)")


class RandomWeights:
    """Random parameters in file order (`arrays`), for structure-only loads and tests."""

    transpose = False

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.arrays: list[np.ndarray] = []

    def take(self, n, shape, init):
        rng = self.rng  # float32 throughout: no float64 copy of a large layer's weights
        if init == "weight":  # std sqrt(0.5 / fan_in): deep nets keep bounded activations
            fan_in = max(int(np.prod(shape[1:])), 1)
            arr = rng.standard_normal(shape, dtype=np.float32)
            arr *= np.float32(math.sqrt(0.5 / fan_in))
        elif init == "positive":
            arr = rng.random(shape, dtype=np.float32)
            arr += np.float32(0.5)
        else:
            arr = rng.standard_normal(shape, dtype=np.float32)
            arr *= np.float32(0.1)
        self.arrays.append(arr)
        return arr

    def finish(self, cfg: Path):
        """Random weights always fit the cfg: nothing is left over to check."""
