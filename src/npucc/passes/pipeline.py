"""Pipelines: an ordered list of configured passes, written as text or built from a list.

    dce,fold-constants{max-elements=1000000},cse

Each entry is a registered pass name with optional `{key=value,...}` options. Keys are the pass's
attrs field names in kebab-case (`max-elements` sets `max_elements`); values are converted to the
field's annotated type: int, float, bool (true/false/1/0), str (bare, or double-quoted when it
contains `,{}[]=`), an Enum (by value or name), a tuple (`[1,2,3]`), `X | None` (`none`), or a
`Literal[...]` choice. `str(pipeline)` prints the canonical text (options that differ from their
defaults), which parses back to an equal pipeline.

Ordering rules are checked whenever a pipeline is built or changed: a pass's `requires` must appear
earlier, and a pass named in its `after` must, if present, appear earlier.
"""

from __future__ import annotations

import enum
import types as _pytypes
import typing
from collections.abc import Iterable, Iterator, Sequence

import attrs

from npucc.errors import PassError

from .base import Pass, get_pass

_SPECIAL = set(',{}[]="')


# ---- option values: text <-> python ----

def _convert(text: str, tp):
    """Convert option text to the annotated type `tp`; raise ValueError with a reason."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, _pytypes.UnionType):
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        rest = [a for a in args if a is not type(None)]
        errors = []
        for a in rest:
            try:
                return _convert(text, a)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError("; ".join(errors))
    if origin is typing.Literal:
        for choice in args:
            if str(choice) == text:
                return choice
        raise ValueError(f"expected one of {', '.join(map(str, args))}")
    if origin in (tuple, list) or tp in (tuple, list):
        inner = text.strip()
        if not (inner.startswith("[") and inner.endswith("]")):
            raise ValueError("expected a list like [1,2,3]")
        items = [t for t in _split_top(inner[1:-1], ",") if t.strip()]
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(items) != len(args):
                raise ValueError(f"expected {len(args)} items, got {len(items)}")
            return tuple(_convert(t.strip(), a) for t, a in zip(items, args))
        item_tp = args[0] if args else str
        return tuple(_convert(t.strip(), item_tp) for t in items)
    if tp is bool:
        low = text.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if tp is int:
        try:
            return int(text, 0)
        except ValueError:
            raise ValueError("expected an integer") from None
    if tp is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError("expected a number") from None
    if tp is str:
        if len(text) >= 2 and text[0] == text[-1] == '"':
            return text[1:-1]
        return text
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        for member in tp:
            if text in (str(member.value), member.name):
                return member
        raise ValueError(f"expected one of {', '.join(str(m.value) for m in tp)}")
    raise ValueError(f"options of type {tp!r} cannot be given as text")


def format_option_value(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, (tuple, list)):
        return "[" + ",".join(format_option_value(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"' if (not value or _SPECIAL & set(value) or value != value.strip()) \
            else value
    return repr(value) if isinstance(value, float) else str(value)


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside of {}, [] and double quotes."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth < 0:
                raise PassError(f"unbalanced {ch!r} in pipeline {text!r}")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth or quoted:
        raise PassError(f"unbalanced brackets or quotes in pipeline {text!r}")
    parts.append(text[start:])
    return parts


# ---- passes: options ----

def pass_options(cls: type[Pass]) -> dict[str, attrs.Attribute]:
    """The options of a pass class: kebab-case name -> attrs field."""
    if not attrs.has(cls):
        return {}
    return {f.name.replace("_", "-"): f for f in attrs.fields(cls) if f.init}


def _field_types(cls) -> dict[str, object]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolvable annotation: fall back to the raw ones
        return {f.name: f.type for f in attrs.fields(cls)}


def option_default(field: attrs.Attribute):
    d = field.default
    if isinstance(d, attrs.Factory):  # type: ignore[arg-type]
        return d.factory()
    return d


def make_pass(name: str, options: dict[str, str] | None = None) -> Pass:
    """Instantiate registered pass `name` with options given as text."""
    cls = get_pass(name)
    fields = pass_options(cls)
    hints = _field_types(cls) if fields else {}
    kwargs = {}
    for key, text in (options or {}).items():
        field = fields.get(key)
        if field is None:
            valid = ", ".join(fields) or "none"
            raise PassError(f"pass {name} has no option {key!r}; its options: {valid}")
        try:
            kwargs[field.name] = _convert(text.strip(), hints.get(field.name, str))
        except ValueError as e:
            raise PassError(f"pass {name}: bad value {text!r} for option {key} "
                            f"({_type_name(hints.get(field.name))}): {e}") from None
    try:
        return cls(**kwargs)
    except Exception as e:  # a field validator said no
        raise PassError(f"pass {name}: invalid options {options}: {e}") from e


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def format_pass(p: Pass) -> str:
    """`name` or `name{key=value,...}` listing the options that differ from their defaults."""
    opts = []
    for key, field in pass_options(type(p)).items():
        value = getattr(p, field.name)
        if field.default is attrs.NOTHING or value != option_default(field):
            opts.append(f"{key}={format_option_value(value)}")
    return p.name + ("{" + ",".join(opts) + "}" if opts else "")


# ---- the pipeline ----

def _parse_entry(text: str) -> Pass:
    text = text.strip()
    if not text:
        raise PassError("empty pass name in pipeline (stray comma?)")
    if "{" not in text:
        return make_pass(text)
    if not text.endswith("}"):
        raise PassError(f"pipeline entry {text!r}: options must end with '}}'")
    name, body = text[:text.index("{")].strip(), text[text.index("{") + 1:-1]
    options = {}
    for item in _split_top(body, ","):
        if not item.strip():
            continue
        if "=" not in item:
            raise PassError(f"pass {name}: option {item.strip()!r} needs a value (key=value)")
        key, value = item.split("=", 1)
        options[key.strip()] = value
    return make_pass(name, options)


class Pipeline:
    """An ordered, checked sequence of pass instances. See the module docstring.

    `insert_before` / `insert_after` change the pipeline in place (and return it, for chaining);
    a change that breaks an ordering rule is undone and raises PassError.
    """

    def __init__(self, passes: Iterable[Pass | str] = ()):
        self._passes: list[Pass] = [_as_pass(p) for p in passes]
        self.check()

    @classmethod
    def parse(cls, text: str) -> Pipeline:
        text = text.strip()
        if not text:
            return cls()
        return cls(_parse_entry(t) for t in _split_top(text, ","))

    @classmethod
    def of(cls, spec: Pipeline | str | Sequence[Pass | str | type[Pass]]) -> Pipeline:
        """A Pipeline from text, a list of passes/pass names/pass classes, or a Pipeline."""
        if isinstance(spec, Pipeline):
            return spec
        if isinstance(spec, str):
            return cls.parse(spec)
        return cls(spec)

    # ---- reading ----
    @property
    def passes(self) -> tuple[Pass, ...]:
        return tuple(self._passes)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self._passes]

    def __iter__(self) -> Iterator[Pass]:
        return iter(tuple(self._passes))

    def __len__(self) -> int:
        return len(self._passes)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __eq__(self, other) -> bool:
        return isinstance(other, Pipeline) and self._passes == other._passes

    def __str__(self) -> str:
        return ",".join(format_pass(p) for p in self._passes)

    def __repr__(self) -> str:
        return f"Pipeline({str(self)!r})"

    # ---- changing ----
    def insert_before(self, name: str, pass_: Pass | str) -> Pipeline:
        """Insert `pass_` just before the first occurrence of pass `name`."""
        return self._insert(self._index(name), pass_)

    def insert_after(self, name: str, pass_: Pass | str) -> Pipeline:
        """Insert `pass_` just after the first occurrence of pass `name`."""
        return self._insert(self._index(name) + 1, pass_)

    def append(self, pass_: Pass | str) -> Pipeline:
        return self._insert(len(self._passes), pass_)

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise PassError(f"pass {name!r} is not in pipeline {str(self)!r}") from None

    def _insert(self, index: int, pass_: Pass | str) -> Pipeline:
        self._passes.insert(index, _as_pass(pass_))
        try:
            self.check()
        except PassError:
            del self._passes[index]
            raise
        return self

    def check(self) -> None:
        """Raise PassError if a pass's `requires` or `after` ordering is not met."""
        seen: set[str] = set()
        names = self.names
        for p in self._passes:
            missing = [r for r in p.requires if r not in seen]
            if missing:
                raise PassError(f"pass {p.name} requires {', '.join(missing)} earlier in the "
                                f"pipeline; pipeline: {str(self) or '(empty)'}")
            late = [a for a in p.after if a in names and a not in seen]
            if late:
                raise PassError(f"pass {p.name} must run after {', '.join(late)}, which comes "
                                f"later in the pipeline; pipeline: {self}")
            seen.add(p.name)


