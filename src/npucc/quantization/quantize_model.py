"""Post-training quantization in one call: calibrate the float graph on a dataset, pick ranges,
quantize. The RKNN facade, `npucc quantize`, `npucc build` and the benchmarks all go through
`quantize_model`, so one set of options means the same thing everywhere."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping

import attrs

from ..ir import Graph
from ..passes.quantize import quantize_graph
from ..passes.quantize_plan import MASK_SENTINEL
from ..targets.nodeinfo import imported_precision, is_quantized
from .calibrate import calibrate
from .calibration_stats import CalibrationStats
from .dataset import Dataset
from .schemes import scheme_for
from .selectors import select_ranges

log = logging.getLogger("npucc.quantization")

# on by default only where benchmarks/quant_accuracy.py shows a gain (see quantize_model)
DEFAULT_EQUALIZE = False
DEFAULT_BIAS_CORRECTION: frozenset[str] = frozenset()  # scheme names with it on by default
BIAS_CORRECTION_SAMPLES = 16  # the first calibration samples bias correction measures on


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
                   equalize: bool | None = None, bias_correction: bool | None = None,
                   **selector_options) -> QuantizedModel:
    """Quantize the float `graph` (after the default pipeline; it is not modified).

    dtype: npucc or RKNN spelling (u8 / asymmetric_quantized-u8, i8 / asymmetric_quantized-8,
    dfp8, dfp16 / dynamic_fixed_point-i16, fp16). algorithm: a range selector (normal, mmse,
    kl_divergence, percentile, ...). dataset: what `calibrate` takes; or give `stats` from an
    earlier calibration (no inference then). fp16 needs neither.

    equalize: cross-layer equalization (`npucc.passes.equalize`) before calibration; q.float_graph
    is then the equalized graph (the same function). bias_correction: empirical bias correction
    (`bias_correction.correct_bias`) on the first 16 calibration samples. None = the default,
    decided by benchmarks/quant_accuracy.py (figures in benchmarks/README.md):
    - bias correction OFF (opt in with bias_correction=True): it helps EfficientNet-Lite0
      (ImageNet weights, 64 photo crops; top-1 agreement with float u8 53.1 -> 68.8 %,
      cos 0.845 -> 0.956; i8 per-channel mmse 87.5 -> 89.1 %; dfp8 26.6 -> 60.9 %) and PP-OCRv4
      det u8 / dfp8, but not det i8 (percentile cos 0.9971 -> 0.9957) and is mixed on PP-OCR cls
      (benchmarks/quant_accuracy_ocr.py); it costs ~one float + one quantized inference per
      sample, and a rebuild from `stats=` alone (hybrid step 2) cannot repeat it: an explicit
      choice keeps builds comparable.
    - equalization OFF (opt in with equalize=True; worth it for per-tensor u8 where the net has
      exact pairs): benchmarks/equalization.py shows per-tensor u8 repaired on trained BlazeFace
      (faces kept 29 -> 71 %), selfie segmentation (mask IoU 60 -> 70 %) and a MobileNetV2 with
      trained-like BN and ReLU (cos 0.68 -> 0.97), but neutral-to-worse on the landmark nets
      (face landmark u8 mmse 2.10 -> 2.13 px) and on EfficientNet-Lite0 i8 per-channel
      (81.2 -> 79.7 %); ReLU6 nets have few exact pairs (2 in EfficientNet-Lite0 and
      MobileNetV2). It also changes the float graph the statistics describe, so a rebuild from
      `stats=` (hybrid step 2) would have to repeat it: an explicit choice keeps that visible.

    Integer dtypes: a fused activation the integer kernels cannot fold (hard_swish, sigmoid) is
    split into its own node first (`npucc.passes.split_activation`), so both quantize;
    q.float_graph is then the split graph (the same function, bit for bit)."""
    scheme = scheme_for(dtype)
    if is_quantized(graph) and imported_precision(graph) == "fp16":  # a half-precision model
        from ..passes.promote_float16 import promoted

        graph = promoted(graph)[0]
        log.info("%s is a float16 model: calibrated and quantized from its float32 form "
                 "(promote-float16)", graph.name)
    if is_quantized(graph):
        from .stats import CalibrationError

        raise CalibrationError(f"{graph.name} is already quantized (an int8 TFLite or QDQ ONNX "
                               "model carries its own parameters): build it as it is, without "
                               f"quantizing it again to {dtype}")
    ranges = None
    calibrated = scheme.calibrated
    if equalize is None:
        equalize = DEFAULT_EQUALIZE and calibrated and stats is None
    if bias_correction is None:
        bias_correction = scheme.name in DEFAULT_BIAS_CORRECTION and dataset is not None
    if equalize:
        if stats is not None:
            raise ValueError(f"quantizing {graph.name}: equalize=True changes the values the "
                             "given statistics describe; calibrate again (pass the dataset)")
        from ..passes.equalize import equalize_graph

        graph = equalize_graph(graph)
    name = "i8" if scheme.name == "i8-symmetric" else scheme.name
    if calibrated:
        graph = _split_activations(graph, "dfp" if name.startswith("dfp") else numerics, stats)
    if bias_correction and isinstance(dataset, Iterator):  # read twice: calibrate, correct
        dataset = list(dataset)
    if bias_correction and (dataset is None or not calibrated):
        raise ValueError(f"quantizing {graph.name}: bias correction needs a calibration dataset "
                         f"and an integer dtype (got {dtype})")
    if scheme.calibrated:
        if stats is None:
            if dataset is None:
                from .stats import CalibrationError

                raise CalibrationError(f"quantizing {graph.name} to {dtype} needs a calibration "
                                       "dataset (or statistics from an earlier calibration)")
            stats = calibrate(graph, dataset, executor=executor, progress=progress,
                              rgb2bgr=rgb2bgr)
        ranges = select_ranges(stats, algorithm, scheme.name, **selector_options)
        layer_dtypes = _float_where_nonfinite(graph, stats, layer_dtypes)
    qgraph = quantize_graph(graph, ranges, name, per_channel, layer_dtypes, numerics=numerics)
    options = {"dtype": name, "algorithm": algorithm if scheme.calibrated else None,
               "per_channel": per_channel, "layer_dtypes": dict(layer_dtypes or {}),
               "numerics": numerics, "equalize": bool(equalize),
               "bias_correction": False, **selector_options}
    q = QuantizedModel(graph, qgraph, stats, ranges, options)
    if bias_correction:
        from .bias_correction import correct_bias

        q = correct_bias(q, Dataset.of(dataset, rgb2bgr), max_samples=BIAS_CORRECTION_SAMPLES)
    return q


def _float_where_nonfinite(graph: Graph, stats: CalibrationStats,
                           layer_dtypes: Mapping[str, str] | None) -> dict[str, str] | None:
    """layer_dtypes plus f32 for the producer and the readers of every value that held inf or
    NaN, or values past MASK_SENTINEL, during calibration (an attention mask's -inf or float32's
    lowest before a Softmax): no integer range holds them (saturating -inf to the range's end
    gave masked positions weight: a causal attention's output cosine fell to 0.95; a range
    reaching -3.4e38 leaves one step for every real score). Nodes the caller named keep the
    caller's dtype."""
    held = {name for name, s in stats.values.items()
            if s.nonfinite or max(abs(s.min), abs(s.max)) >= MASK_SENTINEL}
    if not held:
        return layer_dtypes
    out = dict(layer_dtypes or {})
    kept = []
    for node in graph.nodes:
        if not any(v is not None and v.name in held for v in (*node.inputs, *node.outputs)):
            continue
        if any(k in out for k in (*node.provenance, *(v.name for v in node.outputs))):
            continue
        for v in node.outputs:
            out[v.name] = "f32"
        kept.append(node.describe())
    if kept:
        shown = "; ".join(kept[:4]) + (f"; and {len(kept) - 4} more" if len(kept) > 4 else "")
        log.warning("%s: %d node(s) stay float, as they compute or read values that held inf, "
                    "NaN or values past %.0e during calibration (a mask?): %s", graph.name,
                    len(kept), MASK_SENTINEL, shown)
    return out


def _split_activations(graph: Graph, profile: str, stats: CalibrationStats | None) -> Graph:
    """`graph` with the split-activation pass applied (a copy, when it changes anything); given
    statistics must then describe the split graph (an earlier quantize_model's q.stats do),
    else the graph stays as it is and such nodes stay float."""
    from ..passes.split_activation import SplitActivation

    split = graph.copy()
    if not SplitActivation(profile=profile)(split).changed:
        return graph
    if stats is not None:
        new = {v.name for v in split.values()} - {v.name for v in graph.values()}
        if any(n not in stats.values for n in new):
            return graph
    return split
