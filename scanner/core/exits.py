"""Exit codes, one meaning each, and the error type that means "the user asked for something wrong".

0 done; 1 findings (an address ended with a --fail-on status, or `diff`
found changes); 2 bad usage or input, reported before anything is scanned;
3 the command could not complete (an output became unwritable, the resolvers
stopped answering, a bug): a scan's outputs are then resumable; 75 another
run is writing the same outputs (EX_TEMPFAIL: nothing was done, try again
later); 130 interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_FAILED = 3
EXIT_LOCKED = 75
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """An error in what the user asked for: reported in one line, exit code 2."""


class NothingToDo(Exception):
    """Done before starting (`--rescan-failed` found nothing transient): a notice, exit 0."""


class CouldNotComplete(Exception):
    """The command cannot go on (the resolvers are gone...): one line, exit code 3."""


class AlreadyRunning(Exception):
    """Another run holds the lock of these outputs: one line, exit code 75, nothing touched."""


class Interrupted(Exception):
    """Stopped by SIGINT or SIGTERM where a summary cannot say what is done: exit code 130."""


def leaf_exceptions(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside `exc`, through any nesting of exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from leaf_exceptions(inner)
    else:
        yield exc


def stdout_closed() -> None:
    """The reader of stdout went away (`| head`): stop quietly, as Unix tools do.

    Later writes (and the interpreter's final flush) go nowhere instead of
    raising again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