def _as_pass(p) -> Pass:
    if isinstance(p, Pass):
        return p
    if isinstance(p, str):
        if "{" in p:
            return _parse_entry(p)
        return make_pass(p.strip())
    if isinstance(p, type) and issubclass(p, Pass):
        return p()
    raise PassError(f"a pipeline entry must be a Pass, a pass class or a name, got {p!r}")


def parse_pipeline(text: str) -> Pipeline:
    """Parse pipeline text such as `dce,fold-constants{max-elements=1000000},cse`."""
    return Pipeline.parse(text)


# ---- the default pipeline ----

from .default_passes import DEFAULT_PIPELINE  # noqa: E402  (the default pipeline, as data)

_PLACEMENTS: list[tuple[str, str, Pass | str]] = []


def place_in_default_pipeline(pass_: Pass | str, *, before: str | None = None,
                              after: str | None = None) -> None:
    """Ask for `pass_` to run before or after a named pass in `default_pipeline()` (for plugins)."""
    if (before is None) == (after is None):
        raise PassError("give exactly one of before= or after=")
    _PLACEMENTS.append(("before", before, pass_) if before else ("after", after, pass_))


def default_pipeline() -> Pipeline:
    """The default pipeline with every requested placement applied, in request order."""
    pipeline = Pipeline.parse(DEFAULT_PIPELINE)
    for where, anchor, p in _PLACEMENTS:
        (pipeline.insert_before if where == "before" else pipeline.insert_after)(anchor, p)
    return pipeline
