"""Hand-made bad Darknet files (issue 9): each is refused with a FrontendError naming the file,
line and section, before anything the cfg declares is allocated."""

import os
import tracemalloc

import numpy as np
import pytest

from npucc.errors import FrontendError
from npucc.frontends import darknet

from .conftest import write_weights

NET = "[net]\nwidth=16\nheight=16\nchannels=3\n"
CONV = "[convolutional]\nfilters=4\nsize=3\n"


@pytest.mark.parametrize("body, message", [
    ("[convolutional]\nfilters=inf\nsize=3\n", r"filters='inf' is not a number"),
    ("[convolutional]\nfilters=nan\nsize=3\n", r"filters='nan' is not a number"),
    ("[convolutional]\nfilters=\nsize=3\n", r"filters='' is not a number"),
    ("[convolutional]\nfilters=1e400\nsize=3\n", r"filters='1e400' is not a number"),
    (CONV + "groups=0\n", r"groups=0 is out of range \(at least 1\)"),
    ("[convolutional]\nfilters=4\nsize=0\n", r"size=0 is out of range"),
    ("[convolutional]\nfilters=-4\nsize=3\n", r"filters=-4 is out of range"),
    (CONV + "stride=0\n", r"stride=0 is out of range"),
    (CONV + "dilation=0\n", r"dilation=0 is out of range"),
    ("[maxpool]\nsize=2\nstride=0\n", r"\[maxpool\]: stride=0 is out of range"),
    ("[maxpool]\nsize=2\npadding=-9\n", r"padding=-9 is out of range \(at least 0\)"),
    ("[connected]\noutput=0\n", r"\[connected\]: output=0 is out of range"),
    ("[reorg]\nstride=0\n", r"\[reorg\]: stride=0 is out of range"),
    (CONV + "[route]\nlayers=-1\ngroups=0\n", r"section 1 \[route\]: groups=0"),
    (CONV + "[route]\nlayers=-1\ngroups=2\ngroup_id=5\n", r"group_id=5 is not below groups=2"),
    (CONV + "[route]\nlayers=nan\n", r"layers='nan' holds a value that is not a finite number"),
    ("[upsample]\nstride=2\nscale=inf\n", r"scale=inf is not a finite number"),
    ("[convolutional]\nfilters=100000000\nsize=3\n",
     r"the parameter tensor has shape \[100000000, 3, 3, 3\]: 10800000000 bytes, over the "
     r"4294967296-byte limit"),
    ("[upsample]\nstride=100000\n", r"the output has shape \[1, 3, 1600000, 1600000\]: .*over "
                                     "the"),
])
def test_bad_section_options(tmp_path, body, message):
    path = tmp_path / "bad.cfg"
    path.write_text(NET + body)
    with pytest.raises(FrontendError, match=r"bad\.cfg:\d+: .*" + message):
        darknet.load(path, weights="random")


@pytest.mark.parametrize("net, message", [
    ("[net]\nwidth=inf\nheight=16\n", r"bad\.cfg:1: \[net\]: width='inf' is not a number"),
    ("[net]\nwidth=-16\nheight=16\n", r"bad\.cfg:1: \[net\]: width=-16 is out of range"),
    ("[net]\nwidth=16\nheight=16\nchannels=0\n", r"bad\.cfg:1: \[net\]: channels=0 is out"),
    ("[net]\nwidth=1000000\nheight=1000000\n", r"bad\.cfg:1: \[net\]: the input has shape .* "
                                               "over the"),
])
def test_bad_net_section(tmp_path, net, message):
    path = tmp_path / "bad.cfg"
    path.write_text(net + CONV)
    with pytest.raises(FrontendError, match=message):
        darknet.load(path, weights="random")


