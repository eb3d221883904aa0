"""Appliers derived from op declarations, so an op added to the registry is drawn without anyone
writing an applier for it.

An op with no hand-written applier is drawn as an elementwise op when its declaration says it is
one: one or two required inputs, every attribute with a default, and type inference that keeps
(or broadcasts to) the shape. The rest is read off its reference kernel on a grid of probe values:

- the dtype kinds it takes (float, int, bool) are those its inference accepts;
- float operands are clipped to the domain the kernel was probed on: [-3, 3], or [0.25, 3] for an
  operand that makes it give NaN or inf on [-3, 3] but not there (Log, Sqrt, Reciprocal, a Pow
  base), so drawn values stay finite;
- an op whose output jumps (steps that do not shrink on a finer grid: Mod) or whose output dtype
  differs from its inputs' (comparisons) is discontinuous: drawn only when named in
  `graphs(ops=...)`.

Ops that neither an applier nor derivation can draw must be listed in `NOT_DRAWN` with a reason;
tests/testing/test_strategies.py fails for any other, so no op is silently left out.
"""

from __future__ import annotations

import attrs
import numpy as np

from npucc.ir import OPS, DType, TensorType, Value
from npucc.ir.registry import REQUIRED, OpDef

from .appliers import APPLIERS, DISCONTINUOUS_OPS, Applier
from .builder import GraphBuilder
from .elementwise import broadcast_shapes, partners

# op -> why no strategy draws it (every other registered op must be drawable)
NOT_DRAWN = {
    "Partition": "made by npucc.backends.npu.partition, not drawn: its property tests partition "
                 "drawn graphs and run them against the flat graph (tests/backends/npu)",
    "Requantize": "its output params live only in its output type and it has no float kernel: "
                  "tests/numerics checks it against the rounding formula",
    "ReduceProd": "a product over up to 512 drawn values overflows float32",
    "PriorBox": "an SSD head: its attributes follow a model's anchor layout (tests/frontends/caffe "
                "checks it against OpenCV)",
    "DetectionOutput": "an SSD head: NMS over decoded boxes needs a real model's priors "
                       "(tests/frontends/caffe checks it against OpenCV)",
    "DetectionPostProcess": "an SSD head: NMS over boxes decoded on a model's anchors "
                            "(tests/frontends/tflite checks it against LiteRT)",
    "Proposal": "a Faster R-CNN head: needs scores and deltas laid out per anchor (tests/frontends/"
                "caffe checks it against OpenCV)",
    "ROIPooling": "needs boxes from a Proposal (tests/frontends/caffe checks it against OpenCV)",
    "YoloDecode": "a YOLO head: channels must be anchors * (5 + classes) of a real config "
                  "(tests/frontends/darknet checks it against OpenCV)",
    "DFT": "complex values as a trailing axis of 2 and a length attribute tied to the axis "
           "(tests/frontends/onnx draws its forms against onnxruntime, family spectral)",
    "BitCast": "reinterprets bit patterns: a float result can be NaN or inf for drawn inputs "
               "(tests/frontends/onnx draws it against onnxruntime, family unpool_det_deform)",
    "DeformConv": "offsets and mask are shaped by the kernel and output grid (tests/frontends/"
                  "onnx draws it against onnxruntime, family unpool_det_deform)",
    "Det": "square matrices on the last two axes; ill-conditioned draws make it unstable "
           "(tests/frontends/onnx draws it against onnxruntime, family unpool_det_deform)",
    "LinearAttention": "query/key/value/state shapes tied by heads and an update rule "
                       "(tests/frontends/onnx draws it against onnxruntime, family "
                       "stateful_sequence)",
    "MaxUnpool": "its indices input must come from a MaxPool's Indices output (tests/frontends/"
                 "onnx draws pool/unpool pairs against onnxruntime)",
    "RegionDecode": "a YOLOv2 head: channels must be anchors * (5 + classes) of a real config "
                    "(tests/frontends/darknet checks it against OpenCV, its class_groups against "
                    "libdarknet's tree softmax)",
}

