"""IF: its branch subgraphs imported in place (the TFLite converter writes tf.cond as an IF
operator whose then / else branches are subgraphs of the model)."""

from __future__ import annotations

import numpy as np
import tflite

from ...ir import Value
from ..tf_common import ConversionError


def if_(imp, op):
    """A constant condition imports the branch it selects; one computed at run time imports
    both and selects each output with Where (the branches must then agree in shape and type)."""
    o = op.options(tflite.IfOptions, required=True)
    cond = op.input(0)
    args = [op.input(i) for i in range(1, len(op.in_idx))]
    what = f"operator #{op.index} IF"
    if isinstance(cond, np.ndarray):
        if cond.size != 1:
            raise ConversionError(f"the condition has {cond.size} elements; IF takes one")
        branch = o.ThenSubgraphIndex() if bool(cond.reshape(-1)[0]) else o.ElseSubgraphIndex()
        results = imp.inline(branch, args, what)
    else:
        then = imp.inline(o.ThenSubgraphIndex(), args, f"{what} then")
        other = imp.inline(o.ElseSubgraphIndex(), args, f"{what} else")
        if len(then) != len(other):
            raise ConversionError(f"its branches give {len(then)} and {len(other)} outputs")
        flag = cond
        if cond.type.rank:
            flag = imp.b.emit("Reshape", [cond], {"shape": []}, label=op.label)
        results = []
        for k, (a, b) in enumerate(zip(then, other)):
            ta, tb = (v.type if isinstance(v, Value) else None for v in (a, b))
            if ta is not None and tb is not None and (ta.shape != tb.shape or ta.dtype != tb.dtype):
                raise ConversionError(f"output {k}: the branches give {ta} and {tb}; a "
                                      "condition computed at run time needs them alike")
            results.append(imp.emit(op, "Where", [flag, a, b], out=k))
    if len(results) != len(op.out_idx):
        raise ConversionError(f"the branch gives {len(results)} outputs, the operator has "
                              f"{len(op.out_idx)}")
    return results
