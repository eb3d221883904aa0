"""`Registry`: a name -> item table with one duplicate policy, "did you mean" errors and listing.

Every table npucc looks things up in by name (ops, passes, CLI subcommands, frontends, their op
converters and layer mappers, simulator kernels, graph appliers) is a Registry, so they all
behave alike:

    CONVERTERS = Registry("ONNX op")
    CONVERTERS["Relu"] = convert_relu           # registering (a decorator usually does this)
    CONVERTERS.get("Relu"), "Relu" in CONVERTERS, sorted(CONVERTERS)   # a Mapping
    CONVERTERS.lookup("Rellu")  # NpuccError: unknown ONNX op 'Rellu'; did you mean Relu?

Duplicates: registering another item under a taken name raises (`duplicates="error"`, the
default) unless the item is equal to the one registered (re-importing a module is harmless);
tables meant to be overridden by users (a graph applier for an op) say `duplicates="replace"`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Generic, Literal, TypeVar

from npucc.errors import NpuccError

T = TypeVar("T")
Duplicates = Literal["error", "replace"]


class Registry(MutableMapping[str, T], Generic[T]):
    """A Mapping from names to items, filled by `add` or item assignment (which follow the
    duplicate policy).

    kind: what the names name, for messages ("op", "Caffe layer type"); plural: its plural
      (default kind + "s").
    items: initial entries (a dict literal table).
    duplicates: "error" (a different item under a taken name raises) or "replace".
    error: the exception type raised for duplicates and unknown names.
    """

    def __init__(self, kind: str, items: Mapping[str, T] | None = None, *,
                 duplicates: Duplicates = "error", error: type[Exception] = NpuccError,
                 plural: str | None = None):
        if duplicates not in ("error", "replace"):
            raise ValueError(f"duplicates must be 'error' or 'replace', got {duplicates!r}")
        self.kind, self.duplicates, self.error = kind, duplicates, error
        self.plural = plural or kind + "s"
        self._items: dict[str, T] = {}
        for name, item in (items or {}).items():
            self.add(name, item)

    # ---- registering ----
    def add(self, name: str, item: T) -> T:
        """Register `item` under `name` (following the duplicate policy); returns the item."""
        if not isinstance(name, str) or not name:
            raise self.error(f"a {self.kind} name must be a non-empty string, got {name!r}")
        old = self._items.get(name)
        if old is not None and self.duplicates == "error" and not _same(old, item):
            raise self.error(f"{self.kind} {name!r} is registered twice: {_describe(old)} and "
                             f"{_describe(item)}")
        self._items[name] = item
        return item

    def __setitem__(self, name: str, item: T) -> None:
        self.add(name, item)

    def __delitem__(self, name: str) -> None:
        """Unregister `name` (tests and plugins undoing a registration)."""
        del self._items[name]

    # ---- reading ----
    def __getitem__(self, name: str) -> T:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def lookup(self, name: str) -> T:
        """The item registered as `name`; raises `error` naming close matches and every name."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise self.error(self.unknown(name)) from None

    def unknown(self, name: str) -> str:
        """The message for an unknown `name`: the close matches (ignoring case) if there are
        any, else every known name."""
        by_lower = {k.lower(): k for k in self._items}
        close = difflib.get_close_matches(str(name).lower(), list(by_lower), n=3, cutoff=0.6)
        if close:
            return (f"unknown {self.kind} {name!r}; did you mean "
                    f"{' or '.join(by_lower[c] for c in close)}?")
        return f"unknown {self.kind} {name!r}; known {self.plural}: {self.listing()}"

    def listing(self) -> str:
        """Every registered name, sorted, comma-separated."""
        return ", ".join(sorted(self._items)) or "(none)"

    def copy(self) -> Registry[T]:
        """An independent registry with the same entries and settings (e.g. for a test)."""
        new = Registry(self.kind, duplicates=self.duplicates, error=self.error,
                       plural=self.plural)
        new._items = dict(self._items)
        return new

    def __repr__(self) -> str:
        return f"<Registry of {len(self)} {self.kind}s>"


def _same(a, b) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # items with an ambiguous == (numpy arrays)
        return False


def _describe(item) -> str:
    target = getattr(item, "fn", None) or getattr(item, "build", None) or item
    module, name = getattr(target, "__module__", None), getattr(target, "__qualname__", None)
    return f"{module}.{name}" if module and name else repr(item)
