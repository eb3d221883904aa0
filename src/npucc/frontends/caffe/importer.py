"""The Caffe import machinery: the layer-mapper registry, where blobs come from, and the walk
that turns an upgraded NetParameter into a Graph.

A mapper is a function `(ctx: LayerContext, param) -> Value | list[Value]` registered with
`@caffe_layer("Type", param="xxx_param", fields=(...), ignored=(...))`. `fields` are the
parameter fields it implements, `ignored` the ones that do not change inference (fillers,
engines); a layer that sets any other field is refused with an error naming it. The same
declarations generate the supported-layer note (`python -m npucc.frontends.caffe --supported`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs
import numpy as np

from ... import limits
from ...errors import FrontendError, IRError, LimitError
from ...ir import DType, Graph, TensorType, Value
from ...registry import Registry


@attrs.frozen
class LayerSpec:
    types: tuple[str, ...]
    param: str | None
    fields: tuple[str, ...]
    ignored: tuple[str, ...]
    fn: Callable
    doc: str


MAPPERS: Registry[LayerSpec] = Registry("Caffe layer type", error=FrontendError)


def caffe_layer(*types: str, param: str | None = None, fields=(), ignored=()):
    """Register a mapper for Caffe layer type(s)."""

    def register(fn):
        spec = LayerSpec(types, param, tuple(fields), tuple(ignored), fn,
                         (fn.__doc__ or "").strip())
        for t in types:
            MAPPERS[t] = spec
        return fn

    return register


# ---- where blobs come from ----
class BlobSource:
    """Gives the mappers their layers' learned blobs."""

    def get(self, ctx: LayerContext, index: int, shape: tuple[int, ...], init: str
            ) -> np.ndarray:
        raise NotImplementedError


def _same_up_to_leading_ones(a, b) -> bool:
    def strip(s):
        s = list(s)
        while s and s[0] == 1:
            s.pop(0)
        return s
    return strip(a) == strip(b)


class CaffemodelBlobs(BlobSource):
    """Blobs read from a .caffemodel, checked against the shapes the prototxt implies."""

    def __init__(self, blobs: Mapping[str, list[np.ndarray]], path: Path):
        self.blobs = blobs
        self.path = path

    def get(self, ctx, index, shape, init):
        layer_blobs = self.blobs.get(ctx.name)
        if not layer_blobs:
            raise ctx.error(f"has no blobs in {self.path}")
        if index >= len(layer_blobs):
            raise ctx.error(f"needs blob {index} but {self.path} holds {len(layer_blobs)}")
        arr = layer_blobs[index]
        if tuple(arr.shape) != tuple(shape):
            # legacy 4-D blobs (1, 1, N, K) stand for (N, K)
            if arr.ndim == 4 and _same_up_to_leading_ones(arr.shape, shape):
                return arr.reshape(shape)
            raise ctx.error(f"blob {index} in {self.path} has shape {list(arr.shape)}, the "
                            f"prototxt implies {list(shape)}")
        return arr


