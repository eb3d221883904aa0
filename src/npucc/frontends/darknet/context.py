"""What a section mapper sees (Context: typed options, parameters, op emission, errors naming the
section) and the SECTIONS registry mappers declare themselves in."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import numpy as np

from ... import limits
from ...errors import FrontendError, IRError, LimitError
from ...ir import Value
from ...registry import Registry
from .cfg import _MAX_OPTION, Section
from .weights import WeightsReader

if TYPE_CHECKING:
    from .importer import Importer



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

    def image(self, v: Value | None = None) -> Value:
        """`v` (default: the previous layer's output) if it is an N, C, H, W image; an error
        naming this section if it is flat ([softmax], [detection], [reorg] extra= give flat
        outputs)."""
        v = self.prev if v is None else v
        if len(v.shape) != 4:
            raise self.error(f"needs an image input (N, C, H, W), got {list(v.shape)}")
        return v

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

    def const(self, arr, suffix, dtype=np.float32) -> Value:
        return self.graph.add_constant(np.asarray(arr, dtype),
                                       self.graph.unique_name(f"l{self.index}_{suffix}"))

    def path(self, key) -> Path:
        """A file the option names: relative to the cfg's folder, or absolute as written."""
        return self.imp.path.parent / self.str(key)

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
        # darknet's activations.h: ramp x*(x>0) + .1x, relie (x>0 ? x : .01x), hardtan clamps
        # to [-1, 1], loggy 2 / (1 + exp(-x)) - 1 = tanh(x / 2), elu, selu (its constants)
        if name == "ramp":
            return self.op("Add", self.op("Relu", x), self.op("Mul", x, self.const(0.1, "ramp")))
        if name == "relie":
            return self.op("LeakyRelu", x, alpha=0.01)
        if name == "hardtan":
            return self.op("Clip", x, min=-1.0, max=1.0)
        if name == "loggy":
            return self.op("Tanh", self.op("Mul", x, self.const(0.5, "half")))
        if name == "elu":
            return self.op("Elu", x, alpha=1.0)
        if name == "selu":
            return self.op("Selu", x, alpha=1.6732, gamma=1.0507)
        raise self.error(f"activation '{name}' is not supported (supported: {', '.join(ACTS)})")


ACTS = ("linear", "leaky", "relu", "relu6", "logistic", "tanh", "mish", "swish", "ramp", "relie",
        "hardtan", "loggy", "elu", "selu")
