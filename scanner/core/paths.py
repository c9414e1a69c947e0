"""What kind of file an output path names, which decides how it is written."""

from __future__ import annotations

import os
import stat
from pathlib import Path

FORMATS = ("csv", "jsonl", "xlsx")

# Output and result formats by file extension (before an optional .gz).
EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".xlsx": "xlsx",
}


def format_of(path: str) -> str | None:
    """The format a file name's extension says (`.csv.gz` is csv), if any."""
    suffix = Path(path.removesuffix(".gz").removesuffix(".GZ")).suffix.lower()
    return EXTENSIONS.get(suffix)


def written_in_place(path: str) -> bool:
    """Whether `path` is an existing device, pipe or socket (/dev/null, a FIFO).

    Such a file is written directly. Regular files are written under a temporary
    name and renamed when complete, and renaming onto a device or pipe would
    replace it with a regular file. False for regular files, directories and
    paths that do not exist yet.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # not there yet (or unreadable): it will be a regular file
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))
