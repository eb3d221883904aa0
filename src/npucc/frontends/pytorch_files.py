"""PyTorch model files read as untrusted input.

Both PyTorch file formats are zip archives. npucc opens them with Python's zipfile first: every
member is read through once (so its CRC-32 is checked), its declared size is bounded by
`npucc.limits`, and nothing is unpickled.

- `.pt2` (torch.export.save): `load_pt2` reads the archive itself instead of torch.export.load,
  which unpickles weights and constants that the archive's config marks as pickled, sample
  inputs, and opaque objects. npucc reads only the program JSON and raw tensor payloads: a
  payload stored with pickle is refused; each raw payload's byte size is checked against its
  tensor's dtype, sizes, strides and offset; and before torch's deserializer sees the program,
  every string that torch would turn into code is checked (node targets must be registered
  operators, symbolic expressions a small arithmetic grammar, names identifiers; guard code is
  dropped).
- TorchScript `.pt` (torch.jit.save): `check_torchscript` runs before torch.jit.load. It walks
  data.pkl and constants.pkl opcode by opcode without executing them (`scan_pickle`) to learn
  each storage's dtype and element count and each tensor's offset, sizes and strides, and checks
  them against the storage records. torch.jit.load then reads the file with TorchScript's own
  unpickler, which resolves only TorchScript types, never arbitrary Python globals.
"""

from __future__ import annotations

import json
import math
import os
import pickletools
import re
import zipfile
import zlib

import torch

from .. import limits
from ..errors import FrontendError, LimitError


# ---- the zip container ----
class Archive:
    """A PyTorch zip archive: members by name below the one root folder, every member's CRC
    checked and its size bounded."""

    def __init__(self, path: str, kind: str, label: str | None = None):
        self.path, self.kind = label or path, kind
        try:
            self.zip = zipfile.ZipFile(path)
            infos = self.zip.infolist()
            roots = {i.filename.split("/", 1)[0] for i in infos}
            if len(roots) != 1 or any("/" not in i.filename for i in infos):
                raise self.error("its members are not all in one root folder")
            self.members = {i.filename.split("/", 1)[1]: i for i in infos}
            if len(self.members) != len(infos):
                raise self.error("it names a member twice")
            for info in infos:
                if info.file_size > limits.MAX_TENSOR_BYTES:
                    raise self.error(f"member {info.filename} declares {info.file_size} bytes, "
                                     f"over the {limits.MAX_TENSOR_BYTES}-byte limit of one "
                                     "tensor (raise it with NPUCC_MAX_TENSOR_BYTES)")
                got = 0
                with self.zip.open(info) as f:  # reading to the end checks the CRC-32
                    while chunk := f.read(1 << 22):
                        got += len(chunk)
                if got != info.file_size:
                    raise self.error(f"member {info.filename} declares {info.file_size} bytes "
                                     f"but holds {got}")
        except FrontendError:
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
                NotImplementedError, RuntimeError, zlib.error, OverflowError) as e:
            raise self.error(f"it is not an intact zip archive ({type(e).__name__}: {e})"
                             ) from None

    def error(self, msg: str) -> FrontendError:
        return FrontendError(f"{self.path}: not a readable {self.kind}: {msg}")

    def size(self, name: str) -> int | None:
        info = self.members.get(name)
        return None if info is None else info.file_size

    def read(self, name: str) -> bytes:
        if name not in self.members:
            raise self.error(f"member {name} is missing")
        try:
            return self.zip.read(self.members[name])
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as e:
            raise self.error(f"member {name}: {type(e).__name__}: {e}") from None

    def text(self, name: str) -> str:
        try:
            return self.read(name).decode("utf-8").strip()
        except UnicodeDecodeError:
            raise self.error(f"member {name} is not UTF-8 text") from None


def _view_bytes(itemsize: int, sizes, strides, offset: int) -> int:
    """Bytes of storage a strided view reaches (0 for an empty tensor)."""
    if math.prod(sizes) == 0:
        return 0
    return itemsize * (offset + sum((s - 1) * st for s, st in zip(sizes, strides)) + 1)


def _ints(values) -> bool:
    return all(type(v) is int and v >= 0 for v in values)


# ---- .pt2 (torch.export) ----
# schema.ScalarType values npucc can read (torch/_export/serde/schema.py)
_PT2_DTYPES = {1: torch.uint8, 2: torch.int8, 3: torch.int16, 4: torch.int32, 5: torch.int64,
               6: torch.float16, 7: torch.float32, 8: torch.float64, 12: torch.bool,
               13: torch.bfloat16}
