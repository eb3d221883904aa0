"""Reading a YAML file that must hold a mapping (target files, build configs, hybrid quantization
files): every way of failing (unreadable, not a regular file, too big, not UTF-8, not YAML, nested
too deeply, an integer too long for Python, not a mapping) becomes the caller's npucc error naming
the file. `brief(value)` is a value as error messages quote it: short, even for a "billion laughs"
document whose aliases expand to billions of elements. A leaf module any layer may import."""

from __future__ import annotations

import os
import reprlib
import stat

MAX_YAML_BYTES = 64 << 20  # a config or target file; a hybrid file lists layers: 64 MiB is plenty

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 2, 60, 60
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = _SHORT.maxset = 4


def brief(value) -> str:
    """repr(value), cut short (nested and long values end in '...')."""
    return _SHORT.repr(value)


def read_yaml_mapping(path: str | os.PathLike, error: type[Exception], what: str, *,
                      shown: str | None = None, empty_ok: bool = False, hint: str = "") -> dict:
    """The mapping in YAML file `path`. Failures raise `error` with `shown` (default: the path)
    and `what` the file is ("target file"); `empty_ok` reads an empty file as {}; `hint` is
    added to the not-a-mapping message."""
    import yaml

    shown = shown or os.fspath(path)
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # /dev/zero, a FIFO: would never end
            raise error(f"{shown}: the {what} is not a regular file")
        if st.st_size > MAX_YAML_BYTES:
            raise error(f"{shown}: the {what} has {st.st_size} bytes, over the limit of "
                        f"{MAX_YAML_BYTES}")
        with open(path, "rb") as f:
            text = f.read(MAX_YAML_BYTES + 1).decode("utf-8")
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as e:
        reason = getattr(e, "strerror", None) or e
        raise error(f"{shown}: cannot read the {what}: {reason}") from None
    except yaml.YAMLError as e:
        raise error(f"{shown}: not valid YAML: {e}") from None
    except RecursionError:
        raise error(f"{shown}: not valid YAML: nested too deeply") from None
    except ValueError as e:  # an integer of more than 4300 digits
        raise error(f"{shown}: not valid YAML: {e}") from None
    if data is None and empty_ok:
        return {}
    if not isinstance(data, dict):
        raise error(f"{shown}: a {what} is a mapping of keys{hint}, got {type(data).__name__}")
    return data
