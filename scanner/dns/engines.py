"""The choice of engine: the c-ares binding, or aiodns when the binding changed.

Both engines are c-ares. The fast one (scanner/dns/cares_engine.py) calls it
through the CFFI binding that pycares compiles, whose declarations are pycares'
internals; the fallback (scanner/dns/aiodns_engine.py) goes through aiodns' public
API, about half as fast. `open_resolver()` takes the binding when every symbol
it uses is there, and otherwise says so once (through `notice`) and takes the
fallback, so a pycares upgrade that changes its internals slows a scan down
instead of breaking it. `FCRDNS_DNS_ENGINE=aiodns` forces the fallback.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pycares

from scanner.core.lookups import Engine, Nameserver
from scanner.core.notices import log_notice

ENGINE_VARIABLE = "FCRDNS_DNS_ENGINE"
_chosen: Callable[..., Engine] | None = None


def engine_class(notice: Callable[[str], None] | None = None) -> Callable[..., Engine]:
    """The engine to scan with: the binding unless it changed (or the fallback is forced)."""
    global _chosen
    if _chosen is not None:
        return _chosen
    say = notice or log_notice
    forced = os.environ.get(ENGINE_VARIABLE, "")
    if forced not in ("", "cares", "aiodns"):
        say(f"{ENGINE_VARIABLE}={forced!r} is not cares or aiodns; choosing as usual")
    if forced != "aiodns":
        try:
            from scanner.dns.cares_engine import AresResolver

            _chosen = AresResolver
            return _chosen
        except Exception as exc:  # the binding's internals changed: any failure
            say(
                f"pycares {pycares.__version__}'s compiled binding is not what this version "
                f"expects ({exc}); scanning through aiodns instead, about half as fast"
            )
    from scanner.dns.aiodns_engine import AiodnsResolver

    _chosen = AiodnsResolver
    return _chosen


def open_resolver(
    nameserver: Nameserver,
    *,
    timeout: float,
    resolvconf: str,
    notice: Callable[[str], None] | None = None,
) -> Engine:
    """A single-try resolver for one nameserver, through the engine chosen for this process."""
    return engine_class(notice)(nameserver, timeout=timeout, resolvconf=resolvconf)