_STRIDED = 7  # schema.Layout.Strided
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# module paths: dotted names of letters, digits, "_" and "-" (torchvision's regnet names its
# blocks "block1-0"); never quotes or other characters that could end a string in fx code
_FQN = re.compile(r"([A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)?\Z")
_FQN_KEYS = ("parameter_name", "buffer_name", "tensor_constant_name", "custom_obj_name", "fqn")
# sympy expressions in shapes, as torch writes them (sympy's srepr: "Add(Symbol('u0',
# integer=True), Integer(1))") or plainly ("u0 + 1"): numbers, size symbols (s0, u1), quoted
# symbol names and numbers, these functions and assumption keywords, arithmetic
_EXPR_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|([A-Za-z][A-Za-z0-9]*)"
                         r"|('(?:[a-z]+[0-9]+|-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)')"
                         r"|(\*\*|//|<=|>=|==|!=|[-+*/%(),<>&|~=]))")
_EXPR_NAMES = {
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt",
    "FloorToInt", "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv",
    "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt",
    "RoundToInt", "RoundDecimal", "ToFloat", "Identity", "Max", "Min", "Abs", "floor",
    "ceiling", "sqrt", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "oo", "zoo",
    "nan", "True", "False", "true", "false",
    # sympy's srepr classes and the assumptions its Symbol and Float take
    "Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Equality", "Unequality",
    "LessThan", "StrictLessThan", "GreaterThan", "StrictGreaterThan", "integer", "positive",
    "negative", "nonnegative", "nonpositive", "real", "finite", "precision"}


def _sym_op_names() -> set[str]:
    from torch._export.serde.serialize import _SYM_OPS

    return {f"{f.__module__}.{f.__name__}" for f in _SYM_OPS}


def _expression_ok(text: str) -> bool:
    pos = 0
    while pos < len(text):
        m = _EXPR_TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            return text[pos:].strip() == ""
        name = m.group(2)
        if name and name not in _EXPR_NAMES and not re.fullmatch(r"[a-z]+[0-9]+", name):
            return False
        pos = m.end()
    return True


# a library's operator (torch.ops.torchvision.nms.default): registered only once the library is
# imported, and not an ATen op npucc lowers anyway
_LIBRARY_OP = re.compile(r"torch\.ops\.(?!aten\.)\w+\.\w+\.\w+\Z")
_LIBRARY_OP_HINT = ("; it is a library's operator (torchvision's detection ops are), which "
                    "npucc does not compile: save the model without it (for a detector, its "
                    "backbone and head, before decoding and NMS)")


def _target_ok(target: str, sym_ops: set[str]) -> bool:
    """A registered operator overload (torch.ops.<ns>.<op>.<overload>) or a size-arithmetic
    op torch's serializer writes by name; never any other python callable."""
    if target in sym_ops:
        return True
    parts = target.split(".")
    if len(parts) != 5 or parts[:2] != ["torch", "ops"] or \
            not all(_IDENT.match(p) and not p.startswith("__") for p in parts[2:]):
        return False
    try:
        op = getattr(getattr(getattr(torch.ops, parts[2]), parts[3]), parts[4])
    except Exception:  # noqa: BLE001 - an unknown name is simply not allowed
        return False
    return isinstance(op, torch._ops.OpOverload)


