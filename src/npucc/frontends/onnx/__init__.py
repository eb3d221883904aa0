"""ONNX frontend: `load(path_or_model, input_shapes=..., inputs=..., outputs=...) -> Graph`.

Reads opsets 7 to 27 of the default domain with the `onnx` package. Initializers become graph
constants, symbolic input dims are fixed by `input_shapes`, constant and shape-derived subgraphs
are evaluated at import so shape operands become attributes of the core ops (and If, Loop and
Scan whose control flow they decide are inlined and unrolled), and names stay
traceable: graph inputs/outputs and values keep their ONNX tensor names, every node's provenance
is its ONNX node name (or `<op_type>_<index>` for an unnamed node).
"""

from __future__ import annotations

import os

import onnx

from ...errors import FrontendError
from ...ir import Graph
from ..guard import guarded
from .converters import supported_ops
from .importer import MAX_OPSET, MIN_OPSET, OnnxImporter, read_model


@guarded
def load(source, *, input_shapes=None, inputs=None, outputs=None, fold_constants: bool = True,
         constant_inputs=None, name: str | None = None) -> Graph:
    """Import an ONNX model (a path or an onnx.ModelProto) into a Graph.

    input_shapes: dict input name -> shape, or a list of shapes in input order, for inputs with
        symbolic/unknown dims (given shapes must agree with the model's fixed dims).
    inputs / outputs: tensor names to cut the model at (default: the model's own).
    fold_constants: evaluate ops whose inputs are all known at import (QuantizeLinear and
        DequantizeLinear are always kept).
    constant_inputs: dict input name -> array: inputs to freeze to a value (for models that
        take shape operands or parameters as inputs); they are not graph inputs.
    name: the graph name (default: the ONNX graph name).
    """
    if isinstance(source, onnx.ModelProto):
        # the guard's label (source_label) first, so that it is not added a second time
        model, label, base_dir = source, f"<ModelProto> (graph {source.graph.name!r})", None
    elif isinstance(source, (str, os.PathLike)):
        label = os.fspath(source)
        model, base_dir = read_model(label), os.path.dirname(os.path.abspath(label))
    else:
        raise FrontendError(f"the ONNX frontend reads a path or an onnx.ModelProto, "
                            f"not a {type(source).__name__}")
    graph = OnnxImporter(model, label, input_shapes=input_shapes, inputs=inputs, outputs=outputs,
                         fold=fold_constants, base_dir=base_dir,
                         constant_inputs=constant_inputs).run()
    if name is not None:
        graph.name = name
    return graph


__all__ = ["MAX_OPSET", "MIN_OPSET", "declared_ranks", "load", "supported_ops"]


def declared_ranks(source, names=None) -> list[int | None]:
    """The rank the ONNX file `source` declares for each tensor in `names` (default: the graph
    inputs), None where it declares none; [] for a file it cannot read (load() reports that).
    RKNN's facade tells with it whether an input_size_list shape includes the batch."""
    try:
        graph = onnx.load(os.fspath(source), load_external_data=False).graph
    except Exception:  # reported by load()
        return []
    init = {i.name for i in graph.initializer}
    infos = {v.name: v for v in (*graph.input, *graph.value_info, *graph.output)}
    if names is None:
        names = [v.name for v in graph.input if v.name not in init]
    ranks = []
    for name in names:
        t = infos[name].type.tensor_type if name in infos else None
        ranks.append(len(t.shape.dim) if t is not None and t.HasField("shape") else None)
    return ranks
