"""Opening the files a scan writes so that none follows a link planted in its place.

Outputs are written under names next to them (`OUT.partial`, `OUT.gz.tmp`,
`OUT.journal`), often in shared directories. A symbolic link planted at one of
those names made the scan overwrite, or create, whatever file it pointed to.
Here every such file is opened with `O_NOFOLLOW`; one made afresh is created
with `O_EXCL` after removing a stale file of that name (which removes the name,
never what a link points to), and one reopened to resume must be a regular file
with a single name. The functions are `opener`s for `open()`/`aiofiles.open()`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable


class PlantedLinkError(OSError):
    """A file the scan writes is a symbolic link, or has another name."""


def planted_links(paths: Iterable[str]) -> list[str]:
    """Those of `paths` that are symbolic links (dangling ones included)."""
    return [path for path in paths if os.path.islink(path)]


def umask() -> int:
    """The process's umask, read without changing it (Linux: /proc; else set and restored)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def create_new(path: str, flags: int) -> int:
    """Opener: `path` made afresh, never through a link; a stale regular file there goes first."""
    if os.path.islink(path):
        raise PlantedLinkError(f"{path} is a symbolic link: refusing to write through it")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    flags = (flags & ~os.O_TRUNC) | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    try:
        return os.open(path, flags, 0o666)
    except FileExistsError:  # a link (or file) put there since the unlink
        raise PlantedLinkError(f"{path} appeared while being created: refusing it") from None


def open_existing(path: str, flags: int) -> int:
    """Opener: `path` as it is, to append or resume, only if it is a regular file with one name."""
    try:
        descriptor = os.open(path, flags | os.O_NOFOLLOW)
    except OSError as exc:
        if os.path.islink(path):
            raise PlantedLinkError(f"{path} is a symbolic link: refusing to use it") from exc
        raise
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(descriptor)
        raise PlantedLinkError(f"{path} is not a regular file of its own: refusing to write to it")
    return descriptor
