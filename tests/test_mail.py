"""Mail verdicts: Postfix' host-name syntax, iprev and Postfix' judgement, and on the lab."""

from __future__ import annotations

import csv
import ipaddress
import json

import pytest
from helpers import api_scan, write_lab_config

from scanner.core.mail import Iprev, Postfix, hostname_problem, judge, mail_reason
from scanner.core.status import Outcome
from scanner.core.verdict import ForwardCheck, Lookup, decide
from scanner.lab.process import LabProcess
from scanner.lab.truth import compare

IP = ipaddress.ip_address("192.0.2.10")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("mail.example.com", ""),
        ("srv_10.example.com", ""),  # underscore: tolerated ("grr..")
        ("a-b.example", ""),
        ("1-2.example", ""),  # a hyphen makes it non-numeric
        ("192.0.2.10.example", ""),  # digits with a name after them: a name
        ("192.0.2.10", "looks like an address"),
        ("10", "looks like an address"),
        ("-a.example", "hyphen"),
        ("a-.example", "hyphen"),
        ("a..example", "empty label"),
        ("a b.example", "character"),
        ("a\\.b.example", "character"),
        ("é.example", "character"),
        ("x" * 64 + ".example", "longer than 63"),
        (".".join(["a" * 63] * 4), ""),  # 255 characters: the most there may be
        (".".join(["a" * 63] * 5), "longer than 255"),
        ("", "empty"),
    ],
)
def test_hostname_syntax_as_postfix_judges_it(name, problem):
    found = hostname_problem(name)
    assert (found == "") == (problem == "")
    assert problem in found


def _result(*checks: tuple[str, Lookup]):
    names = tuple(name for name, _ in checks)
    forward = [ForwardCheck(name, lookup) for name, lookup in checks]
    return decide(IP, Lookup(Outcome.ANSWER, names), forward)


HERE = Lookup(Outcome.ANSWER, (str(IP),))
ELSEWHERE = Lookup(Outcome.ANSWER, ("192.0.2.99",))


@pytest.mark.parametrize(
    ("checks", "iprev", "postfix", "strict", "valid"),
    [
        ([("a.example", HERE)], Iprev.PASS, Postfix.ACCEPT, True, True),
        ([("a.example", HERE), ("b.example", ELSEWHERE)], Iprev.PASS, Postfix.INTERMITTENT,
         False, True),
        ([("a.example", ELSEWHERE)], Iprev.FAIL, Postfix.REJECT, False, True),
        ([("a.example", Lookup(Outcome.NXDOMAIN))], Iprev.FAIL, Postfix.REJECT, False, True),
        ([("a.example", Lookup(Outcome.SERVFAIL))], Iprev.TEMPERROR, Postfix.TEMPFAIL, None,
         True),
        ([("a.example", HERE), ("b.example", Lookup(Outcome.TIMEOUT))], Iprev.PASS,
         Postfix.INTERMITTENT, None, True),
        # No order gets the mail in: 550 for one name, 450 for the other, never 250.
        ([("a.example", ELSEWHERE), ("b.example", Lookup(Outcome.TIMEOUT))], Iprev.TEMPERROR,
         Postfix.REJECT, False, True),
        ([("-bad.example", HERE), ("b.example", Lookup(Outcome.SERVFAIL))], Iprev.PASS,
         Postfix.REJECT, None, False),
        ([("192.0.2.10", HERE)], Iprev.PASS, Postfix.REJECT, True, False),
        ([("srv_1.example", HERE)], Iprev.PASS, Postfix.ACCEPT, True, True),
    ],
)  # fmt: skip
def test_judged_as_receivers_judge(checks, iprev, postfix, strict, valid):
    verdict = judge(_result(*checks))
    assert (verdict.iprev, verdict.postfix) == (iprev, postfix)
    assert verdict.all_names_confirm is strict and verdict.valid_hostname is valid


