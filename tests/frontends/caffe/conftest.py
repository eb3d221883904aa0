"""Fixtures for the Caffe frontend tests: the public model definitions in tests/models/caffe, and
writing test .caffemodels."""

from pathlib import Path

import numpy as np
import pytest

from npucc.frontends.caffe import caffe_pb2

MODELS = Path(__file__).resolve().parents[2] / "models" / "caffe"  # see tests/models/SOURCES.md


@pytest.fixture(scope="session")
def caffe_models() -> Path:
    """tests/models/caffe: public .prototxt files (origins, licenses: tests/models/SOURCES.md)."""
    return MODELS


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
