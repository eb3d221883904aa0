"""The `npucc build` config file: one YAML with hb_mapper's sections.

    model_parameters:
      onnx_model: resnet.onnx          # or caffe_model + prototxt, darknet_cfg + darknet_weights,
                                       # tflite_model, tensorflow_model, pytorch_model
      input_shapes: {input: [1, 3, 224, 224]}   # optional: for symbolic dims
      outputs: [logits]                # optional: cut the model here
      working_dir: build               # where the outputs go (default: beside the YAML)
      output_model_file_prefix: resnet # default: the model file's stem
    input_parameters:
      input_layout_rt: NHWC            # how the built model takes images: NHWC, NCHW or source
      input_name: image                # the input(s) preprocessed (default: the first); a list
                                       # gives each value once for all, or one entry per input
      mean_value: [123.675, 116.28, 103.53]  # (several inputs: one for all, or [[...], null])
      std_value: [58.395, 57.12, 57.375]     # or hb_mapper's scale_value (= 1 / std)
      reorder_channel: [2, 1, 0]       # applied before the mean
    calibration_parameters:
      cal_data_dir: calib/             # a folder of .jpg/.png/.npy or an RKNN dataset.txt;
                                       # or a list of folders, one per input (sample i = the
                                       # i-th file of each), in graph input order or in the
      cal_data_inputs: [x, y]          # order of these input names
      calibration_type: normal         # normal, mmse, kl_divergence, percentile, ...
      quantized_dtype: u8              # u8, i8, dfp8, dfp16, fp16, f32 (no quantization), or
                                       # an RKNN spelling (w8a8, asymmetric_quantized-u8, ...);
                                       # default: u8 if the target stores it (RKNPU1), else i8
      per_channel: false               # default: true for i8 (RKNN-Toolkit2's channel method)
      rgb2bgr: false                   # RKNN's quant_img_RGB2BGR (calibration images only)
      hybrid_config: hybrid.cfg        # optional: per-layer dtypes (RKNN's custom_quantize_layers)
      layer_dtypes: {conv1: dfp16}     # optional: per-layer dtypes inline (source layer names)
      percentile: 99.99                # calibration_type percentile: the percentile kept
    compiler_parameters:
      target: rk3588                   # a shipped target or a target file
      report: true                     # write the HTML build report
      analysis_samples: 1              # dataset samples for per-layer error in the report (0: none)

Paths are relative to the YAML file. Every value is checked here, before anything is built:
an error names the file and the key (`section.key`). An empty key (`key:`) means its default.
A config written for hb_mapper builds too: its own keys are translated or, where npucc has no
counterpart, accepted with a warning (npucc.cli.hb_mapper).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import attrs

from npucc import limits
from npucc.errors import LimitError, NpuccError
from npucc.yaml_mapping import brief

MODEL_KEYS = {"onnx_model": "onnx", "caffe_model": "caffe", "darknet_cfg": "darknet",
              "tflite_model": "tflite", "tensorflow_model": "tensorflow",
              "pytorch_model": "pytorch"}
SECTIONS = {
    "model_parameters": {*MODEL_KEYS, "prototxt", "darknet_weights", "input_shapes", "inputs",
                         "outputs", "working_dir", "output_model_file_prefix"},
    "input_parameters": {"input_name", "input_layout_rt", "mean_value", "std_value",
                         "scale_value", "reorder_channel"},
    "calibration_parameters": {"cal_data_dir", "calibration_type", "quantized_dtype",
                               "per_channel", "rgb2bgr", "hybrid_config", "max_samples",
                               "percentile", "cal_data_inputs", "layer_dtypes"},
    "compiler_parameters": {"target", "report", "analysis_samples"},
}


class BuildConfigError(NpuccError):
    """A build config is invalid; the message names the file and the `section.key`."""


def _join(base: Path, rel: str) -> Path:
    return Path(os.path.normpath(base / rel))


@attrs.frozen
class BuildConfig:
    path: Path
    framework: str
    model: object  # a path, or a (model, weights) pair
    model_key: str
    input_shapes: dict | None
    inputs: list | None
    outputs: list | None
    working_dir: Path
    prefix: str
    input_layout: str
    preprocess: dict | None  # {input name or None (the first): {"mean", "std", "reorder"}}
    dataset: Path | tuple[Path, ...] | None  # a tuple: one folder per input
    algorithm: str
    dtype: str
    per_channel: bool
    rgb2bgr: bool
    hybrid_config: Path | None
    max_samples: int | None
    target: str
    report: bool
    analysis_samples: int
    selector_options: dict = attrs.field(factory=dict)  # e.g. {"percentile": 99.99}
    raw: object = None  # npucc.quantization.dataset.RawFormat of raw calibration files, or None
    warnings: tuple[str, ...] = ()  # hb_mapper keys npucc ignores
    dataset_inputs: tuple[str, ...] | None = None  # the inputs of the dataset's folders
    layer_dtypes: dict = attrs.field(factory=dict)  # {source layer name: precision}, inline


def load_build_config(path) -> BuildConfig:
    from npucc.yaml_mapping import read_yaml_mapping

    path = Path(path)
    data = read_yaml_mapping(path, BuildConfigError, "build config",
                             hint=f" (sections {', '.join(SECTIONS)})")
    return _Reader(path, data).config()


class _Reader:
    def __init__(self, path: Path, data: dict):
        from .hb_mapper import translate

        self.path, self.base = path, path.parent
        for section, body in data.items():
            if section not in SECTIONS and section != "custom_op":  # (hb_mapper's, ignored)
                self.fail(section, f"unknown section; known: {', '.join(SECTIONS)}")
            if body is not None and not isinstance(body, dict):
                self.fail(section, "must be a mapping of keys")
        self.data, self.warnings, self.raw = translate(data, self.fail)
        for section, body in self.data.items():
            if section not in SECTIONS:
                self.fail(section, f"unknown section; known: {', '.join(SECTIONS)}")
            for key in body or {}:
                if key not in SECTIONS[section]:
                    self.fail(f"{section}.{key}", "unknown key; known: "
                              f"{', '.join(sorted(SECTIONS[section]))}")

    def fail(self, key: str, msg: str):
        raise BuildConfigError(f"{self.path}: {key}: {msg}")

    def get(self, section: str, key: str, default=None, kind=None):
        value = (self.data.get(section) or {}).get(key)
        value = default if value is None else value
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if value is not None and kind is not None and (
                not isinstance(value, kind) or (isinstance(value, bool) and bool not in kinds)):
            names = " or ".join(k.__name__ for k in kinds)
            self.fail(f"{section}.{key}", f"expected {names}, got {brief(value)}")
        if isinstance(value, str) and "\0" in value:
            self.fail(f"{section}.{key}", f"a NUL character in {brief(value)}")
        return value

    def count(self, section: str, key: str, default, least: int) -> int | None:
        value = self.get(section, key, default, kind=int)
        if value is not None and value < least:
            self.fail(f"{section}.{key}", f"expected an integer >= {least}, got {value}")
        return value

    def names(self, section: str, key: str) -> list[str] | None:
        value = self.get(section, key, kind=list)
        if value is not None and not all(isinstance(n, str) and n for n in value):
            self.fail(f"{section}.{key}", f"expected a list of tensor names, got {brief(value)}")
        return value

    def numbers(self, section: str, key: str) -> tuple[float, ...] | None:
        """A number, a list of numbers or a string "1 2 3" (RKNN's form): finite floats."""
        value = self.get(section, key, kind=(list, int, float, str))
        return None if value is None else self._numbers(value, f"{section}.{key}")

    def _numbers(self, value, where: str) -> tuple[float, ...]:
        items = value.replace(",", " ").split() if isinstance(value, str) else \
            value if isinstance(value, list) else [value]
        try:
            out = tuple(float(v) for v in items if not isinstance(v, (bool, list, dict)))
        except (ValueError, OverflowError):
            out = ()
        if not out or len(out) != len(items) or not all(map(math.isfinite, out)):
            self.fail(where, f"expected finite numbers, got {brief(value)}")
        return out

    def per_input_numbers(self, section: str, key: str, inputs: list
                          ) -> list[tuple[float, ...] | None]:
        """`numbers` for each of `inputs`: one value for all of them, or (several inputs) a list
        of one entry per input (each numbers, or null: none for that input)."""
        value = self.get(section, key, kind=(list, int, float, str))
        if value is None:
            return [None] * len(inputs)
        if len(inputs) == 1 or not (isinstance(value, list) and any(
                isinstance(v, (list, str)) or v is None for v in value)):
            return [self._numbers(value, f"{section}.{key}")] * len(inputs)
        entries = value
        if len(entries) != len(inputs):
            self.fail(f"{section}.{key}", f"{len(entries)} per-input entries in {brief(value)} "
                      f"for {len(inputs)} input(s) (input_parameters.input_name)")
        return [None if e is None else self._numbers(e, f"{section}.{key} ({name or 'input'})")
                for e, name in zip(entries, inputs)]

    def shapes(self) -> dict | list | None:
        """input_shapes: {name: [dims]} or a list of [dims] in input order; dims >= 1."""
        key = "model_parameters.input_shapes"
        shapes = self.get("model_parameters", "input_shapes", kind=(dict, list))
        items = shapes.items() if isinstance(shapes, dict) else enumerate(shapes or [])
        for name, dims in items:
            if not isinstance(name, (str, int)) or not isinstance(dims, list) or not all(
                    isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in dims):
                self.fail(key, f"{brief(name)}: expected a list of dimensions >= 1, got "
                               f"{brief(dims)}")
            try:
                limits.check_shape(dims, 1, f"input {name}")
            except LimitError as e:
                self.fail(key, str(e))
        return shapes

    def file(self, section: str, key: str, required: bool = False) -> Path | None:
        value = self.get(section, key, kind=str)
        if value is None:
            if required:
                self.fail(f"{section}.{key}", "is required")
            return None
        p = Path(value) if Path(value).is_absolute() else _join(self.base, value)
        if not p.exists():
            self.fail(f"{section}.{key}", f"no such file or folder {p}")
        if not (p.is_file() or p.is_dir()):  # /dev/zero, a FIFO...
            self.fail(f"{section}.{key}", f"{p} is not a regular file or a folder")
        return p

    def config(self) -> BuildConfig:
        m = "model_parameters"
        given = [k for k in MODEL_KEYS if self.get(m, k) is not None]
        if len(given) != 1:
            self.fail(m, f"give exactly one model file key of {', '.join(MODEL_KEYS)} "
                         f"(got {given or 'none'})")
        key = given[0]
        framework, model = MODEL_KEYS[key], self.file(m, key, True)
        if framework == "caffe":
            model = (self.file(m, "prototxt", True), model)
        elif framework == "darknet":
            weights = self.file(m, "darknet_weights")
            model = (model, weights) if weights else (model, "random")
            if not weights:
                self.warnings.append("model_parameters.darknet_weights is not given: the model "
                                     "gets random weights (a structure and speed check; its "
                                     "outputs mean nothing)")
        shapes = self.shapes()
        if framework == "pytorch" and shapes is None and Path(model).suffix.lower() != ".pt2":
            self.fail(f"{m}.input_shapes", "a TorchScript model does not record its input "
                      "shapes: give them, e.g. [[1, 3, 224, 224]] (a torch.export .pt2 does)")
        workdir = self.get(m, "working_dir", ".", kind=str)
        prefix = self.get(m, "output_model_file_prefix",
                          Path(model[0] if isinstance(model, tuple) else model).stem, kind=str)
        if not prefix or prefix in (".", "..") or "/" in prefix or "\\" in prefix:
            self.fail(f"{m}.output_model_file_prefix", f"{prefix!r} is not a file name (the "
                      "outputs are written in working_dir)")
        layout = str(self.get("input_parameters", "input_layout_rt", "NHWC", kind=str))
        if layout.upper() not in ("NHWC", "NCHW", "SOURCE"):
            self.fail("input_parameters.input_layout_rt", f"{layout!r} is not NHWC, NCHW or "
                      "source")
        layout = "source" if layout.upper() == "SOURCE" else layout.upper()
        c = "calibration_parameters"
        target = str(self.get("compiler_parameters", "target", "generic", kind=str))
        if Path(target).suffix:  # a target file, relative to this config like every path
            target = str(_join(self.base, target))
        dtype = str(self.get(c, "quantized_dtype", self._default_dtype(target), kind=str))
        self._check_dtype(dtype)
        dataset = self._dataset(dtype not in ("f32", "fp16", "float16", "float32"))
        samples = self.count("compiler_parameters", "analysis_samples", 1, 0)
        algorithm = str(self.get(c, "calibration_type", "normal", kind=str))
        self._check_algorithm(algorithm)
        self._check_target_runs(target, dtype)
        return BuildConfig(
            self.path, framework, model, key, shapes, self.names(m, "inputs"),
            self.names(m, "outputs"), _join(self.base, workdir), prefix, layout,
            self._preprocess(), dataset, algorithm,
            dtype, bool(self.get(c, "per_channel", self._is_w8a8(dtype), kind=bool)),
            bool(self.get(c, "rgb2bgr", False, kind=bool)), self.file(c, "hybrid_config"),
            self.count(c, "max_samples", None, 1),
            target, bool(self.get("compiler_parameters", "report", True, kind=bool)), samples,
            self._selector_options(algorithm), self._raw_format(), tuple(self.warnings),
            self._dataset_inputs(dataset), self._layer_dtypes())

    def _layer_dtypes(self) -> dict[str, str]:
        from npucc.quantization.hybrid import HybridConfigError, dtype_name

        key = "calibration_parameters.layer_dtypes"
        value = self.get("calibration_parameters", "layer_dtypes", kind=dict) or {}
        out = {}
        for name, dtype in value.items():
            if not isinstance(name, str) or not name:
                self.fail(key, f"expected layer names, got {brief(name)}")
            try:
                out[name] = dtype_name(dtype, f"layer {name!r}")
            except HybridConfigError as e:
                self.fail(key, str(e))
        return out

    def _dataset(self, required: bool):
        """cal_data_dir: one path, or a list of folders (one per input)."""
        c, key = "calibration_parameters", "calibration_parameters.cal_data_dir"
        value = self.get(c, "cal_data_dir", kind=(str, list))
        if not isinstance(value, list):
            return self.file(c, "cal_data_dir", required)
        if not value or not all(isinstance(v, str) and v for v in value):
            self.fail(key, f"expected a path or a list of folders, got {brief(value)}")
        folders = []
        for v in value:
            p = Path(v) if Path(v).is_absolute() else _join(self.base, v)
            if not p.is_dir():
                self.fail(key, f"{p} is not a folder (a list gives one folder per input)")
            folders.append(p)
        return tuple(folders)

    def _dataset_inputs(self, dataset) -> tuple[str, ...] | None:
        names = self.names("calibration_parameters", "cal_data_inputs")
        if names is None:
            return None
        if not isinstance(dataset, tuple) or len(names) != len(dataset):
            self.fail("calibration_parameters.cal_data_inputs", f"{len(names)} input names for "
                      f"{len(dataset) if isinstance(dataset, tuple) else 'no list of'} folders "
                      "in cal_data_dir")
        return tuple(names)

    def _selector_options(self, algorithm: str) -> dict:
        key = "calibration_parameters.percentile"
        value = self.get("calibration_parameters", "percentile", kind=(int, float))
        if value is None:
            return {}
        if not 0 < value <= 100:
            self.fail(key, f"expected a number in (0, 100], got {value}")
        if algorithm.lower() != "percentile":
            self.fail(key, f"applies to calibration_type percentile, not {algorithm!r}")
        return {"percentile": float(value)}

    def _raw_format(self):
        if not self.raw:
            return None
        from npucc.quantization.dataset import RawFormat

        return RawFormat(**self.raw)

    def _check_algorithm(self, algorithm: str) -> None:
        from npucc.quantization import ALGORITHMS

        if algorithm.lower() not in ALGORITHMS:
            self.fail("calibration_parameters.calibration_type", f"unknown {algorithm!r}; one "
                      f"of {', '.join(ALGORITHMS)}")

    def _default_dtype(self, target: str) -> str:
        """The target's generation's default: u8 where it stores u8 (RKNN-Toolkit v1), else
        i8 (RKNN-Toolkit2's w8a8)."""
        from npucc.errors import TargetError
        from npucc.targets import get_target

        try:
            stores = get_target(target).quant_dtypes
        except TargetError as e:
            self.fail("compiler_parameters.target", str(e))
        return "u8" if "u8" in stores else "i8" if "i8" in stores else stores[0]

    @staticmethod
    def _is_w8a8(dtype: str) -> bool:
        """i8 (w8a8) defaults to per-channel weights, as RKNN-Toolkit2's quantized_method."""
        from npucc.quantization import scheme_for

        return dtype not in ("f32", "float32") and scheme_for(dtype).name == "i8"

    def _check_dtype(self, dtype: str) -> None:
        from npucc.quantization import scheme_for
        from npucc.quantization.stats import CalibrationError

        if dtype in ("f32", "float32", "fp16", "float16"):
            return
        try:
            scheme_for(dtype)
        except CalibrationError as e:
            self.fail("calibration_parameters.quantized_dtype", str(e))

    def _check_target_runs(self, target: str, dtype: str) -> None:
        """A dtype the target does not store would put every layer on the CPU: say so now."""
        from npucc.errors import TargetError
        from npucc.quantization import scheme_for
        from npucc.quantization.schemes import ALIASES, SCHEME_NAMES
        from npucc.targets import get_target

        try:
            t = get_target(target)
        except TargetError as e:
            self.fail("compiler_parameters.target", str(e))
        if dtype in ("f32", "float32"):
            return
        storage = scheme_for(dtype).name.split("-")[0]
        if storage not in t.quant_dtypes:
            runs = [f"{name} ({', '.join(a for a, n in ALIASES.items() if n == name)})"
                    for name in SCHEME_NAMES if name in t.quant_dtypes]
            self.fail("calibration_parameters.quantized_dtype",
                      f"{t.name} does not store {storage} ({dtype}): every layer would fall "
                      f"back to the CPU; the quantized_dtype values it runs: {'; '.join(runs)}")

    def _preprocess(self) -> dict | None:
        """{input name (None: the model's first input): {"mean", "std", "reorder"}} for the
        inputs input_name lists (one name or a list), each value given once for all of them or
        per input; None without preprocessing."""
        s = "input_parameters"
        names = self._preprocess_inputs()
        values = {key: self.per_input_numbers(s, key, names)
                  for key in ("mean_value", "std_value", "scale_value", "reorder_channel")}
        out = {}
        for k, name in enumerate(names):
            mean, std, scale, reorder = (values[key][k] for key in values)
            where = f" ({name})" if len(names) > 1 else ""
            if std is not None and scale is not None:
                self.fail(f"{s}.scale_value", f"give std_value or scale_value, not both{where}")
            for key, given in (("std_value", std), ("scale_value", scale)):
                if given is not None and 0 in given:
                    self.fail(f"{s}.{key}", f"{list(given)} has a zero{where}")
            if scale is not None:
                std = tuple(1.0 / v for v in scale)
            if reorder is not None:
                reorder = [int(v) for v in reorder]
                if sorted(reorder) != list(range(len(reorder))):
                    self.fail(f"{s}.reorder_channel", f"{reorder} is not a permutation of the "
                              f"channels 0..n-1{where}")
            if mean is None and std is None and reorder is None:
                continue
            out[name] = {"mean": mean if mean is not None else 0.0,
                         "std": std if std is not None else 1.0, "reorder": reorder}
        return out or None

    def _preprocess_inputs(self) -> list:
        """The input names preprocessing applies to ([None]: the model's first input)."""
        key = "input_parameters.input_name"
        value = self.get("input_parameters", "input_name", kind=(str, list))
        if value in (None, "", []):
            return [None]
        names = [value] if isinstance(value, str) else value
        if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
            self.fail(key, f"expected an input name or a list of distinct names, got "
                           f"{brief(value)}")
        return names
