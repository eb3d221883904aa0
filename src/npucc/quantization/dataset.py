"""Calibration datasets: RKNN's dataset.txt, a directory of files, or a Python iterable.

    Dataset("dataset.txt", rgb2bgr=False)      # RKNN's quant_img_RGB2BGR
    Dataset("calib_images/")                   # every supported file, sorted by name
    Dataset.of_folders(["a/", "b/"], ["x", "y"])   # one folder per input (hb_mapper), zipped
    Dataset([img0, img1])                      # arrays, tuples (input order) or dicts (by name)

dataset.txt: one sample per line, a model with several inputs takes several paths on a line
separated by spaces (in graph input order); blank lines and lines starting with # are skipped;
relative paths are resolved from the txt file's folder; .jpg/.jpeg/.png/.bmp images and .npy
arrays. A missing file is an error naming the txt file, the line and the path.

Image policy (like RKNN): the file is decoded with Pillow, converted to RGB (L for a 1-channel
input), resized to the input's H x W with bilinear interpolation of the whole image (no crop, no
aspect ratio kept; no resize when the size already matches), channels reversed to BGR when
`rgb2bgr` is set, laid out as the graph input is (NCHW or NHWC, read from the graph: see
`passes.input_layout.source_layout`) and given as raw 0-255 float pixels. The mean/std/reorder of
the model are part of the graph (`npucc.compile(..., preprocess=...)`), so calibration and
inference feed the graph the same arrays.

Arrays (.npy files and iterable items) must have the input's shape, or that shape without the
batch axis of size 1; a 4-D image input also accepts the other layout (NHWC for NCHW and back)
when that is unambiguous, and says so once in the log.

Raw binary files (hb_mapper's calibration data, written with numpy's `tofile`): with
`raw=RawFormat(dtype, layout, reverse_channels)`, every file that is not an image or a .npy
(any name, in a directory or a dataset.txt) holds exactly one input's values as `dtype` (float32
or uint8) in `layout` (NCHW or NHWC for a 4-D input; None: the input's own layout), no header.
The file's size must be exactly the input's size; `reverse_channels` flips a 3-channel
input's channels (hb_mapper's input_type_train rgb with input_type_rt bgr, or back).
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import attrs
import numpy as np

from .. import limits
from ..ir.graph import Graph, Value
from ..npyio import read_limited, read_npy
from ..passes.input_layout import source_layout
from .stats import CalibrationError

log = logging.getLogger("npucc.quantization")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
SUFFIXES = IMAGE_SUFFIXES + (".npy",)
_TO_NHWC, _TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)
MAX_DATASET_TXT_BYTES = 64 << 20  # a million sample lines


@attrs.frozen
class RawFormat:
    """How headerless binary calibration files hold an input (see the module docstring)."""

    dtype: str = attrs.field(validator=attrs.validators.in_(("float32", "uint8")))
    layout: str | None = attrs.field(default=None,
                                     validator=attrs.validators.in_((None, "NCHW", "NHWC")))
    reverse_channels: bool = False


def read_dataset_txt(path: str | os.PathLike, raw: RawFormat | None = None
                     ) -> list[tuple[Path, ...]]:
    """The samples of an RKNN dataset.txt: one tuple of resolved paths per sample line (with
    `raw`, files of any other name are raw binary samples)."""
    txt = Path(path)
    try:
        lines = read_limited(txt, MAX_DATASET_TXT_BYTES).decode("utf-8-sig").splitlines()
    except (OSError, ValueError) as e:  # UnicodeDecodeError too
        raise CalibrationError(f"cannot read dataset file {txt}: {e}") from e
    samples = []
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        paths = []
        for word in line.split():
            p = Path(word) if os.path.isabs(word) else txt.parent / word
            if not p.is_file():  # also refuses /dev/zero, a FIFO or a folder
                what = "not a regular file" if p.exists() else "no such file"
                raise CalibrationError(f"{txt}:{lineno}: {what} {word!r} (looked for {p})")
            if p.suffix.lower() not in SUFFIXES and raw is None:
                raise CalibrationError(f"{txt}:{lineno}: {word!r} is not one of "
                                       f"{', '.join(SUFFIXES)}")
            paths.append(p)
        samples.append(tuple(paths))
    return samples


def list_directory(path: str | os.PathLike, raw: RawFormat | None = None
                   ) -> list[tuple[Path, ...]]:
    """Every supported file of a directory (not recursive), sorted by name: one sample each
    (with `raw`, every regular file that is not hidden)."""
    d = Path(path)
    files = sorted(p for p in d.iterdir() if p.is_file() and (
        p.suffix.lower() in SUFFIXES or (raw is not None and not p.name.startswith("."))))
    if not files:
        kinds = "file" if raw is not None else f"{', '.join(SUFFIXES)} file"
        raise CalibrationError(f"dataset directory {d} has no {kinds}")
    return [(p,) for p in files]


class InputAdapter:
    """Turns files and arrays into what one graph input takes."""

    def __init__(self, value: Value):
        self.name = value.name
        self.shape = tuple(value.shape)
        self.dtype = value.dtype.numpy
        self.layout = source_layout(value) if len(self.shape) == 4 else None
        if self.layout == "NCHW" and self.shape[1] not in (1, 3) and self.shape[3] in (1, 3):
            self.layout = "NHWC"  # an NHWC input the graph reads directly
        self._said: set[str] = set()

    def load(self, path: Path, rgb2bgr: bool, raw: RawFormat | None = None) -> np.ndarray:
        suffix = path.suffix.lower()
        if suffix == ".npy":
            try:
                a = read_npy(path)  # thread-safe (npyio)
            except (OSError, ValueError, EOFError, MemoryError) as e:
                raise CalibrationError(f"cannot read {path}: {e}") from e
            return self.array(a, str(path))
        if raw is not None and suffix not in IMAGE_SUFFIXES:
            return self.raw(path, raw)
        return self.image(path, rgb2bgr)

    def raw(self, path: Path, fmt: RawFormat) -> np.ndarray:
        """One sample from a headerless binary file (see the module docstring)."""
        shape, perm = self.shape, None
        if len(shape) == 4 and self.layout is not None and fmt.layout not in (None, self.layout):
            perm = _TO_NHWC if self.layout == "NHWC" else _TO_NCHW
            inverse = _TO_NCHW if self.layout == "NHWC" else _TO_NHWC
            shape = tuple(shape[i] for i in inverse)  # the file's layout
        dtype = np.dtype(fmt.dtype)
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        layout = fmt.layout or self.layout or "as declared"
        what = f"input %{self.name} {list(shape)} {fmt.dtype} ({layout})"
        try:
            data = read_limited(path, need)
        except (OSError, ValueError) as e:
            raise CalibrationError(f"cannot read raw sample {path} for {what}, {need} bytes: "
                                   f"{e}") from e
        if len(data) != need:
            raise CalibrationError(f"raw sample {path} holds {len(data)} bytes; {what} takes "
                                   f"{need}")
        a = np.frombuffer(data, dtype).reshape(shape)
        if perm is not None:
            a = a.transpose(perm)
        if fmt.reverse_channels and len(self.shape) == 4 and self.layout is not None:
            axis = 3 if self.layout == "NHWC" else 1
            if self.shape[axis] == 3:
                a = np.flip(a, axis)
        return self.array(a, str(path))

    def image(self, path: Path, rgb2bgr: bool) -> np.ndarray:
        if self.layout is None or self.shape[0] != 1:
            raise CalibrationError(f"{path}: input %{self.name} {list(self.shape)} does not take "
                                   "an image (images fill 4-D inputs of batch 1); use .npy")
        h, w, c = self._hwc()
        if c not in (1, 3):
            raise CalibrationError(f"{path}: input %{self.name} has {c} channels; images fill "
                                   "1- or 3-channel inputs")
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:  # reads the header only
                if im.width * im.height > limits.MAX_IMAGE_PIXELS:  # before decoding
                    raise CalibrationError(
                        f"{path}: image of {im.width} x {im.height} pixels is over the limit "
                        f"of {limits.MAX_IMAGE_PIXELS} (raise NPUCC_MAX_IMAGE_PIXELS for it)")
                im = im.convert("L" if c == 1 else "RGB")
                if im.size != (w, h):
                    im = im.resize((w, h), Image.Resampling.BILINEAR)
                pixels = np.asarray(im, dtype=np.float32).reshape(h, w, c)
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError,
                SyntaxError, ValueError, EOFError, struct.error) as e:  # Pillow: broken files
            raise CalibrationError(f"cannot decode image {path}: {type(e).__name__}: {e}") from e
        if rgb2bgr and c == 3:
            pixels = pixels[:, :, ::-1]
        a = pixels[None]
        if self.layout == "NCHW":
            a = a.transpose(_TO_NCHW)
        return np.asarray(a, self.dtype, order="C")

    def _hwc(self) -> tuple[int, int, int]:
        n, a, b, c = self.shape
        return (a, b, c) if self.layout == "NHWC" else (b, c, a)

    def array(self, a, where: str) -> np.ndarray:
        a = np.asarray(a)
        if a.shape != self.shape and a.ndim == len(self.shape) - 1 and self.shape[0] == 1:
            a = a[None]
        if a.shape != self.shape and self.layout is not None and a.ndim == 4:
            other = "NCHW" if self.layout == "NHWC" else "NHWC"
            perm = _TO_NHWC if self.layout == "NHWC" else _TO_NCHW
            if tuple(a.shape[p] for p in perm) == self.shape:
                if other not in self._said:
                    self._said.add(other)
                    log.info("%s: input %%%s takes %s %s; %s arrays such as %s %s are "
                             "transposed to it", where, self.name, self.layout,
                             list(self.shape), other, where, list(a.shape))
                a = a.transpose(perm)
        if a.shape != self.shape:
            raise CalibrationError(f"{where}: input %{self.name} expects shape "
                                   f"{list(self.shape)} ({self.layout or 'as declared'}), got "
                                   f"{list(a.shape)}")
        if a.dtype != self.dtype:
            if a.dtype.kind not in "biuf" or (a.dtype.kind == "f" and self.dtype.kind != "f"):
                raise CalibrationError(f"{where}: input %{self.name} takes {self.dtype}, got "
                                       f"{a.dtype}")
            a = a.astype(self.dtype)
        return np.asarray(a, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)


class Dataset:
    """Calibration samples for a graph (see the module docstring). `entries` lists the files of
    each sample for file datasets (None for an iterable); `samples(graph)` yields one list of
    arrays per graph run, in graph input order."""

    def __init__(self, source, *, rgb2bgr: bool = False, raw: RawFormat | None = None):
        self.rgb2bgr = bool(rgb2bgr)
        self.raw = raw
        self.input_names: tuple[str, ...] | None = None  # the inputs of an entry's files
        self.source = source
        self.entries: list[tuple[Path, ...]] | None = None
        if isinstance(source, (str, os.PathLike)):
            p = Path(source)
            if p.is_dir():
                self.entries = list_directory(p, raw)
            elif p.suffix.lower() in SUFFIXES and p.is_file():
                self.entries = [(p,)]
            elif p.is_file() and raw is not None and p.suffix.lower() != ".txt":
                self.entries = [(p,)]  # one raw sample
            elif p.is_file():
                self.entries = read_dataset_txt(p, raw)
            else:
                raise CalibrationError(f"no such dataset file or directory: {p}")
        elif not isinstance(source, Iterable) or isinstance(source, (np.ndarray, Mapping)):
            raise CalibrationError("a dataset is a dataset.txt path, a directory, or an "
                                   "iterable of samples (arrays, tuples or dicts); got "
                                   f"{type(source).__name__}")

    @classmethod
    def of_folders(cls, folders, input_names=None, *, rgb2bgr: bool = False,
                   raw: RawFormat | None = None) -> Dataset:
        """One folder per input (hb_mapper's multi-input cal_data_dir): sample i is the i-th
        file (by name) of every folder. `input_names` says which input each folder feeds (None:
        graph input order); every folder must hold the same number of files."""
        folders = [Path(f) for f in folders]
        lists = [list_directory(f, raw) for f in folders]
        counts = {len(files) for files in lists}
        if len(counts) != 1:
            raise CalibrationError("calibration folders hold different numbers of samples: " +
                                   ", ".join(f"{f} {len(x)}" for f, x in zip(folders, lists)))
        if input_names is not None and len(input_names) != len(folders):
            raise CalibrationError(f"{len(folders)} calibration folders for "
                                   f"{len(input_names)} input names {list(input_names)}")
        out = cls.__new__(cls)
        out.rgb2bgr, out.raw, out.source = bool(rgb2bgr), raw, ";".join(map(str, folders))
        out.input_names = None if input_names is None else tuple(input_names)
        out.entries = [tuple(f for (f,) in files) for files in zip(*lists)]
        return out

    @classmethod
    def of(cls, dataset, rgb2bgr: bool = False) -> Dataset:
        return dataset if isinstance(dataset, Dataset) else cls(dataset, rgb2bgr=rgb2bgr)

    def __len__(self) -> int:
        if self.entries is not None:
            return len(self.entries)
        return len(self.source)  # TypeError for iterables without a length

    def subset(self, start: int, stop: int) -> Dataset:
        """Samples start..stop-1 of a file dataset (a shard)."""
        if self.entries is None:
            raise CalibrationError("only file datasets can be split by index")
        out = Dataset.__new__(Dataset)
        out.rgb2bgr, out.raw, out.source = self.rgb2bgr, self.raw, self.source
        out.input_names, out.entries = self.input_names, self.entries[start:stop]
        return out

    def samples(self, graph: Graph) -> Iterator[list[np.ndarray]]:
        adapters = [InputAdapter(v) for v in graph.inputs]
        if self.entries is not None:
            where = f"dataset {self.source}"
            order = self._input_order(graph, where)
            for i, paths in enumerate(self.entries):
                paths = paths if order is None else tuple(paths[k] for k in order)
                if len(paths) != len(adapters):
                    raise CalibrationError(
                        f"{where}, sample {i + 1} ({' '.join(map(str, paths))}): graph "
                        f"{graph.name} takes {len(adapters)} inputs "
                        f"({', '.join(a.name for a in adapters)}), the sample has {len(paths)}")
                try:
                    sample = [a.load(p, self.rgb2bgr, self.raw) for a, p in zip(adapters, paths)]
                except CalibrationError as e:  # names the file; say which sample listed it
                    raise CalibrationError(f"{where}, sample {i + 1}: {e}") from None
                yield sample
            return
        for i, item in enumerate(self.source):
            yield self._from_item(item, adapters, f"dataset item {i}")

    def _input_order(self, graph: Graph, where: str) -> list[int] | None:
        """Where each graph input's file is in an entry (None: entries are in graph order)."""
        if self.input_names is None:
            return None
        names = [v.name for v in graph.inputs]
        if sorted(names) != sorted(self.input_names):
            raise CalibrationError(f"{where}: its folders feed inputs {list(self.input_names)}; "
                                   f"graph {graph.name} takes {names}")
        return [self.input_names.index(n) for n in names]

    def _from_item(self, item, adapters: list[InputAdapter], where: str) -> list[np.ndarray]:
        if isinstance(item, Mapping):
            missing = [a.name for a in adapters if a.name not in item]
            if missing:
                raise CalibrationError(f"{where}: no array for inputs {missing}")
            parts = [item[a.name] for a in adapters]
        elif isinstance(item, (tuple, list)):
            parts = list(item)
        else:
            parts = [item]
        if len(parts) != len(adapters):
            raise CalibrationError(f"{where}: the graph takes {len(adapters)} inputs "
                                   f"({', '.join(a.name for a in adapters)}), got {len(parts)}")
        out = []
        for a, part in zip(adapters, parts):
            if isinstance(part, (str, os.PathLike)):
                out.append(a.load(Path(part), self.rgb2bgr, self.raw))
            else:
                out.append(a.array(part, f"{where} (input %{a.name})"))
        return out
