"""Walking the reverse tree (issue 26): the names below a prefix, and what each answer means.

A prefix no one can list (an IPv6 /48 is 2^80 addresses) is audited by
asking the reverse names below it one label at a time (a nibble in
`ip6.arpa`, an octet in `in-addr.arpa`) and descending only where a name
exists. RFC 8020: NXDOMAIN means nothing exists at or below the name; an
empty non-terminal answers NOERROR without data. So every answer is one of:

- `NOTHING`: NXDOMAIN. The whole subtree is empty; nothing more is asked.
- `DESCEND`: the name exists (NOERROR, with or without data) and is not an
  address yet: its children are asked.
- `FOUND`: a leaf exists: the reverse name of one IPv6 address (its row is
  made by the normal check), or of an IPv4 /24, whose 256 addresses are all
  checked (IPv4 space is small enough to ask each address, and each gets a row).
- `UNSEEN`: no answer to judge by (timeout, SERVFAIL, REFUSED, a referral,
  an error). The subtree is *not* taken as empty: it becomes one row for the
  prefix with the transient status, and `--rescan-failed` walks it again.

Pure: the caller asks the questions (many at once, through the retry
layer) and hands the outcomes back.

>>> import ipaddress
>>> top = ipaddress.ip_network("2001:db8:42::/48")
>>> reverse_name_of(top)
'2.4.0.0.8.b.d.0.1.0.0.2.ip6.arpa'
>>> [str(n) for n in start_nodes(ipaddress.ip_network("2001:db8:42::/50"))][:2]
['2001:db8:42::/52', '2001:db8:42:1000::/52']
>>> judge(top, Outcome.NODATA), judge(top, Outcome.NXDOMAIN), judge(top, Outcome.SERVFAIL)
(<Step.DESCEND: 'descend'>, <Step.NOTHING: 'nothing'>, <Step.UNSEEN: 'unseen'>)
"""

from __future__ import annotations

import ipaddress
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum

from scanner.core.status import Outcome

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Step(StrEnum):
    NOTHING = "nothing"  # NXDOMAIN: nothing at or below the name
    DESCEND = "descend"  # the name exists, and names below it may
    FOUND = "found"  # the reverse name of one address exists
    UNSEEN = "unseen"  # no answer to judge by: the subtree is not walked


def label_bits(network: Network) -> int:
    """Bits per label of the reverse tree: a nibble for IPv6, an octet for IPv4."""
    return 4 if network.version == 6 else 8


def reverse_name_of(network: Network) -> str:
    """The reverse name that covers exactly `network` (its length a whole number of labels)."""
    bits = label_bits(network)
    if network.prefixlen % bits:
        raise ValueError(f"{network} does not end on a label boundary ({bits} bits)")
    labels = network.prefixlen // bits
    if network.version == 6:
        digits = f"{int(network.network_address):032x}"[:labels]
        return ".".join(reversed(digits)) + (".ip6.arpa" if labels else "ip6.arpa")
    octets = str(network.network_address).split(".")[:labels]
    return ".".join(reversed(octets)) + (".in-addr.arpa" if labels else "in-addr.arpa")


def start_nodes(network: Network) -> Iterator[Network]:
    """The names the walk of `network` starts from: itself, or, when it does not end on a
    label boundary (a /50), the label-aligned prefixes that cover it (four /52s)."""
    bits = label_bits(network)
    aligned = -(-network.prefixlen // bits) * bits
    yield from network.subnets(new_prefix=aligned) if aligned != network.prefixlen else [network]


def children(network: Network) -> Iterator[Network]:
    """The names one label below: 16 (IPv6) or 256 (IPv4)."""
    return network.subnets(prefixlen_diff=label_bits(network))


# An IPv4 walk stops at the /24s: their addresses are checked one by one, as in a scan.
IPV4_LEAF = 24


def is_leaf(network: Network) -> bool:
    """Where the walk stops descending: an IPv6 address, an IPv4 /24 (or smaller)."""
    if network.version == 4:
        return network.prefixlen >= IPV4_LEAF
    return network.prefixlen == network.max_prefixlen


# NOERROR answers: the name exists.
_EXISTS = frozenset({Outcome.ANSWER, Outcome.NODATA})


def judge(network: Network, outcome: Outcome) -> Step:
    """What the answer to the PTR question of `network`'s reverse name means for the walk."""
    if outcome is Outcome.NXDOMAIN:
        return Step.NOTHING
    if outcome in _EXISTS:
        return Step.FOUND if is_leaf(network) else Step.DESCEND
    return Step.UNSEEN


def frontier(starts: Iterable[Network], answered: Mapping[Network, Step]) -> Iterator[Network]:
    """The names still to ask of a walk that has `answered` these (a walk resumed),
    in the order the walk asks them: below `starts`, children of the names that
    exist, not yet answered.

    >>> import ipaddress
    >>> top = ipaddress.ip_network("2001:db8::/124")
    >>> done = {top: Step.DESCEND, ipaddress.ip_network("2001:db8::/128"): Step.NOTHING}
    >>> [str(n) for n in frontier([top], done)][:2]
    ['2001:db8::1/128', '2001:db8::2/128']
    """
    waiting = deque(starts)
    while waiting:
        node = waiting.popleft()
        step = answered.get(node)
        if step is None:
            yield node
        elif step is Step.DESCEND:
            waiting.extend(children(node))