def test_binary_bytes_are_not_a_cfg(tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_bytes(b"[net]\nwidth=\xff\xfe\n")
    with pytest.raises(FrontendError, match=r"bad\.cfg: not a Darknet cfg \(not UTF-8"):
        darknet.load(path, weights="random")


def test_cfg_without_layers(tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text(NET)
    with pytest.raises(FrontendError, match=r"bad\.cfg: no layer sections after \[net\]"):
        darknet.load(path, weights="random")


@pytest.mark.parametrize("section,message", [
    # a 200000-filter convolution: 21.6 MB of parameters (npucc used to allocate them first)
    ("[convolutional]\nfilters=200000\nsize=3\n",
     r"section 0 \[convolutional\]: weights file too short: the cfg needs \d+ floats up to "
     r"this section .*short\.weights holds 100"),
    # a [local] layer declaring 1.1 GB of per-position filters
    ("[local]\nfilters=4096\nsize=3\npad=1\n", r"section 0 \[local\]: weights file too short"),
])
def test_short_weights_file_fails_before_allocating(tmp_path, section, message):
    """A layer far larger than its 400-byte weights file is refused before its parameters are
    allocated: traced numpy allocations stay small."""
    cfg = tmp_path / "big.cfg"
    cfg.write_text(NET + section)
    weights = write_weights(tmp_path / "short.weights", [np.zeros(100, np.float32)])
    tracemalloc.start()
    try:
        with pytest.raises(FrontendError, match=r"big\.cfg:5: " + message):
            darknet.load(cfg, weights=weights)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20


def test_weights_file_too_long_names_both_files(tmp_path):
    cfg = tmp_path / "small.cfg"
    cfg.write_text(NET + CONV)
    n = sum(a.size for a in darknet.random_weights(cfg))
    weights = write_weights(tmp_path / "long.weights", [np.zeros(n + 7, np.float32)])
    with pytest.raises(FrontendError, match=rf"long\.weights: weights file too long: the cfg "
                                            rf"\S*small\.cfg needs {n} floats"):
        darknet.load(cfg, weights=weights)


SOFTMAX_TREE = NET.replace("width=16\nheight=16\nchannels=3", "width=1\nheight=1\nchannels=4") \
    + "[softmax]\ntree=t.tree\n"


@pytest.mark.parametrize("tree, message", [
    (None, r"cannot read it: No such file"),
    (b"a -1\nb \xff\xfe -1\n", r"not a text file \(not UTF-8 at byte 7\)"),
    (b"a -1\nb -1\x00\nc 0\nd 0\n", r"not a text file \(a NUL byte"),
    (b"", r"empty"),
    (b"a -1\nb -1\nc 2\nd 0\n", r"line 3: parent 2 is not -1 \(a root\) nor an earlier line "
                                r"\(0 to 1\)"),
    (b"a -1\nb -1\nc 9\nd 0\n", r"line 3: parent 9 is not -1"),
    (b"a -1\nb -2\nc 0\nd 0\n", r"line 2: parent -2 is not -1"),
    (b"a 0\nb -1\nc 0\nd 0\n", r"line 1: parent 0 is not -1 \(a root\)$"),
    (b"a -1\nb -1\nsecret 0x1f\nd 0\n", r"line 3: the parent is not an integer$"),
    (b"a -1\nb -1 extra\nc 0\nd 0\n", r"line 2: expected 'name parent', got 3 fields"),
    (b"a -1\n\nb -1\nc 0\nd 0\n", r"line 2: expected 'name parent', got 0 fields"),
    (b"a -1\nb -1\nc 0\n", r"the tree file \S*t\.tree has 3 classes, the input 4 values"),
])
def test_bad_tree_file(tmp_path, tree, message):
    """The tree file a cfg names is untrusted: missing, binary, malformed or wrong-sized files
    are refused naming the cfg, its section and the tree file's line, never quoting its text."""
    cfg = tmp_path / "tree.cfg"
    cfg.write_text(SOFTMAX_TREE)
    if tree is not None:
        (tmp_path / "t.tree").write_bytes(tree)
    with pytest.raises(FrontendError, match=r"tree\.cfg:5: section 0 \[softmax\]: .*"
                                            + message) as e:
        darknet.load(cfg, weights="random")
    assert "secret" not in str(e.value)


def test_huge_tree_file_is_refused_before_reading(tmp_path, monkeypatch):
    """A tree file past MAX_TREE_BYTES is refused by its size, before it is read."""
    from npucc.frontends.darknet import tree
    monkeypatch.setattr(tree, "MAX_TREE_BYTES", 1000)
    (tmp_path / "huge.tree").write_text("a -1\n" * 300)
    cfg = tmp_path / "region.cfg"
    cfg.write_text(NET.replace("channels=3", "channels=30") + "[region]\nanchors=1,1\n"
                   "classes=25\nnum=1\ntree=huge.tree\n")
    with pytest.raises(FrontendError, match=r"region\.cfg:5: section 0 \[region\]: tree file "
                                            r"\S*huge\.tree: larger than 1000 bytes"):
        darknet.load(cfg, weights="random")


@pytest.mark.parametrize("name", ["/dev/zero", "fifo", "."])
def test_tree_file_must_be_a_regular_file(tmp_path, name):
    """A device, a FIFO (which would block a reader) or a folder is refused without reading."""
    os.mkfifo(tmp_path / "fifo")
    cfg = tmp_path / "region.cfg"
    cfg.write_text(NET.replace("channels=3", "channels=30") + "[region]\nanchors=1,1\n"
                   f"classes=25\nnum=1\ntree={name}\n")
    with pytest.raises(FrontendError, match=r"\[region\]: tree file \S+: not a regular file"):
        darknet.load(cfg, weights="random")


def test_region_tree_must_hold_the_classes(tmp_path):
    (tmp_path / "t.tree").write_text("a -1\nb -1\nc 0\n")
    cfg = tmp_path / "region.cfg"
    cfg.write_text(NET.replace("channels=3", "channels=10") + "[region]\nanchors=1,1\n"
                   "classes=5\nnum=1\ntree=t.tree\n")
    with pytest.raises(FrontendError, match=r"the tree file \S*t\.tree has 3 classes, classes=5"):
        darknet.load(cfg, weights="random")


@pytest.mark.parametrize("body, message", [
    ("[local]\nfilters=2\nsize=5\npad=1\n", r"pad=1 with size=5, stride=1 on a 16x16 input: "
                                            r"darknet's output is 16x16 but its im2col pads to "
                                            r"a different size"),
    ("[local]\nfilters=2\nsize=17\n", r"size=17 is larger than the 16x16 input"),
    ("[local]\nfilters=2\nsize=3\npad=-1\n", r"pad=-1 is out of range"),
    ("[softmax]\n\n[local]\nfilters=2\nsize=1\n", r"section 1 \[local\]: needs an image input "
                                                  r"\(N, C, H, W\), got \[1, 768\]"),
    ("[reorg]\nextra=2\nstride=1\n\n[crop]\ncrop_height=2\ncrop_width=2\n",
     r"\[crop\]: needs an image input"),
    ("[softmax]\ntemperature=0\n", r"temperature=0.0 must be above 0"),
    ("[softmax]\ngroups=5\n", r"groups=5 does not divide the 768 input values"),
    ("[local]\nfilters=200000\nsize=3\npad=1\n",
     r"the parameter tensor has shape \[51200000, 27\]: .*over the"),
])
def test_bad_local_softmax_reorg(tmp_path, body, message):
    path = tmp_path / "bad.cfg"
    path.write_text(NET + body)
    with pytest.raises(FrontendError, match=r"bad\.cfg:\d+: .*" + message):
        darknet.load(path, weights="random")


