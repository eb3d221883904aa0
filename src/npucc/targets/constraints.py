"""NPU constraints, Vela style: each is a small function `(node, ctx) -> (ok, detail)` whose
docstring is the reason shown to the user. A target file lists the constraints it applies, with
their parameters; `{name}` fields in a docstring are filled from those parameters and from the
target (`{precisions}`, `{quant_dtypes}`, `{target}`), so the same text reads right in a
legalization report and in the generated docs/targets/*.md.

    @constraint(ops=("Conv",), params=("max",))
    def stride_range(node, ctx):
        '''Strides are between 1 and {max}.'''
        bad = [s for s in node.attrs["strides"] if not 1 <= s <= ctx.params["max"]]
        return not bad, f"strides {node.attrs['strides']}"

Model validity (a malformed node) is the verifier's business; these say only whether a valid
node runs on the NPU.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import TargetError
from ..ir.graph import Node
from ..registry import Registry
from .fusion import pool_fusion_problem
from .nodeinfo import (
    CONV_OPS,
    activation_inputs,
    conv_output_spatial,
    kernel_shape,
    storage_scheme,
)

if TYPE_CHECKING:
    from .target import Target

COMPARE_AND_LOGIC_OPS = ("Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "And", "Or",
                         "Xor", "Not", "Where", "IsNaN", "IsInf")


@attrs.frozen
class CheckContext:
    """What a constraint sees besides the node: the target, the precision the node computes in
    ("int8", "int16", "fp16") and this constraint's parameters from the target file."""

    target: Target
    precision: str
    params: Mapping[str, Any]

    @property
    def quantized(self) -> bool:
        return self.precision in ("int8", "int16")


@attrs.frozen
class Constraint:
    name: str
    check: Callable[[Node, CheckContext], tuple[bool, str]]
    ops: frozenset[str] | None  # the ops it applies to; None: every op
    params: tuple[str, ...]

    @property
    def doc(self) -> str:
        return " ".join((self.check.__doc__ or "").split())

    def applies_to(self, op: str) -> bool:
        return self.ops is None or op in self.ops

    def reason(self, target: Target) -> str:
        """The docstring with its `{fields}` filled for `target`."""
        fields = {"target": target.name, "precisions": ", ".join(target.precisions),
                  "quant_dtypes": ", ".join(target.quant_dtypes)}
        fields.update({k: _show(v) for k, v in target.constraints.get(self.name, {}).items()})
        return string.Formatter().vformat(self.doc, (), _Missing(fields))


class _Missing(dict):
    def __missing__(self, key):
        return "{" + key + "}"


def _show(v) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return str(v).lower() if isinstance(v, bool) else str(v)


CONSTRAINTS: Registry[Constraint] = Registry("target constraint", error=TargetError)


def constraint(ops=None, params=()):
    """Register the decorated `(node, ctx) -> (ok, detail)` under its function name."""

    def register(fn):
        CONSTRAINTS[fn.__name__] = Constraint(fn.__name__, fn,
                                              None if ops is None else frozenset(ops),
                                              tuple(params))
        return fn

    return register


def _hw(values) -> str:
    return "x".join(map(str, values))


# ---- every op ----

@constraint()
def op_in_target_list(node, ctx):
    """The op is in the target's NPU op list."""
    # a Cast between float32 and float16 is the boundary conversion of a target that stores
    # fp16, as QuantizeLinear is for integer storage
    if node.op == "Cast" and "fp16" in ctx.target.quant_dtypes and all(
            v.type.quant is None and v.dtype.value in ("f32", "f16")
            for v in (node.inputs[0], node.outputs[0])):
        return True, ""
    return ctx.target.runs_op(node.op), f"{node.op} is not in {ctx.target.name}'s NPU op list"


@constraint(params=("per_channel",))
def tensor_types_supported(node, ctx):
    """Tensors are in types the NPU computes: precision one of {precisions}; quantized storage
    one of {quant_dtypes}; per-channel quantization: {per_channel}; no plain int32/int64 tensors
    (indices and shapes run on the CPU)."""
    t = ctx.target
    problems = []
    if ctx.precision not in t.macs_per_cycle:
        why = node.meta.get("quantize")  # why quantization kept it float, if it did
        problems.append(f"computes in {ctx.precision}, not one of {', '.join(t.precisions)}"
                        + (f" ({why})" if why else ""))
    values = [v for v in node.inputs if v is not None] + list(node.outputs)
    for v in dict.fromkeys(values):
        scheme = storage_scheme(v.type)
        if scheme is None:
            if v.dtype.value in ("i32", "i64") and not v.is_constant:
                problems.append(f"%{v.name} is a plain {v.dtype.value} tensor")
            continue
        if scheme != "f32" and scheme not in t.quant_dtypes:
            problems.append(f"%{v.name} is stored as {scheme}")
        if v.type.quant is not None and v.type.quant.per_axis and not ctx.params["per_channel"]:
            problems.append(f"%{v.name} is quantized per channel")
    return not problems, "; ".join(problems)


# ---- convolutions ----

