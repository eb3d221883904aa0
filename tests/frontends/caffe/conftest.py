"""Fixtures for the Caffe frontend tests: the shared model folder, and writing test .caffemodels."""

from pathlib import Path

import numpy as np
import pytest

from npucc.frontends.caffe import caffe_pb2

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "models"


@pytest.fixture(scope="session")
def caffe_models() -> Path:
    """../shared/models/caffe beside the repo (CI puts shared/ beside the clone)."""
    d = SHARED / "caffe"
    if not d.is_dir():
        pytest.fail(f"shared models not found at {d}: the Caffe oracle tests need the shared/ "
                    "folder beside the repository clone")
    return d


def write_caffemodel(path: Path, blobs: dict[str, list[np.ndarray]], v1: bool = False) -> Path:
    """A binary NetParameter holding `blobs` by layer name (V1 `layers` if v1)."""
    net = caffe_pb2.NetParameter()
    for name, arrays in blobs.items():
        layer = net.layers.add() if v1 else net.layer.add()
        layer.name = name
        for a in arrays:
            b = layer.blobs.add()
            b.shape.dim.extend(a.shape)
            b.data.extend(np.asarray(a, np.float32).ravel().tolist())
    path.write_bytes(net.SerializeToString())
    return path
