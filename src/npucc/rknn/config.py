"""RKNN-Toolkit `config(...)` options: v1 and v2 keyword names, their defaults, and what npucc
makes of them (a `Settings`).

Every option either changes the build (USED), is accepted and has no effect in npucc (NO_EFFECT:
a `W` line names it when its value differs from RKNN's default), or is unknown (a `W` line names
it, always). The toolkit generation (v1: RK1808/RV1126 family, v2: RK3566/RK3588 family) picks the
defaults that differ between the two: quantized_dtype (asymmetric_quantized-u8 vs w8a8),
quantized_method (layer vs channel), and whether `input_size_list` shapes include the batch.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from ..errors import NpuccError
from ..passes import Preprocess

# options that change what npucc builds: name -> RKNN default
USED = {
    "mean_values": None, "std_values": None, "channel_mean_value": None, "reorder_channel": None,
    "quant_img_RGB2BGR": False, "quantized_dtype": None, "quantized_algorithm": "normal",
    "quantized_method": None, "target_platform": None,
    "float_dtype": "float16", "mmse_epoch": 3, "quantized_divergence_nbins": 1024,
    "dynamic_input": None,
}
# options RKNN documents that do not change an npucc build: name -> RKNN default
NO_EFFECT = {
    # v1
    "batch_size": 100, "optimization_level": 3, "caffe_mean_file": None, "dtype": "float32",
    "epochs": -1,
    "force_gray": None, "input_fitting": "scale", "input_normalization": None, "mean_file": None,
    "model_data_format": "zone", "model_quantize": None, "optimize": "Default",
    "quantized_moving_alpha": 0.01, "random_brightness": None, "random_contrast": None,
    "random_crop": None, "random_flip": None, "random_mirror": None, "restart": False,
    "samples": -1, "need_horizontal_merge": False, "deconv_merge": True, "conv_mul_merge": True,
    "quantized_hybrid": False, "output_optimize": 0, "remove_tensorflow_output_permute": False,
    "force_builtin_perm": False, "do_sparse_network": True,
    "merge_dequant_layer_and_output_node": False, "quantize_input_node": False,
    "inputs_scale_range": None, "model_pruning": False,
    # v2
    "custom_string": None, "remove_weight": None, "compress_weight": False,
    "single_core_mode": False, "quantize_weight": False, "remove_reshape": False,
    "sparse_infer": False, "enable_flash_attention": False, "op_target": None,
    "auto_hybrid_cos_thresh": 0.98, "auto_hybrid_euc_thresh": None,
    "inputs_yuv_fmt": None, "quant_img_RGB2BGR_list": None,
}
V1_ONLY = {"channel_mean_value", "reorder_channel", "epochs", "quantized_hybrid", "batch_size"}

V1_PLATFORMS = {"rk1806": "rk1808", "rk1808": "rk1808", "rk3399pro": "rk1808",
                "rv1109": "rv1126", "rv1126": "rv1126"}
V2_PLATFORMS = {"rk3566": "rk3566", "rk3568": "rk3566", "rk3588": "rk3588", "rk3576": "rk3588",
                "rk3562": "rk3566", "rv1103": "generic", "rv1103b": "generic",
                "rv1106": "generic", "rv1106b": "generic", "rv1126b": "generic",
                "rk2118": "generic"}
QUANTIZED_DTYPES = {  # RKNN spelling -> npucc dtype (None: not supported by npucc)
    "asymmetric_quantized-u8": "u8", "asymmetric_affine-u8": "u8",
    "dynamic_fixed_point-i8": "dfp8", "dynamic_fixed_point-8": "dfp8",
    "dynamic_fixed_point-i16": "dfp16", "dynamic_fixed_point-16": "dfp16",
    "asymmetric_quantized-8": "i8", "w8a8": "i8", "w16a16i_dfp": "dfp16",
    "w8a16": None, "w4a16": None, "w4a8": None, "w16a16i": None,
}
ALGORITHMS = ("normal", "mmse", "kl_divergence", "moving_average", "gdq")


def _target_quant_dtypes(target: str) -> tuple[str, ...]:
    from npucc.targets import get_target

    return get_target(target).quant_dtypes


class RknnConfigError(NpuccError):
    """A config value RKNN would reject, or npucc cannot honour."""


@attrs.frozen
class Settings:
    """What `config(...)` asked for, in npucc's terms."""

    generation: int  # 1 or 2: which toolkit's defaults apply
    platform: str  # the RKNN platform name as given (or the generation's default)
    target: str  # the npucc target that models it
    dtype: str  # npucc quantized dtype
    per_channel: bool
    algorithm: str
    float_dtype: str  # "fp16" (RKNN) or "f32" (npucc extension: float_dtype='float32')
    rgb2bgr: bool
    mean_values: object
    std_values: object
    channel_mean_value: object
    reorder_channel: object
    dynamic_input: list | None = None  # Toolkit2's shape sets: [[shape per input], ...]

    def preprocess(self, input_names, channels, reverse_default=False) -> dict:
        """{input name: Preprocess} for the graph inputs (channels: their channel counts).
        reverse_default: RKNN v1 reverses 3-channel Caffe inputs when reorder_channel is None."""
        means = _per_input(self.mean_values, "mean_values", len(input_names))
        stds = _per_input(self.std_values, "std_values", len(input_names))
        cmv = _split_inputs(self.channel_mean_value, "channel_mean_value", len(input_names))
        reorders = _split_inputs(self.reorder_channel, "reorder_channel", len(input_names))
        out = {}
        for i, (name, c) in enumerate(zip(input_names, channels)):
            reorder = reorders[i]
            if reorder is None and reverse_default and c == 3:
                reorder = "2 1 0"
            for key, vals in (("mean_values", means[i]), ("std_values", stds[i])):
                if vals is not None and len(vals) not in (1, c):
                    raise RknnConfigError(f"The len of {key} ({list(vals)}) for input {i} is "
                                          f"wrong, expect {c}!")
            p = Preprocess.from_rknn(mean_values=means[i], std_values=stds[i],
                                     channel_mean_value=cmv[i], reorder_channel=reorder)
            if p != Preprocess():
                out[name] = p
        return out


