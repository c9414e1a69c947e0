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

from scanner.verdict import Lookup


class Resolver(Protocol):
    """Anything that answers lookups: an engine, the retry layer over several."""

    async def lookup(self, name: str, rtype: str) -> Lookup: ...

    async def aclose(self) -> None: ...


class Engine(Resolver, Protocol):
    """A single-try resolver for one nameserver (scanner/cares_binding.py, aiodns_engine.py)."""

    nameserver: Nameserver
    queries: int


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
