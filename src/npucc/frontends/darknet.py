"""Darknet frontend: .cfg + .weights -> Graph.

    from npucc.frontends import darknet
    graph = darknet.load("yolov3-tiny.cfg")                 # weights: yolov3-tiny.weights beside
    graph = darknet.load("yolov3-tiny.cfg", weights="w.weights", input_size=(160, 160))

Each [yolo]/[region] head gives two graph outputs: the raw conv output feeding it (`<i>_raw`)
and its decoded boxes (`<i>_boxes`, a YoloDecode/RegionDecode op). A net without heads outputs
its last layer. Node provenance is "<section index> <section type>", e.g. "12 convolutional".
`python -m npucc.frontends.darknet --supported` prints the supported sections and keys.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np

from .. import limits
from ..errors import FrontendError, IRError, LimitError
from ..ir import DType, Graph, TensorType, Value
from ..registry import Registry
from .docnote import note_command
from .guard import guarded

__all__ = ["SECTIONS", "load", "parse_cfg", "random_weights"]


_MAX_OPTION = 1 << 31  # any integer option beyond this is a corrupt cfg

# ---- cfg text ----
@attrs.define
class Section:
    type: str
    line: int
    options: dict[str, str] = attrs.Factory(dict)


def parse_cfg(path) -> list[Section]:
    """Sections of a .cfg in order ([net] first), with their key=value options as strings."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise FrontendError(f"{path}: cannot read the cfg: {e}") from None
    except UnicodeDecodeError as e:
        raise FrontendError(f"{path}: not a Darknet cfg (not UTF-8 text: byte {e.start})"
                            ) from None
    sections: list[Section] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"[#;].*", "", raw).strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise FrontendError(f"{path}:{n}: malformed section header {raw.strip()!r}")
            sections.append(Section(line[1:-1].strip(), n))
        elif "=" in line:
            if not sections:
                raise FrontendError(f"{path}:{n}: option before the first section")
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
        else:
            raise FrontendError(f"{path}:{n}: expected 'key=value', got {raw.strip()!r}")
    if not sections or sections[0].type not in ("net", "network"):
        raise FrontendError(f"{path}: the first section must be [net]")
    return sections


# ---- weights ----
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
        rng = self.rng
        if init == "weight":  # std sqrt(0.5 / fan_in): deep nets keep bounded activations
            fan_in = max(int(np.prod(shape[1:])), 1)
            arr = rng.normal(0, math.sqrt(0.5 / fan_in), shape)
        elif init == "positive":
            arr = rng.uniform(0.5, 1.5, shape)
        else:
            arr = rng.normal(0, 0.1, shape)
        arr = arr.astype(np.float32)
        self.arrays.append(arr)
        return arr

    def finish(self, cfg: Path):
        """Random weights always fit the cfg: nothing is left over to check."""


# ---- section mappers ----
@attrs.frozen
class SectionSpec:
    type: str
    keys: tuple[str, ...]
    ignored: tuple[str, ...]
    fn: Callable
    doc: str


SECTIONS: Registry[SectionSpec] = Registry("darknet section type", error=FrontendError)
_TRAINING = ("jitter", "ignore_thresh", "truth_thresh", "random", "iou_loss", "iou_normalizer",
             "cls_normalizer", "obj_normalizer", "nms_kind", "beta_nms", "max_delta",
             "counters_per_class", "label_smooth_eps", "resize", "focal_loss", "thresh",
             "bias_match", "rescore", "object_scale", "noobject_scale", "class_scale",
             "coord_scale", "absolute", "max", "iou_thresh", "uc_normalizer", "new_coords")


def section(type_: str, keys=(), ignored=()):
    def register(fn):
        SECTIONS[type_] = SectionSpec(type_, tuple(keys), tuple(ignored), fn,
                                      (fn.__doc__ or "").strip())
        return fn
    return register


