"""Keep generated notes (e.g. a frontend's supported-layer table) inside a hand-written markdown
document, between `<!-- begin NAME -->` and `<!-- end NAME -->` markers."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from ..atomic import write_atomic
from ..errors import NpuccError


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- begin {re.escape(name)} -->\n).*?(<!-- end {re.escape(name)} -->)",
                      re.S)


def read_note(doc: Path, name: str) -> str | None:
    """The text between the markers, or None if the document has no such section."""
    m = _pattern(name).search(Path(doc).read_text()) if Path(doc).exists() else None
    return None if m is None else Path(doc).read_text()[m.end(1):m.start(2)]


def write_note(doc: Path, name: str, text: str) -> None:
    """Replace the text between the markers (appending a marked section if there is none)."""
    doc = Path(doc)
    old = doc.read_text() if doc.exists() else ""
    pat = _pattern(name)
    block = f"<!-- begin {name} -->\n{text}<!-- end {name} -->"
    if pat.search(old):
        new = pat.sub(lambda m: block, old)
    elif old:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    else:
        raise NpuccError(f"{doc} does not exist")
    write_atomic(doc, new)  # never leave a half-written doc


def note_command(prog: str, section: str, make_note: Callable[[], str], argv=None) -> int:
    """`python -m <frontend> --supported | --write DOC`: print the frontend's generated note, or
    update its marked `section` in DOC."""
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("--supported", action="store_true", help="print the supported-layer note")
    ap.add_argument("--write", metavar="DOC",
                    help=f"update the '{section}' section of DOC (docs/FRONTENDS.md)")
    opts = ap.parse_args(argv)
    if opts.write:
        write_note(opts.write, section, make_note())
        return 0
    if opts.supported:
        sys.stdout.write(make_note())
        return 0
    ap.print_help()
    return 1
