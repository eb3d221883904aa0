"""A target NPU as data: `get_target(name_or_path) -> Target`.

Each shipped target is one YAML file in `npucc/targets/data/` (`rk3588.yaml`...); a user target is
any YAML file with the same keys, given by path. A file may start from another with
`extends: NAME` (a shipped file, `_rknpu1` for the generation-wide facts, or a path relative to the
file): its keys replace the base's, and the mappings `cost` and `constraints` are merged key by
key. Every number in the shipped files carries a comment naming its source.

Validation is strict: an unknown key, a missing key or a value of the wrong kind raises
TargetError naming the file and the key (`rk3588.yaml: cost.mac_efficiency: expected a number
> 0, got 'fast'`).
"""

from __future__ import annotations

import functools
import math
import os
import types
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from ..errors import TargetError
from ..yaml_mapping import brief, read_yaml_mapping
from .fusion import PoolFusionRule

PRECISIONS = ("int8", "int16", "fp16")  # what a MAC array computes in; keys of macs_per_cycle
# storage schemes a target may run (the quantize_graph dtype names, plus fp16)
QUANT_DTYPES = ("u8", "i8", "i16", "dfp8", "dfp16", "fp16")
_MAX_EXTENDS = 8
_MAX_NUMBER = 1 << 53  # beyond: not a plausible clock, core count or size (and float() overflows)


@attrs.frozen
class CostParams:
    """The cost model's parameters (see npucc.backends.npu.cost); fitted ones say so in the file."""

    mac_efficiency: float  # fraction of the peak MAC rate a dense conv / matmul reaches
    depthwise_efficiency: float  # the same for depthwise convs (one input channel per output)
    dram_gbps: float  # effective DRAM bandwidth the NPU reaches, GB/s
    channel_align_bytes: float  # activations' channels are padded to this many bytes (1: none)
    layer_overhead_us: float  # fixed time per NPU layer (task set-up)
    profiling_overhead_us: float  # extra per layer with per-op profiling on (RKNN perf_debug)
    cpu_gflops: float  # CPU fallback: sustained float GFLOP/s
    cpu_gbps: float  # CPU fallback: memory bandwidth, GB/s
    cpu_op_overhead_us: float  # CPU fallback: fixed time per op (and per boundary conversion)


@attrs.frozen
class Target:
    """One NPU target. `constraints` maps a constraint name (npucc.targets.constraints) to its
    parameters; `ops` is the NPU op allow-list (None: every op)."""

    name: str
    description: str
    generation: str
    source: str  # the file it was read from
    clock_mhz: float
    cores: int
    macs_per_cycle: Mapping[str, int] = attrs.field(converter=lambda d: _frozen(d))  # per core
    quant_dtypes: tuple[str, ...]
    default_precision: str
    dram_peak_gbps: float
    onchip_buffer_kib: int  # per core
    pool_fusion: tuple[PoolFusionRule, ...]
    ops: frozenset[str] | None
    constraints: Mapping[str, Mapping[str, Any]] = attrs.field(converter=lambda d: _frozen(d))
    cost: CostParams

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.macs_per_cycle)

    @property
    def onchip_buffer_bytes(self) -> int:
        return self.onchip_buffer_kib * 1024

    def runs_op(self, op: str) -> bool:
        return self.ops is None or op in self.ops


def _frozen(mapping) -> Mapping:
    """A read-only copy (nested mappings too)."""
    return types.MappingProxyType({k: _frozen(v) if isinstance(v, Mapping) else v
                                   for k, v in mapping.items()})


# ---- reading and validating ----

def _shipped_dir():
    return resources.files("npucc.targets") / "data"


def list_targets() -> list[str]:
    """Names of the shipped targets (files starting with '_' are generation bases)."""
    return sorted(p.name[:-5] for p in _shipped_dir().iterdir()
                  if p.name.endswith(".yaml") and not p.name.startswith("_"))


def get_target(name_or_path) -> Target:
    """A shipped target by name (`rk3588`) or a target file by path. Targets are immutable and
    shipped ones are cached."""
    if isinstance(name_or_path, Target):
        return name_or_path
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml")) or "/" in text or Path(text).is_file():
        return _load_file(str(Path(text).resolve()))
    return _shipped(text.lower())


_files: dict[str, tuple[list[tuple[str, tuple | None]], Target]] = {}  # path -> (stamps, target)


