"""Second oracle: pjreddie's own C implementation (Debian's `darknet` package, libdarknet.so via
ctypes) on more cfgs from /usr/share/darknet/cfg. Each cfg is cut before its first yolo/region
head (whose output darknet post-processes) and run at a small input size; the network output
must match npucc's to 1e-4 relative. Darknet reads the files a cfg names (tree=) relative to its
working directory: it runs in the test's folder."""

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
        ("darknet19.cfg", 96), ("resnet18.cfg", 96), ("tiny.cfg", 96),
        ("yolov1.cfg", 128),  # [local]
        ("darknet9000.cfg", 96),  # [softmax] tree=/usr/share/darknet/data/9k.tree
        ("go.test.cfg", 19)]  # [reorg] extra=1


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
                   capture_output=True, cwd=tmp)
    return np.load(tmp / "out.npy")


def cut_cfg(src: Path, dst: Path, size: int, heads: bool = False) -> Path:
    """The cfg up to its first yolo/region head (all of it with `heads`), with [net]
    width/height set to `size`."""
    out, in_net = [], False
    for line in src.read_text().splitlines():
        s = line.strip()
        if s.startswith("["):
            if not heads and s in ("[yolo]", "[region]", "[detection]"):
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


def check_against_darknet(cfg: Path, tmp_path: Path, seed: int) -> float:
    """npucc's output of `cfg` with random weights equals libdarknet's within 1e-4 relative;
    returns that relative difference."""
    weights = write_weights(tmp_path / "w.weights", darknet.random_weights(cfg, seed=seed))
    graph = darknet.load(cfg, weights)
    x = np.random.default_rng(seed + 1).uniform(0, 1, graph.inputs[0].shape).astype(np.float32)
    (ours,) = run_graph(graph, [x])
    theirs = run_darknet(cfg, weights, x, ours.size, tmp_path)
    return assert_close(ours, theirs)


def assert_close(ours: np.ndarray, theirs: np.ndarray, tol: float = 1e-4) -> float:
    """max |ours - theirs| / max |theirs| <= tol, on outputs that are not constant."""
    err = float(np.max(np.abs(ours.ravel() - theirs.ravel())) / np.max(np.abs(theirs)))
    assert err <= tol, f"relative error {err:.2e}"
    assert float(np.std(theirs)) > 1e-6
    return err


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


def _local_cfg(h: int, w: int, local: str) -> str:
    """A 6-channel image, a 3x3 convolution to 5 channels, then `local`. libdarknet runs [local]'s
    im2col in the network's shared workspace without counting it in the workspace size, so the
    convolution's im2col (H x W x 9 x 6) must be the larger one, as in yolov1.cfg."""
    return f"""[net]
height={h}
width={w}
channels=6

[convolutional]
filters=5
size=3
stride=1
pad=1
activation=leaky

{local}
"""


@pytest.mark.parametrize("h, w, local", [
    (9, 7, "[local]\nfilters=4\nsize=3\nstride=2\npad=1\nactivation=leaky"),
    (8, 11, "[local]\nfilters=3\nsize=3\nstride=1\npad=1\nactivation=linear"),
    (7, 10, "[local]\nfilters=6\nsize=2\nstride=1\npad=0\nactivation=relu"),
    (11, 9, "[local]\nfilters=2\nsize=5\nstride=3\npad=2\nactivation=logistic"),
    (5, 6, "[local]\nfilters=3\nsize=1\nstride=1"),  # darknet's defaults: pad=0, logistic
    (6, 5, "[local]\nfilters=4\nsize=3\nstride=2\npad=0\nactivation=leaky\n\n"
           "[local]\nfilters=2\nsize=1\nstride=1\npad=0\nactivation=linear"),
], ids=["s3-stride2-pad", "s3-pad", "s2-nopad", "s5-stride3-pad2", "defaults", "two"])
def test_local_matches_debian_darknet(tmp_path, h, w, local):
    """[local] (a filter bank per output position; yolov1.cfg) on odd sizes, with and without
    padding, stride 1 to 3, against libdarknet."""
    cfg = tmp_path / "local.cfg"
    cfg.write_text(_local_cfg(h, w, local))
    check_against_darknet(cfg, tmp_path, seed=11)


# A tiny class tree: roots a, b; a's children c, d, e; b's children f, g; e's children h, i.
TREE = "a -1\nb -1\nc 0\nd 0\ne 0\nf 1\ng 1\nh 4\ni 4\n"


@pytest.mark.parametrize("softmax", ["tree=t.tree", "tree=t.tree\ntemperature=0.5",
                                     "groups=3\ntemperature=2"])
def test_softmax_tree_matches_debian_darknet(tmp_path, softmax):
    """[softmax] tree= (a softmax within each group of siblings; darknet9000.cfg), with
    temperature, and groups=, on a conv output flattened as darknet does; the tree file is
    named relative to the cfg (darknet: to its working directory, the same folder here)."""
    (tmp_path / "t.tree").write_text(TREE)
    cfg = tmp_path / "tree.cfg"
    cfg.write_text(f"[net]\nheight=3\nwidth=3\nchannels=2\n\n[convolutional]\nfilters=1\n"
                   f"size=3\nstride=1\npad=1\nactivation=linear\n\n[softmax]\n{softmax}\n")
    check_against_darknet(cfg, tmp_path, seed=13)


