"""Reading YAML settings files: the safe loader, and errors that name the file."""

from __future__ import annotations

from typing import Any

import yaml

# No settings file of ours nests more than a few levels. A deeper one is a
# mistake or an attack: PyYAML composes recursively, and 500 levels ended in a
# RecursionError traceback.
MAX_DEPTH = 32


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing documents nested deeper than MAX_DEPTH."""

    _depth = 0

    def compose_node(self, parent, index):
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def read_yaml(path: str, what: str, error: type[ValueError]) -> Any:
    """The parsed document (None if empty); `error(message)` for an unreadable or invalid file."""
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=_BoundedLoader)  # a SafeLoader: no tags run code
    except OSError as exc:
        raise error(f"cannot read {what} {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from None
