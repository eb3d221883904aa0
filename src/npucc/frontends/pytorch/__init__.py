"""PyTorch frontend: nn.Module (with example inputs or input shapes), ExportedProgram or .pt2 file,
and TorchScript .pt/.pth files.

Everything goes through `torch.export`: a module is exported, a TorchScript file is converted to
an ExportedProgram by torch's TorchScript converter, then the program is decomposed to the core
ATen op set (keeping upsampling, hardswish/hardsigmoid and the like whole, since the core op set
has them) and each ATen call is lowered directly to npucc core ops. Errors name the torch op and
the fx node (and the module that called it). torch is imported only here: it is an optional
dependency.
"""

from __future__ import annotations

import os

from ...errors import FrontendError, UnsupportedError
from ...ir import Graph
from .. import pytorch_script
from ..guard import guarded
from .context import ATEN, Ctx, aten
from .lowering import AtenLowering, supported_ops
from .program import _decompose, _example_inputs, _program, exported_program


def _torchscript_via_onnx(path: str, args, name: str | None) -> Graph:
    """TorchScript models the TorchScript->ExportedProgram converter fails on (it cannot follow
    some traced size arithmetic) or lowers to ops npucc lacks (aten.cumsum) go through
    torch.onnx's TorchScript exporter and the ONNX frontend instead."""
    import onnx

    from .. import onnx as onnx_frontend

    return onnx_frontend.load(onnx.load_from_string(pytorch_script.onnx_bytes(path, args)),
                              name=name)


def _onnx_route_or(error: Exception, source, example_inputs, input_shapes, name) -> Graph:
    """The TorchScript file through the ONNX route; if that fails too, `error` (the direct
    route's, which names the torch op) is raised."""
    path = os.fspath(source)
    args = _example_inputs(example_inputs, input_shapes, path)
    try:
        return _torchscript_via_onnx(path, args, name)
    except Exception:  # noqa: BLE001 - report what the direct route met
        raise error from None


@guarded
def load(source, *, example_inputs=None, input_shapes=None, inputs=None, outputs=None,
         fold_constants: bool = True, name: str | None = None) -> Graph:
    """Import a PyTorch model into a Graph.

    source: an nn.Module (traced with `example_inputs`, or zeros of `input_shapes`), an
        ExportedProgram, a .pt2 file (torch.export.save) or a TorchScript .pt/.pth file (needs
        example_inputs or input_shapes).
    Graph inputs are named like the model's forward arguments; outputs are `output` (or
    `output_<i>`).
    """
    if inputs is not None or outputs is not None:
        raise FrontendError("the pytorch frontend does not cut models (inputs=/outputs=); "
                            "export the submodule you need instead")
    try:
        ep, label, ts_names = _program(source, example_inputs, input_shapes)
    except pytorch_script.ConversionError as e:
        return _onnx_route_or(e, source, example_inputs, input_shapes, name)
    torchscript = ts_names is not None
    try:
        ep = _decompose(ep)
    except Exception as e:  # noqa: BLE001
        raise FrontendError(f"{label}: decomposing to core ATen failed: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}") from e
    try:
        graph = AtenLowering(ep, label, fold_constants, name).run()
    except UnsupportedError as direct:
        if not torchscript:
            raise
        return _onnx_route_or(direct, source, example_inputs, input_shapes, name)
    if torchscript:  # the converter renames inputs (x -> x_1): restore the forward's names
        for v, n in zip(graph.inputs, ts_names):
            if not graph.has_value(n):
                graph.rename(v, n)
    return graph


__all__ = ["ATEN", "AtenLowering", "Ctx", "aten", "exported_program", "load", "supported_ops"]
