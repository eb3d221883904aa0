"""The op registry: one declaration per op.

An `OpDef` holds everything every stage needs to know about an op: its input slots, its attribute
schema (kinds, defaults, validators), type/shape inference, and a numpy reference kernel that is the
ground truth for the simulator and the tests. Ops are declared with `define_op` on their kernel:

    @define_op("LeakyRelu", inputs=("X",), attrs={"alpha": Attr("float", 0.01)},
               infer=same_as_input)
    def leaky_relu(x, *, alpha):
        '''x if x >= 0 else alpha * x'''
        return np.where(x >= 0, x, x * np.asarray(alpha, x.dtype))

The kernel is called with one numpy array per input slot (None for an absent optional input) and
the attributes as keywords; it returns an array, or a tuple of arrays for multi-output ops.
The infer function gets the input TensorTypes (None for absent inputs) and the normalized attribute
dict, and returns a TensorType or a sequence of them; it raises IRError for invalid combinations.
"""

from __future__ import annotations

import types as _pytypes
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from ..errors import IRError
from ..registry import Registry
from .quant_rule import QuantRule
from .types import DType, TensorType

REQUIRED = object()  # marker default: the attribute must be given


def _to_int(v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError
    return int(v)


def _to_float(v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError
    return float(v)


def _to_bool(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)) and v in (0, 1):
        return bool(v)
    raise TypeError


def _to_str(v):
    if not isinstance(v, str):
        raise TypeError
    return v


def _seq(conv):
    def convert(v):
        if isinstance(v, (str, bytes)) or not isinstance(v, (Sequence, np.ndarray)):
            raise TypeError
        return tuple(conv(x) for x in v)
    return convert


def _to_graph(v):
    from .graph import Graph  # the graph module imports this one

    if not isinstance(v, Graph):
        raise TypeError
    return v


def _to_dtype(v):
    if isinstance(v, DType):
        return v
    if isinstance(v, str):
        return DType(v)
    raise TypeError


ATTR_KINDS: dict[str, Callable[[Any], Any]] = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "str": _to_str,
    "ints": _seq(_to_int),
    "floats": _seq(_to_float),
    "strs": _seq(_to_str),
    "dtype": _to_dtype,
    "graph": _to_graph,  # a nested Graph (a partition's body); see ops/partition.py
}


@attrs.frozen
class Attr:
    """One attribute in an op's schema.

    kind: one of ATTR_KINDS. default: REQUIRED, None (optional, absent) or a value of that kind.
    check: optional `value -> problem message or None` for rules beyond the kind.
    choices: optional tuple of allowed values (for str/int enumerations).
    """

    kind: str = attrs.field(validator=attrs.validators.in_(ATTR_KINDS))
    default: Any = REQUIRED
    check: Callable[[Any], str | None] | None = None
    choices: tuple | None = None
    doc: str = ""

    def normalize(self, op: str, key: str, value):
        if value is None:
            if self.default is None:
                return None
            raise IRError(f"{op}: attribute '{key}' may not be None")
        try:
            value = ATTR_KINDS[self.kind](value)
        except (TypeError, ValueError):
            raise IRError(f"{op}: attribute '{key}' must be {self.kind}, "
                          f"got {value!r}") from None
        if self.choices is not None and value not in self.choices:
            raise IRError(f"{op}: attribute '{key}'={value!r} is not one of {self.choices}")
        if self.check is not None:
            problem = self.check(value)
            if problem:
                raise IRError(f"{op}: attribute '{key}'={value!r}: {problem}")
        return value


def _parse_slot(slot: str) -> tuple[str, str]:
    if slot.endswith("?"):
        return slot[:-1], "optional"
    if slot.endswith("*"):
        return slot[:-1], "variadic"
    return slot, "required"