@constraint(ops=("Conv",), params=("per_stride",))
def kernel_stride_limit(node, ctx):
    """Kernel height and width are between 1 and {per_stride}*stride - 1 (the stride on the
    same axis)."""
    k, s = kernel_shape(node), node.attrs["strides"]
    bad = [f"{k[i]} > {ctx.params['per_stride'] * s[i] - 1}" for i in range(len(k))
           if not 1 <= k[i] <= ctx.params["per_stride"] * s[i] - 1]
    return not bad, f"kernel {_hw(k)} with strides {_hw(s)}: {', '.join(bad)}"


@constraint(ops=CONV_OPS, params=("max",))
def kernel_size_range(node, ctx):
    """Kernel height and width are between 1 and {max}."""
    k = kernel_shape(node)
    return all(1 <= d <= ctx.params["max"] for d in k), f"kernel {_hw(k)}"


@constraint(ops=("Conv",), params=("max",))
def stride_range(node, ctx):
    """Strides are between 1 and {max}."""
    s = node.attrs["strides"]
    return all(1 <= d <= ctx.params["max"] for d in s), f"strides {_hw(s)}"


@constraint(ops=CONV_OPS, params=("max",))
def pad_range(node, ctx):
    """Padding on each side is at most {max}."""
    p = node.attrs["pads"]
    return max(p, default=0) <= ctx.params["max"], f"pads {tuple(p)}"


@constraint(ops=CONV_OPS)
def dilation_not_mixed(node, ctx):
    """Dilation (n, m) with n != m and both greater than 1 is not supported."""
    d = node.attrs["dilations"]
    mixed = len(set(d)) > 1 and min(d) > 1
    return not mixed, f"dilations {_hw(d)}"


@constraint(ops=("Conv",))
def fused_pool_fits(node, ctx):
    """A max-pool fused into a conv matches one of the target's pool fusion rules."""
    k = node.attrs["pool_kernel"]
    if not k:
        return True, ""
    s = node.attrs["pool_strides"] or k
    h, w = conv_output_spatial(node)
    bits = 16 if ctx.precision in ("int16", "fp16") else 8
    why = pool_fusion_problem(ctx.target.pool_fusion, k[0], s[0], h, w, bits) \
        if len(set(k)) == 1 and len(set(s)) == 1 else "the fused pool is not square"
    return why is None, f"{_hw(k)}/{s[0]} max-pool over {h}x{w}: {why}"


# ---- pooling ----

@constraint(ops=("MaxPool", "AveragePool"), params=("kernel_max", "stride_max"))
def pool_window_range(node, ctx):
    """Pool windows are at most {kernel_max} on each side and strides at most {stride_max}."""
    a, p = node.attrs, ctx.params
    bad = []
    if max(a["kernel_shape"]) > p["kernel_max"]:
        bad.append(f"kernel {_hw(a['kernel_shape'])}")
    if max(a["strides"]) > p["stride_max"]:
        bad.append(f"strides {_hw(a['strides'])}")
    return not bad, ", ".join(bad)


# ---- data movement ----

@constraint(ops=("Pad",))
def pad_value_zero_when_quantized(node, ctx):
    """A constant pad pads with 0 when the model is quantized."""
    a = node.attrs
    ok = not ctx.quantized or a["mode"] != "constant" or a["value"] == 0
    return ok, f"pads with {a['value']:g} in a model built as {ctx.precision}"


@constraint(ops=("Pad",))
def pad_not_on_batch(node, ctx):
    """There is no padding on the batch axis."""
    p, rank = node.attrs["pads"], node.inputs[0].type.rank
    return p[0] == 0 and p[rank] == 0, f"pads {p[0]} before and {p[rank]} after the batch"


@constraint(ops=("Pad",), params=("modes",))
def pad_mode(node, ctx):
    """Pad mode is one of: {modes}."""
    return node.attrs["mode"] in ctx.params["modes"], f"mode {node.attrs['mode']}"


@constraint(ops=("Resize",))
def resize_integral_scale(node, ctx):
    """Resize scales height and width by whole-number factors (output size a multiple of the
    input size)."""
    x, y = node.inputs[0].shape, node.output.shape
    bad = [f"{x[i]} -> {y[i]} on axis {i}" for i in range(len(x))
           if x[i] and (y[i] % x[i] or (i < 2 and y[i] != x[i]))]
    return not bad, ", ".join(bad)


@constraint(ops=("Resize",), params=("modes",))
def resize_mode(node, ctx):
    """Resize mode is one of: {modes}."""
    return node.attrs["mode"] in ctx.params["modes"], f"mode {node.attrs['mode']}"


# ---- op families ----

@constraint(ops=COMPARE_AND_LOGIC_OPS)
def no_compare_or_logical(node, ctx):
    """Comparison and logical ops do not run on this NPU generation."""
    return False, f"{node.op} is a comparison or logical op"


@constraint(ops=("Softmax", "LogSoftmax"))
def softmax_not_1d(node, ctx):
    """Softmax input has at least 2 dimensions (no 1-D softmax)."""
    return node.inputs[0].type.rank >= 2, f"input shape {list(node.inputs[0].shape)}"


@constraint(ops=("Softmax", "LogSoftmax", "Slice", "Tile"))
def batch_size_one(node, ctx):
    """The batch size (axis 0 of an input of rank 2 or more) is 1."""
    xs = activation_inputs(node)
    n = xs[0].shape[0] if xs and xs[0].type.rank >= 2 else 1
    return n == 1, f"batch {n}"
