"""A float64 fake-quantization reference for quantized graphs, node by node.

For each quantized node, given the integers its inputs hold, `fake_quant_node` dequantizes them
exactly ((q - zp) * scale in float64), runs the op's float reference kernel in float64 (weights
and bias dequantized too) and quantizes the result with the output's params (round half to even,
saturated). An integer kernel is correct to within one step (LSB) of that; `lsb_differences`
measures it at every value of a graph run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from npucc.ir import DType, Graph, Node, TensorType
from npucc.numerics import Interpreter, profile_of


def _broadcast(t: TensorType, values) -> np.ndarray:
    _, _, axis = t.quant.as_affine()
    arr = np.asarray(values, np.float64)
    if arr.size == 1:
        return arr.reshape(())
    shape = [1] * t.rank
    shape[axis] = -1
    return arr.reshape(shape)


def dequantize(a: np.ndarray, t: TensorType) -> np.ndarray:
    """Exact real values of a tensor (float64); non-quantized integers stay as they are."""
    if t.quant is None:
        return a.astype(np.float64) if t.dtype.is_float else a
    scale, zp, _ = t.quant.as_affine()
    return (a.astype(np.float64) - _broadcast(t, zp)) * _broadcast(t, scale)


def quantize(y: np.ndarray, t: TensorType) -> np.ndarray:
    """round_half_even(y / scale) + zp, saturated to the params' integer range (int64)."""
    scale, zp, _ = t.quant.as_affine()
    lo, hi = t.quant.int_range(t.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        q = np.rint(np.asarray(y, np.float64) / _broadcast(t, scale)) + _broadcast(t, zp)
    return np.clip(np.nan_to_num(q, nan=0.0), lo, hi).astype(np.int64)


def fake_quant_node(node: Node, args: Sequence[np.ndarray | None]) -> list[np.ndarray | None]:
    """The float64 reference of each output of a quantized or float16 node: integers for
    quantized outputs, float64 for float outputs (None for outputs it does not model)."""
    reals = [None if a is None else dequantize(a, v.type) for a, v in zip(args, node.inputs)]
    if node.op in ("QuantizeLinear", "Requantize", "Identity"):
        outs = [reals[0]]
    elif node.op in ("DequantizeLinear", "Cast"):
        return [None]
    else:
        outs = node.opdef.evaluate(reals, node.attrs)
    return [quantize(o, v.type) if v.type.quant is not None else np.asarray(o, np.float64)
            for o, v in zip(outs, node.outputs)]


def lsb_differences(graph: Graph, inputs) -> dict[str, tuple[str, float]]:
    """Run `graph` in its numerics; at every node outside the float profile compare each output
    with `fake_quant_node` on the same inputs. Returns {value name: (profile, max difference)}:
    in steps of the output's integers (quantized outputs) or in float16 ulps of the reference
    (float16 outputs)."""
    found: dict[str, tuple[str, float]] = {}

    class Measuring(Interpreter):
        def run_node(self, node, args):
            outs = super().run_node(node, args)
            profile = profile_of(node)
            if profile != "float":
                for v, got, want in zip(node.outputs, outs, fake_quant_node(node, args)):
                    if want is None or got.size == 0:
                        continue
                    if v.type.quant is not None:
                        d = float(np.max(np.abs(got.astype(np.int64) - want)))
                    elif v.dtype is DType.f16:
                        ref = want.astype(np.float16)
                        ulp = np.spacing(np.abs(ref)).astype(np.float64)
                        d = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64))
                                         / ulp, initial=0.0))
                    else:
                        continue
                    found[v.name] = (profile, d)
            return outs

    Measuring(graph).run(inputs)
    return found
