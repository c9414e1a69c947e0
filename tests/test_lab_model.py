import ipaddress
from collections import Counter

import pytest

from scanner.lab.config import CASES, LabConfig, LabConfigError, reverse_zone
from scanner.lab.model import build, zone_of


def config(networks, mix=None):
    mix = mix or dict.fromkeys(CASES, 1)
    return LabConfig.from_mapping(
        {"seed": 3, "networks": [{"cidr": c, "mix": mix} for c in networks]}
    )


@pytest.mark.parametrize(
    ("cidr", "zone"),
    [
        ("198.18.0.0/16", "18.198.in-addr.arpa"),
        ("198.18.0.0/20", "18.198.in-addr.arpa"),
        ("198.18.4.0/24", "4.18.198.in-addr.arpa"),
        ("198.18.0.0/15", "198.in-addr.arpa"),
        (
            "2001:db8:1::/120",
            "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
        ),
        ("2001:db8::/32", "8.b.d.0.1.0.0.2.ip6.arpa"),
        ("2001:db8::/34", "8.b.d.0.1.0.0.2.ip6.arpa"),
    ],
)
def test_reverse_zone_is_cut_on_label_boundaries(cidr, zone):
    assert reverse_zone(ipaddress.ip_network(cidr)) == zone


def test_every_case_appears_and_the_choice_is_deterministic():
    lab = config(["198.18.0.0/22", "2001:db8:1::/118"])
    zones, truth = build(lab)
    _, again = build(lab)
    assert truth == again
    counts = Counter(t.case for t in truth)
    assert set(counts) == set(CASES)
    # Equal weights: every case gets roughly an equal share.
    assert min(counts.values()) > len(truth) / len(CASES) / 2
    for item in truth:
        assert zone_of(zones.zones, item.ip.reverse_pointer) is not None
        assert item.status is CASES[item.case]


def test_confirming_names_point_back_and_mismatches_point_elsewhere():
    zones, truth = build(config(["198.18.0.0/24"]))
    for item in truth:
        if item.confirmed_name:
            name = item.confirmed_name
            target = zones.records[name].get("CNAME", [name])[0]
            assert str(item.ip) in zones.records[target]["A"]
        if item.case == "mismatch":
            (address,) = zones.records[item.ptr_names[0]]["A"]
            assert ipaddress.ip_address(address) in ipaddress.ip_network("203.0.113.0/24")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"networks": []}, "'networks' is empty"),
        ({"networks": [{"cidr": "198.18.0.1/24", "mix": {"confirm": 1}}]}, r"networks\[1\]\.cidr"),
        ({"networks": [{"cidr": "198.18.0.0/24", "mix": {"bogus": 1}}]}, "unknown case 'bogus'"),
        ({"netwroks": []}, "unknown key 'netwroks'"),
        ({"networks": [{"cidr": "198.18.0.0/24", "mix": {"confirm": 1}, "sparse": 5}]},
         "sparse: needs a nibble-aligned IPv6 network"),
        ({"networks": [{"cidr": "2001:db8::/48", "mix": {"confirm": 1}, "sparse": 5,
                        "child_zone": "2001:db9::/56"}]}, "is not inside 2001:db8::/48"),
        ({"networks": [{"cidr": "2001:db8::/48", "mix": {"confirm": 1},
                        "dead_delegation": "2001:db8::/56"}]}, "only a sparse network"),
    ],
)  # fmt: skip
def test_bad_lab_configs(data, message):
    with pytest.raises(LabConfigError, match=message):
        LabConfig.from_mapping(data)