class Context:
    """What a section mapper sees: its options, earlier layer outputs, parameters, a builder."""

    def __init__(self, imp: Importer, index: int, sec: Section):
        self.imp, self.index, self.sec = imp, index, sec
        self.graph = imp.graph
        self.prov = f"{index} {sec.type}"

    def error(self, msg) -> FrontendError:
        index = f"section {self.index} " if self.index >= 0 else ""
        return FrontendError(f"{self.imp.path}:{self.sec.line}: {index}[{self.sec.type}]: {msg}")

    def int(self, key, default=None, lo: int | None = None) -> int:
        """An integer option; `lo`: the smallest value the section can use."""
        v = self._get(key, default)
        try:
            n = int(float(v))
        except (ValueError, OverflowError):
            raise self.error(f"{key}={v!r} is not an integer") from None
        if lo is not None and n < lo:
            raise self.error(f"{key}={n} is out of range (at least {lo})")
        if abs(n) > _MAX_OPTION:
            raise self.error(f"{key}={n} is out of range (at most {_MAX_OPTION})")
        return n

    def float(self, key, default=None) -> float:
        v = float(self._get(key, default))
        if not math.isfinite(v):
            raise self.error(f"{key}={v} is not a finite number")
        return v

    def str(self, key, default=None) -> str:
        return str(self._get(key, default))

    def ints(self, key, default=None) -> list[int]:
        values = self.floats(key, default)
        if any(v != int(v) or abs(v) > _MAX_OPTION for v in values):
            raise self.error(f"{key}={self.sec.options.get(key)!r} is not a list of integers")
        return [int(v) for v in values]

    def floats(self, key, default=None) -> list[float]:
        v = self._get(key, default)
        if not isinstance(v, str):
            return v
        try:
            values = [float(x) for x in v.split(",") if x.strip()]
        except ValueError:
            raise self.error(f"{key}={v!r} is not a list of numbers") from None
        if not all(math.isfinite(x) for x in values):
            raise self.error(f"{key}={v!r} holds a value that is not a finite number")
        return values

    def _get(self, key, default):
        if key in self.sec.options:
            raw = self.sec.options[key]
            if default is None or isinstance(default, (str, list)):
                return raw
            try:
                return type(default)(float(raw))
            except (ValueError, OverflowError):
                raise self.error(f"{key}={raw!r} is not a number") from None
        if default is None:
            raise self.error(f"needs '{key}='")
        return default

    @property
    def prev(self) -> Value:
        if self.index == 0:
            return self.imp.input
        return self.imp.outputs[self.index - 1]

    def layer(self, ref: int) -> Value:
        """Output of layer `ref` (negative: relative to this one)."""
        i = self.index + ref if ref < 0 else ref
        if not 0 <= i < self.index:
            raise self.error(f"refers to layer {ref} (index {i}), which is not an earlier layer")
        return self.imp.outputs[i]

    def params(self, n_shape, init="small") -> np.ndarray:
        """The next parameters in file order (or random ones), after checking the declared size
        against npucc.limits and, for a file, against what the file holds."""
        shape = tuple(int(d) for d in n_shape)
        self.check_size(shape, "the parameter tensor")
        try:
            return self.imp.weights.take(math.prod(shape), shape, init)
        except WeightsReader.Short as e:
            raise self.error(str(e)) from None

    def check_size(self, shape, what: str) -> None:
        """Refuse a tensor of `shape` (float32) over npucc.limits, naming this section."""
        try:
            limits.check_shape(shape, 4, what)
        except LimitError as e:
            raise self.error(str(e)) from None

    def const(self, arr, suffix) -> Value:
        return self.graph.add_constant(np.asarray(arr, np.float32),
                                       self.graph.unique_name(f"l{self.index}_{suffix}"))

    def op(self, op, *inputs, **attrs_) -> Value:
        try:
            node = self.graph.add_node(op, inputs, attrs_, provenance=(self.prov,),
                                       output_names=[self.graph.unique_name(
                                           f"l{self.index}_{op.lower()}")])
        except IRError as e:
            raise self.error(str(e)) from None
        return node.outputs[0]

    def activation(self, x: Value, name: str) -> Value:
        if name == "linear":
            return x
        if name == "leaky":
            return self.op("LeakyRelu", x, alpha=0.1)
        if name == "relu":
            return self.op("Relu", x)
        if name == "relu6":
            return self.op("Clip", x, min=0.0, max=6.0)
        if name == "logistic":
            return self.op("Sigmoid", x)
        if name == "tanh":
            return self.op("Tanh", x)
        if name == "mish":
            return self.op("Mish", x)
        if name == "swish":
            return self.op("Mul", x, self.op("Sigmoid", x))
        raise self.error(f"activation '{name}' is not supported (supported: {', '.join(ACTS)})")