class _Pt2:
    """Reads one .pt2 archive's program and tensors (see the module docstring)."""

    def __init__(self, path: str, label: str):
        self.path = label
        self.archive = Archive(path, ".pt2 ExportedProgram", label)
        self.sym_ops = _sym_op_names()

    def error(self, msg: str) -> FrontendError:
        return FrontendError(f"{self.path}: {msg}")

    def load(self):
        ar = self.archive
        if "archive_format" not in ar.members:
            raise self.error("an old-format .pt2 (torch < 2.8: its weights are pickled, which "
                             "npucc does not read); save it again with torch.export.save")
        if ar.text("archive_format") != "pt2":
            raise ar.error("archive_format is not 'pt2'")
        from torch.export.pt2_archive.constants import ARCHIVE_VERSION_VALUE

        if "archive_version" in ar.members and ar.text("archive_version") != ARCHIVE_VERSION_VALUE:
            raise ar.error(f"archive_version {ar.text('archive_version')[:20]!r} (this torch "
                           f"writes and reads {ARCHIVE_VERSION_VALUE!r})")
        if "byteorder" in ar.members and ar.text("byteorder") != "little":
            raise ar.error(f"byteorder {ar.text('byteorder')!r} (npucc reads 'little')")
        models = sorted(n for n in ar.members if n.startswith("models/"))
        if models != ["models/model.json"]:
            raise self.error(f"holds the programs {models}; npucc reads an archive with the one "
                             "program 'model' (models/model.json)")
        if any(n.startswith("data/weights/model.pt") or n.startswith("data/constants/model.pt")
               for n in ar.members):
            raise self.error("stores its weights in the legacy pickled form, which npucc does "
                             "not read; save it again with torch.export.save")
        try:
            program = json.loads(ar.read("models/model.json"))
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            raise ar.error(f"models/model.json is not JSON: {e}") from None
        if not isinstance(program, dict):
            raise ar.error("models/model.json is not a JSON object")
        self._check_strings(program)
        program["guards_code"] = []  # python source torch would compile; shapes are static
        weights = self._tensors("data/weights/", "model_weights_config.json")
        constants = self._tensors("data/constants/", "model_constants_config.json")
        return self._deserialize(program, weights, constants)

    def _deserialize(self, program, weights, constants):
        from torch._export.serde import schema
        from torch._export.serde.serialize import ExportedProgramDeserializer, _dict_to_dataclass

        try:
            serialized = _dict_to_dataclass(schema.ExportedProgram, program)
            return ExportedProgramDeserializer().deserialize(serialized, weights, constants, None)
        except RecursionError:
            raise self.error("the program is nested too deeply") from None
        except Exception as e:  # noqa: BLE001 - torch raises many types on a bad program
            raise self.error(f"not a readable .pt2 ExportedProgram: {type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}") from None

    # -- strings torch turns into code
    def _check_strings(self, obj, key=None) -> None:
        if isinstance(obj, dict):
            if key == "range_constraints":
                bad = [k for k in obj if not _expression_ok(str(k))]
                if bad:
                    raise self.error(f"range constraint symbol {bad[0]!r} is not a size symbol")
            for k, v in obj.items():
                if k != "metadata":  # free text (stack traces, module paths): never run
                    self._check_strings(v, k)
        elif isinstance(obj, list):
            for v in obj:
                self._check_strings(v, key)
        elif isinstance(obj, str):
            if key in ("name", "as_name", "as_names", "forward_arg_names") and \
                    not obj.isidentifier():
                raise self.error(f"{key} {obj[:80]!r} is not an identifier")
            if key in _FQN_KEYS and not _FQN.match(obj):
                raise self.error(f"{key} {obj[:80]!r} is not a dotted module path")
            if key == "expr_str" and not _expression_ok(obj):
                raise self.error(f"symbolic size {obj[:80]!r} is not size arithmetic")
            if key in ("target", "as_operator") and not _target_ok(obj, self.sym_ops):
                raise self.error(f"node target {obj[:80]!r} is not a registered torch "
                                 "operator (npucc runs no other python callable from a file)"
                                 + _LIBRARY_OP_HINT * bool(_LIBRARY_OP.match(obj)))

    # -- raw tensor payloads
    def _tensors(self, folder: str, config_name: str) -> dict[str, torch.Tensor]:
        ar = self.archive
        try:
            config = json.loads(ar.read(folder + config_name))["config"]
            if not isinstance(config, dict):
                raise TypeError("config is not an object")
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as e:
            raise ar.error(f"{folder}{config_name} is not a payload config: {e}") from None
        bases: dict[str, torch.Tensor] = {}
        out = {}
        for fqn, meta in config.items():
            if not _FQN.match(fqn):
                raise self.error(f"{folder}{config_name}: {fqn[:80]!r} is not a module path")
            out[fqn] = self._tensor(folder, fqn, meta, bases)
        return out

    def _tensor(self, folder, fqn, meta, bases) -> torch.Tensor:
        where = f"{folder}: '{fqn}'"
        if not isinstance(meta, dict) or not isinstance(meta.get("path_name"), str):
            raise self.error(f"{where}: malformed payload entry")
        if meta.get("use_pickle") is not False or not meta["path_name"].startswith(
                ("weight_", "tensor_")):
            raise self.error(f"{where} is stored as a pickled object; npucc never unpickles "
                             "from a model file (save plain tensors, or load the file in "
                             "your own trusted code and pass the ExportedProgram)")
        name = meta["path_name"]
        tm = meta.get("tensor_meta")
        try:
            dtype = _PT2_DTYPES[tm["dtype"]]
            sizes = [d["as_int"] for d in tm["sizes"]]
            strides = [d["as_int"] for d in tm["strides"]]
            offset = tm["storage_offset"]["as_int"]
            layout = tm.get("layout", _STRIDED)
        except (KeyError, TypeError):
            raise self.error(f"{where}: tensor meta is malformed or has a dtype npucc does not "
                             "read") from None
        if not _ints(sizes + strides + [offset]) or len(sizes) != len(strides) \
                or layout != _STRIDED or not _IDENT.match(name):
            raise self.error(f"{where}: tensor meta sizes {sizes}, strides {strides}, offset "
                             f"{offset}, layout {layout} are not a plain strided tensor")
        itemsize = torch.empty((), dtype=dtype).element_size()
        try:
            limits.check_shape(sizes, itemsize, "the tensor")
        except LimitError as e:
            raise self.error(f"{where}: {e}") from None
        nbytes = self.archive.size(folder + name)
        need = _view_bytes(itemsize, sizes, strides, offset)
        if nbytes is None:
            raise self.error(f"{where}: payload {folder}{name} is missing")
        if nbytes < need or nbytes % itemsize:
            raise self.error(f"{where}: payload {folder}{name} holds {nbytes} bytes, the tensor "
                             f"({dtype}, sizes {sizes}, strides {strides}, offset {offset}) "
                             f"needs {need}")
        if name not in bases:
            data = bytearray(self.archive.read(folder + name))
            base = torch.frombuffer(data, dtype=torch.uint8) if nbytes else \
                torch.empty(0, dtype=torch.uint8)
            bases[name] = base.ne(0) if dtype == torch.bool else base.view(dtype)
        tensor = torch.as_strided(bases[name], sizes, strides, offset)
        return torch.nn.Parameter(tensor, requires_grad=False) if meta.get("is_param") else tensor


