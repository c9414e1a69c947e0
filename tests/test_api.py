"""The library API against the lab server: options in, a plan, results or outputs out."""

from __future__ import annotations

import csv
import socket
from pathlib import Path

import anyio
import pytest

from scanner import api
from scanner.core.rows import json_object
from scanner.core.status import Status
from scanner.lab.truth import compare


def _truth(path: Path) -> dict[str, str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["ip"]: row["expected_status"] for row in csv.DictReader(handle)}


def _options(lab, **extra) -> api.ScanOptions:
    settings = api.ScanConfig(resolvers=(lab.address,), rate=0.0, workers=1)
    return api.ScanOptions(
        targets=["198.18.0.0/24", "2001:db8:5::/124"], settings=settings, **extra
    )


def test_scan_results_streams_one_verdict_per_address(small_lab):
    lab, truth = small_lab
    plan = api.plan_scan(_options(lab))

    async def collect():
        async with api.scan_results(plan) as results:
            found = {str(result.ip): result.status.value async for result in results}
        return found, results.summary

    found, summary = anyio.run(collect)
    assert found == _truth(truth)
    assert summary.scanned == len(found) == 272
    assert summary.counts[Status.PASS] == sum(1 for s in found.values() if s == "pass")


def test_leaving_scan_results_early_stops_the_scan(small_lab):
    lab, _ = small_lab
    plan = api.plan_scan(_options(lab))

    async def first_ten():
        taken = []
        async with api.scan_results(plan) as results:
            async for result in results:
                taken.append(result)
                if len(taken) == 10:
                    break
        return taken, results.summary

    taken, summary = anyio.run(first_ten)
    assert len(taken) == 10
    assert summary.scanned < 272


def test_run_plan_writes_outputs_and_returns_the_summary(small_lab, tmp_path):
    lab, truth = small_lab
    out = tmp_path / "out.csv"
    summary = api.run_plan(
        api.plan_scan(_options(lab, outputs=[str(out)], progress=False, fail_on=["mismatch"]))
    )
    comparison = compare(str(out), str(truth))
    assert comparison.ok, comparison.as_text()
    assert summary.rows == comparison.rows == 272
    with out.open(encoding="utf-8", newline="") as handle:
        mismatches = sum(1 for row in csv.DictReader(handle) if row["status"] == "mismatch")
    assert summary.matching(["mismatch"]) == {"mismatch": mismatches}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"targets": []}, "no targets"),
        ({"targets": ["198.18.0.0/33"]}, "198.18.0.0/33"),
        ({"fail_on": ["mismatches"]}, "--fail-on: unknown 'mismatches'"),
        ({"shard": "3/2"}, "shard"),
        ({"outputs": ["/nonexistent-dir/out.csv"]}, "no directory /nonexistent-dir"),
        ({"resume": True, "outputs": ["-"]}, "--resume needs an output file"),
    ],
)
def test_plan_scan_names_what_is_wrong(changes, message):
    options = api.ScanOptions(**({"targets": ["198.18.0.0/30"]} | changes))
    with pytest.raises(api.UserError, match=message.replace("/", ".")):
        api.plan_scan(options)


def test_settings_are_checked_when_built():
    with pytest.raises(ValueError, match="concurrency"):
        api.ScanConfig(concurrency=0)


def test_options_are_immutable_and_keep_lists_as_tuples():
    options = api.ScanOptions(targets=["198.18.0.1"], outputs="out.csv")
    assert options.targets == ("198.18.0.1",) and options.outputs == ("out.csv",)
    with pytest.raises(AttributeError):
        options.targets = ()  # type: ignore[misc]


def _truth_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["ip"]: row for row in csv.DictReader(handle)}


def test_a_result_carries_what_its_row_carries(small_lab):
    lab, truth = small_lab
    expected = _truth_rows(truth)
    plan = api.plan_scan(_options(lab))

    async def collect():
        async with api.scan_results(plan) as results:
            return [result async for result in results]

    results = anyio.run(collect)
    assert len(results) == 272
    for result in results:
        row = json_object(result)
        # Set on the result itself, as the row words them.
        assert result.reason is not None and result.mail is not None
        assert (result.reason or None) == row["reason"]
        assert (
            result.mail.postfix.value
            == row["postfix"]
            == expected[str(result.ip)]["expected_postfix"]
        )
    assert any(result.reason for result in results if result.status is Status.MISMATCH)


def test_an_error_in_the_callers_loop_comes_out_as_itself(small_lab):
    lab, _ = small_lab
    plan = api.plan_scan(_options(lab))

    async def fail_on_the_third():
        async with api.scan_results(plan) as results:
            seen = 0
            async for _ in results:
                seen += 1
                if seen == 3:
                    raise LookupError("the caller's own")

    with pytest.raises(LookupError, match="the caller's own"):
        anyio.run(fail_on_the_third)


def test_a_silent_resolver_comes_out_as_could_not_complete():
    # A socket on loopback that takes every query and never answers.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        settings = api.ScanConfig(
            resolvers=(f"127.0.0.1:{silent.getsockname()[1]}",),
            rate=0.0,
            workers=1,
            timeout=0.2,
            give_up_after=1,
        )
        plan = api.plan_scan(api.ScanOptions(targets=["198.18.0.0/22"], settings=settings))

        async def drain():
            async with api.scan_results(plan) as results:
                return [result async for result in results]

        # The scan's own error, as itself: not inside an exception group.
        with pytest.raises(api.CouldNotComplete, match="no resolver has answered anything"):
            anyio.run(drain)


def test_check_address_is_one_call_for_one_address(small_lab):
    lab, truth = small_lab
    expected = _truth_rows(truth)
    settings = api.ScanConfig(resolvers=(lab.address,), rate=0.0)
    for address in ("198.18.0.7", "2001:db8:5::3"):
        result = anyio.run(api.check_address, address, settings)
        assert str(result.ip) == address
        assert result.status.value == expected[address]["expected_status"]
        assert result.reason is not None and result.mail is not None
    with pytest.raises(api.UserError, match="expected one address"):
        anyio.run(api.check_address, "198.18.0.0/30", settings)
