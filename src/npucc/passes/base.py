"""The pass contract: what a pass is, what it returns, and how it is registered.

A pass is a frozen attrs class (its fields are its options) with a kebab-case `name`, a docstring
that states what it guarantees, and `run(graph) -> PassResult`. It rewrites the graph in place
through the Graph mutation API. Register it with `@register_pass`; third-party packages may also
expose passes through the `npucc.passes` entry-point group (loaded lazily on first lookup).

    @register_pass
    @attrs.frozen
    class MyPass(Pass):
        '''Guarantee: ...'''
        name: ClassVar[str] = "my-pass"
        limit: int = 10                     # option, given as my-pass{limit=3}

        def run(self, graph) -> PassResult:
            ...
            return PassResult(changed=n > 0, counts={"rewritten": n})

A plain function `graph -> PassResult | bool | int` can be registered with `@function_pass(name)`.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import ClassVar

import attrs

from ..errors import PassError
from ..ir.graph import Graph
from ..registry import Registry

_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


@attrs.frozen
class PassResult:
    """What a pass did: whether it changed the graph, and counts by kind (for reports)."""

    changed: bool
    counts: Mapping[str, int] = attrs.field(factory=dict, converter=dict)

    @classmethod
    def of(cls, value) -> PassResult:
        """Accept a PassResult, a bool (changed?) or an int (number of changes)."""
        if isinstance(value, PassResult):
            return value
        if isinstance(value, bool):
            return cls(value)
        if isinstance(value, int):
            return cls(value > 0, {"changes": value})
        raise PassError(f"a pass must return PassResult, bool or int, got {type(value).__name__}")


class Pass:
    """Base class of passes. Subclasses are frozen attrs classes; see the module docstring.

    Class attributes:
      name: kebab-case, unique.
      requires: passes that must appear earlier in the same pipeline.
      after: passes that, when present in the pipeline, must come earlier.
      idempotent: running the pass twice in a row changes nothing the second time.
    """

    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    after: ClassVar[tuple[str, ...]] = ()
    idempotent: ClassVar[bool] = True

    def run(self, graph: Graph) -> PassResult:  # pragma: no cover - the abstract method
        raise NotImplementedError(f"pass {self.name} does not define run()")

    def __call__(self, graph: Graph) -> PassResult:
        return PassResult.of(self.run(graph))

    @classmethod
    def doc(cls) -> str:
        return (cls.__doc__ or "").strip()


_PASSES: Registry[type[Pass]] = Registry("pass", error=PassError, plural="passes")
_ENTRY_POINTS_LOADED = False


_CLASS_SETTINGS = ("name", "requires", "after", "idempotent")  # class attributes, never options


def _declaration_problem(cls) -> str | None:
    """Why `cls` cannot be registered as a pass (its options would be silently ignored, or its
    settings would become options), with what to write instead; None if it is fine."""
    label = f"pass class {getattr(cls, '__qualname__', cls)!r}"
    if not (isinstance(cls, type) and issubclass(cls, Pass)):
        return f"{label} is not a subclass of npucc.passes.Pass; derive it from Pass"
    if not attrs.has(cls):
        return (f"{label} is not an attrs class, so it cannot have options (and pipelines "
                "cannot compare or print it): put @attrs.frozen on it, below @register_pass")
    fields = {f.name for f in attrs.fields(cls)}
    for n in _CLASS_SETTINGS:
        if n in fields:
            return (f"{label}: {n!r} became an option (an attrs field) because it is "
                    f"annotated; write `{n} = ...` or `{n}: ClassVar[...] = ...` for a setting")
    own = inspect.get_annotations(cls)
    decorate = "" if "__attrs_attrs__" in cls.__dict__ else \
        " (the class inherits attrs fields but is not decorated itself: add @attrs.frozen)"
    for n, annotation in own.items():
        if n not in fields and not _is_classvar(annotation):
            return f"{label}: annotated attribute {n!r} is not an option{decorate}"
    inherited = {n for b in cls.__mro__[1:] for n in vars(b)}
    for n, value in vars(cls).items():
        if (n.startswith("_") or n in fields or n in own or n in inherited or callable(value)
                or isinstance(value, (classmethod, staticmethod, property))):
            continue
        return (f"{label}: class attribute {n} = {value!r} is not an option (only annotated "
                f"attributes are); write `{n}: {type(value).__name__} = {value!r}` for an "
                f"option, or `{n}: ClassVar[...] = ...` for a constant")
    return None


def _is_classvar(annotation) -> bool:
    if isinstance(annotation, str):
        return annotation.replace("typing.", "").startswith("ClassVar")
    return typing.get_origin(annotation) is ClassVar or annotation is ClassVar


def register_pass(cls: type[Pass]) -> type[Pass]:
    """Class decorator: make a pass available by name (in pipelines and `npucc passes`).

    Rejects a class whose options would be silently ignored (not an attrs class, a plain class
    attribute that looks like an option) or whose settings (name, requires...) became options."""
    problem = _declaration_problem(cls)
    if problem:
        raise PassError(problem)
    if not _KEBAB.match(cls.name or ""):
        raise PassError(f"pass class {cls.__name__} needs a kebab-case `name`, got {cls.name!r}")
    if not (cls.__doc__ or "").strip():
        raise PassError(f"pass {cls.name} needs a docstring stating what it guarantees")
    _PASSES[cls.name] = cls
    return cls


def function_pass(name: str, *, requires=(), after=(), idempotent=True):
    """Decorator: register `fn(graph) -> PassResult | bool | int` as an option-less pass."""

    def wrap(fn: Callable[[Graph], object]) -> type[Pass]:
        cls = type(fn.__name__, (Pass,), {
            "__doc__": fn.__doc__, "__module__": fn.__module__, "name": name,
            "requires": tuple(requires), "after": tuple(after), "idempotent": idempotent,
            "run": lambda self, graph: PassResult.of(fn(graph)),
        })
        return register_pass(attrs.frozen(cls))

    return wrap


def _load_builtin_and_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    from . import builtin  # noqa: F401  (registers the shipped passes)

    for ep in entry_points(group="npucc.passes"):
        try:
            ep.load()  # the module registers its passes when imported
        except Exception as e:
            raise PassError(f"cannot load pass plugin {ep.name} ({ep.value}): {e}") from e


def get_pass(name: str) -> type[Pass]:
    _load_builtin_and_entry_points()
    return _PASSES.lookup(name)


def all_passes() -> dict[str, type[Pass]]:
    _load_builtin_and_entry_points()
    return dict(sorted(_PASSES.items()))