def load_pt2(path, label: str | None = None):
    """The ExportedProgram in a .pt2 file, read without unpickling (see the module docstring).
    Errors name `label` (default: the path)."""
    return _Pt2(os.fspath(path), label or os.fspath(path)).load()


# ---- TorchScript ----
class _Global(tuple):
    """A GLOBAL opcode's (module, name): recorded, never imported."""


class _StorageRef(str):
    """A persistent id that named a torch storage (the value is its key)."""


class _Opaque:
    """The result of a call the pickle would make (never made)."""

_STORAGE_ITEMSIZE = {"FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2,
                     "BFloat16Storage": 2, "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2,
                     "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1, "QInt8Storage": 1,
                     "QUInt8Storage": 1, "QInt32Storage": 4, "ComplexFloatStorage": 8,
                     "ComplexDoubleStorage": 16}
_REBUILD = {("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"),
            ("torch._utils", "_rebuild_qtensor")}
_PUSH_ARG = {"BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE", "BININT", "BININT1",
             "BININT2", "INT", "LONG", "LONG1", "LONG4", "BINFLOAT", "FLOAT", "BINBYTES",
             "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "BINSTRING", "SHORT_BINSTRING",
             "STRING"}
_PUSH_CONST = {"NEWTRUE": True, "NEWFALSE": False, "NONE": None}


