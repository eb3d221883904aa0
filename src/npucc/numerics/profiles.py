"""Numerics profiles and the one kernel-selection function.

A profile is one arithmetic: how an op computes on values of given types. `profile_of(node)`
reads it off the node's types and its graph:
- no quantized value, no float16 value: "float" (the registry's float reference kernels);
- a float16 value and no quantized one: "fp16";
- a dynamic-fixed-point value: "dfp";
- otherwise (affine-quantized values): the graph's `numerics`, "tflite" (the default: TFLite's
  reference arithmetic) or "affine" (RKNN-style: round half to even, single rounding).
Kernels are registered per (profile, op) with `@kernel(profiles, *ops)`; a preparer reads the
node's types once and returns the function that runs it. `select_kernel(node)` is the one place
that picks a kernel: the reference interpreter and the simulator plan both call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..errors import NpuccError
from ..ir.graph import Node
from ..ir.types import DType, QuantScheme
from ..registry import Registry

Kernel = Callable[[Sequence[np.ndarray | None]], list[np.ndarray]]
Prepare = Callable[[Node], Kernel]

PROFILES = ("float", "fp16", "tflite", "affine", "dfp")
AFFINE_PROFILES = ("tflite", "affine")  # the choices of Graph.numerics
ANY_OP = "*"  # a profile's kernel for every op without its own


class QuantizedExecutionError(NpuccError):
    """A quantized node cannot be run exactly in its profile's arithmetic."""


# profile -> op -> kernel preparer (ANY_OP: the profile's kernel for ops without their own)
KERNELS: Registry[Registry[Prepare]] = Registry(
    "numerics profile", {p: Registry(f"{p} kernel") for p in PROFILES})
# profile -> op -> node -> None, or why the kernel cannot run a node with its attributes
LIMITS: Registry[Registry[Callable[[Node], str | None]]] = Registry(
    "numerics profile", {p: Registry(f"{p} kernel limit") for p in PROFILES})


def kernel(profiles: str | Iterable[str], *ops: str,
           limits: Callable[[Node], str | None] | None = None):
    """Decorator: register a kernel preparer for `ops` in one or more profiles. `limits(node)`
    says why the kernel cannot run a node with its attributes (None: it can); the quantize
    passes ask it before quantizing a node, so they never build what cannot run."""
    names = (profiles,) if isinstance(profiles, str) else tuple(profiles)
    unknown = [p for p in names if p not in PROFILES]
    if unknown:
        raise ValueError(f"unknown numerics profile(s) {unknown}; known: {PROFILES}")

    def register(prepare: Prepare) -> Prepare:
        for p in names:
            for op in ops:
                KERNELS[p][op] = prepare
                if limits is not None:
                    LIMITS[p][op] = limits
        return prepare
    return register


def is_quantized(node: Node) -> bool:
    return any(v is not None and v.type.quant is not None
               for v in (*node.inputs, *node.outputs))


def affine_profile(node: Node) -> str:
    """The profile of the node's graph for affine-quantized nodes (`Graph.numerics`)."""
    name = node.graph.numerics if node.graph is not None else AFFINE_PROFILES[0]
    if name not in AFFINE_PROFILES:
        raise QuantizedExecutionError(f"{node.describe()}: graph numerics {name!r} is not one of "
                                      f"{AFFINE_PROFILES}")
    return name


def profile_of(node: Node) -> str:
    """The numerics profile `node` computes in (see the module docstring)."""
    schemes, half = set(), False
    for v in (*node.inputs, *node.outputs):
        if v is None:
            continue
        if v.type.quant is not None:
            schemes.add(v.type.quant.scheme)
        elif v.dtype is DType.f16:
            half = True
    if QuantScheme.dfp in schemes:
        return "dfp"
    if schemes:
        return affine_profile(node)
    return "fp16" if half else "float"


def has_kernel(profile: str, op: str) -> bool:
    """Whether `profile` has a kernel for `op` (float runs every registered op)."""
    kernels = KERNELS.get(profile, {})
    return profile == "float" or op in kernels or ANY_OP in kernels


def unsupported(profile: str, node: Node) -> str | None:
    """Why `profile` cannot run `node` (an op it has no kernel for, or attributes its kernel does
    not take), or None. Reads only the op and attributes, so it applies to a float node about
    to be quantized."""
    if not has_kernel(profile, node.op):
        return f"the {profile} profile has no {node.op} kernel"
    limits = LIMITS.get(profile, {}).get(node.op)
    return None if limits is None else limits(node)


def kernel_ops(profile: str) -> list[str]:
    return sorted(op for op in KERNELS.get(profile, {}) if op != ANY_OP)


def float_kernel(node: Node) -> Kernel:
    opdef, attrs_ = node.opdef, node.attrs
    return lambda args: opdef.evaluate(args, attrs_)


def select_kernel(node: Node) -> Kernel:
    """The kernel that runs `node` in its profile, prepared for its types. Raises
    QuantizedExecutionError, naming the node, op and profile, when the profile has no kernel
    for the op: a quantized node never falls back to float."""
    profile = profile_of(node)
    if profile == "float":
        return float_kernel(node)
    prepare = KERNELS[profile].get(node.op) or KERNELS[profile].get(ANY_OP)
    if prepare is None:
        raise QuantizedExecutionError(
            f"{node.describe()}: quantized {node.op} has no integer kernel in the {profile} "
            f"profile, so it cannot run exactly (its kernels: {', '.join(kernel_ops(profile))})")
    return prepare(node)


def evaluate_node(node: Node, args: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """Run one node with the kernel `select_kernel` picks."""
    return select_kernel(node)(args)
