"""The `tflite` profile: TFLite's reference integer kernels (reference_ops /
reference_integer_ops), bit-exact with LiteRT: int32 accumulation, gemmlowp's fixed-point
multiplier with double rounding (ties away from zero), saturation. Importing the package
registers its kernels."""

from . import activations, elementwise, linear, pooling, softmax  # noqa: F401