_KINDS = {"float": DType.f32, "int": DType.i32, "bool": DType.bool}
_GRID = np.linspace(-3.0, 3.0, 6001)
_POSITIVE = np.linspace(0.25, 3.0, 2751)
_OTHER = np.array([-2.0, -0.75, 0.5, 1.5])  # the other operand's values while one is swept


@attrs.frozen
class Derivation:
    """What the declaration and the kernel's probes say about drawing an elementwise op."""

    arity: int
    kinds: frozenset[str]
    positive: tuple[bool, ...]  # per operand: its probed domain is [0.25, 3], not [-3, 3]
    discontinuous: bool


def _sample(kind: str, arity: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    if kind == "bool":
        return [rng.integers(0, 2, (2, 3)).astype(bool) for _ in range(arity)]
    if kind == "int":
        return [rng.integers(1, 6, (2, 3)).astype(np.int32) for _ in range(arity)]
    return [rng.uniform(0.5, 2.0, (2, 3)).astype(np.float32) for _ in range(arity)]


def _kinds(opdef: OpDef, arity: int, attrs_) -> tuple[frozenset[str], bool]:
    """The kinds whose same-shape operands inference accepts (keeping the shape) and the kernel
    runs on, and whether some kind's output dtype differs from its input's."""
    kinds, changes = set(), False
    for kind, dt in _KINDS.items():
        try:
            (out,) = opdef.infer_types([TensorType((2, 3), dt)] * arity, attrs_)
            with np.errstate(all="ignore"):
                (y,) = opdef.evaluate(_sample(kind, arity), attrs_)
        except Exception:  # noqa: BLE001 - any failure means: not drawable with this kind
            continue
        if out.shape == (2, 3) and y.shape == (2, 3) and y.dtype == out.dtype.numpy:
            kinds.add(kind)
            changes |= out.dtype is not dt
    return frozenset(kinds), changes


def _jumps(y: np.ndarray) -> bool:
    """Whether `y`, sampled along its last axis at 10x the resolution a continuous function
    needs, has steps that do not shrink with the step size (a discontinuity)."""
    fine = float(np.max(np.abs(np.diff(y, axis=-1)), initial=0.0))
    coarse = float(np.max(np.abs(np.diff(y[..., ::10], axis=-1)), initial=0.0))
    return fine > 1e-6 and fine > 0.5 * coarse


def _probe(opdef: OpDef, arity: int, attrs_, domains) -> tuple[bool, bool]:
    """(finite everywhere, jumps somewhere) of the float kernel on the grids `domains`, each
    operand swept while the other takes a few fixed values."""
    finite, jumps = True, False
    with np.errstate(all="ignore"):
        for swept in range(arity):
            grid = domains[swept].astype(np.float32)
            if arity == 1:
                args = [grid]
            else:
                other = domains[1 - swept]
                fixed = np.clip(_OTHER, other.min(), other.max()).astype(np.float32)[:, None]
                args = [grid[None, :], fixed] if swept == 0 else [fixed, grid[None, :]]
            y = opdef.evaluate(args, attrs_)[0].astype(np.float64)
            finite &= bool(np.isfinite(y).all())
            jumps |= finite and _jumps(y)
    return finite, jumps


def derive(opdef: OpDef) -> Derivation | str:
    """How to draw `opdef` as an elementwise op, or why it cannot be."""
    slots = opdef.inputs
    if not 1 <= len(slots) <= 2 or any(s.endswith(("?", "*")) for s in slots):
        return f"takes inputs {slots}, not one or two required ones"
    if any(a.default is REQUIRED for a in opdef.attrs.values()):
        return "has required attributes"
    attrs_ = opdef.normalize_attrs({})
    arity = len(slots)
    kinds, changes_dtype = _kinds(opdef, arity, attrs_)
    if not kinds:
        return "its inference accepts no same-shape f32, i32 or bool operands"
    positive, discontinuous = (False,) * arity, changes_dtype
    if "float" in kinds:
        choices = [(False,), (True,)] if arity == 1 else \
            [(False, False), (True, False), (False, True), (True, True)]
        for choice in choices:
            finite, jumps = _probe(opdef, arity, attrs_,
                                   [_POSITIVE if p else _GRID for p in choice])
            if finite:
                positive, discontinuous = choice, discontinuous or jumps
                break
        else:
            kinds -= {"float"}
            if not kinds:
                return "its kernel gives NaN or inf on every probed float domain"
    return Derivation(arity, kinds, positive, discontinuous)


def _bounded(b: GraphBuilder, v: Value, positive: bool) -> Value:
    """Clip(v) to the domain the kernel was probed on ([-3, 3], or [0.25, 3] for an operand
    that must be positive), so chains of derived ops stay finite (hidden from other ops)."""
    lo, hi = (float(_POSITIVE[0]), float(_POSITIVE[-1])) if positive else (-3.0, 3.0)
    return b.emit("Clip", [v], min=lo, max=hi, layout=b.layout_of(v), hidden=True)


def _applier(op: str, d: Derivation) -> Applier:
    def accepts(b: GraphBuilder, v: Value) -> bool:
        return b.room(1 + (d.arity if v.dtype.is_float else 0))

    def apply(b: GraphBuilder, v: Value) -> None:
        args = [v]
        if d.arity == 2:
            live = partners(b, v)
            if live and b.chance(2):
                args.append(b.pick(live))
            else:
                lo, hi = (0.5, 2.0) if d.positive[1] else (-2.0, 2.0)
                args.append(b.random_const(b.pick(broadcast_shapes(b, v)), v.dtype, lo, hi))
        if v.dtype.is_float:
            args = [a if a.is_constant else _bounded(b, a, p) for a, p in zip(args, d.positive)]
        b.emit(op, args, layout=b.layout_of(v))

    return Applier(op, accepts, apply, d.kinds, ("Clip",) if "float" in d.kinds else ())


_CACHE: dict[tuple[str, int], tuple[Applier | None, bool, str]] = {}


def _derived(op: str, opdef: OpDef) -> tuple[Applier | None, bool, str]:
    """(applier or None, discontinuous, why not), derived once per declaration."""
    key = (op, id(opdef))
    if key not in _CACHE:
        d = derive(opdef)
        _CACHE[key] = (None, False, d) if isinstance(d, str) else \
            (_applier(op, d), d.discontinuous, "")
    return _CACHE[key]


def glue_ops() -> set[str]:
    """Ops that hand-written appliers add as part of another op (DequantizeLinear)."""
    return {u for a in APPLIERS.values() for u in a.uses}


def drawable() -> tuple[dict[str, Applier], frozenset[str]]:
    """Every applier graphs() can use (hand-written ones win over derived ones) and the
    discontinuous ops among them (drawn only when named)."""
    out, discontinuous = {}, set(DISCONTINUOUS_OPS)
    for op, opdef in OPS.items():
        if op in APPLIERS or op in NOT_DRAWN:
            continue
        applier, jumps, _ = _derived(op, opdef)
        if applier is not None:
            out[op] = applier
            if jumps:
                discontinuous.add(op)
    out.update(APPLIERS)
    return out, frozenset(discontinuous)


def undrawable() -> dict[str, str]:
    """Registered ops no strategy draws and NOT_DRAWN does not excuse, with why derivation
    failed (a test keeps this empty)."""
    appliers, _ = drawable()
    covered = set(appliers) | glue_ops() | set(NOT_DRAWN)
    return {op: _derived(op, opdef)[2] for op, opdef in OPS.items() if op not in covered}
