"""hb_mapper's `makertbin` YAML keys in an `npucc build` config: translated into npucc's keys,
or accepted with a warning when npucc has no counterpart, so a Horizon config builds as it is.

Translated (hb_mapper key -> what npucc does with it):
- model_parameters.output_nodes ("a;b" or a list) -> model_parameters.outputs
- input_parameters.input_shape ("1x3x224x224", ";" between inputs) -> model_parameters.input_shapes
  (by input_name when given)
- input_parameters.norm_type: no_preprocess / data_mean / data_scale / data_mean_and_scale keeps
  none, mean_value, scale_value (std_value) or both; per input ("a;b", with mean_value /
  scale_value per input too) -> per-input entries for the inputs input_name lists (None where
  the input's norm_type drops the value)
- input_parameters.input_type_train / input_type_rt: rgb with bgr (or back) -> reorder_channel
  [2, 1, 0] (the model takes input_type_rt); nv12 is not emulated (the model takes
  input_type_train pixels, with a warning); calibration images are reversed to the runtime order
- input_parameters.input_layout_train -> the layout of raw calibration files
- calibration_parameters.cal_data_dir "a;b" (one folder per input, in input_name's order) ->
  cal_data_dir [a, b] with cal_data_inputs from input_name
- calibration_parameters.cal_data_type (float32 / uint8) -> raw binary calibration files
  (numpy `tofile`, no header); without it, hb_mapper's rule: a cal_data_dir ending in _f32 holds
  float32, else uint8 (only for configs written for hb_mapper: with input_type_train)
- calibration_parameters.calibration_type: max -> normal (percentile when max_percentile < 1),
  kl -> kl_divergence, default / mix (hb_mapper's automatic search) -> mmse (best or tied best
  of npucc's selectors on EfficientNet-Lite0, benchmarks/README.md); skip and load are errors
- calibration_parameters.run_on_cpu ("a;b") and model_parameters.node_info ({node: {ON: CPU}},
  or InputType / OutputType int16) -> calibration_parameters.layer_dtypes: f32 (a float layer,
  which the partitioner puts on the CPU) or dfp16 (npucc's 16-bit integer)
- everything else hb_mapper defines (march, compile_mode, optimize_level, core_num, run_on_cpu,
  node_info, custom_op, ...): accepted, with a warning naming the key
"""

from __future__ import annotations

from collections.abc import Callable

from npucc.yaml_mapping import brief

# hb_mapper keys npucc reads (translated below), per section
TRANSLATED = {
    "model_parameters": {"output_nodes", "node_info"},
    "input_parameters": {"input_shape", "norm_type", "input_type_train", "input_type_rt",
                         "input_layout_train"},
    "calibration_parameters": {"cal_data_type", "preprocess_on", "max_percentile",
                               "run_on_cpu"},
}
# hb_mapper keys with no npucc counterpart: a warning each
IGNORED = {
    "model_parameters": {"march", "layer_out_dump", "log_level", "remove_node_type",
                         "remove_node_name", "set_node_data_type", "debug_mode"},
    "input_parameters": {"input_space_and_range", "input_batch", "separate_batch",
                         "separate_name"},
    "calibration_parameters": {"run_on_bpu", "optimization", "quant_config", "enable_int16"},
    "compiler_parameters": {"compile_mode", "debug", "core_num", "optimize_level",
                            "input_source", "max_time_per_fc", "jobs", "advice",
                            "balance_factor", "extra_params", "ability_entry"},
    "custom_op": {"custom_op_method", "op_register_files", "custom_op_dir"},
}
HINTS = {
    "march": "a Horizon BPU architecture; npucc builds for compiler_parameters.target",
    "set_node_data_type": "per-layer precision: node_info, or calibration_parameters."
                          "layer_dtypes",
    "run_on_bpu": "npucc places layers by the target's constraints",
    "custom_op_method": "npucc has no custom op registration; a model with a custom op fails "
                        "at load, naming it",
}
IMAGE_TYPES = ("rgb", "bgr", "yuv444", "gray", "featuremap")
NORM_TYPES = {"no_preprocess": (), "data_mean": ("mean_value",),
              "data_scale": ("scale_value", "std_value"),
              "data_mean_and_scale": ("mean_value", "scale_value", "std_value")}
