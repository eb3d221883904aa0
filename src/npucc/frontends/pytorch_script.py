"""TorchScript files, read by torch in a child process.

torch.jit.load parses the archive in C++ (TorchScript's unpickler, the debug-info tables, the
TorchScript compiler), and that code is not hardened against hostile files: one flipped bit in a
debug table crashes the process with SIGSEGV. npucc therefore checks the archive first
(`pytorch_files.check_torchscript`: CRCs, storage sizes, tensor extents), then lets a child
process load it and convert it, to an ExportedProgram saved as .pt2 (read back by the parent with
the same checks as any .pt2 file) or, for the ONNX route, to ONNX bytes (read by the ONNX
frontend). A crash or a hang ends only the child and is reported as an error naming the file.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing
import os
import re
import tempfile
import warnings
from pathlib import Path

import torch

from ..errors import FrontendError
from .pytorch_files import check_torchscript, load_pt2

CHILD_TIMEOUT_S = 600


class ConversionError(FrontendError):
    """torch's TorchScript-to-ExportedProgram converter failed on a file torch read: the
    caller may try the ONNX route instead."""


class _Failed(Exception):
    """A stage of the child's work failed; the message is shown to the user. `converting`: the
    file was read, its conversion failed (a ConversionError in the parent)."""

    def __init__(self, message: str, converting: bool = False):
        super().__init__(message)
        self.converting = converting


def _first_line(e: BaseException) -> str:
    """The exception's type and first non-blank line (torch's often start with a newline)."""
    line = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), "").rstrip(":")
    return f"{type(e).__name__}: {line}"


_UNKNOWN_OP = re.compile(r"Unknown builtin op: (\w+::\w+(?:\.\w+)?)")
_EXECUTING = re.compile(r"While executing %\S+ : .*?call_function\[target=([\w.]+)\]")
# TorchScript ops whose output sizes depend on tensor values
_DATA_DEPENDENT = {"aten::nonzero", "aten::masked_select", "aten::unique", "aten::_unique2",
                   "aten::unique_consecutive", "aten::unique_dim", "aten::nonzero_numpy",
                   "aten::index with a boolean mask"}


def _jit_load(path: str):
    try:
        return torch.jit.load(path, map_location="cpu").eval()
    except Exception as e:  # noqa: BLE001 - torch raises many types
        unknown = _UNKNOWN_OP.search(str(e))
        if unknown:
            raise _Failed(f"the TorchScript code calls {unknown.group(1)}, an operator this torch "
                          "does not have (a library's custom op, such as torchvision's "
                          "detection ops); npucc compiles ATen ops only: save the model without "
                          "it (for a detector, its backbone and head, before decoding and "
                          "NMS)") from None
        raise _Failed("not a TorchScript file (a state dict or pickled module must be loaded "
                      f"in Python and passed as an nn.Module): {_first_line(e)}") from None


def _bool_mask_index(node) -> bool:
    """An aten::index given a boolean (or byte) mask: its size depends on the data. Traced
    graphs know their tensors' dtypes; scripted ones do not."""
    if node.kind() != "aten::index" or node.inputsSize() < 2:
        return False
    indices = node.inputsAt(1).node()
    return indices.kind() == "prim::ListConstruct" and any(
        getattr(v.type(), "scalarType", lambda: None)() in ("Bool", "Byte")
        for v in indices.inputs())


def _graph_ops(ts) -> set[str]:
    """The kinds of every node in the module's inlined TorchScript graph, nested blocks too
    (an index by a boolean mask is 'aten::index with a boolean mask')."""
    graph = ts.inlined_graph  # held: its blocks are invalid once the graph is freed
    kinds, stack = set(), [graph.block()]
    while stack:
        for node in stack.pop().nodes():
            kinds.add("aten::index with a boolean mask" if _bool_mask_index(node)
                      else node.kind())
            stack.extend(node.blocks())
    return kinds


