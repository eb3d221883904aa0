"""Hand-made bad Darknet files (issue 9): each is refused with a FrontendError naming the file,
line and section, before anything the cfg declares is allocated."""

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


def test_short_weights_file_fails_before_allocating(tmp_path):
    """A 200000-filter convolution (21.6 MB of parameters) against a 400-byte weights file: the
    section is refused before its parameters are allocated (traced numpy allocations stay small;
    npucc used to allocate them as zeros first)."""
    cfg = tmp_path / "big.cfg"
    cfg.write_text(NET + "[convolutional]\nfilters=200000\nsize=3\n")
    weights = write_weights(tmp_path / "short.weights", [np.zeros(100, np.float32)])
    tracemalloc.start()
    try:
        with pytest.raises(FrontendError, match=r"big\.cfg:5: section 0 \[convolutional\]: "
                                                r"weights file too short: the cfg needs \d+ "
                                                r"floats up to this section .*short\.weights "
                                                r"holds 100"):
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
