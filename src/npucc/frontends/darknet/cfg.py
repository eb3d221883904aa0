"""Reading a Darknet .cfg: sections of typed key=value options."""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from ...errors import FrontendError

_MAX_OPTION = 1 << 31  # any integer option beyond this is a corrupt cfg

# ---- cfg text ----
@attrs.define
class Section:
    type: str
    line: int
    options: dict[str, str] = attrs.Factory(dict)


def parse_cfg(path) -> list[Section]:
    """Sections of a .cfg in order ([net] first), with their key=value options as strings."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise FrontendError(f"{path}: cannot read the cfg: {e}") from None
    except UnicodeDecodeError as e:
        raise FrontendError(f"{path}: not a Darknet cfg (not UTF-8 text: byte {e.start})"
                            ) from None
    sections: list[Section] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"[#;].*", "", raw).strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise FrontendError(f"{path}:{n}: malformed section header {raw.strip()!r}")
            sections.append(Section(line[1:-1].strip(), n))
        elif "=" in line:
            if not sections:
                raise FrontendError(f"{path}:{n}: option before the first section")
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
        else:
            raise FrontendError(f"{path}:{n}: expected 'key=value', got {raw.strip()!r}")
    if not sections or sections[0].type not in ("net", "network"):
        raise FrontendError(f"{path}: the first section must be [net]")
    return sections