def test_reorg_extra_matches_debian_darknet(tmp_path):
    """[reorg] extra=k (go.cfg): the flat input and k zeros, then a softmax over all of them."""
    cfg = tmp_path / "extra.cfg"
    cfg.write_text("[net]\nheight=4\nwidth=5\nchannels=2\n\n[convolutional]\nfilters=2\n"
                   "size=3\nstride=1\npad=1\nactivation=leaky\n\n[reorg]\nextra=3\nstride=1\n\n"
                   "[softmax]\ntemperature=0.25\n")
    check_against_darknet(cfg, tmp_path, seed=17)


# libdarknet's own tree softmax of a [region] layer: its read_tree groups the tree file, its
# softmax kernel runs on each group of each box's class scores (stride H * W, as in darknet's
# forward_region_layer_gpu; the CPU forward of Debian's build writes NaN there: it steps through
# the classes with the wrong offsets and a temperature of 0).
_REGION_TREE_SOFTMAX = r"""
import ctypes, sys
import numpy as np
lib_path, tree_path, raw_path, out_path, num = sys.argv[1:]
P = ctypes.POINTER
class Tree(ctypes.Structure):
    _fields_ = [("leaf", P(ctypes.c_int)), ("n", ctypes.c_int), ("parent", P(ctypes.c_int)),
                ("child", P(ctypes.c_int)), ("group", P(ctypes.c_int)),
                ("name", P(ctypes.c_char_p)), ("groups", ctypes.c_int),
                ("group_size", P(ctypes.c_int)), ("group_offset", P(ctypes.c_int))]
lib = ctypes.CDLL(lib_path)
lib.read_tree.restype = P(Tree)
lib.read_tree.argtypes = [ctypes.c_char_p]
lib.softmax.argtypes = [P(ctypes.c_float), ctypes.c_int, ctypes.c_float, ctypes.c_int,
                        P(ctypes.c_float)]
tree = lib.read_tree(tree_path.encode()).contents
raw = np.load(raw_path)  # (num * (5 + classes), H, W)
_, h, w = raw.shape
boxes = np.ascontiguousarray(raw.reshape(int(num), -1, h * w)[:, 5:])  # (num, classes, H*W)
out = np.zeros_like(boxes)
f32 = P(ctypes.c_float)
for a in range(boxes.shape[0]):
    for g in range(tree.groups):
        start, size = tree.group_offset[g], tree.group_size[g]
        for cell in range(h * w):
            at = 4 * ((a * boxes.shape[1] + start) * h * w + cell)  # bytes
            lib.softmax(ctypes.cast(boxes.ctypes.data + at, f32), size, 1.0, h * w,
                        ctypes.cast(out.ctypes.data + at, f32))
np.save(out_path, out)
"""


def darknet_region_tree_softmax(tree: Path, raw: np.ndarray, num: int, tmp: Path) -> np.ndarray:
    """libdarknet's tree softmax of the class scores of each box of a [region] input `raw`
    (1, num * (5 + classes), H, W): (num, classes, H * W), in a child process."""
    np.save(tmp / "raw.npy", raw[0])
    subprocess.run([sys.executable, "-c", _REGION_TREE_SOFTMAX, str(LIB), str(tree),
                    str(tmp / "raw.npy"), str(tmp / "classes.npy"), str(num)], check=True,
                   capture_output=True)
    return np.load(tmp / "classes.npy")


def check_region_tree(cfg: Path, tree: Path, num: int, tmp_path: Path, seed: int) -> float:
    """The raw input of `cfg`'s [region] head matches libdarknet's forward pass of the cfg cut
    before it; the head's class probabilities match libdarknet's tree softmax of that raw
    input. Returns the larger relative difference."""
    weights = write_weights(tmp_path / "w.weights", darknet.random_weights(cfg, seed=seed))
    graph = darknet.load(cfg, weights)
    x = np.random.default_rng(seed + 1).uniform(0, 1, graph.inputs[0].shape).astype(np.float32)
    raw, boxes = run_graph(graph, [x])
    cut = cut_cfg(cfg, tmp_path / "cut.cfg", graph.inputs[0].shape[2])
    if "[convolutional]" in cut.read_text():
        raw_err = assert_close(raw, run_darknet(cut, weights, x, raw.size, tmp_path))
    else:  # the head reads the graph input
        raw_err = 0.0
    _, c, h, w = raw.shape
    theirs = darknet_region_tree_softmax(tree, raw, num, tmp_path)
    # ours: rows (cell row-major, anchor) of [box, objectness, classes]
    ours = boxes.reshape(h * w, num, c // num)[:, :, 5:].transpose(1, 2, 0)
    return max(raw_err, assert_close(ours, theirs))


def test_region_tree_matches_debian_darknet(tmp_path):
    """[region] tree=: each box's class scores soft-maxed within each group of the tree."""
    (tmp_path / "t.tree").write_text(TREE)
    num, classes = 2, 9
    cfg = tmp_path / "region.cfg"
    cfg.write_text(f"[net]\nheight=3\nwidth=4\nchannels={num * (5 + classes)}\n\n"
                   f"[region]\nanchors=1,1.5, 2,2.5\nclasses={classes}\ncoords=4\nnum={num}\n"
                   "softmax=1\ntree=t.tree\nmap=coco9k.map\n")
    check_region_tree(cfg, tmp_path / "t.tree", num, tmp_path, seed=19)


def test_yolo9000_matches_debian_darknet(tmp_path):
    """yolo9000.cfg at 64x64 (9418 classes in 1846 groups of data/9k.tree)."""
    cfg = cut_cfg(CFG_DIR / "yolo9000.cfg", tmp_path / "yolo9000.cfg", 64, heads=True)
    check_region_tree(cfg, Path("/usr/share/darknet/data/9k.tree"), 3, tmp_path, seed=23)
