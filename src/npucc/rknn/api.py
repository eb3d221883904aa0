"""`RKNN`: RKNN-Toolkit's Python API (v1 and v2, the PC workflow) on npucc.

    from npucc.rknn import RKNN          # instead of: from rknn.api import RKNN
    rknn = RKNN(verbose=False)
    rknn.config(mean_values=[[123.675, 116.28, 103.53]], std_values=[[58.4, 57.1, 57.4]],
                target_platform="rk3588")
    rknn.load_onnx("resnet.onnx")
    rknn.build(do_quantization=True, dataset="dataset.txt")
    rknn.export_rknn("resnet.npub")      # an npucc .npub blob, not Rockchip's .rknn
    rknn.init_runtime()                  # None: npucc's simulator
    outputs = rknn.inference(inputs=[img])
    rknn.release()

Calls return 0 on success and -1 after logging an `E` line (see `log`); `raise_errors=True`
(or NPUCC_RKNN_RAISE=1) raises instead. Differences from RKNN: `export_rknn` writes npucc's
blob; a model from `load_rknn` runs in the simulator too; eval_perf/eval_memory come from the
cost model of the target (no board); a device target (`init_runtime(target='rk3588')`,
`accuracy_analysis(target=...)`) runs the simulator instead, said in a `W` line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import api as npucc_api
from ..errors import MissingShapeError
from ..ir.graph import Graph
from ..passes.input_layout import source_layout
from ..targets import get_target
from ..targets.nodeinfo import imported_precision
from . import runtime
from .config import Settings, settings
from .log import RknnError, RknnLog, api_call, raise_by_default

_UNSUPPORTED = {  # RKNN methods npucc does not provide: the reason logged
    "export_rknn_precompile_model": "pre-compiling needs a board",
    "export_rknn_sync_model": "model segmentation for a shared NPU needs RKNN's runtime",
    "export_encrypted_rknn_model": "npucc blobs are not encrypted",
    "register_op": "custom ops are not supported", "reg_custom_op": "custom ops are not "
    "supported", "load_keras": "there is no Keras loader (export to ONNX or TFLite)",
    "load_mxnet": "there is no MXNet loader (export to ONNX)", "codegen": "no C++ demo generator",
    "direct_build": "use build()", "load_firmware": "no device", "export_rknn_quant_params":
    "see the quantization config `npucc build` writes",
}


class RKNN:
    """RKNN-Toolkit's `RKNN` object on npucc: config -> load_* -> build -> export_rknn /
    init_runtime -> inference / eval_perf / eval_memory / accuracy_analysis -> release."""

    NPU_CORE_AUTO, NPU_CORE_0, NPU_CORE_1, NPU_CORE_2 = 0, 1, 2, 4
    NPU_CORE_0_1, NPU_CORE_0_1_2, NPU_CORE_ALL = 3, 7, 0xFFFF

    def __init__(self, verbose: bool = False, verbose_file=None, *, raise_errors=None):
        self.log = RknnLog(verbose, verbose_file)
        self.raise_errors = raise_by_default() if raise_errors is None else bool(raise_errors)
        self._options: dict = {}
        self._settings: Settings | None = None
        self._graph: Graph | None = None  # the loaded float model
        self._source = None  # the model path, for names
        self._framework: str | None = None
        self._built = None  # CompiledModel (float) after build
        self._quantized = None  # QuantizedModel after a quantized build
        self._batch = 1
        self._runtime = None  # what inference runs (a CompiledModel or a BlobModel)
        self._perf_debug = False
        self._analysis = None  # the last accuracy_analysis report
        self._variants = None  # config(dynamic_input=...): the model of every shape set
        self._reload = None  # loads the source model again at other input shapes

    # ---- config ----

    @api_call()
    def config(self, **options):
        """RKNN's config keywords (v1 and v2); unknown ones are named in a `W` line."""
        self._options.update(options)
        self._settings = settings(self._options, self.log.warn, self.log.info)
        return 0

    def _config(self) -> Settings:
        if self._settings is None:
            self._settings = settings(self._options, self.log.warn, self.log.info)
        return self._settings

    # ---- loaders ----

    def _load(self, framework: str, source, label, shapes=None, ranks=None, **options) -> int:
        """ranks: the source model's declared rank of each input `shapes` describes (None
        where unknown): a shape one shorter leaves out the batch (RKNN v1's input_size_list),
        one as long includes it (Toolkit2's), whatever the config's toolkit generation; unknown
        ranks follow the generation."""
        from ..frontends import load

        s = self._config()
        if shapes is None and s.dynamic_input:
            # RKNN builds (and calibrates) at the largest shape set; the others at build()
            shapes = max(s.dynamic_input, key=lambda g: sum(int(np.prod(x)) for x in g))
            ranks = [len(x) for x in shapes]
            self.log.info(f"dynamic_input: loading at the largest shape set {shapes}")
        if shapes is not None:
            shapes = [list(x) for x in shapes]
            ranks = list(ranks or []) + [None] * len(shapes)
            shapes = [[1, *x] if (len(x) == r - 1 if r is not None else
                                  s.generation == 1 and framework != "darknet") else x
                      for x, r in zip(shapes, ranks)]
        self.log.info(f"Loading {framework} model {label}")
        try:
            self._graph = load(source, framework=framework, input_shapes=shapes, **options)
        except MissingShapeError as e:  # the API's argument, not npucc.load's, in the hint
            problem = str(e).rsplit("; give ", 1)[0]
            names = f"inputs=['{e.input_name}'], " if e.input_name else ""
            raise MissingShapeError(f"{problem}; give its shape with load_{framework}(..., "
                                    f"{names}input_size_list=[[...]]) or config(dynamic_input="
                                    "[[[...]]])", e.input_name) from None
        self._reload = lambda shapes: load(source, framework=framework, input_shapes=shapes,
                                           **options)
        self._source, self._framework = label, framework
        self._built = self._quantized = self._runtime = None
        self.log.info(f"Loading : done ({len(self._graph)} nodes)")
        return 0

    @api_call()
    def load_onnx(self, model, inputs=None, input_size_list=None, input_initial_val=None,
                  outputs=None):
        options = {}
        if inputs is not None:
            options["inputs"] = list(inputs)
        if outputs is not None:
            options["outputs"] = list(outputs)
        if input_initial_val is not None:
            names = list(inputs or [])
            if len(names) != len(input_initial_val):
                raise RknnError("input_initial_val needs `inputs` naming one input per value")
            # RKNN's convention: None leaves that input an input; a value fixes it
            options["constant_inputs"] = {n: np.asarray(v) for n, v in
                                          zip(names, input_initial_val) if v is not None}
        from ..frontends.onnx import declared_ranks

        ranks = None if input_size_list is None else declared_ranks(model, inputs)
        return self._load("onnx", os.fspath(model), os.fspath(model), input_size_list, ranks,
                          **options)

    @api_call()
    def load_pytorch(self, model, input_size_list=None, convert_engine="torch", inputs=None,
                     outputs=None):
        if convert_engine not in ("torch", None):
            self.log.warn(f"load_pytorch: convert_engine={convert_engine!r} has no effect")
        if inputs is not None or outputs is not None:
            self.log.warn("load_pytorch: inputs/outputs are ignored (the pytorch frontend does "
                          "not cut models)")
        if input_size_list is None:
            raise RknnError("load_pytorch needs input_size_list, e.g. [[1, 3, 224, 224]]")
        label = os.fspath(model) if isinstance(model, (str, os.PathLike)) else type(model).__name__
        return self._load("pytorch", model, label, input_size_list)

    @api_call()
    def load_caffe(self, model, proto=None, blobs=None, input_name=None):
        """v1: load_caffe(model, proto='caffe', blobs=None); v2: load_caffe(model, blobs,
        input_name=None). blobs=None: random weights (RKNN v1's behaviour), said in a W line."""
        if proto not in (None, "caffe", "lstm_caffe") and blobs is None:
            proto, blobs = None, proto  # v2 positional order: (model, blobs)
        if proto == "lstm_caffe":
            raise RknnError("load_caffe: proto='lstm_caffe' is not supported")
        if input_name is not None:
            self.log.warn("load_caffe: input_name is ignored (inputs come from the prototxt)")
        if blobs is None:
            self.log.warn(f"load_caffe: blobs is None, {model} gets random weights")
        weights = "random" if blobs is None else os.fspath(blobs)
        return self._load("caffe", (os.fspath(model), weights), os.fspath(model))

    @api_call()
    def load_darknet(self, model, weight):
        return self._load("darknet", (os.fspath(model), os.fspath(weight)), os.fspath(model))

    @api_call()
    def load_tensorflow(self, tf_pb, inputs, input_size_list, outputs, predef_file=None,
                        mean_values=None, std_values=None, size_with_batch=None,
                        input_is_nchw=False):
        """v1 (<1.4) took mean_values / std_values here: they apply as config's do (unless
        config set its own); size_with_batch ([bool] per input) says which input_size_list
        shapes include the batch."""
        if predef_file is not None:
            self.log.warn("load_tensorflow: predef_file is not supported and is ignored (npucc "
                          "does not feed control-flow placeholders)")
        for key, val in (("mean_values", mean_values), ("std_values", std_values)):
            if val is None:
                continue
            if self._options.get(key) is not None:
                self.log.warn(f"load_tensorflow: {key}={val!r} is ignored: config() set "
                              f"{key}={self._options[key]!r}")
                continue
            self.log.info(f"load_tensorflow: {key}={val!r} applies as config's {key}")
            self._options[key] = val
            self._settings = None
        ranks = None
        if size_with_batch is not None:
            flags = list(size_with_batch)
            ranks = [len(x) + (0 if i < len(flags) and flags[i] else 1)
                     for i, x in enumerate(input_size_list)]
        if input_is_nchw:
            self.log.warn("load_tensorflow: input_is_nchw=True is not supported; the inputs "
                          "stay NHWC")
        names = [n[:-2] if str(n).endswith(":0") else n for n in inputs]
        outs = [n[:-2] if str(n).endswith(":0") else n for n in outputs]
        return self._load("tensorflow", os.fspath(tf_pb), os.fspath(tf_pb), input_size_list,
                          ranks, inputs=names, outputs=outs)

    @api_call()
    def load_tflite(self, model, input_is_nchw=False):
        if input_is_nchw:
            self.log.warn("load_tflite: input_is_nchw=True is not supported; the inputs stay "
                          "NHWC")
        return self._load("tflite", os.fspath(model), os.fspath(model))

    # ---- build and export ----

    @api_call()
    def build(self, do_quantization=True, dataset="dataset.txt", pre_compile=False,
              rknn_batch_size=None, auto_hybrid=False):
        from ..quantization import quantize_model

        if self._graph is None:
            raise RknnError("build needs a load_* call first (load_onnx, load_caffe, ...)")
        s = self._config()
        if pre_compile:
            self.log.warn("build: pre_compile=True has no effect (npucc blobs need no "
                          "pre-compilation)")
        batch = 1 if rknn_batch_size in (None, -1) else int(rknn_batch_size)
        if batch < 1:
            raise RknnError(f"rknn_batch_size {rknn_batch_size!r} must be >= 1")
        built = self._compile_float(do_quantization)
        quantized = None
        own = imported_precision(built.graph)
        if own == "fp16" and do_quantization:  # a half-precision export: quantized from float32
            own = None
        if own is not None:  # RKNN-Toolkit2 builds QAT / int8 TFLite models with their params
            kept = f"build: the model is already quantized ({own}): its own parameters are kept"
            if do_quantization:
                self.log.warn(kept + "; do_quantization and the dataset are not used")
            else:
                self.log.info(kept)
        elif do_quantization:
            if isinstance(dataset, (str, os.PathLike)) and not Path(dataset).is_file():
                raise RknnError(f"the dataset file {dataset} does not exist")
            granularity = "per-channel" if s.per_channel else "per-layer"
            if s.dtype.startswith("dfp"):  # quantize_graph gives dfp weights one fl per tensor
                granularity = "per-layer: dynamic fixed point has one fraction length per tensor"
            self.log.info(f"build: quantizing to {s.dtype} ({s.algorithm}, {granularity})")
            quantized = quantize_model(built.graph, dataset, dtype=s.dtype,
                                       algorithm=s.algorithm, per_channel=s.per_channel,
                                       rgb2bgr=s.rgb2bgr, progress=self.log.verbose)
            if auto_hybrid:
                from ..quantization.hybrid import propose_layer_dtypes
                from .analysis import first_samples

                samples = first_samples(dataset, built.graph, 4, s.rgb2bgr)
                layer_dtypes = propose_layer_dtypes(quantized, samples, high="fp16")
                self.log.info(f"build: auto_hybrid keeps {len(layer_dtypes)} layer(s) in fp16")
                quantized = quantize_model(built.graph, dtype=s.dtype, algorithm=s.algorithm,
                                           per_channel=s.per_channel, stats=quantized.stats,
                                           layer_dtypes=layer_dtypes, progress=False)
        elif s.float_dtype == "fp16":
            self.log.info("build: do_quantization=False: weights and activations in float16 "
                          "(RKNN's float build)")
            quantized = quantize_model(built.graph, dtype="fp16", progress=False)
        elif auto_hybrid:
            self.log.warn("build: auto_hybrid=True on a float build has no effect")
        self._install(built, quantized, batch)
        if s.dynamic_input:
            self._build_shape_sets(do_quantization)
        self.log.info("build: done")
        return 0

    def _build_shape_sets(self, do_quantization: bool) -> None:
        """config(dynamic_input=...): one model per shape set, quantized with the statistics
        calibrated at the largest set (RKNN's MaxShape); inference picks the one its inputs
        fit."""
        from ..quantization import quantize_model

        s, main, quantized = self._config(), self._built, self._quantized
        loaded = [list(v.shape) for v in self._graph.inputs]
        variants = [main]
        for group in s.dynamic_input:
            if group == loaded:
                continue
            graph = self._reload(group)
            built = self._compile_float(do_quantization, graph)
            q = None
            if quantized is not None and do_quantization:
                q = quantize_model(built.graph, dtype=s.dtype, stats=quantized.stats,
                                   algorithm=s.algorithm, per_channel=s.per_channel,
                                   progress=False)
            elif quantized is not None:
                q = quantize_model(built.graph, dtype="fp16", progress=False)
            variants.append(self._runtime_model(built, q))
            self.log.info(f"build: dynamic_input shape set {group} built")
        self._built, self._variants = main, variants

    def _compile_float(self, do_quantization: bool, graph: Graph | None = None):
        """The loaded model through the pipeline, with the configured preprocessing folded in
        and 4-D inputs taken NHWC (RKNN's runtime layout); the target's conv + max-pool fusion
        rules are read at the bits the build will compute in."""
        s = self._config()
        graph = self._graph if graph is None else graph
        names = [v.name for v in graph.inputs]
        channels = [(v.shape[3] if self._nhwc(v) else v.shape[1]) if v.type.rank == 4
                    else v.shape[-1] if v.type.rank else 1 for v in graph.inputs]
        reverse = s.generation == 1 and self._framework == "caffe" and s.reorder_channel is None
        if reverse:
            self.log.info("build: reorder_channel is None for a Caffe model: reversing the "
                          "channels of 3-channel inputs (RKNN-Toolkit v1)")
        pre = s.preprocess(names, channels, reverse_default=reverse)
        layout = "NHWC" if any(v.type.rank == 4 for v in graph.inputs) else "source"
        self.log.info(f"build: compiling for {s.platform} (npucc target {s.target})")
        target = get_target(s.target)
        bits = npucc_api.fusion_bits(s.dtype if do_quantization else s.float_dtype, target)
        built = npucc_api.compile(graph, input_layout=layout, preprocess=pre, target=target,
                                  bits=bits)
        if s.rgb2bgr:  # quant_img_RGB2BGR: the model takes BGR images (`npucc run` of the blob)
            built.pixel_order = {v.name: "bgr" for v in built.graph.inputs if v.type.rank == 4}
        return built

    def _nhwc(self, v) -> bool:
        """A 4-D input the source model takes NHWC: every TFLite / TensorFlow image input
        (their convention; the graph alone cannot tell when the first op is a Pad), else as
        the graph reads it."""
        return self._framework in ("tflite", "tensorflow") or source_layout(v) == "NHWC"

    def _install(self, built, quantized, batch: int) -> None:
        built = self._runtime_model(built, quantized)
        self._built, self._quantized, self._batch, self._runtime = built, quantized, batch, None
        self._variants = None

    @staticmethod
    def _runtime_model(built, quantized):
        """The CompiledModel that runs: the float build, or its quantized graph."""
        from ..backends.simulator import compile_plan

        if quantized is None:
            return built
        return npucc_api.CompiledModel(quantized.graph, compile_plan(quantized.graph),
                                       built.times, built.pass_report,
                                       input_layout=built.input_layout,
                                       preprocess=built.preprocess,
                                       pixel_order=built.pixel_order)

    @api_call()
    def export_rknn(self, export_path, **kwargs):
        if kwargs:
            self.log.warn(f"export_rknn: {sorted(kwargs)} ignored")
        if self._built is None:
            raise RknnError("export_rknn needs build() first")
        path = Path(export_path)
        if path.suffix == ".rknn":
            self.log.warn(f"export_rknn: {path} is written in npucc's .npub blob format, not "
                          "Rockchip's .rknn format (RKNN's runtime cannot load it)")
        if self._variants:
            self.log.warn("export_rknn: dynamic_input: the blob holds the largest shape set "
                          f"only ({[list(v.shape) for v in self._built.graph.inputs]}); npucc "
                          "blobs have one shape per input")
        npucc_api.write_blob(path, self._built, self._config().target)
        self.log.info(f"export_rknn: wrote an npucc blob (.npub format) to {path}")
        return 0

    @api_call()
    def load_rknn(self, path, load_model_in_npu=False):
        with open(path, "rb") as f:
            head = f.read(8)
        if head.startswith(b"RKNN"):
            raise RknnError(f"{path} is a Rockchip .rknn model; npucc cannot read that format "
                            "(it is undocumented). Build from the source model with npucc "
                            "instead, or load an .npub blob written by npucc's export_rknn")
        if load_model_in_npu:
            self.log.warn("load_rknn: load_model_in_npu=True has no effect (no device)")
        blob = npucc_api.load_blob(path)
        self._built, self._quantized, self._batch, self._runtime = blob, None, 1, None
        self._variants = None
        self._graph = None
        self.log.info(f"load_rknn: loaded npucc blob {path} (built for {blob.target})")
        return 0

    # ---- runtime ----

    @api_call()
    def init_runtime(self, target=None, target_sub_class=None, device_id=None,
                     perf_debug=False, eval_mem=False, async_mode=False, core_mask=0,
                     rknn2precompile=False, fallback_prior_device="cpu"):
        if self._built is None:
            raise RknnError("init_runtime needs build() or load_rknn() first")
        if target is not None:
            self._simulate_instead("init_runtime", target)
        for key, val, default in (("async_mode", async_mode, False), ("core_mask", core_mask, 0),
                                  ("rknn2precompile", rknn2precompile, False),
                                  ("device_id", device_id, None),
                                  ("target_sub_class", target_sub_class, None)):
            if val != default:
                self.log.warn(f"init_runtime: {key}={val!r} has no effect in the simulator")
        self._perf_debug = bool(perf_debug)
        self._runtime = self._built
        self.log.info("Target is None, use simulator!")
        return 0

    def _simulate_instead(self, method: str, target) -> None:
        """A board `target` (RKNN: run on the device): npucc has none, so the simulator runs
        instead, said in a W line; an unknown target name is an error."""
        from .config import V1_PLATFORMS, V2_PLATFORMS

        name = str(target).lower()
        platforms = V1_PLATFORMS | V2_PLATFORMS
        if name not in platforms:
            raise RknnError(f"{method}(target={target!r}): unknown target; RKNN's targets are "
                            f"{sorted(platforms)} (npucc runs its simulator for any of them)")
        self.log.warn(f"{method}: target={target!r}: npucc has no device runtime (no board, "
                      "adb or driver); npucc's simulator runs instead, and eval_perf / "
                      "eval_memory are cost-model estimates")
        built_for = getattr(self._built, "target", None) or self._config().target
        if platforms[name] != built_for:
            self.log.warn(f"{method}: the model was built for {built_for}, not {name}; the "
                          f"simulator runs the {built_for} build")

    @api_call(failure=None)
    def inference(self, inputs, data_type=None, data_format=None, inputs_pass_through=None,
                  get_frame_id=False):
        if self._runtime is None:
            raise RknnError("inference needs init_runtime() first")
        if inputs_pass_through is not None and any(inputs_pass_through):
            raise RknnError("inference: inputs_pass_through is not supported; give float "
                            "inputs")
        if get_frame_id:
            self.log.warn("inference: get_frame_id has no effect (no async mode)")
        model = self._runtime
        if self._variants:  # dynamic_input: the shape set the inputs fit
            for variant in self._variants:
                try:
                    runtime.prepare_inputs(variant, inputs, data_format, self._batch,
                                           lambda msg: None)
                except RknnError:
                    continue
                model = variant
                break
        arrays = runtime.prepare_inputs(model, inputs, data_format, self._batch, self.log.warn)
        outputs = runtime.run_batched(model, arrays, self._batch)
        if not all(np.isfinite(o).all() for o in outputs):
            first = [a[:a.shape[0] // self._batch] for a in arrays]  # the first sample
            note = model.nonfinite_note(first, model.run(first)) or "an output holds inf or NaN"
            hint = " (config(float_dtype='float32') keeps float32)" if "float16" in note else ""
            self.log.warn(f"inference: {note}{hint}")
        return outputs

    def _cost(self, method):
        from ..backends.npu.cost import estimate

        if self._built is None:
            raise RknnError(f"{method} needs build() or load_rknn() first")
        target = getattr(self._built, "target", None) or self._config().target
        return estimate(self._built.graph, target)

    @api_call(failure=None)
    def eval_perf(self, inputs=None, data_type=None, data_format=None, is_print=True,
                  loop_cnt=1, fix_freq=True, **kwargs):
        if kwargs:
            self.log.warn(f"eval_perf: {sorted(kwargs)} ignored")
        unused = [name for name, given in (
            ("inputs", inputs is not None), ("data_type", data_type is not None),
            ("data_format", data_format is not None), ("loop_cnt", loop_cnt != 1),
            ("fix_freq", fix_freq is not True)) if given]
        if unused:
            self.log.warn(f"eval_perf: {', '.join(unused)} change nothing here: the figures "
                          "come from npucc's cost model, not from timed runs")
        report = self._cost("eval_perf")
        if is_print:
            print(runtime.perf_text(report))
        generation = self._settings.generation if self._settings else 2
        return runtime.perf_result(report, generation, self._perf_debug)

    @api_call(failure=None)
    def eval_memory(self, is_print=True):
        report = self._cost("eval_memory")
        generation = self._settings.generation if self._settings else 2
        result = runtime.memory_result(report, self._built.graph, generation)
        if is_print:
            print(runtime.memory_text(result))
        return result

    # ---- quantization analysis (npucc.quantization.analysis / .hybrid) ----

    @api_call()
    def accuracy_analysis(self, inputs, output_dir="./snapshot", calc_qnt_error=True,
                          target=None, device_id=None, dump_file_type="tensor"):
        from .analysis import accuracy_analysis

        if self._quantized is None:
            raise RknnError("accuracy_analysis needs build() from a source model first (a "
                            "model from load_rknn has no float reference)")
        if target is not None:
            self._simulate_instead("accuracy_analysis", target)
        for key, val, default in (("calc_qnt_error", calc_qnt_error, True),
                                  ("device_id", device_id, None),
                                  ("dump_file_type", dump_file_type, "tensor")):
            if val != default:
                self.log.warn(f"accuracy_analysis: {key}={val!r} has no effect in npucc")
        accuracy_analysis(self, inputs, "./snapshot" if output_dir is None else output_dir)
        return 0

    @api_call()
    def hybrid_quantization_step1(self, dataset=None, rknn_batch_size=None, proposal=False,
                                  proposal_dataset_size=1, custom_hybrid=None):
        from .analysis import hybrid_step1

        if custom_hybrid is not None:
            self.log.warn("hybrid_quantization_step1: custom_hybrid is not supported; name "
                          "layers in custom_quantize_layers instead")
        hybrid_step1(self, dataset, proposal, proposal_dataset_size)
        return 0

    @api_call()
    def hybrid_quantization_step2(self, model_input, data_input, model_quantization_cfg,
                                  dataset=None, pre_compile=False):
        from .analysis import hybrid_step2

        if dataset is not None:
            self.log.warn(f"hybrid_quantization_step2: dataset={dataset!r} is not used: step 1's "
                          "calibration statistics (named in the .data file) are")
        if pre_compile:
            self.log.warn("hybrid_quantization_step2: pre_compile=True has no effect (npucc "
                          "blobs need no pre-compilation)")
        hybrid_step2(self, model_input, data_input, model_quantization_cfg)
        return 0

    # ---- the rest ----

    def get_sdk_version(self) -> str:
        from .. import __version__

        return f"npucc {__version__} (RKNN-Toolkit compatible API; simulator only, no driver)"

    @api_call(failure=None)
    def list_support_target_platform(self, rknn_model=None):
        """Without a model: the RKNN platform names npucc accepts, by the npucc target each
        maps to (logged), and None. With an npucc blob: RKNN's OrderedDict of
        filled_target_platform (the npucc target the blob was built for) and
        support_target_platform (the RKNN platforms that target stands for); None, with a W
        line, when the file does not exist."""
        from collections import OrderedDict

        from .config import V1_PLATFORMS, V2_PLATFORMS

        by_target: dict[str, list[str]] = {}
        for name, target in {**V1_PLATFORMS, **V2_PLATFORMS}.items():
            by_target.setdefault(target, []).append(name.upper())
        if rknn_model is None:
            self.log.info("target platforms npucc accepts (by the npucc target they build "
                          "for):")
            for target, names in by_target.items():
                self.log.info(f"  {target}: {','.join(names)}")
            return None
        if not os.path.isfile(rknn_model):
            self.log.warn(f"list_support_target_platform: no such file {rknn_model}")
            return None
        with open(rknn_model, "rb") as f:
            if f.read(4) == b"RKNN":
                raise RknnError(f"{rknn_model} is a Rockchip .rknn model; npucc cannot read "
                                "that format")
        target = npucc_api.load_blob(rknn_model).target
        names = [n.lower() for n in by_target.get(target, [target.upper()])]
        return OrderedDict([("filled_target_platform", [target]),
                            ("support_target_platform", names)])

    def list_devices(self):
        self.log.warn("list_devices: npucc has no device runtime")
        return [], []

    def release(self) -> None:
        self._graph = self._built = self._quantized = self._runtime = None

    def __getattr__(self, name):
        if name in _UNSUPPORTED:
            def unsupported(*args, **kwargs):
                msg = f"{name} is not supported by npucc: {_UNSUPPORTED[name]}"
                self.log.error(msg)
                if self.raise_errors:
                    raise RknnError(msg)
                return -1
            return unsupported
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")


class RKNNLite(RKNN):
    """RKNN-Toolkit-Lite's on-board object (`from rknnlite.api import RKNNLite`): load_rknn ->
    init_runtime(core_mask=...) -> inference -> release, on npucc's simulator, so a board-side
    script runs on a PC after changing only its import line (the .rknn it loads must be an
    npucc blob, written by export_rknn). It is RKNN itself: the PC-side methods that
    RKNN-Toolkit-Lite lacks (config, load_*, build) are there too."""
