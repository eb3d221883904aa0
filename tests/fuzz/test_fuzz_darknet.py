"""Mutation fuzzing of the Darknet frontend: every mutated .cfg or .weights either loads or raises
an npucc error naming the mutated file (tests/fuzz/mutate.py)."""

from pathlib import Path

import numpy as np
import pytest

from npucc.frontends import darknet
from tests.fuzz.mutate import fuzz_file

CFG = """[net]
width=32
height=32
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=16
size=3
pad=1
groups=2
activation=mish

[convolutional]
filters=16
size=1
pad=1
activation=linear

[shortcut]
from=-2
activation=linear

[route]
layers=-1
groups=2
group_id=1

[upsample]
stride=2

[route]
layers=-1,0

[reorg]
stride=2

[connected]
output=12
activation=linear

[convolutional]
filters=18
size=1
activation=linear

[yolo]
mask=0,1,2
anchors=10,14, 23,27, 37,58
classes=1
num=3
"""
VARIANTS = 500


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("darknet")
    cfg = d / "small.cfg"
    cfg.write_text(CFG)
    weights = d / "small.weights"
    with open(weights, "wb") as f:  # header: version 0.2.0, 64-bit `seen`; then the floats
        f.write(np.array([0, 2, 0], np.int32).tobytes() + np.zeros(1, np.uint64).tobytes())
        for a in darknet.random_weights(cfg):
            f.write(a.astype(np.float32).tobytes())
    assert [v.name for v in darknet.load(cfg).outputs] == ["11_raw", "11_boxes"]
    return cfg, weights


def _check(counts):
    assert sum(counts.values()) == VARIANTS
    assert counts["loaded"] and counts["npucc-error"], counts  # both outcomes are reached


def test_mutated_cfg(model, tmp_path):
    cfg, weights = model
    _check(fuzz_file(lambda p: darknet.load(p, weights=weights), cfg, tmp_path, VARIANTS, seed=1))


def test_mutated_cfg_random_weights(model, tmp_path):
    """Random weights: the sizes the cfg declares are all that bounds the allocation."""
    cfg, _ = model
    _check(fuzz_file(lambda p: darknet.load(p, weights="random"), cfg, tmp_path, VARIANTS,
                     seed=2))


def test_mutated_weights(model, tmp_path):
    cfg, weights = model
    _check(fuzz_file(lambda p: darknet.load(cfg, weights=p), weights, tmp_path, VARIANTS,
                     seed=3))