CALIBRATION_TYPES = {"max": "normal", "kl": "kl_divergence", "default": "mmse", "mix": "mmse"}


def translate(data: dict, fail: Callable[[str, str], None]) -> tuple[dict, list[str], dict]:
    """(config with hb_mapper's keys turned into npucc's, warnings, raw-file settings:
    {"dtype", "layout", "reverse_channels"} or {} when calibration files are not raw).
    `fail(key, message)` raises the config error."""
    if not all(body is None or isinstance(body, dict) for body in data.values()):
        return data, [], {}  # the config reader says what is wrong
    out = {s: dict(body or {}) for s, body in data.items()}
    warnings: list[str] = []
    for section, keys in IGNORED.items():
        body = out.get(section)
        for key in sorted(keys & set(body or ())):
            hint = HINTS.get(key, "no effect in npucc")
            warnings.append(f"{section}.{key} ({brief(body[key])}): hb_mapper option ignored: "
                            f"{hint}")
            del body[key]
    if "custom_op" in out and not out["custom_op"]:
        del out["custom_op"]
    m, i, c = (out.setdefault(s, {}) for s in ("model_parameters", "input_parameters",
                                                "calibration_parameters"))
    _outputs(m, fail)
    _layer_dtypes(m, c, warnings, fail)
    _folders(i, c, fail)
    _input_shape(m, i, fail)
    _per_input(i, fail)
    _norm_type(i, fail)
    raw_reverse, image_reverse = _color_types(i, warnings, fail)
    if image_reverse:
        c["rgb2bgr"] = True
    raw = _raw_format(i, c, raw_reverse, fail)
    _calibration_type(c, warnings, fail)
    return out, warnings, raw


def _strings(value, key: str, fail) -> list[str]:
    """hb_mapper's multi-value form: "a;b" (or a list)."""
    items = value if isinstance(value, list) else str(value).split(";")
    items = [str(v).strip() for v in items]
    if not all(items):
        fail(key, f"an empty entry in {value!r}")
    return items


def _outputs(m: dict, fail) -> None:
    if m.get("output_nodes") in (None, ""):
        m.pop("output_nodes", None)
        return
    if m.get("outputs") is not None:
        fail("model_parameters.output_nodes", "give outputs or hb_mapper's output_nodes, not "
                                              "both")
    m["outputs"] = _strings(m.pop("output_nodes"), "model_parameters.output_nodes", fail)


def _layer_dtypes(m: dict, c: dict, warnings: list, fail) -> None:
    """run_on_cpu and node_info as npucc's per-layer dtypes (inline layer_dtypes)."""
    dtypes: dict[str, str] = {}
    cpu = c.pop("run_on_cpu", None)
    if cpu not in (None, ""):
        dtypes.update(dict.fromkeys(_strings(cpu, "calibration_parameters.run_on_cpu", fail),
                                    "f32"))
    info = m.pop("node_info", None)
    key = "model_parameters.node_info"
    if info not in (None, ""):
        if not isinstance(info, dict):
            fail(key, f"expected {{node name: {{ON: CPU|BPU, InputType: int16, OutputType: "
                      f"int16}}}}, got {brief(info)}")
        for name, spec in info.items():
            if not isinstance(name, str) or not isinstance(spec, dict):
                fail(key, f"{brief(name)}: expected a mapping of ON / InputType / OutputType")
            where = str(spec.get("ON", "")).upper()
            types = {str(v).lower() for k, v in spec.items() if str(k).startswith(("InputType",
                                                                                   "OutputType"))}
            if where not in ("", "CPU", "BPU") or not types <= {"int8", "int16"}:
                fail(key, f"{name!r}: {brief(spec)}: ON is CPU or BPU, the types int8 or int16")
            if where == "CPU":
                dtypes[name] = "f32"
            elif "int16" in types:
                dtypes[name] = "dfp16"
            elif where == "BPU":
                warnings.append(f"{key} {name!r}: ON BPU ignored: npucc places layers by the "
                                "target's constraints")
    if dtypes:
        if c.get("layer_dtypes") is not None:
            fail("calibration_parameters.layer_dtypes", "give layer_dtypes or hb_mapper's "
                 "run_on_cpu / node_info, not both")
        c["layer_dtypes"] = dtypes


