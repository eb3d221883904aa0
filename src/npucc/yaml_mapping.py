"""Reading a YAML file that must hold a mapping (target files, build configs, hybrid quantization
files): every way of failing (unreadable, not UTF-8, not YAML, not a mapping) becomes the
caller's npucc error naming the file. A leaf module any layer may import."""

from __future__ import annotations

import os


def read_yaml_mapping(path: str | os.PathLike, error: type[Exception], what: str, *,
                      shown: str | None = None, empty_ok: bool = False, hint: str = "") -> dict:
    """The mapping in YAML file `path`. Failures raise `error` with `shown` (default: the path)
    and `what` the file is ("target file"); `empty_ok` reads an empty file as {}; `hint` is
    added to the not-a-mapping message."""
    import yaml

    shown = shown or os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or e
        raise error(f"{shown}: cannot read the {what}: {reason}") from None
    except yaml.YAMLError as e:
        raise error(f"{shown}: not valid YAML: {e}") from None
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise error(f"{shown}: a {what} is a mapping of keys{hint}, got {type(data).__name__}")
    return data
