"""The default optimization pipeline that `npucc.compile` runs, as data (`DEFAULT_PIPELINE`, read
by `npucc.passes.default_pipeline()`), and `build_pipeline` for build-time settings.

    import cleanup ─ layout canonicalization ─ cleanup ─ fusions ─ cleanup to a fixed point

Build-time choices are pipeline settings: `build_pipeline(input_layout="NCHW",
preprocess={"image": Preprocess(...)})` adds set-input-layout and insert-preprocess in front of
layout canonicalization, so the fusions fold the preprocessing into the first conv.
"""

from __future__ import annotations

from collections.abc import Mapping

# This module imports nothing from pipeline.py at import time: pipeline.py reads the list below.
DEFAULT_PASSES = (
    # import cleanup (one round; the same passes run to a fixed point at the end)
    "eliminate-noops", "fold-shape-only", "fold-constants", "cse", "dce",
    # NHWC imports: sink and cancel the Transposes around NCHW core ops, then drop the leftovers
    "canonicalize-layout", "cleanup",
    # fusions: BN (+ Caffe Scale) and constant affine into linear ops (fold-conv-affine also runs
    # the BatchNorm rules), Pad into conv/pool padding, input preprocessing into the first conv
    # (it sees through no Pad), activations, conv + max-pool. Each pass only enables later ones,
    # so the sequence is idempotent.
    "fuse-batchnorm", "fold-conv-affine", "fuse-pad", "fold-input-affine", "fuse-activation",
    "fuse-conv-pool",
    # everything the fusions uncovered, to a fixed point
    "cleanup",
)
DEFAULT_PIPELINE = ",".join(DEFAULT_PASSES)


def build_pipeline(input_layout: str = "source", preprocess: Mapping[str, object] | None = None,
                   target=None, bits: int = 8):
    """The default pipeline (with plugin placements, see `place_in_default_pipeline`), plus the
    build-time settings: `input_layout` ("source", "NCHW" or "NHWC") for 4-D image inputs,
    `preprocess`, a mapping from input name to `Preprocess` folded into the model, and the
    `target` (a Target, shipped name or file) whose pool-fusion rules fuse-conv-pool follows at
    `bits` (8, or 16 for a 16-bit or fp16 build); default: rk1808's rules at 8 bits."""
    from .fuse_conv_pool import FuseConvPool
    from .input_layout import SetInputLayout
    from .pipeline import Pipeline
    from .pipeline import default_pipeline as base_pipeline
    from .preprocess import InsertPreprocess

    pipeline = base_pipeline()
    if target is not None:
        source = getattr(target, "source", target)
        pipeline = Pipeline([FuseConvPool(bits=bits, target=str(source))
                             if p.name == "fuse-conv-pool" else p for p in pipeline])
    # after the layout cleanup (NHWC inputs then feed their Transposes directly), followed by one
    # more layout pass and cleanup (cancel the Transposes a layout change adds) before the fusions
    settings = ([SetInputLayout(layout=input_layout)] if input_layout != "source" else []) + \
        ([InsertPreprocess(inputs=preprocess)] if preprocess else [])
    for p in settings + (["canonicalize-layout", "cleanup"] if settings else []):
        pipeline.insert_before("fuse-batchnorm", p)
    return pipeline
