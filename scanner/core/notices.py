"""How the library reports what an operator should know while a scan runs.

Library code never prints: it calls a `Notice` with one line of plain text
(a resolver benched, a worker stopped, where the rows so far are). The
command line passes one that writes `fcrdns scan: ...` to stderr; a program
using `scanner.api` gets them on the `fcrdns` logger unless it passes its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

Notice = Callable[[str], None]

_LOGGER = logging.getLogger("fcrdns")


def log_notice(message: str) -> None:
    """The default: a warning on the `fcrdns` logger."""
    _LOGGER.warning("%s", message)
