"""Reading YAML settings files: the safe loader, and errors that name the file."""

from __future__ import annotations

from typing import Any

import yaml


def read_yaml(path: str, what: str, error: type[ValueError]) -> Any:
    """The parsed document (None if empty); `error(message)` for an unreadable or invalid file."""
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except OSError as exc:
        raise error(f"cannot read {what} {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
