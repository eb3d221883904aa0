"""Loading any accepted PyTorch source into an ExportedProgram, and decomposing it to core ATen."""

from __future__ import annotations

import os

import torch

from ...errors import FrontendError
from .. import pytorch_script
from ..pytorch_files import load_pt2

# ATen ops kept whole by the decomposition (the core op set has a direct counterpart)
_KEEP = ("upsample_nearest2d.vec", "upsample_bilinear2d.vec", "hardswish.default",
         "hardsigmoid.default", "silu.default", "mish.default", "gelu.default",
         "_prelu_kernel.default", "pixel_shuffle.default")


def _example_inputs(example_inputs, input_shapes, what: str) -> tuple:
    if example_inputs is not None:
        return tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) \
            else (example_inputs,)
    if input_shapes is None:
        raise FrontendError(f"{what}: give example_inputs=(tensor, ...) or input_shapes=[shape, "
                            "...] to trace the model")
    shapes = list(input_shapes.values()) if isinstance(input_shapes, dict) else list(input_shapes)
    if shapes and isinstance(shapes[0], int):
        shapes = [shapes]
    return tuple(torch.zeros(tuple(s), dtype=torch.float32) for s in shapes)


def _export(module, args, what: str):
    try:
        return torch.export.export(module.eval(), args)
    except Exception as e:  # noqa: BLE001 - torch raises many types; say which model
        raise FrontendError(f"{what}: torch.export failed: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}") from e


def exported_program(source, *, example_inputs=None, input_shapes=None):
    """(ExportedProgram, label) for any accepted source."""
    return _program(source, example_inputs, input_shapes)[:2]


def _program(source, example_inputs, input_shapes):
    """(ExportedProgram, label, the forward's argument names for a TorchScript file or None)."""
    if isinstance(source, torch.export.ExportedProgram):
        return source, "<ExportedProgram>", None
    if isinstance(source, torch.nn.Module) and not isinstance(source, torch.jit.ScriptModule):
        what = f"<{type(source).__name__} module>"
        args = _example_inputs(example_inputs, input_shapes, what)
        return _export(source, args, what), what, None
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FrontendError(f"{path}: no such file")
        if path.lower().endswith(".pt2"):
            return load_pt2(path), path, None
        args = _example_inputs(example_inputs, input_shapes, path)
        program, names = pytorch_script.program(path, args)
        _sizes_to_vec(program)
        return program, path, names
    raise FrontendError(f"the pytorch frontend reads an nn.Module, an ExportedProgram, a .pt2 or "
                        f"a TorchScript .pt file, not a {type(source).__name__}")


def _sizes_to_vec(ep) -> None:
    """Rewrites the upsample_{nearest,bilinear}2d.default calls torch's TorchScript converter
    makes (output sizes, no scales) as the .vec overload: torch decomposes the .default ones
    into index arithmetic whatever the decomposition table says, and keeps .vec whole."""
    aten = torch.ops.aten
    for node in ep.graph.nodes:
        if node.target is aten.upsample_bilinear2d.default and len(node.args) == 3 \
                and not node.kwargs:
            node.target, node.args = aten.upsample_bilinear2d.vec, (*node.args, None)
        elif node.target is aten.upsample_nearest2d.default and len(node.args) == 2 \
                and not node.kwargs:
            node.target, node.args = aten.upsample_nearest2d.vec, (*node.args, None)
    ep.graph_module.recompile()


def _decompose(ep):
    table = torch.export.default_decompositions()
    for name in _KEEP:
        packet, overload = name.split(".")
        op = getattr(getattr(torch.ops.aten, packet, None), overload, None)
        if op is not None and op in table:
            del table[op]
    return ep.run_decompositions(table)