ACTS = ("linear", "leaky", "relu", "relu6", "logistic", "tanh", "mish", "swish")


def _batch_norm(ctx: Context, y: Value, n: int, biases: np.ndarray) -> Value:
    scales = ctx.params((n,), "positive")
    mean = ctx.params((n,), "small")
    var = ctx.params((n,), "positive")
    return ctx.op("BatchNorm", y, ctx.const(scales, "scale"), ctx.const(biases, "bias"),
                  ctx.const(mean, "mean"), ctx.const(var, "var"), epsilon=1e-5)


@section("convolutional", keys=("filters", "size", "stride", "stride_x", "stride_y", "pad",
                                "padding", "groups", "batch_normalize", "activation",
                                "dilation"))
def convolutional(ctx: Context):
    """Conv (groups, dilation, pad=1 meaning size/2) + BatchNorm (darknet's biases become the
    BN bias) + activation. Weights file order: biases, [scales, mean, variance], weights."""
    x = ctx.prev
    n, k = ctx.int("filters", 1, lo=1), ctx.int("size", 1, lo=1)
    s = ctx.int("stride", 1, lo=1)
    sy, sx = ctx.int("stride_y", s, lo=1), ctx.int("stride_x", s, lo=1)
    pad = ctx.int("padding", (k // 2) if ctx.int("pad", 0) else 0, lo=0)
    groups, dil = ctx.int("groups", 1, lo=1), ctx.int("dilation", 1, lo=1)
    bn = ctx.int("batch_normalize", 0)
    c = x.shape[1]
    if c % groups or n % groups:
        raise ctx.error(f"groups={groups} does not divide {c} input channels and {n} filters")
    biases = ctx.params((n,), "small")
    if bn:
        # the BN parameters precede the weights in the file
        scales, mean, var = (ctx.params((n,), i) for i in ("positive", "small", "positive"))
    w = ctx.params((n, c // groups, k, k), "weight")
    if bn:
        y = ctx.op("Conv", x, ctx.const(w, "weight"), strides=(sy, sx), pads=(pad,) * 4,
                   dilations=(dil, dil), group=groups)
        y = ctx.op("BatchNorm", y, ctx.const(scales, "scale"), ctx.const(biases, "bias"),
                   ctx.const(mean, "mean"), ctx.const(var, "var"), epsilon=1e-5)
    else:
        y = ctx.op("Conv", x, ctx.const(w, "weight"), ctx.const(biases, "bias"),
                   strides=(sy, sx), pads=(pad,) * 4, dilations=(dil, dil), group=groups)
    return ctx.activation(y, ctx.str("activation", "logistic"))


@section("connected", keys=("output", "activation", "batch_normalize"))
def connected(ctx: Context):
    """Flatten + Gemm (+ BatchNorm) + activation, output kept as (N, output, 1, 1). File order:
    biases, weights (output x input; input x output in 'transposed' files), [BN]."""
    x = ctx.prev
    n = ctx.int("output", 1, lo=1)
    k = math.prod(x.shape[1:])
    biases = ctx.params((n,), "small")
    w = ctx.params((k, n) if ctx.imp.weights.transpose else (n, k), "weight")
    if ctx.imp.weights.transpose:
        w = w.T
    flat = ctx.op("Flatten", x, axis=1)
    bn = ctx.int("batch_normalize", 0)
    y = ctx.op("Gemm", flat, ctx.const(w, "weight"), None if bn else ctx.const(biases, "bias"),
               transB=True)
    y = ctx.op("Reshape", y, shape=(x.shape[0], n, 1, 1))
    if bn:
        y = _batch_norm(ctx, y, n, biases)
    return ctx.activation(y, ctx.str("activation", "logistic"))


@section("maxpool", keys=("size", "stride", "stride_x", "stride_y", "padding"))
def maxpool(ctx: Context):
    """MaxPool; out = (in + padding - size) / stride + 1 with padding (default size - 1) split
    padding/2 before, the rest after (so size=2 stride=1 keeps the size)."""
    x = ctx.prev
    size = ctx.int("size", 1, lo=1)
    s = ctx.int("stride", 1, lo=1)
    sy, sx = ctx.int("stride_y", s, lo=1), ctx.int("stride_x", s, lo=1)
    p = ctx.int("padding", size - 1, lo=0)
    b, e = p // 2, p - p // 2
    return ctx.op("MaxPool", x, kernel_shape=(size, size), strides=(sy, sx), pads=(b, b, e, e))


@section("avgpool")
def avgpool(ctx: Context):
    """GlobalAveragePool."""
    return ctx.op("GlobalAveragePool", ctx.prev)


@section("route", keys=("layers", "groups", "group_id"))
def route(ctx: Context):
    """Concat of the listed layers along channels; with groups/group_id each input contributes
    its group_id-th of `groups` channel slices."""
    groups, gid = ctx.int("groups", 1, lo=1), ctx.int("group_id", 0, lo=0)
    if gid >= groups:
        raise ctx.error(f"group_id={gid} is not below groups={groups}")
    parts = []
    for ref in ctx.ints("layers"):
        v = ctx.layer(ref)
        if groups > 1:
            c = v.shape[1]
            if c % groups:
                raise ctx.error(f"groups={groups} does not divide {c} channels of layer {ref}")
            part = c // groups
            v = ctx.op("Slice", v, starts=(gid * part,), ends=((gid + 1) * part,), axes=(1,))
        parts.append(v)
    if len(parts) == 1:
        return parts[0] if groups > 1 else ctx.op("Identity", parts[0])
    return ctx.op("Concat", *parts, axis=1)


@section("shortcut", keys=("from", "activation"))
def shortcut(ctx: Context):
    """Add layer `from` to the previous layer, then the activation. Like darknet's shortcut_cpu,
    a larger `from` is sampled every (its width / ours)-th cell and only the common channels
    are added (the ResNet cfgs' projection-free downsampling)."""
    out, add = ctx.prev, ctx.layer(ctx.int("from"))
    if out.shape != add.shape:
        (_, c2, h2, w2), (_, c1, h1, w1) = out.shape, add.shape
        stride = max(w1 // w2, 1)
        if w2 > w1 or h1 // h2 != stride or w1 != w2 * stride:
            raise ctx.error(f"adds {list(add.shape)} to {list(out.shape)}; only equal shapes or "
                            "a larger `from` layer with an integer stride are supported")
        c = min(c1, c2)
        add = ctx.op("Slice", add, starts=(0, 0, 0), ends=(c, h2 * stride, w2 * stride),
                     axes=(1, 2, 3), steps=(1, stride, stride))
        if c < c2:
            add = ctx.op("Pad", add, pads=(0, 0, 0, 0, 0, c2 - c, 0, 0))
    return ctx.activation(ctx.op("Add", out, add), ctx.str("activation", "linear"))


@section("upsample", keys=("stride", "scale"))
def upsample(ctx: Context):
    """Nearest-neighbour Resize by `stride` (times `scale` if not 1)."""
    x = ctx.prev
    s = ctx.int("stride", 2)
    if s < 1:
        raise ctx.error(f"stride={s} (downsampling) is not supported")
    n, c, h, w = x.shape
    y = ctx.op("Resize", x, sizes=(n, c, h * s, w * s), mode="nearest",
               coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    scale = ctx.float("scale", 1.0)
    return y if scale == 1 else ctx.op("Mul", y, ctx.const(scale, "scale"))


@section("reorg", keys=("stride",))
def reorg(ctx: Context):
    """Darknet's reorg (as its C code does it, a quirky space-to-depth): the input buffer read as
    (C/s^2, H*s, W*s) is rearranged by Reshape, Transpose, Reshape into (C*s^2, H/s, W/s)."""
    x = ctx.prev
    s = ctx.int("stride", 2, lo=1)
    n, c, h, w = x.shape
    if c % (s * s) or h % s or w % s:
        raise ctx.error(f"stride {s} does not divide the input {list(x.shape)}")
    oc = c // (s * s)
    y = ctx.op("Reshape", x, shape=(n, oc, h, s, w, s))
    y = ctx.op("Transpose", y, perm=(0, 3, 5, 1, 2, 4))
    return ctx.op("Reshape", y, shape=(n, c * s * s, h // s, w // s))


@section("dropout", ignored=("probability",))
def dropout(ctx: Context):
    """Identity at inference."""
    return ctx.prev


@section("softmax", keys=("groups",), ignored=("temperature",))
def softmax(ctx: Context):
    """Softmax over all C*H*W values of each image (groups=1)."""
    if ctx.int("groups", 1) != 1:
        raise ctx.error("groups other than 1 are not supported")
    x = ctx.prev
    flat = ctx.op("Flatten", x, axis=1)
    return ctx.op("Softmax", flat, axis=1)


@section("cost", ignored=("type", "scale", "ratio", "noobject_scale", "thresh"))
def cost(ctx: Context):
    """Training loss: passes its input through."""
    return ctx.prev


def _head_anchors(ctx, total_default=None):
    anchors = ctx.floats("anchors", [])
    if len(anchors) % 2:
        raise ctx.error(f"anchors has an odd number of values ({len(anchors)})")
    return [(anchors[2 * i], anchors[2 * i + 1]) for i in range(len(anchors) // 2)]


@section("yolo", keys=("mask", "anchors", "classes", "num", "scale_x_y"), ignored=_TRAINING)
def yolo(ctx: Context):
    """YOLOv3/v4 head: the raw conv output stays available; YoloDecode gives the boxes
    (anchors chosen by mask, scale_x_y)."""
    x = ctx.prev
    if ctx.sec.options.get("new_coords", "0") != "0":
        raise ctx.error("new_coords=1 (scaled-YOLOv4 decoding) is not supported")
    pairs = _head_anchors(ctx)
    mask = ctx.ints("mask", list(range(len(pairs))))
    if any(not 0 <= m < len(pairs) for m in mask):
        raise ctx.error(f"mask {mask} indexes outside the {len(pairs)} anchors")
    anchors = [v for m in mask for v in pairs[m]]
    boxes = ctx.op("YoloDecode", x, anchors=anchors, num_classes=ctx.int("classes", 20, lo=0),
                   img_w=ctx.imp.input.shape[3], img_h=ctx.imp.input.shape[2],
                   scale_x_y=ctx.float("scale_x_y", 1.0))
    ctx.imp.heads.append((ctx.index, x, boxes))
    return x


@section("region", keys=("anchors", "classes", "num", "coords", "softmax"),
         ignored=_TRAINING + ("sqrt",))
def region(ctx: Context):
    """YOLOv2 head: the raw conv output stays available; RegionDecode gives the boxes (anchors
    in grid cells, softmax class probabilities)."""
    x = ctx.prev
    if ctx.int("coords", 4) != 4 or not ctx.int("softmax", 1):
        raise ctx.error("only coords=4 with softmax=1 is supported")
    pairs = _head_anchors(ctx)
    num = ctx.int("num", len(pairs), lo=0)
    if num != len(pairs):
        raise ctx.error(f"num={num} but {len(pairs)} anchors")
    boxes = ctx.op("RegionDecode", x, anchors=[v for p in pairs for v in p],
                   num_classes=ctx.int("classes", 20, lo=0))
    ctx.imp.heads.append((ctx.index, x, boxes))
    return x


_NET_KEYS = ("width", "height", "channels")


# ---- the walk ----
class Importer:
    def __init__(self, sections, path, weights, input_size=None, batch=1):
        self.path = Path(path)
        self.sections = sections
        self.weights = weights
        self.graph = Graph(self.path.stem)
        net = Context(self, -1, sections[0])
        h, w = net.int("height", 0, lo=0), net.int("width", 0, lo=0)
        c = net.int("channels", 3, lo=1)
        if input_size is not None:
            h, w = input_size
        if not (h and w):
            raise FrontendError(f"{self.path}: [net] needs width= and height= (or pass "
                                "input_size=(h, w))")
        shape = (batch, c, h, w)
        net.check_size(shape, "the input")
        self.input = self.graph.add_input("data", TensorType(shape, DType.f32))
        self.outputs: list[Value] = []
        self.heads: list[tuple[int, Value, Value]] = []

    def run(self) -> Graph:
        for index, sec in enumerate(self.sections[1:]):
            ctx = Context(self, index, sec)
            spec = SECTIONS.get(sec.type)
            if spec is None:
                raise ctx.error(f"unknown section type [{sec.type}] (supported: "
                                f"{', '.join(sorted(SECTIONS))})")
            bad = sorted(set(sec.options) - set(spec.keys) - set(spec.ignored))
            if bad:
                raise ctx.error(f"option(s) {', '.join(bad)} are not supported (supported: "
                                f"{', '.join(spec.keys) or 'none'})")
            out = spec.fn(ctx)
            ctx.check_size(out.shape, "the output")
            self.outputs.append(out)
        if not self.outputs:
            raise FrontendError(f"{self.path}: no layer sections after [net]")
        self.weights.finish(self.path)
        if self.heads:
            outs = []
            for index, raw, boxes in self.heads:
                outs.append(self._expose(raw, f"{index}_raw"))
                self.graph.rename(boxes, f"{index}_boxes")
                outs.append(boxes)
        else:
            outs = [self._expose(self.outputs[-1], "output")]
        self.graph.set_outputs(outs)
        return self.graph

    def _expose(self, v: Value, name: str) -> Value:
        if v.producer is None or any(o is v for o in self.graph.outputs):
            v = self.graph.add_node("Identity", [v], output_names=[name],
                                    provenance=v.producer.provenance if v.producer else ()
                                    ).outputs[0]
        elif not self.graph.has_value(name):
            self.graph.rename(v, name)
        return v


def find_weights(cfg: Path) -> Path:
    """The .weights beside a cfg: same stem, else the only .weights in the folder."""
    same = cfg.with_suffix(".weights")
    if same.exists():
        return same
    found = sorted(cfg.parent.glob("*.weights"))
    if len(found) == 1:
        return found[0]
    raise FrontendError(f"{cfg}: no weights given and "
                        + (f"{len(found)} .weights files beside it" if found
                           else "no .weights file beside it")
                        + "; pass weights='path.weights' or weights='random' "
                          "(npucc CLI: --weights PATH or --weights random)")


@guarded
def load(path, weights=None, *, input_size=None, input_shapes=None, inputs=None, outputs=None,
         batch: int = 1, seed: int = 0) -> Graph:
    """Import a Darknet net. weights: a .weights path, None (look beside the cfg) or "random";
    `path` may also be a (cfg, weights) pair. input_size: (height, width) instead of [net]'s;
    input_shapes: {"data": (N, C, H, W)} or [(N, C, H, W)] does the same with the batch."""
    if isinstance(path, (tuple, list)):  # (cfg, weights), as npucc.frontends.load gives
        path, weights = path
    path = Path(path)
    if inputs is not None or outputs is not None:
        raise FrontendError(f"{path}: the Darknet frontend cannot cut a net at inner tensors")
    if input_shapes is not None:
        shapes = list(input_shapes.values()) if isinstance(input_shapes, dict) \
            else list(input_shapes)
        if len(shapes) != 1 or len(shapes[0]) != 4:
            raise FrontendError(f"{path}: a Darknet net has one N,C,H,W input, got "
                                f"input_shapes={input_shapes}")
        batch, input_size = int(shapes[0][0]), tuple(int(d) for d in shapes[0][2:])
    sections = parse_cfg(path)
    if isinstance(weights, str) and weights == "random":
        reader = RandomWeights(seed)
    else:
        wpath = Path(weights) if weights is not None else find_weights(path)
        try:
            reader = WeightsReader(wpath)
        except OSError as e:
            raise FrontendError(f"{wpath}: cannot read the weights: {e}") from None
    return Importer(sections, path, reader, input_size, batch).run()


def random_weights(path, *, seed: int = 0, input_size=None) -> list[np.ndarray]:
    """Random parameters for a cfg, in .weights file order (to write a test weights file)."""
    reader = RandomWeights(seed)
    Importer(parse_cfg(path), path, reader, input_size).run()
    return reader.arrays


def supported_note() -> str:
    """Markdown list of the supported sections and keys, generated from the mappers."""
    lines = ["### Darknet: supported sections", "",
             "Generated by `python -m npucc.frontends.darknet --supported`.", "",
             "| section | keys | ignored (training-only) | mapping |", "|---|---|---|---|"]
    lines.append(f"| net | {', '.join(_NET_KEYS)} | all others | graph input `data` "
                 "(1, channels, height, width) |")
    for t in sorted(SECTIONS):
        s = SECTIONS[t]
        doc = " ".join(s.doc.split())
        lines.append(f"| {t} | {', '.join(s.keys) or '-'} | {', '.join(s.ignored) or '-'} | "
                     f"{doc} |")
    lines.append("")
    lines.append(f"Activations: {', '.join(ACTS)}.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(note_command("python -m npucc.frontends.darknet", "darknet-supported",
                          supported_note))