def _stamp(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino


def _load_file(path: str) -> Target:
    """A target file, cached while neither it nor a file it extends has changed (modification
    and change times, size, inode)."""
    cached = _files.get(path)
    if cached is not None and all(_stamp(f) == st for f, st in cached[0]):
        return cached[1]
    chain: list[str] = []
    target = _load(path, chain)
    if len(_files) >= 64:
        _files.clear()
    _files[path] = ([(f, _stamp(f)) for f in chain], target)
    return target


@functools.lru_cache(maxsize=None)
def _shipped(name: str) -> Target:
    if name not in list_targets():
        raise TargetError(f"unknown target {name!r}; shipped targets: "
                          f"{', '.join(list_targets())} (or give a target file's path)")
    return _load(str(_shipped_dir() / f"{name}.yaml"))


def _read_yaml(path: str, shown: str) -> dict:
    return read_yaml_mapping(path, TargetError, "target file", shown=shown)


def _resolve_base(name: str, here: str, shown: str) -> str:
    candidate = Path(here).parent / name
    for p in (candidate, candidate.with_suffix(".yaml")):
        if p.is_file():
            return str(p)
    shipped = _shipped_dir() / f"{name}.yaml"
    if shipped.is_file():
        return str(shipped)
    raise TargetError(f"{shown}: extends: no target or base file named {name!r}")


def _merged(path: str, files: list[str] | None = None) -> tuple[dict, str]:
    """The file's keys over those of the files it extends; returns (data, name to show). The
    paths read are appended to `files`."""
    chain: list[tuple[dict, str]] = []
    seen = set()
    while path is not None:
        if files is not None:
            files.append(path)
        shown = Path(path).name
        if path in seen or len(chain) > _MAX_EXTENDS:
            raise TargetError(f"{shown}: extends: cycle or chain longer than {_MAX_EXTENDS}")
        seen.add(path)
        data = _read_yaml(path, shown if not chain else f"{chain[-1][1]}: extends {shown}")
        chain.append((data, shown))
        base = data.pop("extends", None)
        if base is not None and not isinstance(base, str):
            raise TargetError(f"{shown}: extends: expected a file or target name")
        path = _resolve_base(base, path, shown) if base else None
    merged: dict = {}
    for data, _ in reversed(chain):
        for key, value in data.items():
            if key in ("cost", "constraints") and isinstance(value, dict) \
                    and isinstance(merged.get(key), dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged, chain[0][1]


_TOP_KEYS = {"name", "description", "generation", "clock_mhz", "cores", "macs_per_cycle",
             "quant_dtypes", "default_precision", "dram_peak_gbps", "onchip_buffer_kib",
             "pool_fusion", "ops", "constraints", "cost"}


class _Checker:
    """Typed reads of one target file's keys; every error names the file and the key."""

    def __init__(self, shown: str):
        self.shown = shown

    def fail(self, key: str, msg: str):
        raise TargetError(f"{self.shown}: {key}: {msg}")

    def number(self, data: Mapping, key: str, where: str = "", *, integer=False) -> float:
        full = f"{where}{key}"
        if key not in data:
            self.fail(full, "missing (required)")
        v = data[key]
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or not -_MAX_NUMBER < v < _MAX_NUMBER \
                or not math.isfinite(v) or v < 0:
            kind = "an integer" if integer else "a number"
            big = " (at most 2**53)" if ok and not isinstance(v, bool) and v > 0 else ""
            self.fail(full, f"expected {kind} >= 0{big}, got {brief(v)}")
        return v

    def text(self, data: Mapping, key: str) -> str:
        v = data.get(key)
        if not isinstance(v, str) or not v:
            self.fail(key, f"expected a non-empty string, got {brief(v)}")
        return v

    def unknown(self, data: Mapping, allowed, where: str = "") -> None:
        extra = sorted(set(data) - set(allowed), key=str)  # YAML keys: str, int, None...
        if extra:
            self.fail(where + str(extra[0]), f"unknown key (known: {', '.join(sorted(allowed))})")


def _load(path: str, files: list[str] | None = None) -> Target:
    data, shown = _merged(path, files)
    c = _Checker(shown)
    c.unknown(data, _TOP_KEYS)
    macs = data.get("macs_per_cycle")
    if not isinstance(macs, dict) or not macs:
        c.fail("macs_per_cycle", f"expected a mapping precision -> MACs per cycle, got "
                                 f"{brief(macs)}")
    for p in macs:
        if p not in PRECISIONS:
            c.fail(f"macs_per_cycle.{p}", f"unknown precision (known: {', '.join(PRECISIONS)})")
        if c.number(macs, p, "macs_per_cycle.", integer=True) == 0:
            c.fail(f"macs_per_cycle.{p}", "must be > 0")
    default = c.text(data, "default_precision")
    if default not in macs:
        c.fail("default_precision", f"{default!r} is not one of macs_per_cycle's precisions")
    dtypes = data.get("quant_dtypes")
    if not isinstance(dtypes, list) or not dtypes:
        c.fail("quant_dtypes", f"expected a list of {', '.join(QUANT_DTYPES)}")
    for i, d in enumerate(dtypes):
        if d not in QUANT_DTYPES:
            c.fail(f"quant_dtypes[{i}]", f"unknown dtype {brief(d)} (known: "
                                         f"{', '.join(QUANT_DTYPES)})")
    cost = data.get("cost")
    if not isinstance(cost, dict):
        c.fail("cost", "missing or not a mapping of cost-model parameters")
    fields = [f.name for f in attrs.fields(CostParams)]
    c.unknown(cost, fields, "cost.")
    clock = c.number(data, "clock_mhz")
    if clock == 0:
        c.fail("clock_mhz", "must be > 0")
    cores = int(c.number(data, "cores", integer=True))
    if cores == 0:
        c.fail("cores", "must be >= 1")
    return Target(
        name=c.text(data, "name"), description=c.text(data, "description"),
        generation=c.text(data, "generation"), source=path, clock_mhz=float(clock),
        cores=cores,
        macs_per_cycle=dict(macs), quant_dtypes=tuple(dtypes), default_precision=default,
        dram_peak_gbps=float(c.number(data, "dram_peak_gbps")),
        onchip_buffer_kib=int(c.number(data, "onchip_buffer_kib", integer=True)),
        pool_fusion=_pool_rules(c, data.get("pool_fusion", [])),
        ops=_ops(c, data.get("ops")), constraints=_constraints(c, data.get("constraints", {})),
        cost=CostParams(**{f: float(c.number(cost, f, "cost.")) for f in fields}))


def _pool_rules(c: _Checker, rules) -> tuple[PoolFusionRule, ...]:
    if not isinstance(rules, list):
        c.fail("pool_fusion", "expected a list of rules")
    out = []
    for i, r in enumerate(rules):
        key = f"pool_fusion[{i}]"
        if not isinstance(r, dict):
            c.fail(key, "expected a mapping")
        c.unknown(r, ("kernel", "stride", "parity", "excluded_sizes", "max_width"), key + ".")
        parity = r.get("parity")
        if parity not in (None, "even", "odd"):
            c.fail(key + ".parity", f"expected even, odd or absent, got {brief(parity)}")
        widths = r.get("max_width", {})
        if not isinstance(widths, dict) or any(b not in (8, 16) for b in widths):
            c.fail(key + ".max_width", "expected a mapping of bit width (8, 16) -> width")
        sizes = r.get("excluded_sizes", [])
        if not isinstance(sizes, list):
            c.fail(key + ".excluded_sizes", f"expected a list of sizes, got {brief(sizes)}")
        out.append(PoolFusionRule(
            int(c.number(r, "kernel", key + ".", integer=True)),
            int(c.number(r, "stride", key + ".", integer=True)), parity,
            tuple(int(c.number(dict(enumerate(sizes)), i, f"{key}.excluded_sizes.",
                               integer=True)) for i in range(len(sizes))),
            {b: int(c.number(widths, b, key + ".max_width.", integer=True)) for b in widths}))
    return tuple(out)


def _ops(c: _Checker, ops) -> frozenset[str] | None:
    from ..ir import ops as _registered  # noqa: F401  (registers the core op set)
    from ..ir.registry import OPS

    if ops == "all":
        return None
    if not isinstance(ops, list):
        c.fail("ops", "expected a list of op names or 'all'")
    for i, op in enumerate(ops):
        if not isinstance(op, str) or op not in OPS:
            c.fail(f"ops[{i}]", f"unknown op {brief(op)}")
    return frozenset(ops)


def _constraints(c: _Checker, given) -> dict[str, dict[str, Any]]:
    from .constraints import CONSTRAINTS

    if not isinstance(given, dict):
        c.fail("constraints", "expected a mapping of constraint name -> parameters")
    out = {}
    for name, params in given.items():
        key = f"constraints.{name}"
        if name not in CONSTRAINTS:
            c.fail(key, f"unknown constraint (known: {', '.join(sorted(CONSTRAINTS))})")
        params = {} if params is None else params
        if not isinstance(params, dict):
            c.fail(key, "expected a mapping of parameters (or nothing)")
        want = CONSTRAINTS[name].params
        c.unknown(params, want, key + ".")
        for p in want:
            if p not in params:
                c.fail(f"{key}.{p}", "missing (required)")
            _check_param(c, params, p, f"{key}.")
        out[name] = dict(params)
    return out


def _check_param(c: _Checker, params: Mapping, p: str, where: str) -> None:
    """A constraint parameter of the kind the constraints read: per_channel a boolean, modes a
    list of names, every other one (max, kernel_max, per_stride...) an integer >= 0."""
    v = params[p]
    if p == "per_channel":
        if not isinstance(v, bool):
            c.fail(where + p, f"expected true or false, got {brief(v)}")
    elif p == "modes":
        if not isinstance(v, list) or not all(isinstance(m, str) for m in v):
            c.fail(where + p, f"expected a list of mode names, got {brief(v)}")
    else:
        c.number(params, p, where, integer=True)