class PickleScan:
    """What a pickle says about tensors, found by walking its opcodes on a model of the pickle
    stack: storages (persistent ids ('storage', type, key, location, numel)) and tensor views
    (the storage, offset, sizes, strides given to torch's tensor rebuild functions). Nothing is
    imported or called; an opcode outside the model raises ValueError."""

    def __init__(self, data: bytes):
        self.storages: dict[str, tuple[str, int]] = {}
        self.views: list[tuple[str, int, tuple, tuple]] = []
        stack: list = []
        marks: list[int] = []
        memo: dict = {}

        def to_mark():
            start = marks.pop()
            items = stack[start:]
            del stack[start:]
            return items

        for op, arg, _ in pickletools.genops(data):
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                return
            if name in _PUSH_ARG:
                stack.append(arg)
            elif name in _PUSH_CONST:
                stack.append(_PUSH_CONST[name])
            elif name == "MARK":
                marks.append(len(stack))
            elif name in ("EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"):
                stack.append([] if name == "EMPTY_LIST" else ())
            elif name in ("TUPLE", "LIST", "DICT", "FROZENSET"):
                items = to_mark()
                stack.append(list(items) if name == "LIST" else tuple(items))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                items = tuple(stack[-n:])
                if len(items) != n:
                    raise ValueError("stack underflow")
                del stack[-n:]
                stack.append(items)
            elif name in ("APPEND", "SETITEM"):
                del stack[-(1 if name == "APPEND" else 2):]
                stack[-1]  # noqa: B018 - the container must exist
            elif name in ("APPENDS", "SETITEMS", "ADDITEMS"):
                to_mark()
                stack[-1]  # noqa: B018
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[arg] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                stack.append(memo[arg])
            elif name == "GLOBAL":
                stack.append(_Global(arg.split(" ", 1)))
            elif name == "STACK_GLOBAL":
                mod_name = stack[-2:]
                del stack[-2:]
                stack.append(_Global(mod_name))
            elif name in ("REDUCE", "NEWOBJ"):
                args, func = stack.pop(), stack.pop()
                self._call(func, args)
                stack.append(_Opaque())
            elif name == "BUILD":
                stack.pop()
                stack[-1]  # noqa: B018
            elif name == "BINPERSID":
                stack.append(self._storage(stack.pop()))
            elif name == "POP":
                stack.pop()
            elif name == "POP_MARK":
                to_mark()
            elif name == "DUP":
                stack.append(stack[-1])
            else:
                raise ValueError(f"pickle opcode {name} is not used by TorchScript files")
        raise ValueError("the pickle has no STOP opcode")

    def _storage(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _Global) and tuple(pid[1])[0] == "torch"
                and pid[1][1] in _STORAGE_ITEMSIZE and isinstance(pid[2], str)
                and type(pid[4]) is int and pid[4] >= 0):
            raise ValueError(f"persistent id {str(pid)[:80]} is not a torch storage")
        key, kind, numel = pid[2], pid[1][1], pid[4]
        if self.storages.setdefault(key, (kind, numel)) != (kind, numel):
            raise ValueError(f"storage {key!r} is declared twice with different types or sizes")
        return _StorageRef(key)

    def _call(self, func, args) -> None:
        if not isinstance(func, _Global):
            return
        if tuple(func) in _REBUILD:
            if not (isinstance(args, tuple) and len(args) >= 4
                    and isinstance(args[0], _StorageRef)):
                raise ValueError(f"{'.'.join(func)} is not given a storage")
            _, offset, sizes, strides = args[:4]
            if not (isinstance(sizes, tuple) and isinstance(strides, tuple)
                    and _ints(sizes + strides + (offset,)) and len(sizes) == len(strides)):
                raise ValueError(f"tensor view offset {offset}, sizes {sizes}, strides "
                                 f"{strides} is not a strided tensor")
            self.views.append((str(args[0]), offset, sizes, strides))
        elif func[0] == "torch._utils":
            raise ValueError(f"tensor kind {'.'.join(func)} is not supported")


def check_torchscript(path) -> None:
    """Refuse a TorchScript archive whose tensors do not fit their storage records (torch would
    read past them: a crash or heap bytes as weights), before torch.jit.load sees it."""
    path = os.fspath(path)
    ar = Archive(path, "TorchScript file")
    if "data.pkl" not in ar.members or "code" not in {n.split("/")[0] for n in ar.members}:
        raise ar.error("it has no data.pkl and code/ (a state dict or pickled module must be "
                       "loaded in Python and passed as an nn.Module)")
    for name in sorted(ar.members):
        if not (name.endswith(".pkl") or name.endswith(".debug_pkl")):
            continue
        try:
            scan = PickleScan(ar.read(name))
        except (ValueError, IndexError, KeyError, TypeError, RecursionError) as e:
            raise ar.error(f"{name}: {e or type(e).__name__}") from None
        folder = name[:-len(".pkl")]
        if folder not in ("data", "constants"):
            continue  # torch.jit.load reads no tensors from other pickles
        for key, (kind, numel) in scan.storages.items():
            itemsize = _STORAGE_ITEMSIZE[kind]
            have = ar.size(f"{folder}/{key}")
            if have != numel * itemsize:  # the record's size is bounded by the Archive
                raise ar.error(f"storage {folder}/{key} ({kind}, {numel} elements) needs "
                               f"{numel * itemsize} bytes, the archive holds "
                               f"{'none' if have is None else have}")
        for key, offset, sizes, strides in scan.views:
            kind, numel = scan.storages[key]
            itemsize = _STORAGE_ITEMSIZE[kind]
            try:
                limits.check_shape(sizes, itemsize, f"a tensor in {name}")
            except LimitError as e:
                raise ar.error(str(e)) from None
            if _view_bytes(itemsize, sizes, strides, offset) > numel * itemsize:
                raise ar.error(f"a tensor in {name} (offset {offset}, sizes {list(sizes)}, "
                               f"strides {list(strides)}) reaches past its storage "
                               f"{folder}/{key} of {numel} elements")