class RandomBlobs(BlobSource):
    """Random blobs of the right shapes (for structure-only loads and tests); `recorded` keeps
    every blob given out, by layer name, so it can be written to a .caffemodel."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.recorded: dict[str, list[np.ndarray]] = {}

    def get(self, ctx, index, shape, init):
        ctx.check_size(shape, f"blob {index}")
        rng = self.rng
        if init == "weight":  # fan-in scaled so deep nets keep unit-ish activations
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            arr = rng.normal(0, np.sqrt(1.0 / max(fan_in, 1)), shape)
        elif init == "positive":  # variances, scales
            arr = rng.uniform(0.5, 1.5, shape)
        elif init == "slope":
            arr = rng.uniform(0.05, 0.3, shape)
        else:  # "small": biases, means
            arr = rng.normal(0, 0.1, shape)
        arr = arr.astype(np.float32)
        blobs = self.recorded.setdefault(ctx.name, [])
        while len(blobs) <= index:
            blobs.append(None)
        blobs[index] = arr
        return arr


# ---- per-layer context ----
class LayerContext:
    """What a mapper sees: its layer, its inputs, its blobs, and a builder for nodes that all
    carry the layer's name as provenance."""

    def __init__(self, importer: Importer, layer):
        self.importer = importer
        self.layer = layer
        self.graph: Graph = importer.graph

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def type(self) -> str:
        return self.layer.type

    def error(self, msg: str) -> FrontendError:
        return FrontendError(f"{self.importer.path}: layer '{self.name}' (type {self.type}): "
                             f"{msg}")

    def input(self, i: int = 0) -> Value:
        return self.inputs[i]

    @property
    def inputs(self) -> list[Value]:
        out = []
        for b in self.layer.bottom:
            if b not in self.importer.tops:
                raise self.error(f"reads blob '{b}', which no earlier layer produces")
            out.append(self.importer.tops[b])
        return out

    def expect_inputs(self, *counts: int, rank: int | None = None, min_rank: int = 0
                      ) -> list[Value]:
        """The bottoms, checked: their number is one of `counts`; the first one has rank `rank`
        (or at least `min_rank`)."""
        ins = self.inputs
        if len(ins) not in counts:
            raise self.error(f"takes {' or '.join(map(str, counts))} bottom(s), got {len(ins)}")
        r = ins[0].type.rank
        if (rank is not None and r != rank) or r < min_rank:
            want = f"rank {rank}" if rank is not None else f"rank {min_rank} or more"
            raise self.error(f"takes a {want} bottom, got {list(ins[0].shape)}")
        return ins

    def check_size(self, shape, what: str) -> None:
        """Refuse a float32 tensor of `shape` over npucc.limits, naming this layer."""
        try:
            limits.check_shape(shape, 4, what)
        except LimitError as e:
            raise self.error(str(e)) from None

    def positive(self, **values) -> None:
        """Refuse a size or count below 1 (it would divide by zero or make an empty tensor)."""
        for name, v in values.items():
            for x in (v if isinstance(v, (tuple, list)) else (v,)):
                if x < 1:
                    raise self.error(f"{name} {x} is not a positive size")

    def blob(self, index: int, shape, init: str = "weight") -> np.ndarray:
        return self.importer.blobs.get(self, index, tuple(int(d) for d in shape), init)

    def const(self, array, suffix: str = "c") -> Value:
        arr = np.asarray(array, dtype=np.float32)
        return self.graph.add_constant(arr, self.graph.unique_name(f"{self.name}_{suffix}"))

    def op(self, op: str, *inputs, **attrs_):
        try:
            node = self.graph.add_node(op, inputs, attrs_, provenance=(self.name,),
                                       output_names=self._output_names(op))
        except IRError as e:
            raise self.error(str(e)) from None
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs


    def _output_names(self, op: str):
        """Intermediate values are named layer_op; the importer renames a layer's results to
        their top names."""
        if op in _MULTI_OUTPUT:
            return None
        return [self.graph.unique_name(f"{self.name}_{op.lower()}")]


_MULTI_OUTPUT = {"Split", "Proposal", "TopK"}


def _check_finite(ctx: LayerContext, message, where: str) -> None:
    """Every float field of a layer parameter (nested messages too) is a finite number."""
    for field, value in message.ListFields():
        name = f"{where}.{field.name}"
        values = value if field.is_repeated else [value]
        if field.type == field.TYPE_MESSAGE:
            for v in values:
                _check_finite(ctx, v, name)
        elif field.type in (field.TYPE_FLOAT, field.TYPE_DOUBLE) and \
                not all(math.isfinite(v) for v in values):
            raise ctx.error(f"{name} is {list(values)}, not a finite number")


