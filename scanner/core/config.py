"""Scan settings: one immutable object, built from defaults, a YAML file and flags.

Every value is validated when the object is built; errors name the key (and the
file), so a typo in a nightly job's config fails loudly instead of being ignored.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from scanner.core.diagnose import DEFAULT_GENERIC_PATTERNS
from scanner.core.lookups import Nameserver, ResolverSpecError
from scanner.core.paths import FORMATS
from scanner.core.targets import DEFAULT_MAX_TARGETS
from scanner.core.yamlfile import read_yaml

Order = Literal["random", "sequential"]

# `workers: auto` starts several processes only for scans at least this large:
# below it, starting them costs more than it saves. Measured on 2 cores: a /18
# (16,384) took 2.3-2.8 s with 2 workers against 4.0-4.3 s with one on
# loopback, and 10% less over a 50 ms path; a /20 (4,096) about the same.
AUTO_WORKERS_FROM = 8192


class ConfigError(ValueError):
    """A setting with an unknown key or a bad value."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanConfig:
    """Settings of one scan.

    >>> ScanConfig(resolvers=("127.0.0.1:5353",), concurrency=100).concurrency
    100
    """

    resolvers: tuple[str, ...] = ()
    concurrency: int = 5000
    timeout: float = 2.0
    retries: int = 5
    give_up_after: float = 60.0
    rate: float | Literal["auto"] = "auto"
    # --rate auto starts here; None: a quarter of max_rate (auto_start_rate())
    start_rate: float | None = None
    max_rate: float = 2000.0
    resolver_rate: float = 0.0
    # --check-authoritative: queries per second to each of a zone's own servers, and their port
    authoritative_rate: float = 20.0
    authoritative_port: int = 53
    # --check-authoritative: networks whose name server addresses may be asked
    # besides global unicast ones (a lab on loopback, an internal name server)
    authoritative_allow: tuple[str, ...] = ()
    burst: int = 20
    max_targets: int = DEFAULT_MAX_TARGETS
    workers: int | Literal["auto"] = "auto"
    order: Order = "random"
    seed: int = 1
    exclude: tuple[str, ...] = ()
    format: str | None = None
    generic_patterns: tuple[str, ...] = DEFAULT_GENERIC_PATTERNS

    def __post_init__(self) -> None:
        for item in fields(self):
            check = _CHECKS[item.name]
            try:
                object.__setattr__(self, item.name, check(getattr(self, item.name)))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{item.name}: {exc}") from None
        if self.rate == "auto" and self.start_rate is not None and self.start_rate > self.max_rate:
            raise ConfigError(
                f"start_rate: {self.start_rate:g} is above max_rate {self.max_rate:g}"
            )

    def auto_start_rate(self) -> float:
        """Where --rate auto starts: `start_rate`, by default a quarter of its ceiling.

        Near the ceiling, as issue 23 asked: from 100 q/s, doubling per second,
        the ramp to 2,000 cost about 3.5 s of the cap's queries, a fifth of a
        /18's scan; from 500 it costs 1.25 s. Trouble in the first second cuts
        the rate to what got through (scanner/core/adaptive.py), so a resolver that
        takes less than a quarter is found within a second or two.
        """
        return self.max_rate / 4 if self.start_rate is None else self.start_rate

    def worker_count(self, targets: int) -> int:
        """Processes to scan with: `auto` uses every core (up to 4) for large scans."""
        if self.workers != "auto":
            return int(self.workers)
        if targets < AUTO_WORKERS_FROM:
            return 1
        return max(1, min(4, os.cpu_count() or 1))

    def nameservers(self) -> tuple[Nameserver, ...]:
        return tuple(Nameserver.parse(text) for text in self.resolvers)

    def updated(self, **changes: Any) -> ScanConfig:
        """A copy with the given settings changed (None means: keep)."""
        return replace(self, **{key: value for key, value in changes.items() if value is not None})

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "config") -> ScanConfig:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping of settings at the top level")
        known = [item.name for item in fields(cls)]
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{source}: unknown key {key!r}{hint}")
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str) -> ScanConfig:
        return cls.from_mapping(read_yaml(path, "config", ConfigError) or {}, path)


def _positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return value


# c-ares gives each query in flight on a channel its own 16-bit DNS ID; long
# before that runs out, a resolver's receive buffer (about 250 queries by
# default) drops what exceeds it.
MAX_CONCURRENCY = 10_000


