"""quantize: rewrite a float graph into a quantized one, driven by a range table.

    from npucc.passes.quantize import quantize_graph
    qgraph = quantize_graph(graph, {"x": (-1.0, 1.0), "conv1": (0.0, 6.0), ...}, dtype="u8")

dtype: "u8" (asymmetric per-tensor activations and weights, RKNN-Toolkit v1's
asymmetric_quantized-u8), "i8" (asymmetric activations, symmetric narrow-range weights per output
channel with per_channel=True: RKNN-Toolkit2's w8a8), "dfp8" / "dfp16" (dynamic fixed point, per
tensor), "fp16" (float16 storage; needs no ranges), "f32" (leave float). Which nodes quantize and
how is read from the ops' quantization rules and the numerics profiles; other nodes stay float
between Dequantize/Quantize nodes. See `quantize_plan` and `quantize_rewrite`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import ClassVar

import attrs

from ..errors import PassError
from ..ir.graph import Graph
from ..ir.types import QuantParams
from ..ir.verify import verify
from ..numerics.profiles import AFFINE_PROFILES
from .base import Pass, PassResult, register_pass
from .quantize_params import PRECISIONS
from .quantize_plan import plan_quantization
from .quantize_rewrite import build_quantized


def quantize_graph(graph: Graph, ranges: Mapping[str, tuple[float, float] | QuantParams] | None
                   = None, dtype: str = "u8", per_channel: bool = False,
                   layer_dtypes: Mapping[str, str] | None = None, *,
                   numerics: str = "affine") -> Graph:
    """A quantized copy of the float `graph` (which is left untouched).

    ranges: {value name: (lo, hi) or QuantParams} for the float activations to be quantized
      (graph inputs and node outputs); a value that needs a range and has none raises, naming it.
    dtype: the default precision (see the module docstring); per_channel: weights per output
      channel (affine precisions).
    layer_dtypes: {source layer name (an entry of Node.provenance) or value name: dtype}, for
      hybrid graphs; "f32" keeps a layer float. Explicit conversion nodes join precisions.
    numerics: the arithmetic of the u8 / i8 nodes (`Graph.numerics`): "affine" (RKNN-style,
      the default) or "tflite" (TFLite's reference kernels; ops it lacks stay float).
    """
    if numerics not in AFFINE_PROFILES:
        raise PassError(f"quantize: numerics must be one of {AFFINE_PROFILES}, got {numerics!r}")
    if dtype not in PRECISIONS:
        raise PassError(f"quantize: unknown dtype {dtype!r}; known: {', '.join(PRECISIONS)}")
    layer_dtypes = dict(layer_dtypes or {})
    plan = plan_quantization(graph, dict(ranges or {}), PRECISIONS[dtype], layer_dtypes,
                             numerics)
    out = build_quantized(graph, plan, per_channel, numerics)
    verify(out)
    return out


def _read_json_object(path: str, what: str) -> dict:
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise PassError(f"quantize: cannot read the {what} {path}: {e}") from None
    if not isinstance(data, dict):
        raise PassError(f"quantize: {path} must hold a JSON object (the {what})")
    return data


def read_ranges(path: str) -> dict[str, tuple[float, float]]:
    """A range table from JSON: {value name: [min, max]}."""
    data = _read_json_object(path, "range table {value name: [min, max]}")
    out = {}
    for name, r in data.items():
        if not (isinstance(r, list) and len(r) == 2 and all(isinstance(x, (int, float))
                                                            for x in r)):
            raise PassError(f"quantize: {path}: the range of {name!r} must be [min, max], "
                            f"got {r!r}")
        out[name] = (float(r[0]), float(r[1]))
    return out


@register_pass
@attrs.frozen
class Quantize(Pass):
    """Guarantee: the graph computes in the precision `dtype` wherever an op's quantization rule
    and its numerics profile allow (see npucc.passes.quantize.quantize_graph), with explicit
    conversion nodes at every change of precision and float graph inputs and outputs; nodes it
    cannot quantize stay float. `ranges` is a JSON file {value name: [min, max]} (not needed for
    fp16); `layer-dtypes` a JSON file {source layer or value name: dtype} for hybrid graphs."""

    name: ClassVar[str] = "quantize"
    idempotent: ClassVar[bool] = False
    dtype: str = "u8"
    per_channel: bool = False
    ranges: str = ""
    layer_dtypes: str = ""  # a JSON file {source layer or value name: dtype}

    def run(self, graph: Graph) -> PassResult:
        table = read_ranges(self.ranges) if self.ranges else {}
        layers = _read_json_object(self.layer_dtypes, "layer dtypes {layer name: dtype}") \
            if self.layer_dtypes else None
        out = quantize_graph(graph, table, self.dtype, self.per_channel, layers)
        graph.replace_contents(out)
        quantized = sum(1 for n in graph.nodes if any(v.type.quant is not None or
                                                      v.dtype.value == "f16"
                                                      for v in n.outputs))
        return PassResult(True, {"quantized_nodes": quantized})