def _per_input(values, key, n):
    if values is None:
        return [None] * n
    values = list(values)
    if values and not isinstance(values[0], (list, tuple, str)):
        values = [values]  # one input given as a flat list
    if len(values) != n:
        raise RknnConfigError(f"{key} has {len(values)} entries but the model has {n} input(s); "
                              "give one list per input, e.g. [[128, 128, 128]]")
    return [[float(x) for x in (v.split() if isinstance(v, str) else v)] for v in values]


def _split_inputs(text, key, n):
    if text is None or text is False:  # reorder_channel=False (Toolkit2 1.x examples): keep
        return [None] * n
    parts = [p.strip() for p in str(text).split("#")]
    if len(parts) != n:
        raise RknnConfigError(f"{key} {text!r} has {len(parts)} part(s) separated by '#' but the "
                              f"model has {n} input(s)")
    return parts


def settings(options: dict, warn: Callable[[str], None], info: Callable[[str], None]) -> Settings:
    """Check `options` (config's keywords) and turn them into Settings; `warn`/`info` log."""
    known = USED | NO_EFFECT
    for key, value in options.items():
        if key not in known:
            warn(f"config: unknown option {key}={value!r} is ignored (not an RKNN-Toolkit "
                 "v1/v2 config option npucc knows)")
        elif key in NO_EFFECT and value != NO_EFFECT[key]:
            warn(f"config: {key}={value!r} has no effect in npucc (it is accepted for "
                 "compatibility with RKNN-Toolkit)")
    opt = {k: options.get(k, v) for k, v in USED.items()}
    platform = opt["target_platform"]
    if isinstance(platform, (list, tuple)):
        if len(platform) != 1:
            raise RknnConfigError(f"target_platform {platform!r}: give one platform")
        platform = platform[0]
    if options.get("reorder_channel") is False:
        info("config: reorder_channel=False: the input channels keep their order")
    v1_hint = any(k in options and options[k] is not False for k in V1_ONLY) or \
        isinstance(opt["target_platform"], list)
    if platform is None:
        platform = "rk1808" if v1_hint else "rk3566"
        info(f"config: target_platform is None, using {platform!r} "
             f"(RKNN-Toolkit{'' if v1_hint else '2'}'s default)")
    platform = str(platform).lower()
    if platform in V1_PLATFORMS:
        generation, target = 1, V1_PLATFORMS[platform]
    elif platform in V2_PLATFORMS:
        generation, target = 2, V2_PLATFORMS[platform]
    else:
        raise RknnConfigError(f"Invalid target_platform {platform!r}! Valid: "
                              f"{sorted(V1_PLATFORMS | V2_PLATFORMS)}")
    if target == "generic":
        warn(f"config: npucc has no cost model for {platform}; eval_perf/eval_memory use the "
             "generic target")
    qdtype = opt["quantized_dtype"] or ("asymmetric_quantized-u8" if generation == 1 else "w8a8")
    if qdtype not in QUANTIZED_DTYPES:
        raise RknnConfigError(f"quantized_dtype {qdtype!r} is not one of "
                              f"{[k for k, v in QUANTIZED_DTYPES.items() if v]}")
    if QUANTIZED_DTYPES[qdtype] is None:
        raise RknnConfigError(f"quantized_dtype {qdtype!r} is not supported by npucc; supported: "
                              f"{[k for k, v in QUANTIZED_DTYPES.items() if v]}")
    stores = _target_quant_dtypes(target)
    if QUANTIZED_DTYPES[qdtype] not in stores:
        warn(f"config: quantized_dtype={qdtype!r} on {platform}: npucc's {target} target stores "
             f"only {', '.join(stores)}, so quantized layers will run on the CPU")
    method = opt["quantized_method"] or ("layer" if generation == 1 else "channel")
    if method not in ("layer", "channel"):
        raise RknnConfigError(f"quantized_method {method!r} is not supported by npucc; "
                              "use 'layer' or 'channel'")
    algorithm = opt["quantized_algorithm"]
    if algorithm not in ALGORITHMS:
        raise RknnConfigError(f"quantized_algorithm {algorithm!r} is not one of {list(ALGORITHMS)}")
    if algorithm in ("moving_average", "gdq"):
        warn(f"config: quantized_algorithm={algorithm!r} is not implemented in npucc; "
             "using 'normal'")
        algorithm = "normal"
    if opt["mmse_epoch"] != 3 or opt["quantized_divergence_nbins"] != 1024:
        warn("config: mmse_epoch / quantized_divergence_nbins have no effect in npucc (its mmse "
             "and kl_divergence selectors have their own fixed search)")
    float_dtype = {"float16": "fp16", "float32": "f32"}.get(opt["float_dtype"])
    if float_dtype is None:
        raise RknnConfigError(f"float_dtype {opt['float_dtype']!r}: use 'float16' (RKNN) or "
                              "'float32' (npucc: keep float32 for unquantized builds)")
    if opt["mean_values"] is not None and opt["channel_mean_value"] is not None:
        raise RknnConfigError("mean_values/std_values cannot be combined with channel_mean_value")
    return Settings(generation, platform, target, QUANTIZED_DTYPES[qdtype], method == "channel",
                    algorithm, float_dtype, bool(opt["quant_img_RGB2BGR"]),
                    opt["mean_values"], opt["std_values"],
                    opt["channel_mean_value"], opt["reorder_channel"],
                    _shape_sets(opt["dynamic_input"]))


def _shape_sets(value) -> list | None:
    """config(dynamic_input=[[[1,3,224,224]], [[1,3,160,160]]]): one list of input shapes per
    set (batch included, Toolkit2's convention)."""
    if value is None:
        return None
    try:
        sets = [[[int(d) for d in shape] for shape in group] for group in value]
    except (TypeError, ValueError) as e:
        raise RknnConfigError(f"dynamic_input {value!r}: give a list of shape sets, e.g. "
                              "[[[1,3,224,224]], [[1,3,192,192]]]") from e
    if not sets or len({len(g) for g in sets}) != 1:
        raise RknnConfigError(f"dynamic_input {value!r}: every set needs one shape per input")
    return sets
