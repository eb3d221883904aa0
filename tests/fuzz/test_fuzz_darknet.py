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


# The sections that read more than the cfg and the weights: [local] (per-position weights), a
# [softmax] and a [region] naming a class-tree file, [reorg] extra=.
CFG_TREE = """[net]
width=6
height=5
channels=2

[local]
filters=1
size=3
stride=2
pad=1
activation=leaky

[reorg]
extra=3
stride=1

[softmax]
tree=classes.tree
temperature=0.5

[route]
layers=0

[convolutional]
filters=14
size=1
activation=linear

[region]
anchors=1,1.5, 2,2.5
classes=2
num=2
softmax=1
tree=small.tree
map=coco9k.map
"""
TREE = "a -1\nb -1\nc 0\nd 0\ne 0\nf 1\ng 1\nh 4\ni 4\nj 4\nk 5\nl 5\n"  # 12 classes


@pytest.fixture(scope="module")
def tree_model(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("darknet-tree")
    cfg = d / "tree.cfg"
    cfg.write_text(CFG_TREE)
    (d / "classes.tree").write_text(TREE)  # the 3 x 3 [local] output and 3 extra values
    (d / "small.tree").write_text("x -1\ny -1\n")
    assert [v.name for v in darknet.load(cfg, weights="random").outputs] == ["5_raw", "5_boxes"]
    return cfg


def test_mutated_cfg_with_local_and_trees(tree_model, tmp_path):
    """The mutated cfg sits beside the tree files it names."""
    for name in ("classes.tree", "small.tree"):
        (tmp_path / name).write_bytes((tree_model.parent / name).read_bytes())
    _check(fuzz_file(lambda p: darknet.load(p, weights="random"), tree_model, tmp_path,
                     VARIANTS, seed=4))


def test_mutated_tree_file(tree_model, tmp_path):
    """A mutated tree file: it loads or is refused with an error naming it."""
    (tmp_path / "tree.cfg").write_text(CFG_TREE)
    (tmp_path / "small.tree").write_bytes((tree_model.parent / "small.tree").read_bytes())
    _check(fuzz_file(lambda p: darknet.load(tmp_path / "tree.cfg", weights="random"),
                     tree_model.parent / "classes.tree", tmp_path, VARIANTS, seed=5))
