"""PyTorch frontend: nn.Module (with example inputs or input shapes), ExportedProgram or .pt2 file,
and TorchScript .pt/.pth files.

Everything goes through `torch.export`: a module is exported, a TorchScript file is converted to
an ExportedProgram by torch's TorchScript converter, then the program is decomposed to the core
ATen op set (keeping upsampling, hardswish/hardsigmoid and the like whole, since the core op set
has them) and each ATen call is lowered directly to npucc core ops. Errors name the torch op and
the fx node (and the module that called it). torch is imported only here: it is an optional
dependency.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..errors import FrontendError, NpuccError, UnsupportedError
from ..ir import Graph, Value
from ..ir.types import DType, TensorType
from ..registry import Registry
from . import pytorch_script
from .builder import ConstantTypeError, FoldError, GraphBuilder
from .guard import guarded
from .pytorch_files import load_pt2

# ATen ops kept whole by the decomposition (the core op set has a direct counterpart)
_KEEP = ("upsample_nearest2d.vec", "upsample_bilinear2d.vec", "hardswish.default",
         "hardsigmoid.default", "silu.default", "mish.default", "gelu.default",
         "_prelu_kernel.default", "pixel_shuffle.default")


class _Unsupported(Exception):
    """An ATen op or argument the direct lowering does not handle (reported with the torch op)."""


class _Invalid(Exception):
    """A torch graph the lowering cannot make sense of (reported with the torch op)."""


# ---- loading into an ExportedProgram ----
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
        return program, path, names
    raise FrontendError(f"the pytorch frontend reads an nn.Module, an ExportedProgram, a .pt2 or "
                        f"a TorchScript .pt file, not a {type(source).__name__}")


def _decompose(ep):
    table = torch.export.default_decompositions()
    for name in _KEEP:
        packet, overload = name.split(".")
        op = getattr(getattr(torch.ops.aten, packet, None), overload, None)
        if op is not None and op in table:
            del table[op]
    return ep.run_decompositions(table)


# ---- lowering ----
_NP_OF_TORCH = {torch.float32: np.float32, torch.float16: np.float16, torch.int64: np.int64,
                torch.int32: np.int32, torch.int16: np.int16, torch.int8: np.int8,
                torch.uint8: np.uint8, torch.bool: np.bool_}


def _np_dtype(dtype) -> np.dtype:
    try:
        return np.dtype(_NP_OF_TORCH[dtype])
    except KeyError:
        raise _Unsupported(f"dtype {dtype} is not supported") from None


def _array(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return np.ascontiguousarray(t.numpy()).astype(_np_dtype(t.dtype), copy=True)


class Ctx:
    """What an ATen converter sees."""

    def __init__(self, lowering: AtenLowering, node):
        self.lowering = lowering
        self.node = node
        self.created = []

    def emit(self, op: str, inputs: Sequence, **attrs):
        try:
            outs, node = self.lowering.builder.emit(op, inputs, attrs, [self.node.name])
        except FoldError as e:
            raise _Invalid(str(e)) from None
        except ConstantTypeError as e:
            raise _Unsupported(str(e)) from None
        if node is not None:
            self.created.append(node)
        return outs[0] if len(outs) == 1 else outs

    @staticmethod
    def shape(h) -> tuple[int, ...]:
        return tuple(h.shape)

    @staticmethod
    def np_dtype(h) -> np.dtype:
        return h.dtype.numpy if isinstance(h, Value) else h.dtype

    def like(self, value, ref) -> np.ndarray:
        """A python scalar as a 0-d array of ref's dtype (tensors pass through)."""
        if isinstance(value, (Value, np.ndarray)):
            return value
        return np.asarray(value, dtype=self.np_dtype(ref))


ATEN: Registry[Callable] = Registry("aten op", error=FrontendError)


def aten(*names: str):
    def register(fn):
        for n in names:
            ATEN[n] = fn
        return fn
    return register


def _unary(core_op, **attrs):
    return lambda cx, x, *rest, **kw: cx.emit(core_op, [x], **attrs)