@attrs.frozen
class OpDef:
    """The declaration of one op. See the module docstring."""

    name: str
    inputs: tuple[str, ...]
    attrs: Mapping[str, Attr]
    infer: Callable[[Sequence[TensorType | None], Mapping[str, Any]], Any]
    kernel: Callable[..., Any]
    doc: str = ""
    shape_only_inputs: tuple[int, ...] = ()  # inputs whose values the op ignores (only shapes)
    commutative: bool = False  # swapping its two inputs gives bit-identical results
    quant: QuantRule | None = None  # how it computes on quantized tensors (None: float only)
    min_variadic: int = 1  # fewest values a variadic slot takes

    def normalize_attrs(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Validate attributes and fill defaults; raise IRError naming the op and attribute."""
        unknown = set(given) - set(self.attrs)
        if unknown:
            known = ", ".join(sorted(self.attrs)) or "none"
            raise IRError(f"{self.name}: unknown attribute(s) {', '.join(sorted(unknown))} "
                          f"(known: {known})")
        out = {}
        for key, spec in self.attrs.items():
            if key in given:
                out[key] = spec.normalize(self.name, key, given[key])
            elif spec.default is REQUIRED:
                raise IRError(f"{self.name}: missing required attribute '{key}'")
            else:
                out[key] = spec.default
        return out

    def check_arity(self, n: int) -> None:
        """Raise IRError unless n inputs fit the op's input slots."""
        kinds = [_parse_slot(s)[1] for s in self.inputs]
        required = kinds.count("required")
        if "variadic" in kinds:
            ok = n >= required + self.min_variadic
            want = f"at least {required + self.min_variadic}"
        else:
            ok = required <= n <= len(kinds)
            want = f"{required}" if required == len(kinds) else f"{required} to {len(kinds)}"
        if not ok:
            raise IRError(f"{self.name} takes {want} inputs ({', '.join(self.inputs)}), got {n}")

    def _pad_optional(self, items) -> list:
        """Absent trailing optional inputs as None, so infer and kernels see every slot."""
        items = list(items)
        if len(items) < len(self.inputs) and not self.inputs[-1].endswith("*"):
            items += [None] * (len(self.inputs) - len(items))
        return items

    def infer_types(self, input_types: Sequence[TensorType | None],
                    attrs_: Mapping[str, Any]) -> list[TensorType]:
        self.check_arity(len(input_types))
        input_types = self._pad_optional(input_types)
        if self.quant is not None and self.quant.infers_real_values and \
                any(t is not None and t.quant is not None for t in input_types):
            out = _infer_on_real_values(self, input_types, attrs_)
        else:
            out = self.infer(input_types, attrs_)
        if isinstance(out, TensorType):
            return [out]
        return list(out)

    def evaluate(self, arrays: Sequence[np.ndarray | None], attrs_: Mapping[str, Any]
                 ) -> list[np.ndarray]:
        out = self.kernel(*self._pad_optional(arrays), **attrs_)
        if isinstance(out, (np.ndarray, np.generic)):  # numpy ufuncs give scalars for 0-d inputs
            return [np.asarray(out)]
        return [np.asarray(o) for o in out]


def _infer_on_real_values(opdef: OpDef, input_types, attrs_):
    """Inference for quantized operands of an op whose rule says it computes on them (see
    QuantRule.infers_real_values): the op's own inference on the real-valued view (f32 in place
    of each quantized type); float outputs are stored in the integer type of the first quantized
    input, and their params come from the producer (`Graph.add_node(output_types=...)`)."""
    quantized = [t for t in input_types if t is not None and t.quant is not None]
    real = [None if t is None else TensorType(t.shape, DType.f32) if t.quant is not None else t
            for t in input_types]
    out = opdef.infer(real, attrs_)
    outs = [out] if isinstance(out, TensorType) else list(out)
    storage = quantized[0].dtype
    return [TensorType(t.shape, storage) if t.dtype.is_float else t for t in outs]


_OPS: Registry[OpDef] = Registry("op", error=IRError)
OPS: Registry[OpDef] = _OPS  # a read-only Mapping; ops are declared with define_op


def define_op(name: str, *, inputs: Sequence[str], infer, attrs: Mapping[str, Attr] | None = None,
              shape_only_inputs: Sequence[int] = (), commutative: bool = False,
              quant: QuantRule | None = None, min_variadic: int = 1):
    """Decorator: declare op `name` with the decorated function as its reference kernel.

    shape_only_inputs: indices of inputs the op reads only for their shape (e.g. PriorBox reads
    the feature map's size, not its values); constant folding may evaluate such a node when its
    other inputs are constants.
    commutative: a two-input op whose result is identical with its inputs swapped (IEEE addition
    and multiplication are, up to which NaN payload propagates; max/min are not: signed zeros);
    cse merges a*b and b*a.
    quant: the op's quantization rule (`npucc.ir.quant_rule`); None keeps the op float-only.
    min_variadic: how many values a variadic input slot takes at least (default 1).
    """

    def register(kernel):
        _OPS[name] = OpDef(name, tuple(inputs), _pytypes.MappingProxyType(dict(attrs or {})),
                           infer, kernel, (kernel.__doc__ or "").strip(),
                           tuple(shape_only_inputs), commutative, quant, min_variadic)
        return kernel

    return register


def get_op(name: str) -> OpDef:
    return _OPS.lookup(name)


def same_as_input(types, attrs_):
    """Inference for ops whose output has the type of their first input (quant params dropped)."""
    return types[0].without_quant()
