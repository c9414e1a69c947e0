"""A job file (`fcrdns scan --config job.yaml`): settings and all else a nightly job needs.

One YAML file holds the tuning settings (`ScanConfig`: resolvers, rates,
excludes...) and the job: what to scan, where the rows, the summary and the
metrics go, which optional checks run, the results to compare with and what
alerts. A timer then runs `fcrdns scan --config job.yaml`; a flag given on
the command line overrides the file's value (targets and outputs replace the
file's lists). Relative paths in the file are taken from the file's own
directory, so the job means the same whatever directory it is started in.

>>> job = JobFile.from_mapping({"targets": ["198.18.0.0/24"], "zone_owner": True}, "job.yaml")
>>> job.targets, job.zone_owner, job.settings.rate
(('198.18.0.0/24',), True, 'auto')
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from scanner.core.config import ConfigError, ScanConfig
from scanner.core.yamlfile import read_yaml


def _strings(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise ValueError(f"expected a list of strings, got {str(value)[:100]!r}")
    return tuple(items)


def _path(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a file name, got {str(value)[:100]!r}")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {str(value)[:100]!r}")
    return value


def _fail_on(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    return _strings(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFile:
    """What a job file says. The keys besides ScanConfig's, each a flag of `fcrdns scan`."""

    settings: ScanConfig = field(default_factory=ScanConfig)
    targets: tuple[str, ...] = ()  # TARGET...
    target_files: tuple[str, ...] = ()  # -f FILE
    exclude_files: tuple[str, ...] = ()  # --exclude-file FILE
    outputs: tuple[str, ...] = ()  # -o FILE
    summary: str | None = None  # --summary FILE
    metrics: str | None = None  # --metrics FILE
    previous: str | None = None  # --previous FILE|DB
    history: str | None = None  # --history DB
    fail_on: tuple[str, ...] = ()  # --fail-on NAME,...
    expect: str | None = None  # --expect FILE
    helo: str | None = None  # --helo NAME
    zone_owner: bool = False  # --zone-owner
    check_authoritative: bool = False  # --check-authoritative
    sorted: bool = False  # --sorted
    resume: bool = False  # --resume (safe on every run: without a journal it starts anew)
    walk: bool = False  # --walk

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str) -> JobFile:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping of settings at the top level")
        tuning = {item.name for item in fields(ScanConfig)}
        known = sorted(tuning | set(_CHECKS))
        base = os.path.dirname(source)
        job: dict[str, Any] = {}
        for key, value in data.items():
            if key in tuning:
                continue
            if key not in _CHECKS:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{source}: unknown key {str(key)[:60]!r}{hint}")
            try:
                job[key] = _CHECKS[key](value)
            except ValueError as exc:
                raise ConfigError(f"{source}: {key}: {exc}") from None
            if key in _PATHS:
                job[key] = _relative_to(base, job[key])
        settings = ScanConfig.from_mapping(
            {key: value for key, value in data.items() if key in tuning}, source
        )
        return cls(settings=settings, **job)

    @classmethod
    def load(cls, path: str) -> JobFile:
        return cls.from_mapping(read_yaml(path, "config", ConfigError) or {}, path)


_CHECKS: dict[str, Callable[[object], object]] = {
    "targets": _strings,
    "target_files": _strings,
    "exclude_files": _strings,
    "outputs": _strings,
    "summary": _path,
    "metrics": _path,
    "previous": _path,
    "history": _path,
    "fail_on": _fail_on,
    "expect": _path,
    "helo": _path,
    "zone_owner": _flag,
    "check_authoritative": _flag,
    "sorted": _flag,
    "resume": _flag,
    "walk": _flag,
}
# Keys that name files: taken from the job file's directory when relative.
_PATHS = ("target_files", "exclude_files", "outputs", "summary", "metrics", "previous", "history",
          "expect")  # fmt: skip


def _relative_to(base: str, value: Any) -> Any:
    def one(path: str | None) -> str | None:
        if path is None or path == "-" or os.path.isabs(path) or not base or "://" in path:
            return path
        return os.path.join(base, path)

    if isinstance(value, tuple):
        return tuple(one(path) for path in value)
    return one(value)