def _folders(i: dict, c: dict, fail) -> None:
    """hb_mapper's one calibration folder per input, "a;b" in input_name's order."""
    folders = c.get("cal_data_dir")
    if not isinstance(folders, str) or ";" not in folders:
        return
    c["cal_data_dir"] = _strings(folders, "calibration_parameters.cal_data_dir", fail)
    if i.get("input_name"):
        c["cal_data_inputs"] = _strings(i["input_name"], "input_parameters.input_name", fail)


def _input_shape(m: dict, i: dict, fail) -> None:
    value = i.pop("input_shape", None)
    if value in (None, ""):
        return
    key = "input_parameters.input_shape"
    if m.get("input_shapes") is not None:
        fail(key, "give model_parameters.input_shapes or hb_mapper's input_shape, not both")
    shapes = []
    for text in _strings(value, key, fail):
        try:
            dims = [int(d) for d in text.lower().split("x")]
        except ValueError:
            fail(key, f"{text!r} is not dimensions joined by 'x' (1x3x224x224)")
        shapes.append(dims)
    name = i.get("input_name")
    names = _strings(name, "input_parameters.input_name", fail) if name else None
    if names is not None and len(names) != len(shapes):
        fail(key, f"{len(shapes)} shapes for {len(names)} input names")
    m["input_shapes"] = dict(zip(names, shapes)) if names else shapes


def _one(value, key: str, fail):
    """One setting from hb_mapper's per-input form ("a;a") that npucc's build takes once for
    all inputs (colour types, raw file layout and type), so the inputs' values must agree."""
    if not isinstance(value, str) or ";" not in value:
        return value
    values = set(_strings(value, key, fail))
    if len(values) > 1:
        fail(key, f"{value!r}: the inputs' values differ; npucc's build applies one value to "
                  "every input")
    return values.pop()


def _per_input(i: dict, fail) -> None:
    """hb_mapper's per-input strings "a;b" of input_name and of the preprocessing values as
    npucc's lists (one entry per input; an empty entry None)."""
    name = i.get("input_name")
    if isinstance(name, str) and ";" in name:
        i["input_name"] = _strings(name, "input_parameters.input_name", fail)
    for key in ("mean_value", "scale_value", "std_value", "reorder_channel"):
        value = i.get(key)
        if isinstance(value, str) and ";" in value:
            i[key] = [e.strip() or None for e in value.split(";")]


def _norm_type(i: dict, fail) -> None:
    """norm_type decides which of mean_value / scale_value / std_value apply, as in hb_mapper;
    per input with "a;b" (the values then go per input to npucc, None where they do not
    apply)."""
    value = i.pop("norm_type", None)
    if value in (None, ""):
        return
    key = "input_parameters.norm_type"
    norms = _strings(value, key, fail)
    for norm in norms:
        if norm not in NORM_TYPES:
            fail(key, f"{norm!r} is not one of {', '.join(NORM_TYPES)}")
    for name in ("mean_value", "scale_value", "std_value"):
        given = i.get(name)
        if given in (None, ""):
            continue
        if len(norms) == 1:
            if name not in NORM_TYPES[norms[0]]:
                del i[name]
            continue
        entries = given if isinstance(given, list) else [given] * len(norms)
        if len(entries) != len(norms):
            fail(f"input_parameters.{name}", f"{len(entries)} per-input values in "
                 f"{brief(given)} for {len(norms)} norm_type entries")
        kept = [e if name in NORM_TYPES[n] else None for e, n in zip(entries, norms)]
        if all(e is None for e in kept):
            del i[name]
        else:
            i[name] = kept


