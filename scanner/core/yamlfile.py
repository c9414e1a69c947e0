"""Reading YAML settings files: a strict safe loader, and errors that name the file.

Settings files are small and written by hand, so anything YAML allows beyond
plain mappings, lists and scalars is refused rather than guessed at: aliases
(`*name`, which let 329 bytes expand to a 39 MB error message and 265 MB of
memory: a "billion laughs"), a key given twice (the last one silently won:
`rate: 100` then `rate: 0` was no limit), nesting deeper than `MAX_DEPTH`.
Error messages are cut to `MESSAGE` characters.
"""

from __future__ import annotations

from typing import Any

import yaml

from scanner.core.names import printable

# No settings file of ours nests more than a few levels. A deeper one is a
# mistake or an attack: PyYAML composes recursively, and 500 levels ended in a
# RecursionError traceback.
MAX_DEPTH = 32
MESSAGE = 300


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, refusing documents nested deeper than MAX_DEPTH."""

    _depth = 0

    aliases = False

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if not self.aliases and self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed here", self._mark()
            )
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", self._mark()
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _mark(self) -> yaml.Mark:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # PyYAML's stubs leave it bare
        mark: yaml.Mark = event.start_mark
        return mark

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class says so
                break
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the key {str(key)[:60]!r} is given twice (first on line {first.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


class _AliasLoader(_BoundedLoader):
    """For lab configs, which tools write: PyYAML's dump writes a mapping used
    twice as an anchor and an alias. A lab config is the tester's own."""

    aliases = True


def read_yaml(path: str, what: str, error: type[ValueError], *, aliases: bool = False) -> Any:
    """The parsed document (None if empty); `error(message)` for an unreadable or invalid file.

    `aliases`: allow `*name` (lab configs only; a scan's settings refuse them).
    """
    loader = _AliasLoader if aliases else _BoundedLoader
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=loader)  # a SafeLoader: no tags run code
    except OSError as exc:
        raise error(f"cannot read {what} {path!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        text = printable(" ".join(str(exc).split()), MESSAGE)
        raise error(f"{path}: not valid YAML: {text}") from None
