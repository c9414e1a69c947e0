"""The lab's hostile case: names and zones as an attacker, or a careless owner, makes them.

Whoever controls an IP block chooses its PTR names, and DNS labels are any
bytes. An address of case `hostile` gets one scenario, by its address
(`int(ip) % len(SCENARIOS)`, so a block of that many consecutive addresses
holds every one), and its ground truth is made from the exact bytes the
records hold: the names are built as labels (bytes) and only then written in
presentation format, so no escaping of ours decides what the truth is.

Every scenario is something a scanner got wrong, or an output that turned
into a formula, a split row, a terminal escape (issue 11) or markup in a
report (issue 15): formula payloads, HTML tags
in any label and after a `;`, CR, LF, NUL, ESC, BEL, space, backslash,
quotes, UTF-8 and right-to-left marks, escaped dots, numeric-looking labels,
CNAME loops on both sides, a PTR to the root, referrals on both sides, and an
address whose forward cell is over 128 KB.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import dns.name

from scanner.core.status import Status

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def name(*labels: bytes, domain: str) -> str:
    """The name of `labels` under `domain`, in presentation format, as the lab keys names."""
    below = dns.name.from_text(domain.encode(), origin=dns.name.root)
    return dns.name.Name([*labels, *below.labels]).to_text(omit_final_dot=True).lower()


class Scenario:
    """What one hostile address holds, and what a correct scan says about it."""

    def __init__(self, title: str, status: Status, build: Callable[[Build], None]) -> None:
        self.title = title
        self.status = status
        self.build = build


class Build:
    """Collects one address's records, the names of its PTRs and the one that confirms."""

    def __init__(self, ip: IPAddress, domain: str, elsewhere: Callable[[int], IPAddress]) -> None:
        self.ip = ip
        self.domain = domain
        self.family = "A" if ip.version == 4 else "AAAA"
        self.tag = f"h{int(ip) & 0xFFFF:x}".encode()  # keeps each address's names apart
        self.elsewhere = elsewhere
        self.records: list[tuple[str, str, str]] = []  # (owner, type, value)
        self.ptrs: list[str] = []
        self.confirmed = ""
        self.reverse_cname: str | None = None
        self.delegations: dict[str, list[str]] = {}

    def host(self, *labels: bytes, confirms: bool = False, addresses: int = 1) -> str:
        """A name with an address record: the address itself, or `addresses` others."""
        owner = name(*labels, self.tag, domain=self.domain)
        targets = [self.ip] if confirms else [self.elsewhere(n) for n in range(addresses)]
        for target in targets:
            self.records.append((owner, self.family, str(target)))
        return owner

    def ptr(self, target: str, confirms: bool = False) -> None:
        self.ptrs.append(target)
        if confirms and not self.confirmed:
            self.confirmed = target


def _confirming(*labels: bytes) -> Callable[[Build], None]:
    def build(b: Build) -> None:
        b.ptr(b.host(*labels, confirms=True), confirms=True)

    return build


def _formula_second_ptr(b: Build) -> None:
    b.ptr(b.host(b"srv", confirms=True), confirms=True)
    b.ptr(b.host(b"=1+1"))
    b.ptr(b.host(b"=sum(1+1)"))
    b.ptr(b.host(b"@sum(1+1)"))


def _hostile_mismatch(b: Build) -> None:
    b.ptr(b.host(b'=hyperlink("http://x";"y")'))
    b.ptr(b.host(b"-2+3;+cmd|' /c calc'!a0"))


def _markup(b: Build) -> None:
    b.ptr(b.host(b"<script>alert(1)</script>"))
    b.ptr(b.host(b'"><img src=x onerror=alert(2)>'))


def _hostile_dangling(b: Build) -> None:
    b.ptr(name(b"gone\x1b]0;pwned\x07", b.tag, domain=b.domain))


def _cname_loop_forward(b: Build) -> None:
    first = name(b"loop-a", b.tag, domain=b.domain)
    second = name(b"loop;b", b.tag, domain=b.domain)
    b.records += [(first, "CNAME", second), (second, "CNAME", first)]
    b.ptr(first)


def _cname_loop_reverse(b: Build) -> None:
    b.reverse_cname = "loop"


def _root_ptr(b: Build) -> None:
    b.ptr("")  # the root: written "." in outputs


def _referral_reverse(b: Build) -> None:
    b.delegations["@reverse"] = ["ns1.customer.example", "ns2.customer.example"]


def _referral_forward(b: Build) -> None:
    zone = name(b"sub", b.tag, domain=b.domain)
    b.delegations[zone] = ["ns.elsewhere.example"]
    b.ptr(f"x.{zone}")


# Names over the UDP size (TCP then), and a forward cell of about 140 KB.
BIG_NAMES, BIG_ADDRESSES = 40, 250


def _big(b: Build) -> None:
    for index in range(BIG_NAMES):
        b.ptr(b.host(b"big-%d" % index, addresses=BIG_ADDRESSES))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("formula names after the first PTR", Status.PASS, _formula_second_ptr),
    Scenario("a formula that confirms", Status.PASS, _confirming(b"+cmd|' /c calc'!a0")),
    Scenario("';' inside a label", Status.PASS, _confirming(b"0012;=1+1;ns")),
    Scenario("CR and LF", Status.PASS, _confirming(b"a\r=1+1\n-2")),
    Scenario("NUL, BEL, ESC", Status.PASS, _confirming(b"nul\x00bel\x07esc\x1b[2j")),
    Scenario("space and backslash", Status.PASS, _confirming(b"a b\\c")),
    Scenario("UTF-8 and a right-to-left override", Status.PASS,
             _confirming("café\u202egnp.exe".encode())),
    Scenario("quotes, parentheses, $ and @", Status.PASS, _confirming(b"\"q\"(p)$d@a'")),
    Scenario("escaped dots", Status.PASS, _confirming(b"host.", b".dot")),
    Scenario("numeric-looking labels", Status.PASS, _confirming(b"0012", b"1e5", b"2024-01-02")),
    Scenario("hostile names elsewhere", Status.MISMATCH, _hostile_mismatch),
    Scenario("HTML markup in names", Status.MISMATCH, _markup),
    Scenario("a hostile name that does not exist", Status.NO_FORWARD, _hostile_dangling),
    Scenario("a forward CNAME loop", Status.NO_FORWARD, _cname_loop_forward),
    Scenario("a reverse CNAME loop", Status.PTR_NODATA, _cname_loop_reverse),
    Scenario("a PTR to the root", Status.NO_FORWARD, _root_ptr),
    Scenario("a referral for the reverse name", Status.REFUSED, _referral_reverse),
    Scenario("a referral for the forward name", Status.REFUSED, _referral_forward),
    Scenario("40 PTR names of 250 addresses each", Status.MISMATCH, _big),
)  # fmt: skip


def scenario_of(ip: IPAddress) -> Scenario:
    return SCENARIOS[int(ip) % len(SCENARIOS)]
