"""Post-training quantization in one call: calibrate the float graph on a dataset, pick ranges,
quantize. The RKNN facade, `npucc quantize`, `npucc build` and the benchmarks all go through
`quantize_model`, so one set of options means the same thing everywhere."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ..ir import Graph
from ..passes.quantize import quantize_graph
from .calibrate import calibrate
from .calibration_stats import CalibrationStats
from .schemes import scheme_for
from .selectors import select_ranges


@attrs.frozen
class QuantizedModel:
    """float_graph: the float graph that was calibrated (after the default pipeline); graph: the
    quantized graph; stats: the calibration statistics (None for fp16); ranges: the selected
    {value name: (lo, hi)} (None for fp16); options: what was asked, for reports."""

    float_graph: Graph
    graph: Graph
    stats: CalibrationStats | None
    ranges: dict | None
    options: Mapping


def quantize_model(graph: Graph, dataset=None, *, dtype: str = "u8", algorithm: str = "normal",
                   per_channel: bool = False, layer_dtypes: Mapping[str, str] | None = None,
                   numerics: str = "affine", stats: CalibrationStats | None = None,
                   rgb2bgr: bool = False, executor=None, progress: bool = True,
                   **selector_options) -> QuantizedModel:
    """Quantize the float `graph` (after the default pipeline; it is not modified).

    dtype: npucc or RKNN spelling (u8 / asymmetric_quantized-u8, i8 / asymmetric_quantized-8,
    dfp8, dfp16 / dynamic_fixed_point-i16, fp16). algorithm: a range selector (normal, mmse,
    kl_divergence, percentile, ...). dataset: what `calibrate` takes; or give `stats` from an
    earlier calibration (no inference then). fp16 needs neither."""
    scheme = scheme_for(dtype)
    ranges = None
    if scheme.calibrated:
        if stats is None:
            if dataset is None:
                from .stats import CalibrationError

                raise CalibrationError(f"quantizing {graph.name} to {dtype} needs a calibration "
                                       "dataset (or statistics from an earlier calibration)")
            stats = calibrate(graph, dataset, executor=executor, progress=progress,
                              rgb2bgr=rgb2bgr)
        ranges = select_ranges(stats, algorithm, scheme.name, **selector_options)
    name = "i8" if scheme.name == "i8-symmetric" else scheme.name
    qgraph = quantize_graph(graph, ranges, name, per_channel, layer_dtypes, numerics=numerics)
    options = {"dtype": name, "algorithm": algorithm if scheme.calibrated else None,
               "per_channel": per_channel, "layer_dtypes": dict(layer_dtypes or {}),
               "numerics": numerics, **selector_options}
    return QuantizedModel(graph, qgraph, stats, ranges, options)
