"""Second oracle: pjreddie's own C implementation (Debian's `darknet` package, libdarknet.so via
ctypes) on more cfgs from /usr/share/darknet/cfg. Each cfg is cut before its first yolo/region
head (whose output darknet post-processes) and run at a small input size; the network output
must match npucc's to 1e-4 relative."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npucc.frontends import darknet
from npucc.ir import run_graph
from tests import oracles

from .conftest import write_weights

LIB = oracles.DARKNET_LIB
CFG_DIR = Path("/usr/share/darknet/cfg")
pytestmark = [pytest.mark.slow,
              oracles.needs(LIB.exists() and CFG_DIR.is_dir(), f"Debian package 'darknet' is not "
                            f"installed ({LIB} missing; apt-get install darknet)")]

CFGS = [("yolov2-tiny-voc.cfg", 160), ("yolov2.cfg", 128), ("yolov3-spp.cfg", 128),
        ("darknet19.cfg", 96), ("resnet18.cfg", 96), ("tiny.cfg", 96)]


# libdarknet is built with fast-math: loading it runs a constructor that turns on flush-to-zero
# for the whole process, which would break every float test that runs after it in the same
# worker. So darknet runs in a child process.
_RUN_DARKNET = r"""
import ctypes, sys
import numpy as np
lib_path, cfg, weights, x_path, out_path, size = sys.argv[1:]
lib = ctypes.CDLL(lib_path)
lib.load_network.restype = ctypes.c_void_p
lib.load_network.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
lib.set_batch_network.argtypes = [ctypes.c_void_p, ctypes.c_int]
lib.network_predict.restype = ctypes.POINTER(ctypes.c_float)
lib.network_predict.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float)]
net = lib.load_network(cfg.encode(), weights.encode(), 0)
lib.set_batch_network(net, 1)
x = np.ascontiguousarray(np.load(x_path).ravel())
ptr = lib.network_predict(net, x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
np.save(out_path, np.ctypeslib.as_array(ptr, shape=(int(size),)).copy())
"""


def run_darknet(cfg: Path, weights: Path, x: np.ndarray, size: int, tmp: Path) -> np.ndarray:
    """The network output of libdarknet on `x` (flattened, `size` floats), in a child process."""
    np.save(tmp / "x.npy", x)
    subprocess.run([sys.executable, "-c", _RUN_DARKNET, str(LIB), str(cfg), str(weights),
                    str(tmp / "x.npy"), str(tmp / "out.npy"), str(size)], check=True,
                   capture_output=True)
    return np.load(tmp / "out.npy")


def cut_cfg(src: Path, dst: Path, size: int) -> Path:
    """The cfg up to its first yolo/region head, with [net] width/height set to `size`."""
    out, in_net = [], False
    for line in src.read_text().splitlines():
        s = line.strip()
        if s.startswith("["):
            if s in ("[yolo]", "[region]", "[detection]"):
                break
            in_net = s in ("[net]", "[network]")
        if in_net and s.replace(" ", "").startswith(("width=", "height=", "batch=")):
            continue
        out.append(line)
        if in_net and s in ("[net]", "[network]"):
            out += [f"width={size}", f"height={size}", "batch=1"]
    dst.write_text("\n".join(out) + "\n")
    return dst


@pytest.mark.parametrize("name,size", CFGS, ids=[c[0] for c in CFGS])
def test_matches_debian_darknet(tmp_path, name, size):
    cfg = cut_cfg(CFG_DIR / name, tmp_path / name, size)
    check_against_darknet(cfg, tmp_path, seed=5)


def check_against_darknet(cfg: Path, tmp_path: Path, seed: int) -> None:
    """npucc's output of `cfg` with random weights equals libdarknet's within 1e-4 relative."""
    weights = write_weights(tmp_path / "w.weights", darknet.random_weights(cfg, seed=seed))
    graph = darknet.load(cfg, weights)
    x = np.random.default_rng(seed + 1).uniform(0, 1, graph.inputs[0].shape).astype(np.float32)
    (ours,) = run_graph(graph, [x])
    theirs = run_darknet(cfg, weights, x, ours.size, tmp_path)
    err = np.max(np.abs(ours.ravel() - theirs)) / np.max(np.abs(theirs))
    assert err <= 1e-4, f"relative error {err:.2e}"
    assert float(np.std(theirs)) > 1e-6


def _yolov1_like(crop: str, softmax: int, activation: str) -> str:
    """A small cfg with a [crop] first (as vgg-16.cfg, strided.cfg), convolutions with the given
    activation, and a YOLOv1 [connected] + [detection] head (as yolov1-tiny.cfg)."""
    side, num, classes, coords = 3, 2, 4, 4
    return f"""[net]
width=22
height=20
channels=3
batch=1

[crop]
crop_height=16
crop_width=18
flip=1
{crop}

[convolutional]
filters=6
size=3
stride=1
pad=1
activation={activation}

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=8
size=3
stride=2
pad=1
activation={activation}

[connected]
output={side * side * ((1 + coords) * num + classes)}
activation=linear

[detection]
classes={classes}
coords={coords}
rescore=1
side={side}
num={num}
softmax={softmax}
sqrt=1
jitter=.2
object_scale=1
noobject_scale=.5
class_scale=1
coord_scale=5
"""


@pytest.mark.parametrize("crop, softmax, activation", [
    ("", 1, "ramp"), ("noadjust=1", 0, "relie"), ("", 0, "loggy"), ("noadjust=1", 1, "elu"),
    ("", 1, "selu"), ("", 0, "hardtan")])
def test_crop_detection_and_legacy_activations_match_debian_darknet(tmp_path, crop, softmax,
                                                                    activation):
    """[crop] (the centred window, x * 2 - 1 unless noadjust), YOLOv1's [detection] (softmax per
    cell over the class scores) and darknet's older activations, against libdarknet."""
    cfg = tmp_path / "v1.cfg"
    cfg.write_text(_yolov1_like(crop, softmax, activation))
    check_against_darknet(cfg, tmp_path, seed=3)