def _concurrency(value: object) -> int:
    count = _positive_int(value)
    if count > MAX_CONCURRENCY:
        raise ValueError(f"at most {MAX_CONCURRENCY} queries in flight, got {count}")
    return count


def _non_negative_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected an integer >= 0, got {value!r}")
    return value


# Upper bounds: far above any sensible setting, low enough that every value
# fits the C types it ends in (c-ares' timeout is an int of milliseconds).
MAX_TIMEOUT = 300.0  # seconds per try
MAX_RATE = 10_000_000.0  # queries per second
MAX_RETRIES = 100
MAX_BURST = 10_000_000


def _number(value: object) -> float:
    """A finite int or float (not a bool, not NaN, not infinite)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _queries_per_second(value: object) -> float:
    try:
        rate = _number(value)
    except ValueError:
        raise ValueError(f"expected queries per second >= 0, got {value!r}") from None
    if not 0 <= rate <= MAX_RATE:
        raise ValueError(f"expected queries per second from 0 to {MAX_RATE:,.0f}, got {rate:g}")
    return rate


def _rate(value: object) -> float | Literal["auto"]:
    if value == "auto":
        return "auto"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"expected 'auto' or queries per second >= 0, got {value!r}") from None
    try:
        return _queries_per_second(value)
    except ValueError:
        raise ValueError(f"expected 'auto' or queries per second >= 0, got {value!r}") from None


def _port(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ValueError(f"expected a port from 1 to 65535, got {value!r}")
    return value


def _positive_rate(value: object) -> float:
    rate = _queries_per_second(value)
    if rate <= 0:
        raise ValueError(f"expected queries per second > 0, got {rate:g}")
    return rate


def _optional_positive_rate(value: object) -> float | None:
    return None if value is None else _positive_rate(value)


def _seconds(most: float) -> Callable[[object], float]:
    """A check for a duration: finite, above 0 and at most `most` seconds."""

    def seconds(value: object) -> float:
        try:
            duration = _number(value)
        except ValueError:
            raise ValueError(f"expected seconds > 0, got {value!r}") from None
        if not 0 < duration <= most:
            raise ValueError(f"expected seconds > 0 and at most {most:g}, got {duration:g}")
        return duration

    return seconds


def _bounded(check: Callable[[object], int], most: int) -> Callable[[object], int]:
    def bounded(value: object) -> int:
        number = check(value)
        if number > most:
            raise ValueError(f"at most {most:,}, got {number:,}")
        return number

    return bounded


def _strings(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return tuple(str(item) for item in items)


def _resolvers(value: object) -> tuple[str, ...]:
    texts = _strings(value)
    for text in texts:
        try:
            Nameserver.parse(text)
        except ResolverSpecError as exc:
            raise ValueError(str(exc)) from None
    return texts


def _networks(value: object) -> tuple[str, ...]:
    texts = _strings(value)
    for text in texts:
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"not a network (CIDR): {text[:100]!r}") from None
    return texts


def _workers(value: object) -> int | Literal["auto"]:
    if value == "auto":
        return "auto"
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    try:
        return _positive_int(value)
    except ValueError:
        raise ValueError(f"expected 'auto' or a positive integer, got {value!r}") from None


def _order(value: object) -> Order:
    if value == "random":
        return "random"
    if value == "sequential":
        return "sequential"
    raise ValueError(f"expected random or sequential, got {value!r}")


def _seed(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _patterns(value: object) -> tuple[str, ...]:
    patterns = _strings(value)
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
    return patterns


def _format(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in FORMATS:
        raise ValueError(f"expected one of {', '.join(FORMATS)}, got {value!r}")
    return value


_CHECKS: dict[str, Callable[[object], object]] = {
    "resolvers": _resolvers,
    "concurrency": _concurrency,
    "timeout": _seconds(MAX_TIMEOUT),
    "retries": _bounded(_non_negative_int, MAX_RETRIES),
    "give_up_after": _seconds(86_400),  # a day
    "rate": _rate,
    "start_rate": _optional_positive_rate,
    "max_rate": _positive_rate,
    "resolver_rate": _queries_per_second,
    "authoritative_rate": _queries_per_second,
    "authoritative_port": _port,
    "authoritative_allow": _networks,
    "burst": _bounded(_positive_int, MAX_BURST),
    "max_targets": _positive_int,
    "workers": _workers,
    "order": _order,
    "seed": _seed,
    "exclude": _strings,
    "format": _format,
    "generic_patterns": _patterns,
}
