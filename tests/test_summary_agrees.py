"""The summary's three forms say the same: the text on stderr, --summary's JSON, --metrics.

The demo's scan (the whole lab, --check-authoritative) is run once. Every
metric must be a JSON number under the same meaning; every number in the
text must be a JSON number at its label (the text is read line by line and
must have no number left over once the known ones are taken out).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from helpers import fcrdns
from prometheus_client.parser import text_string_to_metric_families

from scanner.lab.config import NS_NETWORK, LabConfig
from scanner.lab.process import LabProcess
from scanner.lab.run import default_lab_config


def _demo_scan(tmp_path: Path) -> tuple[str, dict, dict[tuple[str, tuple], float]]:
    networks = [str(n.network) for n in LabConfig.load(default_lab_config()).networks]
    summary, prom = tmp_path / "s.json", tmp_path / "m.prom"
    with LabProcess(["--authoritative"]) as lab:
        scan = fcrdns(
            "scan", *networks, "--resolver", lab.address, "--max-rate", "40000",
            "--check-authoritative", "--authoritative-allow", NS_NETWORK,
            "--authoritative-port", str(lab.port), "--authoritative-rate", "10000",
            "-o", str(tmp_path / "r.csv"), "--summary", str(summary), "--metrics", str(prom),
        )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    samples = {}
    for family in text_string_to_metric_families(prom.read_text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return scan.stderr, json.loads(summary.read_text()), samples


def test_text_json_and_metrics_agree_on_every_number(tmp_path):
    text, data, metrics = _demo_scan(tmp_path)
    pool, auth = data["resolver_pool"], data["authoritative"]

    # Every metric, by its JSON counterpart.
    expected: dict[tuple[str, tuple], float] = {}

    def metric(name: str, value: float, **labels: str) -> None:
        expected[(f"fcrdns_{name}", tuple(sorted(labels.items())))] = value

    transient = {"timeout", "servfail", "refused", "error"}
    for status, n in data["counts"].items():
        metric("ips", n, status=status, transient=str(status in transient).lower())
    for kind, n in data["findings"].items():
        metric("findings", n, kind=kind)
    for result, n in data["mail"]["iprev"].items():
        metric("iprev", n, result=result)
    for verdict, n in data["mail"]["postfix"].items():
        metric("postfix", n, verdict=verdict)
    for key in ("targets", "queries", "attempts", "sent_again", "probe_queries"):
        metric(key, data[key])
    for key in ("retries", "hedges", "health_checks"):
        metric(key, pool[key])
    metric("interrupted", int(data["interrupted"]))
    metric("zones_out_of_sync", auth["zones_out_of_sync"])
    metric("zones_with_lame_servers", auth["zones_with_lame_servers"])
    metric("name_server_addresses_unchecked", auth["server_addresses_unchecked"])
    for resolver in pool["resolvers"]:
        for key in ("attempts", "faults", "times_benched"):
            metric(f"resolver_{key}", resolver[key], resolver=resolver["resolver"])
    duration = metrics.pop(("fcrdns_duration_seconds", ()))
    assert abs(duration - data["duration_s"]) < 0.001
    metrics.pop(("fcrdns_last_run_timestamp_seconds", ()))
    assert metrics == expected

    # Every number of the text, at its label.
    rows = data["rows"]
    known = [
        rf"scan complete: {data['scanned']:,} of {data['targets']:,} addresses in "
        rf"{data['duration_s']:.2f} s \({data['ips_per_s']:,.0f} IPs/s, "
        rf"{data['queries']:,} queries\)",
        *(rf"  {status} +{n:,} +{100 * n / rows:5.1f}%" for status, n in data["counts"].items()),
        rf"  total +{rows:,}",
        rf"findings: {data['findings']['generic_ptr']:,} rows with generic PTR names",
        rf"name servers disagree on {data['findings']['ns_inconsistent']:,} addresses",
        rf"authoritative: {len(auth['zones'])} zones asked directly \({auth['queries']:,} "
        rf"queries\); {auth['zones_out_of_sync']:,} out of sync, "
        rf"{auth['zones_with_lame_servers']:,} with lame servers",
        "mail: iprev "
        + ", ".join(f"{k} {n:,}" for k, n in data["mail"]["iprev"].items() if n)
        + "; postfix "
        + ", ".join(f"{k} {n:,}" for k, n in data["mail"]["postfix"].items() if n),
        rf"queries for these rows: {data['queries']:,}, in {data['attempts']:,} attempts "
        rf"\({data['sent_again']:,} sent again\)",
        rf"retries: {pool['retries']:,}; hedges: {pool['hedges']:,} .*; health checks: "
        rf"{pool['health_checks']:,}; probe: {data['probe_queries']:,} queries before",
        rf"retried once, not --retries times: {pool['retried_less']:,} queries .* on 3 tries",
        rf"rate: {pool['rate']:,} q/s at the end \(adaptive: {pool['adaptive']['increases']} "
        rf"increases, {pool['adaptive']['decreases']} decreases\)",
        *(
            rf"  resolver {re.escape(r['resolver'])}: {r['attempts']:,} attempts, {r['faults']:,} "
            rf"timed out .*, benched {r['times_benched']} time\(s\), .*at most "
            rf"{r['window']['largest_in_flight']:,} in flight"
            for r in pool["resolvers"]
        ),
    ]
    left = text
    for pattern in known:
        found = re.search(pattern, left)
        assert found, (pattern, text)
        left = left[: found.start()] + left[found.end() :]
    # The zones' lines: names and serials, each serial the JSON's.
    for apex, zone in auth["zones"].items():
        for server in zone["servers"]:
            if not zone["in_sync"]:
                left = left.replace(f"{server['server']} {server['serial']}", "", 1)
        left = left.replace(apex, "")
    left = re.sub(r"\S*\.example|Connection refused", "", left)
    assert not re.search(r"\d", left), left