for _aten, _core in [("relu", "Relu"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh"),
                     ("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"), ("neg", "Neg"),
                     ("abs", "Abs"), ("erf", "Erf"), ("reciprocal", "Reciprocal"),
                     ("floor", "Floor"), ("ceil", "Ceil"), ("sin", "Sin"), ("cos", "Cos"),
                     ("hardswish", "HardSwish"), ("mish", "Mish"), ("sign", "Sign"),
                     ("logical_not", "Not")]:
    ATEN[f"aten.{_aten}.default"] = _unary(_core)
ATEN["aten.hardsigmoid.default"] = _unary("HardSigmoid", alpha=1 / 6, beta=0.5)


@aten("aten.rsqrt.default")
def _rsqrt(cx, x):
    return cx.emit("Reciprocal", [cx.emit("Sqrt", [x])])


@aten("aten.silu.default")
def _silu(cx, x):
    return cx.emit("Mul", [x, cx.emit("Sigmoid", [x])])


@aten("aten.gelu.default")
def _gelu(cx, x, approximate="none"):
    return cx.emit("Gelu", [x], approximate=approximate)


@aten("aten.leaky_relu.default")
def _leaky_relu(cx, x, negative_slope=0.01):
    return cx.emit("LeakyRelu", [x], alpha=negative_slope)


@aten("aten.elu.default")
def _elu(cx, x, alpha=1.0, scale=1.0, input_scale=1.0):
    if scale != 1 or input_scale != 1:
        raise _Unsupported(f"elu with scale={scale}, input_scale={input_scale}")
    return cx.emit("Elu", [x], alpha=alpha)


@aten("aten.hardtanh.default", "aten.clamp.default")
def _clamp(cx, x, min=None, max=None):  # noqa: A002 - torch's argument names
    if isinstance(min, (Value, np.ndarray)) or isinstance(max, (Value, np.ndarray)):
        raise _Unsupported("clamp with tensor bounds")
    if cx.lowering.current_target.startswith("aten.hardtanh"):
        min = -1.0 if min is None else min
        max = 1.0 if max is None else max
    dtype = cx.np_dtype(x)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        min = info.min if min is None else min
        max = info.max if max is None else max
    return cx.emit("Clip", [x], min=float("-inf") if min is None else float(min),
                   max=float("inf") if max is None else float(max))


@aten("aten.clamp_min.default")
def _clamp_min(cx, x, min):  # noqa: A002
    return _clamp(cx, x, min=min)


@aten("aten.clamp_max.default")
def _clamp_max(cx, x, max):  # noqa: A002
    return _clamp(cx, x, max=max)


def _binary(core_op):
    def convert(cx, a, b, alpha=1, **kw):
        ref = a if isinstance(a, (Value, np.ndarray)) else b
        a, b = cx.like(a, ref), cx.like(b, ref)
        if alpha != 1:
            b = cx.emit("Mul", [b, cx.like(alpha, ref)])
        return cx.emit(core_op, [a, b])
    return convert


for _aten, _core in [("add", "Add"), ("sub", "Sub"), ("mul", "Mul"), ("div", "Div"),
                     ("maximum", "Max"), ("minimum", "Min"), ("eq", "Equal"), ("gt", "Greater"),
                     ("lt", "Less"), ("ge", "GreaterOrEqual"), ("le", "LessOrEqual"),
                     ("pow", "Pow"), ("logical_and", "And"), ("logical_or", "Or")]:
    for _overload in ("Tensor", "Scalar", "default", "Tensor_Scalar", "Tensor_Tensor"):
        ATEN[f"aten.{_aten}.{_overload}"] = _binary(_core)


@aten("aten.div.Tensor_mode")
def _div_mode(cx, a, b, rounding_mode=None):
    if rounding_mode is not None:
        raise _Unsupported(f"div with rounding_mode={rounding_mode!r}")
    return _binary("Div")(cx, a, b)


@aten("aten.rsub.Scalar", "aten.rsub.Tensor")
def _rsub(cx, a, b, alpha=1):
    return _binary("Sub")(cx, cx.like(b, a), cx.emit("Mul", [a, cx.like(alpha, a)])
                          if alpha != 1 else a)


@aten("aten.where.self")
def _where(cx, cond, a, b):
    ref = a if isinstance(a, (Value, np.ndarray)) else b
    return cx.emit("Where", [cond, cx.like(a, ref), cx.like(b, ref)])


@aten("aten._prelu_kernel.default")
def _prelu(cx, x, weight):
    rank, wshape = len(cx.shape(x)), cx.shape(weight)
    slope = weight if rank < 2 or len(wshape) != 1 else \
        cx.emit("Reshape", [weight], shape=[wshape[0]] + [1] * (rank - 2))
    return cx.emit("PRelu", [x, slope])


# ---- convolution, pooling, normalization, linear ----
def _pair(v, n):
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * n if len(v) == 1 else v


@aten("aten.convolution.default")
def _convolution(cx, x, w, b, stride, padding, dilation, transposed, output_padding, groups):
    sr = len(cx.shape(x)) - 2
    if sr not in (1, 2):
        raise _Unsupported(f"{sr}-D convolution")
    pads = _pair(padding, sr) * 2
    attrs = dict(strides=_pair(stride, sr), pads=pads, dilations=_pair(dilation, sr),
                 group=groups)
    if transposed:
        return cx.emit("ConvTranspose", [x, w, b], output_padding=_pair(output_padding, sr),
                       **attrs)
    return cx.emit("Conv", [x, w, b], **attrs)


@aten("aten._native_batch_norm_legit_no_training.default")
def _batch_norm(cx, x, weight, bias, mean, var, momentum, eps):
    c = cx.shape(x)[1]
    dtype = cx.np_dtype(x)
    weight = np.ones(c, dtype) if weight is None else weight
    bias = np.zeros(c, dtype) if bias is None else bias
    return cx.emit("BatchNorm", [x, weight, bias, mean, var], epsilon=eps), None, None


def _pool_pads(cx, x, kernel, stride, padding):
    sr = len(cx.shape(x)) - 2
    if sr not in (1, 2):
        raise _Unsupported(f"{sr}-D pooling")
    kernel = _pair(kernel, sr)
    stride = _pair(stride, sr) if stride else kernel
    return sr, kernel, stride, _pair(padding, sr) * 2


@aten("aten.max_pool2d_with_indices.default", "aten.max_pool2d.default")
def _max_pool(cx, x, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    sr, kernel, stride, pads = _pool_pads(cx, x, kernel_size, stride, padding)
    out = cx.emit("MaxPool", [x], kernel_shape=kernel, strides=stride, pads=pads,
                  dilations=_pair(dilation, sr), ceil_mode=ceil_mode)
    return (out, None) if cx.lowering.current_target.endswith("with_indices.default") else out


@aten("aten.avg_pool2d.default")
def _avg_pool(cx, x, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
              divisor_override=None):
    if divisor_override is not None:
        raise _Unsupported("avg_pool2d with divisor_override")
    _, kernel, stride, pads = _pool_pads(cx, x, kernel_size, stride, padding)
    return cx.emit("AveragePool", [x], kernel_shape=kernel, strides=stride, pads=pads,
                   ceil_mode=ceil_mode, count_include_pad=count_include_pad)


@aten("aten._adaptive_avg_pool2d.default", "aten.adaptive_avg_pool2d.default")
def _adaptive_avg_pool(cx, x, output_size):
    spatial = cx.shape(x)[2:]
    out = _pair(output_size, len(spatial))
    if all(o == 1 for o in out):
        return cx.emit("GlobalAveragePool", [x])
    if any(s % o for s, o in zip(spatial, out)):
        raise _Unsupported(f"adaptive average pooling of {list(spatial)} to {out} (sizes not "
                           "divisible)")
    k = [s // o for s, o in zip(spatial, out)]
    return cx.emit("AveragePool", [x], kernel_shape=k, strides=k, pads=[0] * 2 * len(k))


@aten("aten.addmm.default")
def _addmm(cx, bias, a, b, beta=1, alpha=1):
    return cx.emit("Gemm", [a, b, bias], alpha=alpha, beta=beta)


@aten("aten.mm.default", "aten.bmm.default", "aten.matmul.default")
def _mm(cx, a, b):
    return cx.emit("MatMul", [a, b])


@aten("aten._softmax.default", "aten._log_softmax.default")
def _softmax(cx, x, dim, half_to_float=False):
    op = "LogSoftmax" if "log" in cx.lowering.current_target else "Softmax"
    return cx.emit(op, [x], axis=dim)


# ---- resizing ----
def _resize_sizes(cx, x, output_size, scale_factors):
    shape = list(cx.shape(x))
    if output_size is not None:
        return shape[:2] + list(output_size)
    out = [int(math.floor(d * s)) for d, s in zip(shape[2:], scale_factors)]
    for d, s, o in zip(shape[2:], scale_factors, out):
        if d and not math.isclose(o / d, s, rel_tol=1e-6):
            raise _Unsupported(f"scale factor {s} does not give a whole output size from {d}")
    return shape[:2] + out


@aten("aten.upsample_nearest2d.vec")
def _upsample_nearest(cx, x, output_size, scale_factors):
    return cx.emit("Resize", [x], sizes=_resize_sizes(cx, x, output_size, scale_factors),
                   mode="nearest", coordinate_transformation_mode="asymmetric",
                   nearest_mode="floor")


@aten("aten.upsample_bilinear2d.vec")
def _upsample_bilinear(cx, x, output_size, align_corners, scale_factors):
    return cx.emit("Resize", [x], sizes=_resize_sizes(cx, x, output_size, scale_factors),
                   mode="linear", coordinate_transformation_mode="align_corners"
                   if align_corners else "pytorch_half_pixel")


@aten("aten.pixel_shuffle.default")
def _pixel_shuffle(cx, x, upscale_factor):
    return cx.emit("DepthToSpace", [x], blocksize=upscale_factor, mode="CRD")


# ---- shapes and data movement ----
def _norm_dim(d, rank):
    if not -rank <= d < max(rank, 1):
        raise _Invalid(f"dim {d} out of range for rank {rank}")
    return d % rank if rank else 0


@aten("aten.view.default", "aten._unsafe_view.default", "aten.reshape.default")
def _view(cx, x, size):
    size = list(size)
    if -1 in size:
        known = math.prod(d for d in size if d != -1)
        size[size.index(-1)] = math.prod(cx.shape(x)) // known if known else 0
    return cx.emit("Reshape", [x], shape=size)


@aten("aten.permute.default")
def _permute(cx, x, dims):
    rank = len(cx.shape(x))
    return cx.emit("Transpose", [x], perm=[_norm_dim(d, rank) for d in dims])


@aten("aten.cat.default")
def _cat(cx, tensors, dim=0):
    tensors = [t for t in tensors if math.prod(cx.shape(t)) or len(tensors) == 1]
    return cx.emit("Concat", tensors, axis=_norm_dim(dim, len(cx.shape(tensors[0]))))


@aten("aten.split_with_sizes.default", "aten.split.Tensor")
def _split(cx, x, sizes, dim=0):
    dim = _norm_dim(dim, len(cx.shape(x)))
    n = cx.shape(x)[dim]
    if isinstance(sizes, int):
        sizes = [sizes] * (n // sizes) + ([n % sizes] if n % sizes else [])
    out = cx.emit("Split", [x], axis=dim, split=list(sizes))
    return out if isinstance(out, tuple) else (out,)


@aten("aten.slice.Tensor")
def _slice(cx, x, dim=0, start=None, end=None, step=1):
    rank = len(cx.shape(x))
    return cx.emit("Slice", [x], starts=[0 if start is None else start],
                   ends=[2**63 - 1 if end is None else end], axes=[_norm_dim(dim, rank)],
                   steps=[step])


@aten("aten.select.int")
def _select(cx, x, dim, index):
    dim = _norm_dim(dim, len(cx.shape(x)))
    index = index % cx.shape(x)[dim]
    y = cx.emit("Slice", [x], starts=[index], ends=[index + 1], axes=[dim], steps=[1])
    return cx.emit("Squeeze", [y], axes=[dim])


@aten("aten.unsqueeze.default")
def _unsqueeze(cx, x, dim):
    return cx.emit("Unsqueeze", [x], axes=[_norm_dim(dim, len(cx.shape(x)) + 1)])


@aten("aten.squeeze.dims", "aten.squeeze.dim", "aten.squeeze.default")
def _squeeze(cx, x, dims=None):
    shape = cx.shape(x)
    dims = range(len(shape)) if dims is None else [dims] if isinstance(dims, int) else dims
    axes = sorted({_norm_dim(d, len(shape)) for d in dims if shape[_norm_dim(d, len(shape))] == 1})
    return cx.emit("Squeeze", [x], axes=axes) if axes else x


@aten("aten.expand.default")
def _expand(cx, x, size, implicit=False):
    shape = cx.shape(x)
    lead = len(size) - len(shape)
    out = [s if s != -1 else shape[i - lead] for i, s in enumerate(size)]
    return cx.emit("Expand", [x], shape=out)


@aten("aten.constant_pad_nd.default")
def _constant_pad(cx, x, pad, value=0):
    rank = len(cx.shape(x))
    begins, ends = [0] * rank, [0] * rank
    for i in range(len(pad) // 2):  # torch lists (begin, end) pairs from the last dim backwards
        begins[rank - 1 - i], ends[rank - 1 - i] = pad[2 * i], pad[2 * i + 1]
    if any(p < 0 for p in begins + ends):
        shape = cx.shape(x)
        x = cx.emit("Slice", [x], starts=[max(-b, 0) for b in begins],
                    ends=[shape[i] - max(-e, 0) for i, e in enumerate(ends)],
                    axes=list(range(rank)), steps=[1] * rank)
        begins, ends = [max(b, 0) for b in begins], [max(e, 0) for e in ends]
    return cx.emit("Pad", [x], pads=begins + ends, mode="constant", value=float(value))


def _reduce(core_op):
    def convert(cx, x, dim=None, keepdim=False, dtype=None):
        rank = len(cx.shape(x))
        dims = list(range(rank)) if not dim else [dim] if isinstance(dim, int) else dim
        return cx.emit(core_op, [x], axes=sorted({_norm_dim(d, rank) for d in dims}),
                       keepdims=keepdim)
    return convert


for _aten, _core in [("mean.dim", "ReduceMean"), ("sum.dim_IntList", "ReduceSum"),
                     ("amax.default", "ReduceMax"), ("amin.default", "ReduceMin")]:
    ATEN[f"aten.{_aten}"] = _reduce(_core)


@aten("aten.clone.default", "aten.alias.default", "aten.detach.default",
      "aten.lift_fresh_copy.default", "aten.contiguous.default")
def _identity(cx, x, *args, **kwargs):
    return x


@aten("aten.dropout.default")
def _dropout(cx, x, p, train):
    if train:
        raise _Unsupported("dropout in training mode")
    return x


@aten("aten._to_copy.default", "aten.to.dtype")
def _to_copy(cx, x, dtype=None, **kwargs):
    if dtype is None or _np_dtype(dtype) == cx.np_dtype(x):
        return x
    return cx.emit("Cast", [x], to=DType.from_numpy(_np_dtype(dtype)))


@aten("aten.full.default")
def _full(cx, size, fill_value, dtype=None, **kwargs):
    return np.full(list(size), fill_value, dtype=_np_dtype(dtype or torch.float32))


@aten("aten.scalar_tensor.default")
def _scalar_tensor(cx, value, dtype=None, **kwargs):
    return np.asarray(value, dtype=_np_dtype(dtype or torch.float32))


@aten("aten.arange.start_step", "aten.arange.default", "aten.arange.start")
def _arange(cx, *args, dtype=None, **kwargs):
    values = np.arange(*args)
    return values.astype(_np_dtype(dtype) if dtype is not None else values.dtype)


@aten("aten._local_scalar_dense.default", "aten.item.default")
def _item(cx, x):
    if not isinstance(x, np.ndarray):
        raise _Unsupported("reading a tensor computed at run time as a python number")
    return x.reshape(()).item()


@aten("aten.sym_size.int")
def _sym_size(cx, x, dim):
    return cx.shape(x)[dim]


# runtime assertions on sizes, all true for the static shapes npucc compiles
_IGNORED = {"aten._assert_scalar.default", "aten.sym_constrain_range_for_size.default",
            "aten._assert_tensor_metadata.default", "aten.sym_constrain_range.default"}


def supported_ops() -> list[str]:
    return sorted(ATEN)


class AtenLowering:
    """Lowers a decomposed ExportedProgram's graph to a npucc Graph."""

    def __init__(self, ep, label: str, fold: bool = True, name: str | None = None):
        self.ep = ep
        self.label = label
        self.graph = Graph(name or "main")
        self.builder = GraphBuilder(self.graph, fold)
        self.env: dict[str, object] = {}
        self.current_target = ""

    def _where(self, node) -> str:
        stack = node.meta.get("nn_module_stack") or {}
        module = list(stack.values())[-1][0] if stack else ""
        src = f", in module '{module}'" if module else ""
        return f"{self.label}: node '{node.name}' (torch op {node.target}{src})"

    def run(self) -> Graph:
        sig = self.ep.graph_signature
        params = {**sig.inputs_to_parameters, **sig.inputs_to_buffers,
                  **sig.inputs_to_lifted_tensor_constants}
        tensors = {**self.ep.state_dict, **self.ep.constants}
        user_inputs = set(sig.user_inputs)
        for node in self.ep.graph.nodes:
            if node.op == "placeholder":
                if node.name in params:
                    arr = _array(tensors[params[node.name]])
                    self.builder.names[id(arr)] = params[node.name]
                    self.env[node.name] = arr
                elif node.name in user_inputs:
                    self._add_input(node)
                else:
                    raise UnsupportedError(f"{self.label}: input '{node.name}' is not a tensor")
            elif node.op == "call_function":
                self._lower(node)
            elif node.op == "output":
                self._set_outputs(node)
        return self.graph

    def _add_input(self, node) -> None:
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            raise UnsupportedError(f"{self.label}: input '{node.name}' is not a tensor")
        if any(not isinstance(d, int) for d in val.shape):
            raise FrontendError(f"{self.label}: input '{node.name}' has dynamic dims "
                                f"{list(val.shape)}; export it with static shapes")
        try:
            dtype = DType.from_numpy(_np_dtype(val.dtype))
        except _Unsupported as e:
            raise UnsupportedError(f"{self.label}: input '{node.name}': {e}") from None
        self.env[node.name] = self.graph.add_input(node.name, TensorType(tuple(val.shape), dtype))

    def _arg(self, a):
        import torch.fx

        if isinstance(a, torch.fx.Node):
            return self.env[a.name]
        if isinstance(a, (list, tuple)):
            return type(a)(self._arg(x) for x in a)
        return a

    def _lower(self, node) -> None:
        target = node.target
        if target is operator.getitem:
            seq, i = self._arg(node.args[0]), node.args[1]
            if seq[i] is None:
                raise UnsupportedError(f"{self._where(node)}: output {i} is not supported")
            self.env[node.name] = seq[i]
            return
        if getattr(target, "__module__", None) in ("_operator", "math", "builtins") or \
                str(target).startswith("<built-in function"):
            args = self._arg(tuple(node.args))
            if any(isinstance(a, (Value, np.ndarray)) for a in args):
                raise UnsupportedError(f"{self._where(node)}: python {target} on tensors")
            self.env[node.name] = target(*args)  # arithmetic on sizes, known at import
            return
        key = str(target)
        if key in _IGNORED:
            self.env[node.name] = None
            return
        fn = ATEN.get(key)
        if fn is None:
            raise UnsupportedError(f"{self._where(node)}: not supported; supported torch ops: "
                                   f"{', '.join(supported_ops())}")
        self.current_target = key
        cx = Ctx(self, node)
        try:
            out = fn(cx, *self._arg(tuple(node.args)),
                     **{k: self._arg(v) for k, v in node.kwargs.items()
                        if k not in ("device", "layout", "pin_memory", "memory_format")})
        except _Unsupported as e:
            raise UnsupportedError(f"{self._where(node)}: {e}") from None
        except _Invalid as e:
            raise FrontendError(f"{self._where(node)}: {e}") from None
        except NpuccError as e:
            raise FrontendError(f"{self._where(node)}: {e}") from None
        if isinstance(out, Value) and any(out.producer is n for n in cx.created) \
                and not self.graph.has_value(node.name):
            self.graph.rename(out, node.name)
        self.env[node.name] = out

    def _set_outputs(self, node) -> None:
        results = self._arg(node.args[0])
        results = list(results) if isinstance(results, (list, tuple)) else [results]
        names = ["output"] if len(results) == 1 else [f"output_{i}" for i in range(len(results))]
        outs = []
        for name, h in zip(names, results):
            v = self.builder.value(h) if isinstance(h, np.ndarray) else h
            if self.graph.has_value(name) and self.graph.value(name) is not v:
                self.graph.rename(self.graph.value(name), self.graph.unique_name(name + "_"))
            if v.producer is not None and not any(v is o for o in outs) \
                    and v not in self.graph.inputs:
                self.graph.rename(v, name)
            else:
                v = self.graph.add_node("Identity", [v], provenance=["output"],
                                        output_names=[name]).output
            outs.append(v)
        self.graph.set_outputs(outs)


def _torchscript_via_onnx(path: str, args, name: str | None) -> Graph:
    """TorchScript models the TorchScript->ExportedProgram converter lowers to ops npucc lacks
    (it turns some upsampling into index arithmetic) go through torch.onnx's TorchScript
    exporter and the ONNX frontend instead."""
    import onnx

    from . import onnx as onnx_frontend

    return onnx_frontend.load(onnx.load_from_string(pytorch_script.onnx_bytes(path, args)),
                              name=name)


@guarded
def load(source, *, example_inputs=None, input_shapes=None, inputs=None, outputs=None,
         fold_constants: bool = True, name: str | None = None) -> Graph:
    """Import a PyTorch model into a Graph.

    source: an nn.Module (traced with `example_inputs`, or zeros of `input_shapes`), an
        ExportedProgram, a .pt2 file (torch.export.save) or a TorchScript .pt/.pth file (needs
        example_inputs or input_shapes).
    Graph inputs are named like the model's forward arguments; outputs are `output` (or
    `output_<i>`).
    """
    if inputs is not None or outputs is not None:
        raise FrontendError("the pytorch frontend does not cut models (inputs=/outputs=); "
                            "export the submodule you need instead")
    ep, label, ts_names = _program(source, example_inputs, input_shapes)
    torchscript = ts_names is not None
    try:
        ep = _decompose(ep)
    except Exception as e:  # noqa: BLE001
        raise FrontendError(f"{label}: decomposing to core ATen failed: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}") from e
    try:
        graph = AtenLowering(ep, label, fold_constants, name).run()
    except UnsupportedError as direct:
        if not torchscript:
            raise
        args = _example_inputs(example_inputs, input_shapes, label)
        try:
            return _torchscript_via_onnx(os.fspath(source), args, name)
        except Exception:  # noqa: BLE001 - report the torch op the direct route met
            raise direct from None
    if torchscript:  # the converter renames inputs (x -> x_1): restore the forward's names
        for v, n in zip(graph.inputs, ts_names):
            if not graph.has_value(n):
                graph.rename(v, n)
    return graph


__all__ = ["AtenLowering", "exported_program", "load", "supported_ops"]
