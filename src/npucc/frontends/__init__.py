"""Model importers. `load(source)` picks the frontend from the file name (or object type) and
returns a `Graph` in the core op set. Every failure is an npucc error naming the file (see
`guard`).

Each frontend is a module exposing `load(source, **options) -> Graph`. They are listed in
`FRONTENDS` (name -> module and the file suffixes it reads) and imported only when used, so a
framework's libraries are needed only for its own models. A new frontend plugs in with one row.
"""

from __future__ import annotations

import importlib
import os
from typing import NamedTuple

from ..errors import FrontendError
from ..ir import Graph
from ..registry import Registry
from .guard import naming_file, source_label


class Frontend(NamedTuple):
    module: str
    suffixes: tuple[str, ...]
    description: str


FRONTENDS: Registry[Frontend] = Registry("frontend", {
    "onnx": Frontend("npucc.frontends.onnx", (".onnx",), "ONNX model"),
    "pytorch": Frontend("npucc.frontends.pytorch",
                        (".pt2", ".pt", ".pth", ".jit", ".torchscript"),
                        "PyTorch: .pt2 ExportedProgram, .pt/.pth/.jit/.torchscript TorchScript "
                        "(Silero and Ultralytics name theirs .jit / .torchscript), nn.Module, "
                        "ExportedProgram"),
    "caffe": Frontend("npucc.frontends.caffe", (".prototxt",), "Caffe (.prototxt + .caffemodel)"),
    "darknet": Frontend("npucc.frontends.darknet", (".cfg",), "Darknet (.cfg + .weights)"),
    "tensorflow": Frontend("npucc.frontends.tensorflow", (".pb",), "TensorFlow frozen GraphDef"),
    "tflite": Frontend("npucc.frontends.tflite", (".tflite",), "TensorFlow Lite flatbuffer"),
}, error=FrontendError)


def _known() -> str:
    return "; ".join(f"{' '.join(f.suffixes)} ({name}: {f.description})"
                     for name, f in FRONTENDS.items())


def _type_modules(obj) -> list[str]:
    return [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__]


def detect_framework(source) -> str:
    """The FRONTENDS key that reads `source`: a path (by suffix), a (model, weights) pair of paths
    (by the first), an `onnx.ModelProto`, a torch `nn.Module` or `ExportedProgram`."""
    if isinstance(source, (tuple, list)) and source:
        return detect_framework(source[0])
    if isinstance(source, (str, os.PathLike)):
        lower = os.fspath(source).lower()
        for name, f in FRONTENDS.items():
            if lower.endswith(f.suffixes):
                return name
        raise FrontendError(f"{os.fspath(source)}: cannot tell the framework from the file name; "
                            f"known suffixes: {_known()}")
    kinds = _type_modules(source)
    if any(k.startswith("onnx.") and k.endswith("ModelProto") for k in kinds):
        return "onnx"
    if any(k.startswith("torch.") for k in kinds):
        return "pytorch"
    raise FrontendError(f"cannot load a {type(source).__name__}: give a model file path "
                        f"({_known()}), an onnx.ModelProto, a torch nn.Module or ExportedProgram")


def get_frontend(name: str):
    """Import and return the frontend module registered as `name`."""
    try:
        entry = FRONTENDS[name]
    except KeyError:
        raise FrontendError(f"unknown framework {name!r}; known: {', '.join(FRONTENDS)}") from None
    try:
        return importlib.import_module(entry.module)
    except ModuleNotFoundError as e:
        if e.name == entry.module:
            raise FrontendError(f"the {name} frontend ({entry.module}) is not available in this "
                                "installation") from None
        raise FrontendError(f"the {name} frontend needs the python package {e.name!r}; "
                            f"install it to load {entry.description} models") from e


def load(source, *, framework: str | None = None, input_shapes=None, inputs=None, outputs=None,
         **options) -> Graph:
    """Import a model into a Graph.

    source: a model path (framework from the suffix, see FRONTENDS), a (model, weights) pair of
        paths, or an in-memory model (onnx.ModelProto, torch nn.Module / ExportedProgram).
    framework: force a frontend by name instead of detecting it.
    input_shapes: shapes for inputs whose dims are symbolic or unknown: a dict name -> shape, or a
        list of shapes in input order (like RKNN's input_size_list).
    inputs / outputs: tensor names at which to cut the model (new graph inputs / outputs).
    options: frontend-specific options, passed through.
    """
    name = framework or detect_framework(source)
    for key, val in (("input_shapes", input_shapes), ("inputs", inputs), ("outputs", outputs)):
        if val is not None:
            options[key] = val
    with naming_file(source_label(source)):
        return get_frontend(name).load(source, **options)


__all__ = ["FRONTENDS", "Frontend", "detect_framework", "get_frontend", "load"]
