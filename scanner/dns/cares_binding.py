"""pycares' compiled c-ares binding: checked before use, and answers read out of it.

The binding's declarations are pycares' internals, not its API: importing this
module first checks that every symbol used here is declared (`REQUIRED`) and
raises `BindingChanged` otherwise, before anything would fail half-way through
a scan; scanner/dns/engines.py then falls back to aiodns. One function pycares
does not declare, `ares_dns_record_get_rcode` (c-ares' public API, exported by
the same library), is reached through a small ABI-mode declaration of its own.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import cffi
from pycares import _cares

from scanner.core.names import normal_name
from scanner.dns.translate import AnswerRecord, foreign_kind


class BindingChanged(RuntimeError):
    """pycares' compiled binding lacks something this module uses."""


# Every declaration of the binding this module uses: functions, constants,
# option fields and C types. tests/test_engines.py checks the list is complete.
REQUIRED = {
    "functions": (
        "ares_init_options", "ares_set_servers_csv", "ares_query_dnsrec", "ares_process_fd",
        "ares_destroy", "ares_dns_record_rr_cnt", "ares_dns_record_rr_get_const",
        "ares_dns_rr_get_type", "ares_dns_rr_get_name", "ares_dns_rr_get_str",
        "ares_dns_rr_get_addr", "ares_dns_rr_get_addr6", "ares_dns_rr_get_class", "ares_timeout",
    ),
    "constants": (
        "ARES_REC_TYPE_PTR", "ARES_REC_TYPE_A", "ARES_REC_TYPE_AAAA", "ARES_REC_TYPE_NS",
        "ARES_REC_TYPE_SOA", "ARES_REC_TYPE_CNAME", "ARES_RR_PTR_DNAME", "ARES_RR_CNAME_CNAME",
        "ARES_RR_NS_NSDNAME", "ARES_RR_A_ADDR", "ARES_RR_AAAA_ADDR", "ARES_SECTION_ANSWER",
        "ARES_SECTION_AUTHORITY", "ARES_CLASS_IN", "ARES_OPT_TIMEOUTMS", "ARES_OPT_TRIES",
        "ARES_OPT_UDP_PORT", "ARES_OPT_TCP_PORT", "ARES_OPT_SOCK_STATE_CB", "ARES_OPT_RESOLVCONF",
        "ARES_OPT_SOCK_RCVBUF", "ARES_OPT_FLAGS", "ARES_FLAG_EDNS", "ARES_FLAG_STAYOPEN",
    ),
    "option_fields": (
        "timeout", "tries", "udp_port", "tcp_port", "sock_state_cb", "sock_state_cb_data",
        "resolvconf_path", "qcache_max_ttl", "socket_receive_buffer_size", "udp_max_queries",
        "maxtimeout", "flags",
    ),
    "types": (
        "ares_channel *", "struct ares_options *", "ares_status_t",
        "struct ares_dns_record *", "struct timeval *",
        "void(*)(void *, ares_status_t, size_t, struct ares_dns_record *)",
        "void(*)(void *, int32_t, int, int)",
    ),
}  # fmt: skip


def missing_symbols(binding: Any) -> list[str]:
    """What `REQUIRED` names that `binding` (a CFFI module: .ffi, .lib) does not declare."""
    ffi, lib = binding.ffi, binding.lib
    missing = [name for name in REQUIRED["functions"] + REQUIRED["constants"]
               if not hasattr(lib, name)]  # fmt: skip
    try:
        options = ffi.new("struct ares_options *")
    except ffi.error:
        return [*missing, "struct ares_options"]
    missing += [f"ares_options.{field}" for field in REQUIRED["option_fields"]
                if not hasattr(options, field)]  # fmt: skip
    for declaration in REQUIRED["types"]:
        try:
            ffi.typeof(declaration)
        except ffi.error:
            missing.append(declaration)
    return missing


