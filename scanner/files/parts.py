"""A sharded scan's part files (`OUT.parts/`): one per shard and output, and what is complete.

A shard is complete when its summary file exists: the task writes its part
files under temporary names, renames them, then writes the summary the same
way. A task run twice (its worker died, the scheduler ran it again) writes its
own temporary files and renames them over the first run's: a part is
replaced, never appended to. `plan.json` holds what must not change between
an interrupted scan and its `--resume`, and the number of shards.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import Any

from scanner.files.ownfiles import create_new, open_existing

PLAN = "plan.json"


class PartsError(ValueError):
    """A parts directory that does not belong to this scan."""


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = f"{path}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with open(temporary, "wb", opener=create_new) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class Parts:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def start(self, fingerprint: str, shards: int) -> None:
        """A new scan: the directory made (a planted link refused), its plan written."""
        if self.path.is_symlink():
            raise PartsError(f"{self.path} is a symbolic link: refusing to write through it")
        self.path.mkdir(exist_ok=True)
        plan = {"fingerprint": fingerprint, "shards": shards}
        _write_atomically(self.path / PLAN, json.dumps(plan).encode())

    def load(self, fingerprint: str) -> int:
        """The shard count of the interrupted scan; raises PartsError if it was another scan."""
        try:
            with open(self.path / PLAN, "rb", opener=open_existing) as handle:
                plan = json.loads(handle.read())
            shards = int(plan["shards"])
            theirs = plan["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PartsError(
                f"cannot resume from {self.path}: no readable {PLAN} ({exc})"
            ) from None
        if theirs != fingerprint:
            raise PartsError(
                f"cannot resume from {self.path}: it belongs to a scan with other targets, "
                "order, seed or outputs; run that scan's command, or delete the directory"
            )
        return shards

    def part(self, shard: int, output: int, fmt: str) -> Path:
        return self.path / f"shard-{shard:05d}.{output}.{fmt}"

    def summary(self, shard: int) -> Path:
        return self.path / f"shard-{shard:05d}.summary.json"

    def write_part(self, shard: int, output: int, fmt: str, data_path: str) -> None:
        os.replace(data_path, self.part(shard, output, fmt))

    def temporary(self, shard: int, output: int, fmt: str) -> str:
        """A name of this attempt's own for a part being written."""
        final = self.part(shard, output, fmt)
        return f"{final}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def complete_shard(self, shard: int, summary: dict[str, Any]) -> None:
        _write_atomically(self.summary(shard), json.dumps(summary).encode())

    def completed(self, shards: int) -> dict[int, dict[str, Any]]:
        """The complete shards (1-based) and their summaries."""
        done = {}
        for shard in range(1, shards + 1):
            try:
                with open(self.summary(shard), "rb", opener=open_existing) as handle:
                    done[shard] = json.loads(handle.read())
            except FileNotFoundError:
                continue
        return done

    def remove(self) -> None:
        shutil.rmtree(self.path)