def _color_types(i: dict, warnings: list, fail) -> tuple[bool, bool]:
    """(reverse raw files' channels, reverse decoded images' channels): both orders go to the
    runtime type, which the built model takes."""
    inputs = max(len(str(i.get(k) or "").split(";")) for k in ("input_type_train",
                                                                "input_type_rt"))
    train, rt = (_one(i.pop(k, None), f"input_parameters.{k}", fail)
                 for k in ("input_type_train", "input_type_rt"))
    for key, value, allowed in (("input_type_train", train, IMAGE_TYPES),
                                ("input_type_rt", rt, (*IMAGE_TYPES, "nv12"))):
        if value is not None and value not in allowed:
            fail(f"input_parameters.{key}", f"{value!r} is not one of {', '.join(allowed)}")
    if rt == "nv12":
        warnings.append(f"input_parameters.input_type_rt 'nv12': not emulated; the built model "
                        f"takes {train or 'the training'} pixels (convert NV12 on the host)")
        rt = train
    rt = rt or train
    if {train, rt} == {"rgb", "bgr"}:
        if inputs > 1:
            fail("input_parameters.input_type_rt", f"input_type_train {train} with "
                 f"input_type_rt {rt} for {inputs} inputs: npucc reorders one input's channels")
        if i.get("reorder_channel") is not None:
            fail("input_parameters.reorder_channel", f"input_type_train {train} with "
                 f"input_type_rt {rt} already reorders the channels; give one of the two")
        i["reorder_channel"] = [2, 1, 0]
    return train != rt and {train, rt} == {"rgb", "bgr"}, rt == "bgr"


def _raw_format(i: dict, c: dict, reverse: bool, fail) -> dict:
    layout = _one(i.pop("input_layout_train", None), "input_parameters.input_layout_train", fail)
    if layout is not None and str(layout).upper() not in ("NCHW", "NHWC"):
        fail("input_parameters.input_layout_train", f"{layout!r} is not NCHW or NHWC")
    dtype = _one(c.pop("cal_data_type", None), "calibration_parameters.cal_data_type", fail)
    preprocess_on = c.pop("preprocess_on", None)
    if preprocess_on is not None and not isinstance(preprocess_on, bool):
        fail("calibration_parameters.preprocess_on", f"expected bool, got {preprocess_on!r}")
    if dtype is None and layout is None:
        return {}
    if dtype is None:  # hb_mapper's rule: the folder's _f32 suffix
        folders = c.get("cal_data_dir") or ""
        suffixes = {str(f).rstrip("/\\").endswith("_f32")
                    for f in (folders if isinstance(folders, list) else [folders])}
        if len(suffixes) > 1:
            fail("calibration_parameters.cal_data_type", "the calibration folders' names say "
                 "float32 (_f32) for some and uint8 for others: give cal_data_type")
        dtype = "float32" if suffixes.pop() else "uint8"
    if not isinstance(dtype, str) or dtype not in ("float32", "uint8"):
        fail("calibration_parameters.cal_data_type", f"{dtype!r} is not float32 or uint8")
    return {"dtype": dtype, "layout": str(layout).upper() if layout else None,
            "reverse_channels": reverse}


def _calibration_type(c: dict, warnings: list, fail) -> None:
    kind = c.get("calibration_type")
    percentile = c.pop("max_percentile", None)
    key = "calibration_parameters.calibration_type"
    if kind in ("skip", "load"):
        why = ("npucc calibrates on data: give cal_data_dir and calibration_type normal"
               if kind == "skip" else "a QAT model: give its QDQ ONNX export as onnx_model, "
               "whose own quantization parameters a build keeps")
        fail(key, f"hb_mapper's {kind!r} is not supported: {why}")
    if percentile is not None:
        p_key = "calibration_parameters.max_percentile"
        if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or \
                not 0 < percentile <= 1:
            fail(p_key, f"expected a number in (0, 1], got {percentile!r}")
        if kind != "max":
            warnings.append(f"{p_key} ({percentile}): used with calibration_type max only; "
                            "ignored")
        elif percentile < 1:
            c["calibration_type"] = "percentile"
            c["percentile"] = float(percentile) * 100
            return
    if isinstance(kind, str) and kind in CALIBRATION_TYPES:
        c["calibration_type"] = CALIBRATION_TYPES[kind]
        if kind in ("default", "mix"):
            warnings.append(f"{key} {kind!r}: hb_mapper's automatic search; npucc uses mmse")
