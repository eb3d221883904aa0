"""How an op computes on quantized tensors: the `quant=` part of its registry declaration.

Type inference, the quantize passes (`npucc.passes.quantize`) and the integer kernels
(`npucc.numerics`) all read an op's rule; none of them keeps a per-op table of its own. An op
without a rule stays float: the quantize passes surround it with Dequantize/Quantize nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

OUTPUT_KINDS = ("requantize", "same", "fixed", "convert")


@attrs.frozen
class QuantRule:
    """One op's quantization rule.

    output: how the output's params are chosen:
      "requantize"  its own params (from its range); the op rescales its result into them;
      "same"        input 0's params: integers move unchanged, are compared or clamped (MaxPool,
                    Reshape, Transpose, Relu); Pad fills with the zero point;
      "fixed"       params the op fixes itself: an output in [0, 1] (Softmax) at scale
                    2**-bits, zero point at the type's minimum (TFLite's; dfp fl = bits - 1);
      "convert"     the op converts between representations (QuantizeLinear, DequantizeLinear,
                    Cast, Requantize); its own inference types its output.
    inputs: indices of the inputs that are quantized activations (None: every input); the others
      keep their types (Gather's indices).
    folded: inputs among `inputs` that stay float when they are constants: the kernel folds them
      into its multipliers (Div's divisor); computed ones are quantized like the rest.
    shared: every quantized input carries the output's params (Concat): the quantize passes give
      them one set of params.
    align: the op rescales its quantized inputs to a common scale before combining them (Add,
      Sub), so their params may differ.
    weights, weight_axis: the weights' input index, and their output-channel axis as a function of
      the attributes (per-channel quantization).
    bias: the bias input index; stored as int32 at scale s_x * s_w (zero point 0), 64-bit for
      16-bit dynamic fixed point.
    activation: the fused activation attribute is a clamp applied before requantization, so the
      output range is clipped to the activation's.
    table: elementwise in one input: an integer profile may run it as a lookup table computed
      from the float kernel, one entry per input integer.
    exact_kernel: the registry kernel is already the op's exact semantics on quantized types (its
      attributes say everything), so the float reference interpreter may run it.
    """

    output: str = attrs.field(validator=attrs.validators.in_(OUTPUT_KINDS))
    inputs: tuple[int, ...] | None = (0,)
    folded: tuple[int, ...] = ()
    shared: bool = False
    align: bool = False
    weights: int | None = None
    weight_axis: Callable[[Mapping], int] | None = None
    bias: int | None = None
    activation: bool = False
    table: bool = False
    exact_kernel: bool = False

    @property
    def infers_real_values(self) -> bool:
        """Type inference on quantized operands runs the op's float inference on their real
        values and stores the result in the first quantized operand's integer type."""
        return self.output != "convert"

    def describe(self, input_names) -> str:
        """One line for docs/OPS.md: what the rule says, with the op's input names."""
        parts = {"requantize": ["output requantized"], "same": ["output keeps the input's params"],
                 "fixed": ["output params fixed by the op"],
                 "convert": ["converts between representations"]}[self.output]
        if self.folded:
            parts.append(f"a constant {', '.join(input_names[i] for i in self.folded)} folds "
                         "into the multipliers")
        if self.shared:
            parts.append("all inputs share the output's params")
        if self.align:
            parts.append("inputs aligned to a common scale")
        if self.weights is not None:
            parts.append(f"weights {input_names[self.weights]} per output channel")
        if self.bias is not None:
            parts.append(f"bias {input_names[self.bias].rstrip('?')} int32 at s_x*s_w")
        if self.activation:
            parts.append("fused activation before requantization")
        if self.table:
            parts.append("lookup table")
        return "; ".join(parts)

    def activation_inputs(self, n_inputs: int) -> tuple[int, ...]:
        """Indices of the quantized activation inputs of a node with `n_inputs` inputs (a
        non-constant weight operand, MatMul's B, is one; the quantize passes decide that)."""
        skip = {self.bias}
        every = range(n_inputs) if self.inputs is None else self.inputs
        return tuple(i for i in every if i < n_inputs and i not in skip)


SAME = QuantRule("same")
"""Output params = input params (data movement, max, clamps)."""
SHARED = QuantRule("same", inputs=None, shared=True)
"""Every input and the output share params (Concat)."""
REQUANTIZE = QuantRule("requantize")
"""The output has its own params; one quantized input."""
TABLE = QuantRule("requantize", table=True)
"""A unary elementwise function: a lookup table in integer profiles."""
ALIGNED = QuantRule("requantize", inputs=(0, 1), align=True)
"""Add, Sub: inputs rescaled to a common scale, then combined and requantized."""
PRODUCT = QuantRule("requantize", inputs=(0, 1))
"""Mul: the product of the inputs' integers, requantized."""
QUOTIENT = QuantRule("requantize", inputs=(0, 1), folded=(1,))
"""Div: a constant divisor is folded into per-element multipliers; a computed one is quantized
and the integer quotient rounded exactly."""
CONVERT = QuantRule("convert", inputs=None, exact_kernel=True)
"""QuantizeLinear, DequantizeLinear, Cast: conversions defined by their attributes."""


def linear(weight_axis: Callable[[Mapping], int], *, bias: bool = True) -> QuantRule:
    """Conv, Gemm, MatMul: int32 accumulation of activation x weights, bias (input 2) at
    s_x * s_w, the fused activation, requantization of the output."""
    return QuantRule("requantize", weights=1, weight_axis=weight_axis, bias=2 if bias else None,
                     activation=True)
