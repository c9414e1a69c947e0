import ipaddress

import pytest

from scanner.core.order import Permutation, Shard, ShardError, part_of, positions, share
from scanner.core.targets import TargetSet, parse_spec

SHAPES = {
    "one address": (["198.18.0.7"], []),
    "a /24": (["198.18.0.0/24"], []),
    "odd sizes, mixed families": (
        ["198.18.0.3-198.18.1.17", "2001:db8::/119", "2001:db8:9::5"],
        [],
    ),
    "with exclusions": (
        ["198.18.0.0/22", "2001:db8::/118"],
        ["198.18.1.0/25", "198.18.2.77", "2001:db8::100-2001:db8::2ff"],
    ),
    "power of four plus one": (["198.18.0.0/24", "198.18.1.0"], []),
}


def target_set(shape):
    include, exclude = SHAPES[shape]
    return TargetSet.build([parse_spec(t) for t in include], [parse_spec(t) for t in exclude])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1, 99])
def test_random_order_visits_every_target_exactly_once(shape, seed):
    targets = target_set(shape)
    scanned = list(targets.addresses(positions(targets.count, order="random", seed=seed)))
    assert len(scanned) == targets.count
    assert sorted(scanned, key=lambda ip: (ip.version, int(ip))) == list(targets)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("order", ["random", "sequential"])
def test_shards_partition_the_set(shape, order):
    targets = target_set(shape)
    everything = list(targets.addresses(positions(targets.count, order=order, seed=5)))
    for count in (2, 3, 7):
        parts = [
            list(targets.addresses(positions(targets.count, order=order, seed=5,
                                             shard=Shard(k, count))))
            for k in range(1, count + 1)
        ]  # fmt: skip
        assert sum(len(part) for part in parts) == targets.count
        assert set().union(*map(set, parts)) == set(everything)
        sizes = [len(part) for part in parts]
        assert max(sizes) - min(sizes) <= 1


def test_sequential_is_address_order_and_random_spreads_over_zones():
    targets = target_set("a /24")
    assert list(targets.addresses(positions(256, order="sequential", seed=0))) == list(targets)
    big = TargetSet.build([parse_spec("198.18.0.0/16")])
    first = list(big.addresses(positions(big.count, order="random", seed=1)))[:256]
    zones = {str(ip).rsplit(".", 1)[0] for ip in first}
    # Sequential: 1 zone. Uniformly random draws: about 162 of the 256 /24 zones.
    assert len(zones) > 140
    # An odd number of bits (unequal Feistel halves) spreads as well: about 111 of 128.
    odd = TargetSet.build([parse_spec("198.18.0.0/17")])
    first = list(odd.addresses(positions(odd.count, order="random", seed=1)))[:256]
    assert len({str(ip).rsplit(".", 1)[0] for ip in first}) > 95


def test_the_seed_decides_the_order():
    assert list(Permutation(1000, 1)) == list(Permutation(1000, 1))
    assert list(Permutation(1000, 1)) != list(Permutation(1000, 2))


def test_address_at_matches_iteration():
    targets = target_set("odd sizes, mixed families")
    assert [targets.address_at(i) for i in range(targets.count)] == list(targets)
    assert targets.address_at(0) == ipaddress.ip_address("198.18.0.3")


@pytest.mark.parametrize("text", ["0/4", "5/4", "1", "a/b", "1/0"])
def test_bad_shards(text):
    with pytest.raises(ShardError):
        Shard.parse(text)


@pytest.mark.parametrize("total", [0, 1, 7, 64, 1000])
@pytest.mark.parametrize("parts", [1, 2, 3, 8])
def test_share_counts_the_positions_each_part_takes(total, parts):

    counted = [share(total, parts, part) for part in range(parts)]
    assert counted == [sum(1 for p in range(total) if p % parts == part) for part in range(parts)]
    assert sum(counted) == total


@pytest.mark.parametrize("total", [0, 1, 7, 64, 1000])
@pytest.mark.parametrize("parts", [1, 2, 3, 8])
def test_the_parts_cover_every_position_once_and_share_counts_them(total, parts):
    taken = [list(part_of(range(total), parts, part)) for part in range(parts)]
    assert sorted(p for positions in taken for p in positions) == list(range(total))
    assert [len(positions) for positions in taken] == [share(total, parts, k) for k in range(parts)]
    assert all(p % parts == k for k, positions in enumerate(taken) for p in positions)
