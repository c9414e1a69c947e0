"""The pipeline with an in-memory resolver: exactly one row per target, bounded concurrency."""

import ipaddress
import os
import signal

import anyio
import anyio.lowlevel
from fakes import ScriptedResolver

from scanner.core.status import Outcome, Status
from scanner.core.targets import TargetSet, parse_spec
from scanner.core.verdict import Lookup
from scanner.scan.checker import MAX_CNAME_HOPS, Tally, check_ip, resolve
from scanner.scan.pool import run_scan

# A lookup takes longer than handing out a target: 20 checkpoints.
STEPS = 20


class ListSink:
    def __init__(self):
        self.rows = []

    async def write(self, results):
        self.rows.extend(results)


def lab_answers(targets):
    answers = {}
    for ip in targets:
        n = int(ip) % 4
        name = f"h{int(ip)}.example"
        if n == 0:
            continue  # no PTR
        answers[(ip.reverse_pointer, "PTR")] = Lookup(Outcome.ANSWER, (name,))
        rtype = "A" if ip.version == 4 else "AAAA"
        if n == 1:
            answers[(name, rtype)] = Lookup(Outcome.ANSWER, (str(ip),))
        elif n == 2:
            answers[(name, rtype)] = Lookup(Outcome.ANSWER, (), ("alias.far.example",))
            answers[("alias.far.example", rtype)] = Lookup(Outcome.ANSWER, ("203.0.113.9",))
    return answers


def rows_key(ip):
    return (ip.version, int(ip))


def scan(targets, resolver, concurrency, **kwargs):
    sink = ListSink()

    async def main():
        return await run_scan(
            enumerate(targets), resolver, [sink], concurrency=concurrency, **kwargs
        )

    summary = anyio.run(main)
    return sink.rows, summary


def test_every_target_yields_exactly_one_row_and_concurrency_is_bounded():
    targets = TargetSet.build([parse_spec("198.18.0.0/23"), parse_spec("2001:db8::/120")])
    resolver = ScriptedResolver(lab_answers(targets), steps=STEPS)
    rows, summary = scan(targets, resolver, concurrency=7, stop_signals=())
    assert sorted(rows_key(r.ip) for r in rows) == [rows_key(ip) for ip in targets]
    assert resolver.max_in_flight == 7
    assert summary.scanned == len(targets) and summary.queries == resolver.queries
    by_kind = {n: {r.status for r in rows if int(r.ip) % 4 == n} for n in range(4)}
    assert by_kind == {
        0: {Status.NO_PTR},
        1: {Status.PASS},
        2: {Status.MISMATCH},
        3: {Status.NO_FORWARD},
    }


def test_cname_chains_are_followed_across_queries():
    ip = ipaddress.ip_address("198.18.0.2")
    answers = lab_answers([ip])
    result = anyio.run(check_ip, ip, ScriptedResolver(answers, steps=STEPS))
    assert result.status is Status.MISMATCH
    assert result.forward[0].lookup.cnames == ("alias.far.example",)
    assert result.forward[0].lookup.records == ("203.0.113.9",)
    assert result.queries == 3


def test_sigint_stops_the_scan_and_keeps_every_row_made():
    targets = TargetSet.build([parse_spec("198.18.0.0/16")])

    def interrupt_once(resolver):
        if resolver.queries == 500:
            os.kill(os.getpid(), signal.SIGINT)

    resolver = ScriptedResolver(lab_answers([]), on_query=interrupt_once, steps=STEPS)
    rows, summary = scan(targets, resolver, concurrency=10)
    assert summary.interrupted
    assert 0 < len(rows) < len(targets)
    assert len({r.ip for r in rows}) == len(rows) == summary.scanned


def test_a_cname_loop_across_queries_is_no_data_found_at_the_first_repeat():
    answers = {
        ("x.example", "A"): Lookup(Outcome.ANSWER, (), ("y.example",)),
        ("y.example", "A"): Lookup(Outcome.ANSWER, (), ("x.example",)),
    }
    tally = Tally()
    lookup = anyio.run(resolve, ScriptedResolver(answers, steps=STEPS), "x.example", "A", tally)
    assert lookup.outcome is Outcome.NODATA
    assert lookup.detail == "CNAME loop: x.example -> y.example -> x.example"
    assert tally.queries == tally.attempts == 2


def test_a_cname_chain_too_long_without_a_loop_is_still_a_bad_response():
    answers = {
        (f"n{i}.example", "A"): Lookup(Outcome.ANSWER, (), (f"n{i + 1}.example",))
        for i in range(MAX_CNAME_HOPS + 5)
    }
    lookup = anyio.run(resolve, ScriptedResolver(answers, steps=STEPS), "n0.example", "A", Tally())
    assert lookup.outcome is Outcome.BAD_RESPONSE and "too long" in lookup.detail
    assert len(lookup.cnames) == MAX_CNAME_HOPS + 1


def test_a_rows_mark_carries_its_status_postfix_verdict_and_findings():
    import ipaddress
    import itertools

    from scanner.core.authority import AuthorityCheck, ZoneHealth
    from scanner.core.mail import Postfix, mail_of
    from scanner.core.status import Outcome, Stage, Status
    from scanner.core.summary import Marks, labels, mark, split_labels, status_of
    from scanner.core.verdict import ForwardCheck, Lookup, ScanResult

    ip = ipaddress.ip_address("192.0.2.1")
    # One name per Postfix verdict: confirms, elsewhere, timed out, and both.
    forwards = [
        (ForwardCheck("a.example", Lookup(Outcome.ANSWER, ("192.0.2.1",))),),
        (ForwardCheck("b.example", Lookup(Outcome.ANSWER, ("192.0.2.9",))),),
        (ForwardCheck("c.example", Lookup(Outcome.TIMEOUT)),),
        (ForwardCheck("a.example", Lookup(Outcome.ANSWER, ("192.0.2.1",))),
         ForwardCheck("b.example", Lookup(Outcome.ANSWER, ("192.0.2.9",)))),
    ]  # fmt: skip
    zone = ZoneHealth("2.0.192.in-addr.arpa", ())
    authority = [
        None,
        *(AuthorityCheck(zone, (), consistent) for consistent in (True, False, None)),
    ]
    seen = set()
    for status in Status:
        for forward in forwards:
            for generic, expected, checked in itertools.product(
                (False, True), (None, True, False), authority
            ):
                names = tuple(check.name for check in forward)
                result = ScanResult(ip, status, Stage.FORWARD, names, forward=forward,
                                    generic_ptr=generic, expected_match=expected,
                                    authority=checked)  # fmt: skip
                marked = mark(result)
                postfix = mail_of(result).postfix
                seen.add(postfix)
                assert 0 <= marked < 2**16 and status_of(marked) is status
                assert Marks("H", [marked])[0] == marked  # the pipeline's 16 bits hold it
                wanted = [status.value, f"postfix:{postfix.value}"]
                wanted += ["expected_mismatch"] if expected is False else []
                wanted += ["generic_ptr"] if generic else []
                wanted += ["ns_inconsistent"] if checked and checked.consistent is False else []
                assert list(labels(marked)) == wanted
                counted = split_labels(dict.fromkeys(labels(marked), 1))
                assert counted[0] == {status: 1} and counted[2] == {postfix: 1}
    assert seen == set(Postfix)
