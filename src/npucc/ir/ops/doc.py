"""Generate docs/OPS.md, the op reference, from the registry.

    python -m npucc.ir.ops.doc [--output docs/OPS.md] [--check]

Every row is read from an op's declaration: its input slots, its attribute schema (kind, default,
allowed values) and its kernel's docstring, which states the op's semantics.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from npucc.ir import ops as _ops  # noqa: F401  (registers the core op set)
from npucc.ir.registry import OPS, REQUIRED, Attr, OpDef
from npucc.ir.types import DType

HEADER = """# Core op reference

Generated from the op registry by `python -m npucc.ir.ops.doc`; do not edit by hand.

## Conventions every op follows
- Layout is NCHW for every spatial op (N, C, H, W); spatial rank 2 (1-D where the table says).
- `pads` lists all begins then all ends, ONNX style: for 2-D `(top, left, bottom, right)`.
- Everything that decides a shape is an **attribute**, never a tensor input: Reshape's shape,
  Slice's bounds, Pad's pads, Resize's sizes, Split's sizes, Clip's bounds, reduction and
  Squeeze/Unsqueeze axes. Frontends fold constant tensor operands into these attributes, and
  shapes in attributes are fully explicit (no -1 or 0 placeholders).
- Binary elementwise ops broadcast like numpy.
- Conv, ConvTranspose, Gemm and MatMul carry a fused activation (`activation`,
  `activation_params`) with exactly the semantics of the standalone activation ops; Conv may
  also carry a fused max pool (`pool_kernel`, `pool_strides`) applied after the activation.
- Kernels return exactly the output type's dtype. A node whose tensors carry quantization params
  runs the kernel of its numerics profile instead (`npucc.numerics`), chosen by its types.

Inputs: `X?` is optional, `inputs*` is variadic. Attributes: `name: kind = default`
(`required` when there is no default; `None` means absent). *Quantized*: the op's quantization
rule (`npucc.ir.quant_rule`), read by the quantize passes and the numerics kernels; "float" ops
have none and stay float in a quantized graph.
"""


def _value(v) -> str:
    if isinstance(v, DType):
        return v.value
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x) for x in v) + ")"
    return repr(v)


def _attr(name: str, spec: Attr) -> str:
    default = "required" if spec.default is REQUIRED else _value(spec.default)
    s = f"`{name}: {spec.kind} = {default}`"
    if spec.choices is not None:
        s += " one of " + ", ".join(_value(c) for c in spec.choices)
    if spec.doc:
        s += f" ({spec.doc})"
    return s


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def row(op: OpDef) -> str:
    inputs = ", ".join(op.inputs)
    attrs_ = "<br>".join(_cell(_attr(k, a)) for k, a in op.attrs.items())
    quant = "float" if op.quant is None else op.quant.describe(op.inputs)
    return f"| {op.name} | {inputs} | {attrs_} | {_cell(op.doc)} | {_cell(quant)} |"


def render() -> str:
    """The whole reference document as markdown."""
    lines = [HEADER, "| op | inputs | attributes | semantics | quantized |",
             "|---|---|---|---|---|"]
    lines += [row(OPS[name]) for name in sorted(OPS)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m npucc.ir.ops.doc", description=__doc__)
    parser.add_argument("--output", "-o", type=Path, default=Path("docs/OPS.md"))
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the file differs from the registry instead of writing it")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python -m npucc.ir.ops.doc", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(OPS)} ops)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
