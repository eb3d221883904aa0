"""Partial matching of text against CHECK lines, after LLVM's FileCheck (a small subset).

    CHECK: %y = Gemm(%x, %w, %b)      a later line contains this (after the previous match)
    CHECK-NEXT: return %y             the line right after the previous match contains this
    CHECK-NOT: Add(                   no line between the previous and the next match has this

A pattern is literal text in which any run of whitespace matches any run of whitespace, plus
`{{regex}}` for a regular expression, `[[NAME:regex]]` to capture what the regex matched and
`[[NAME]]` to require that same text again (e.g. a name a pass generated):

    CHECK: %[[W:\\w+]] = const f32[3,4]
    CHECK: Gemm(%x, %[[W]], %b)

Lines of the check text that do not start with a directive are ignored, so checks may sit in a
docstring or among comments.
"""

from __future__ import annotations

import re

import attrs

_DIRECTIVE = re.compile(r"^\s*(?:#|//)?\s*(CHECK|CHECK-NEXT|CHECK-NOT):(.*)$")
_TOKEN = re.compile(r"\{\{(.*?)\}\}|\[\[(\w+):(.*?)\]\]|\[\[(\w+)\]\]")


@attrs.frozen
class Check:
    kind: str  # CHECK, CHECK-NEXT or CHECK-NOT
    pattern: str
    line: int  # 1-based line in the check text

    def __str__(self) -> str:
        return f"{self.kind}: {self.pattern} (check line {self.line})"


class CheckFailure(AssertionError):
    """A check did not hold; the message names it and shows where in the text."""


def parse_checks(text: str) -> list[Check]:
    checks = []
    for i, line in enumerate(text.splitlines(), 1):
        m = _DIRECTIVE.match(line)
        if m:
            pattern = m.group(2).strip()
            if not pattern:
                raise ValueError(f"check line {i}: {m.group(1)} has an empty pattern")
            checks.append(Check(m.group(1), pattern, i))
    return checks


def _regex(pattern: str, variables: dict[str, str]) -> re.Pattern:
    out, pos = [], 0
    for m in _TOKEN.finditer(pattern):
        out.append(_literal(pattern[pos:m.start()]))
        regex, name, captured, used = m.groups()
        if regex is not None:
            out.append(f"(?:{regex})")
        elif name is not None:
            out.append(f"(?P<{name}>{captured})")
        else:
            if used not in variables:
                raise CheckFailure(f"[[{used}]] is used before a check captured it")
            out.append(re.escape(variables[used]))
        pos = m.end()
    out.append(_literal(pattern[pos:]))
    return re.compile("".join(out))


def _literal(text: str) -> str:
    return r"\s+".join(re.escape(part) for part in re.split(r"\s+", text))


def assert_checks(text: str, checks: str | list[Check]) -> None:
    """Raise CheckFailure unless `text` satisfies the CHECK lines in `checks` (in order)."""
    checks = parse_checks(checks) if isinstance(checks, str) else checks
    if not checks:
        raise ValueError("no CHECK, CHECK-NEXT or CHECK-NOT line given")
    lines = text.splitlines()
    variables: dict[str, str] = {}
    pos = 0  # the first line the next CHECK may match
    pending_not: list[Check] = []

    def unmatched_not(upto: int) -> None:
        for c in pending_not:
            rx = _regex(c.pattern, variables)
            for k in range(pos, upto):
                if rx.search(lines[k]):
                    raise CheckFailure(f"{c} matched line {k + 1}: {lines[k].strip()}")
        pending_not.clear()

    for c in checks:
        if c.kind == "CHECK-NOT":
            pending_not.append(c)
            continue
        rx = _regex(c.pattern, variables)
        if c.kind == "CHECK-NEXT":
            if pending_not:
                raise ValueError(f"{c}: a CHECK-NEXT cannot follow a CHECK-NOT")
            if pos == 0 or pos >= len(lines) or not rx.search(lines[pos]):
                got = lines[pos].strip() if pos < len(lines) else "(end of text)"
                raise CheckFailure(f"{c} does not match the next line, line {pos + 1}: {got}")
            found = pos
        else:
            found = next((k for k in range(pos, len(lines)) if rx.search(lines[k])), None)
            if found is None:
                raise CheckFailure(f"{c} matches no line from line {pos + 1} on")
        unmatched_not(found)
        variables.update({k: v for k, v in rx.search(lines[found]).groupdict().items()})
        pos = found + 1
    unmatched_not(len(lines))