# ---- the walk ----
class Importer:
    def __init__(self, net, path: Path, blobs: BlobSource,
                 input_shapes: Mapping[str, tuple[int, ...]] | None = None, **options):
        self.net = net
        self.options = options  # per-layer-type options (e.g. proposal={...})
        self.path = path
        self.blobs = blobs
        self.input_shapes = input_shapes if isinstance(input_shapes, (list, tuple)) \
            else dict(input_shapes or {})
        self.graph = Graph(net.name or Path(path).stem)
        self.tops: dict[str, Value] = {}

    def add_input(self, name: str, shape) -> Value:
        if isinstance(self.input_shapes, (list, tuple)):  # shapes in input order
            i = len(self.graph.inputs)
            if i < len(self.input_shapes):
                shape = self.input_shapes[i]
        else:
            shape = self.input_shapes.pop(name, shape)
        shape = tuple(int(d) for d in shape)
        try:
            limits.check_shape(shape, 4, f"input '{name}'")
        except LimitError as e:
            raise FrontendError(f"{self.path}: {e}") from None
        if 0 in shape:
            raise FrontendError(f"{self.path}: input '{name}' has a zero dimension: "
                                f"{list(shape)}")
        v = self.graph.add_input(name, TensorType(shape, DType.f32))
        self.tops[name] = v
        return v

    def run(self, outputs=None) -> Graph:
        # Caffe's rule for net outputs: a layer's bottoms stop being available, then its tops
        # become available, so an in-place layer's top (top == bottom) stays an output
        available: dict[str, None] = {}  # ordered set
        for layer in self.net.layer:
            self._map(layer)
            for b in layer.bottom:
                available.pop(b, None)
            available.update(dict.fromkeys(layer.top))
        if isinstance(self.input_shapes, (list, tuple)):
            if len(self.input_shapes) != len(self.graph.inputs):
                raise FrontendError(f"{self.path}: {len(self.input_shapes)} input shapes for "
                                    f"{len(self.graph.inputs)} inputs")
        elif self.input_shapes:
            raise FrontendError(f"{self.path}: input_shapes names unknown inputs "
                                f"{sorted(self.input_shapes)}; inputs are "
                                f"{[v.name for v in self.graph.inputs]}")
        if outputs is None:
            outputs = [t for t in available
                       if not any(self.tops[t] is v for v in self.graph.inputs)]
        missing = [o for o in outputs if o not in self.tops]
        if missing:
            raise FrontendError(f"{self.path}: requested outputs {missing} are not blobs of "
                                "the net")
        for o in outputs:
            self._name_output(o)
        self.graph.set_outputs([self.tops[o] for o in outputs])
        return self.graph

    def _name_output(self, top: str) -> None:
        """An output carries its top's name; after in-place layers that name is held by an
        earlier value of the same top, which gets a suffix instead."""
        v = self.tops[top]
        if v.name == top or v.producer is None or v.is_constant:
            return
        if self.graph.has_value(top):
            holder = self.graph.value(top)
            if holder.producer is None or self.graph.is_output(holder):
                return  # a graph input or another output keeps the name
            self.graph.rename(holder, self.graph.unique_name(f"{top}_inplace"))
        self.graph.rename(v, top)

    def _map(self, layer) -> None:
        ctx = LayerContext(self, layer)
        spec = MAPPERS.get(layer.type)
        if spec is None:
            known = ", ".join(sorted(MAPPERS))
            raise ctx.error(f"unknown layer type '{layer.type}' (supported: {known})")
        param = None
        if spec.param is not None:
            param = getattr(layer, spec.param)
            _check_finite(ctx, param, spec.param)
            allowed = set(spec.fields) | set(spec.ignored)
            bad = [f.name for f, _ in param.ListFields() if f.name not in allowed]
            if bad:
                raise ctx.error(f"{spec.param} field(s) {', '.join(bad)} are not supported "
                                f"(supported: {', '.join(spec.fields)})")
        try:
            result = spec.fn(ctx, param)
        except IRError as e:  # e.g. a constant the IR refuses
            raise ctx.error(str(e)) from None
        values = [result] if isinstance(result, Value) else list(result)
        if len(values) != len(layer.top):
            raise ctx.error(f"declares {len(layer.top)} top(s) but npucc produced "
                            f"{len(values)}")
        for top, v in zip(layer.top, values):
            ctx.check_size(v.shape, f"top '{top}'")
        for top, v in zip(layer.top, values):
            self._name_top(top, v)
            self.tops[top] = v

    def _name_top(self, top: str, v: Value) -> None:
        """Give a freshly made value its Caffe top name (if that name is free)."""
        if v.producer is None or v.is_constant or self.graph.is_output(v):
            return
        if any(v is t for t in self.tops.values()):  # passed through (Split, Dropout)
            return
        if not self.graph.has_value(top):
            self.graph.rename(v, top)