if _missing := missing_symbols(_cares):
    raise BindingChanged(f"missing {', '.join(_missing)}")

ffi, lib = _cares.ffi, _cares.lib

# c-ares' public API that pycares' binding does not declare, from the same library.
_public_ffi = cffi.FFI()
_public_ffi.cdef("int ares_dns_record_get_rcode(const void *dnsrec);")
try:
    _public = _public_ffi.dlopen(_cares.__file__)
    # Takes the binding's `struct ares_dns_record *` as it is (a void * parameter).
    rcode_of = _public.ares_dns_record_get_rcode
except (OSError, AttributeError) as exc:
    raise BindingChanged(f"ares_dns_record_get_rcode: {exc}") from None


# The record types the scanner asks for, by name and by c-ares code.
QUERY_TYPES = {
    "PTR": lib.ARES_REC_TYPE_PTR,
    "A": lib.ARES_REC_TYPE_A,
    "AAAA": lib.ARES_REC_TYPE_AAAA,
    "NS": lib.ARES_REC_TYPE_NS,
    "SOA": lib.ARES_REC_TYPE_SOA,
}

_IN = lib.ARES_CLASS_IN

# --- reading answers out of c-ares' parsed record --------------------------


def _text(pointer: Any) -> str:
    # c-ares escapes anything unprintable in names (\DDD), so this is ASCII.
    text: bytes = ffi.string(pointer)
    return text.decode("ascii", "replace")


def _name_field(key: int) -> Callable[[Any], str]:
    return lambda rr: normal_name(_text(lib.ares_dns_rr_get_str(rr, key)))


def _address_field(
    family: int, getter: Callable[[Any, int], Any], key: int, size: int
) -> Callable[[Any], str]:
    return lambda rr: socket.inet_ntop(family, ffi.buffer(getter(rr, key), size)[:])


_FIELD_READERS = {
    lib.ARES_REC_TYPE_PTR: ("PTR", _name_field(lib.ARES_RR_PTR_DNAME)),
    lib.ARES_REC_TYPE_CNAME: ("CNAME", _name_field(lib.ARES_RR_CNAME_CNAME)),
    lib.ARES_REC_TYPE_NS: ("NS", _name_field(lib.ARES_RR_NS_NSDNAME)),
    lib.ARES_REC_TYPE_SOA: ("SOA", None),
    lib.ARES_REC_TYPE_A: (
        "A",
        _address_field(socket.AF_INET, lib.ares_dns_rr_get_addr, lib.ARES_RR_A_ADDR, 4),
    ),
    lib.ARES_REC_TYPE_AAAA: (
        "AAAA",
        _address_field(socket.AF_INET6, lib.ares_dns_rr_get_addr6, lib.ARES_RR_AAAA_ADDR, 16),
    ),
}


def answer_records(
    dnsrec: Any, section: int = lib.ARES_SECTION_ANSWER, *, foreign: bool = True
) -> list[AnswerRecord]:
    """A section's records of the types the scanner reads.

    `foreign`: records of other types or classes are kept too, with an empty
    value (scanner/dns/translate.py, `foreign_kind`), so that an answer made of
    them is seen to be a wrong one; otherwise they are skipped.
    """
    records = []
    for index in range(lib.ares_dns_record_rr_cnt(dnsrec, section)):
        rr = lib.ares_dns_record_rr_get_const(dnsrec, section, index)
        rtype = lib.ares_dns_rr_get_type(rr)
        known = _FIELD_READERS.get(rtype)
        rclass = lib.ares_dns_rr_get_class(rr)
        if known is not None and rclass == _IN:
            kind, read = known
            owner = normal_name(_text(lib.ares_dns_rr_get_name(rr)))
            records.append((kind, owner, owner if read is None else read(rr)))
        elif foreign:
            owner = normal_name(_text(lib.ares_dns_rr_get_name(rr)))
            records.append((foreign_kind(rtype, rclass), owner, ""))
    return records
