"""Imports the modules of the passes npucc ships, which registers them (loaded lazily by base)."""

from . import (  # noqa: F401
    cleanup,
    cse,
    dce,
    eliminate_noops,
    equalize,
    fold_constants,
    fold_conv_affine,
    fold_input_affine,
    fold_shape_only,
    fuse_activation,
    fuse_batchnorm,
    fuse_conv_pool,
    fuse_pad,
    input_layout,
    layout,
    preprocess,
    promote_float16,
    quantize,
    split_activation,
)