def test_no_ptr_and_a_failed_ptr_lookup():
    no_ptr = judge(decide(IP, Lookup(Outcome.NXDOMAIN)))
    assert (no_ptr.iprev, no_ptr.postfix, no_ptr.all_names_confirm) == (
        Iprev.PERMERROR, Postfix.REJECT, False,
    )  # fmt: skip
    assert no_ptr.valid_hostname is None
    failed = judge(decide(IP, Lookup(Outcome.SERVFAIL)))
    assert (failed.iprev, failed.postfix, failed.all_names_confirm) == (
        Iprev.TEMPERROR, Postfix.TEMPFAIL, None,
    )  # fmt: skip


def test_the_reason_says_what_matters_for_mail():
    three = _result(("a.example", HERE), ("b.example", ELSEWHERE), ("c.example", ELSEWHERE))
    assert mail_reason(judge(three)) == (
        "2 of 3 PTR names do not map back (Postfix accepts a.example, rejects b.example, "
        "rejects c.example): Postfix picks one per connection, so mail is rejected "
        "intermittently; remove the stale PTR records"
    )
    never = _result(("a.example", ELSEWHERE), ("b.example", Lookup(Outcome.TIMEOUT)))
    assert mail_reason(judge(never)) == (
        "no PTR name is accepted (Postfix rejects a.example, defers b.example): it rejects "
        "(550) or defers (450) by the name it picks, and never accepts; fix the names' "
        "forward records"
    )
    numeric = mail_reason(judge(_result(("192.0.2.10", HERE))))
    assert "192.0.2.10 (only digits and dots: it looks like an address)" in numeric
    assert mail_reason(judge(_result(("a.example", HERE)))) == ""


MAIL_MIX = {
    "confirm": 3, "multi": 3, "multi_mismatch": 1, "mismatch": 2, "no_ptr": 2, "ptr_nodata": 1,
    "dangling": 1, "wrong_family": 1, "servfail": 1, "underscore": 2, "numeric": 2, "cname": 1,
}  # fmt: skip


def test_mail_columns_equal_the_labs_truth(tmp_path):
    networks = ["198.18.0.0/25", "2001:db8:7::/122"]
    config = write_lab_config(tmp_path / "lab.yaml", networks, MAIL_MIX)
    truth = tmp_path / "truth.csv"
    jsonl = tmp_path / "r.jsonl"
    with LabProcess(["--config", str(config), "--truth", str(truth)]) as lab:
        rows, summary = api_scan(tmp_path / "r.csv", networks, lab.address, also=[jsonl])
    for path in (tmp_path / "r.csv", jsonl):
        comparison = compare(str(path), str(truth))
        assert comparison.ok, comparison.as_text()
    with truth.open(encoding="utf-8", newline="") as handle:
        cases = {row["ip"]: row["case"] for row in csv.DictReader(handle)}
    by_case: dict[str, set[tuple[str, ...]]] = {}
    for row in rows:
        cells = (row["iprev"], row["postfix"], row["all_names_confirm"], row["valid_hostname"])
        by_case.setdefault(cases[row["ip"]], set()).add(cells)
    assert by_case["multi"] == {("pass", "intermittent", "no", "yes")}
    assert by_case["no_ptr"] == {("permerror", "reject", "no", "")}
    assert by_case["servfail"] == {("temperror", "tempfail", "", "")}
    assert by_case["underscore"] == {("pass", "accept", "yes", "yes")}
    assert by_case["numeric"] == {("pass", "reject", "yes", "no")}
    multi = next(row for row in rows if cases[row["ip"]] == "multi")
    assert "1 of 2 PTR names do not map back (Postfix rejects alias-" in multi["reason"]
    assert "Postfix picks one per connection" in multi["reason"]
    # The summary's mail counts are the rows'.
    assert summary.all_postfix[Postfix.INTERMITTENT] == sum(
        1 for row in rows if row["postfix"] == "intermittent"
    )
    assert summary.all_iprev["permerror"] == sum(1 for row in rows if row["iprev"] == "permerror")
    first = json.loads(jsonl.read_text().splitlines()[0])
    assert first["iprev"] in {v.value for v in Iprev}
    assert first["all_names_confirm"] in (True, False, None)
