"""What the scanner asks of a resolver, and where a resolver is.

The low layer every DNS module shares: `Nameserver` (a `--resolver` value,
parsed) and the protocols the engines, the retry layer and the checker meet
on. No DNS library is imported here, so the pure core (config) can name
nameservers without loading one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Protocol

from scanner.core.verdict import Lookup


class Resolver(Protocol):
    """Anything that answers lookups: an engine, the retry layer over several."""

    async def lookup(self, name: str, rtype: str) -> Lookup: ...

    async def aclose(self) -> None: ...


class Engine(Resolver, Protocol):
    """A single-try resolver for one nameserver (scanner/dns/cares_engine.py, aiodns_engine.py)."""

    nameserver: Nameserver
    queries: int

    async def lookup_patiently(self, name: str, rtype: str) -> Lookup:
        """One try that waits the whole configured timeout, not an adapted one."""
        ...


class ResolverSpecError(ValueError):
    """A `--resolver` value that is not `IP`, `IP:PORT` or `[IPv6]:PORT`."""


@dataclass(frozen=True, slots=True)
class Nameserver:
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        text = text.strip()
        host, port_text = text, ""
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ResolverSpecError(f"bad resolver {text!r}: expected [IPv6]:PORT")
            port_text = rest[1:]
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ResolverSpecError(
                f"bad resolver {text!r}: expected IP, IP:PORT or [IPv6]:PORT"
            ) from None
        last = host.rsplit(":", 1)[-1]
        if address.version == 6 and not text.startswith("[") and len(last) >= 4 and last.isdigit():
            # ::1:5353 is an address, but most likely meant as ::1 on port 5353.
            prefix = host[: -len(last)]
            prefix = prefix if prefix.endswith("::") else prefix[:-1]
            raise ResolverSpecError(
                f"ambiguous resolver {text!r}: write [{host}] for that address on port 53, "
                f"or [{prefix}]:{last} for a port"
            )
        port = 53
        if port_text:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise ResolverSpecError(f"bad resolver {text!r}: port must be 1-65535")
            port = int(port_text)
        return cls(address, port)

    def __str__(self) -> str:
        if self.address.version == 6:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


# --- what the engines and the retry layer remember about zones ----------------

# A zone's queries are told apart by this much of their name: a reverse zone
# is delegated per /24 (IPv4) and seldom below a /64 (IPv6); a forward name's
# zone is its parent, near enough. No lookup is made to find the real zone cut.
_REVERSE_LABELS = {"in-addr.arpa": 5, "ip6.arpa": 18}  # labels kept: 3 octets, 16 nibbles


def zone_key(name: str) -> str:
    """The part of `name` that stands for its zone in `ZoneMemory`.

    `5.2.0.192.in-addr.arpa` -> `2.0.192.in-addr.arpa`; an ip6.arpa name ->
    its /64; `mx1.example.com` -> `example.com`. Presentation format in,
    presentation format out (an escaped dot stays inside its label).
    """
    labels = _split_labels(name)
    for suffix, kept in _REVERSE_LABELS.items():
        if name.endswith(suffix) and len(labels) > kept:
            return ".".join(labels[-kept:])
    return ".".join(labels[1:]) if len(labels) > 1 else name


def _split_labels(name: str) -> list[str]:
    if "\\" not in name:
        return name.split(".")
    labels, label, escaped = [], "", False
    for char in name:
        if escaped:
            label, escaped = label + char, False
        elif char == "\\":
            label, escaped = label + char, True
        elif char == ".":
            labels.append(label)
            label = ""
        else:
            label += char
    labels.append(label)
    return labels


class ZoneMemory:
    """A bounded set of zone keys (`zone_key`): the oldest are forgotten first.

    The engines remember zones whose answers are malformed, the retry layer
    zones that answer slowly; a scan of a whole address space meets many, and
    what it remembers must not grow with it.
    """

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._keys: dict[str, None] = {}
        self.remembered = 0  # zones added in all, forgotten ones included

    def __contains__(self, name: str) -> bool:
        return bool(self._keys) and zone_key(name) in self._keys

    def add(self, name: str) -> None:
        key = zone_key(name)
        if key in self._keys:
            return
        if len(self._keys) >= self.limit:
            del self._keys[next(iter(self._keys))]
        self._keys[key] = None
        self.remembered += 1

    def __len__(self) -> int:
        return len(self._keys)