def _conversion_failed(ts, e: Exception) -> _Failed:
    """The message for a conversion failure: what torch said and, when the model's sizes
    depend on data or it calls non-ATen ops, which ops and what to do."""
    try:
        kinds = _graph_ops(ts)
    except Exception:  # noqa: BLE001 - naming the ops is a nicety
        kinds = set()
    foreign = sorted(k for k in kinds if k.split("::")[0] not in ("aten", "prim"))
    msg = f"converting TorchScript to an ExportedProgram failed: {_first_line(e)}"
    at = _EXECUTING.search(str(e))
    if at:
        msg += f" (at {at.group(1)})"
    msg = msg.rstrip(".")
    calls = ", ".join(foreign + sorted(kinds & _DATA_DEPENDENT))
    if "data-dependent" in str(e) or "DataDependent" in type(e).__name__:
        calls = f" (it calls {calls})" if calls else ""
        msg += (f". torch found tensor sizes that depend on tensor values{calls}: "
                "data-dependent post-processing (score thresholds, NMS) or size arithmetic the "
                "converter could not follow. npucc compiles static shapes: save the model "
                "without its post-processing (for a detector, its backbone and head), or give "
                "npucc the module or a torch.export .pt2")
    elif foreign:
        msg += (f". The model calls {', '.join(foreign)}, which npucc does not compile (ATen ops "
                f"only): save the model without {'it' if len(foreign) == 1 else 'them'} (for a "
                "detector, its backbone and head)")
    return _Failed(msg, converting=True)


def _input_names(ts) -> list[str]:
    try:
        return [a.name for a in ts.forward.schema.arguments[1:]]
    except Exception:  # noqa: BLE001 - names are a nicety
        return []


def _to_program(path: str, args, out: Path) -> None:
    from torch._export.converter import TS2EPConverter

    ts = _jit_load(path)
    try:
        dynamic = TS2EPConverter(ts, args).convert()
        # the converter leaves dims symbolic: export again at the example shapes
        program = torch.export.export(dynamic.module(), args)
        torch.export.save(program, out / "program.pt2")
    except Exception as e:  # noqa: BLE001
        raise _conversion_failed(ts, e) from None
    (out / "names.json").write_text(json.dumps(_input_names(ts)))


def _to_onnx(path: str, args, out: Path) -> None:
    ts = _jit_load(path)
    names = _input_names(ts) or [f"input_{i}" for i in range(len(args))]
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(ts, args, buffer, dynamo=False, opset_version=17,
                              input_names=names)
    except Exception as e:  # noqa: BLE001
        raise _Failed(f"exporting TorchScript to ONNX failed: {_first_line(e)}") from None
    (out / "model.onnx").write_bytes(buffer.getvalue())


def _child(job, path: str, args, out: str) -> None:
    # a forked child must not enter OpenMP: the parent's thread team does not exist here and
    # the first parallel region would wait for it forever
    torch.set_num_threads(1)
    # the child answers through files; torch.onnx prints whole TorchScript graphs on failure
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        job(path, args, Path(out))
    except _Failed as e:
        Path(out, "error.txt").write_text(str(e))
        if e.converting:
            Path(out, "converting").touch()
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent as text
        Path(out, "error.txt").write_text(f"reading the TorchScript file failed: "
                                          f"{_first_line(e)}")


def _context():
    return multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


@contextlib.contextmanager
def _in_child(job, path: str, args):
    """Run `job(path, args, out_dir)` in a child process; yield out_dir with what it wrote."""
    check_torchscript(path)
    with tempfile.TemporaryDirectory(prefix="npucc-torchscript-") as out:
        proc = _context().Process(
            target=_child, args=(job, path, tuple(args), out), daemon=True)
        proc.start()
        proc.join(CHILD_TIMEOUT_S)
        if proc.is_alive():
            proc.kill()
            proc.join()
            raise FrontendError(f"{path}: torch did not finish reading this TorchScript file "
                                f"within {CHILD_TIMEOUT_S} s (the child process was stopped)")
        error = Path(out, "error.txt")
        if error.exists():
            kind = ConversionError if Path(out, "converting").exists() else FrontendError
            raise kind(f"{path}: {error.read_text()}")
        if proc.exitcode != 0:
            how = f"signal {-proc.exitcode}" if proc.exitcode < 0 else f"exit code {proc.exitcode}"
            raise FrontendError(f"{path}: torch crashed reading this TorchScript file ({how}); "
                                "npucc read it in a child process, so only that process ended. "
                                "The file is corrupt or was made to crash readers")
        yield Path(out)


def program(path, args):
    """(ExportedProgram, forward argument names) of a TorchScript file."""
    from torch._export import converter  # noqa: F401 - imported once here, not in each child

    path = os.fspath(path)
    with _in_child(_to_program, path, args) as out:
        return load_pt2(out / "program.pt2", label=path), json.loads(
            (out / "names.json").read_text())


def onnx_bytes(path, args) -> bytes:
    """The TorchScript file exported by torch.onnx's TorchScript exporter (opset 17)."""
    import torch.onnx  # noqa: F401 - imported once here, not in each child

    path = os.fspath(path)
    with _in_child(_to_onnx, path, args) as out:
        return (out / "model.onnx").read_bytes()
