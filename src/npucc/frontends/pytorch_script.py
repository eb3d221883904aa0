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
import tempfile
import warnings
from pathlib import Path

import torch

from ..errors import FrontendError
from .pytorch_files import check_torchscript, load_pt2

CHILD_TIMEOUT_S = 600


class _Failed(Exception):
    """A stage of the child's work failed; the message is shown to the user."""


def _first_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def _jit_load(path: str):
    try:
        return torch.jit.load(path, map_location="cpu").eval()
    except Exception as e:  # noqa: BLE001 - torch raises many types
        raise _Failed("not a TorchScript file (a state dict or pickled module must be loaded "
                      f"in Python and passed as an nn.Module): {_first_line(e)}") from None


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
        raise _Failed("converting TorchScript to an ExportedProgram failed: "
                      f"{_first_line(e)}") from None
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
    try:
        job(path, args, Path(out))
    except _Failed as e:
        Path(out, "error.txt").write_text(str(e))
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
            raise FrontendError(f"{path}: {error.read_text()}")
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
