"""Fixtures for the Darknet frontend tests: the public cfgs in tests/models/darknet and writing
.weights files."""

from pathlib import Path

import numpy as np
import pytest

MODELS = Path(__file__).resolve().parents[2] / "models" / "darknet"  # see tests/models/SOURCES.md


@pytest.fixture(scope="session")
def darknet_models() -> Path:
    """tests/models/darknet: public .cfg files (origin and license in tests/models/SOURCES.md)."""
    return MODELS


def write_weights(path: Path, arrays, version=(0, 2, 0)) -> Path:
    """A .weights file: int32 major, minor, revision; `seen` (uint64 from version 0.2, else
    int32); then the float32 parameters in order."""
    major, minor, revision = version
    seen = np.array([12345], np.uint64 if major * 10 + minor >= 2 else np.int32)
    with open(path, "wb") as f:
        f.write(np.array(version, np.int32).tobytes())
        f.write(seen.tobytes())
        for a in arrays:
            f.write(np.asarray(a, np.float32).tobytes())
    return path
