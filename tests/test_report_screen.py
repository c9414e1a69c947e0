"""The report's first screen, its map's colours and its name-server findings, checked in
headless Chromium at 1400 x 1000 (tests/browser.py); the trend from --history."""

from __future__ import annotations

import csv
import ipaddress
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from browser import ARTIFACTS, chromium, load
from helpers import fcrdns
from selenium.webdriver.common.by import By

from scanner.lab.config import NS_NETWORK
from scanner.lab.process import LabProcess

pytestmark = pytest.mark.lab

FAILING = {"mismatch", "no_ptr", "ptr_nodata", "no_forward"}
TRANSIENT = {"timeout", "servfail", "refused", "error"}
QUARTER = {"confirm": 77, "mismatch": 12, "no_ptr": 11}  # about 23% of each /24 fails
PASSING = "198.18.7.0/24"


@pytest.fixture(scope="module")
def screen():
    driver = chromium("1400,1000")
    # The page's viewport itself 1400 x 1000 (a window's size includes its frame).
    metrics = {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    yield driver
    driver.quit()


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def tiles(driver) -> dict[str, str]:
    found = driver.find_elements(By.CSS_SELECTOR, "#tiles .tile")
    return {
        t.get_attribute("data-tile"): t.find_element(By.CLASS_NAME, "value").text for t in found
    }


def test_the_first_screen_says_the_numbers_and_a_passing_slash_24_stands_apart(screen, tmp_path):
    networks = [{"cidr": f"198.18.{n}.0/24", "mix": {"confirm": 1} if n == 7 else QUARTER}
                for n in range(256)]  # fmt: skip
    config = tmp_path / "lab.yaml"
    config.write_text(yaml.safe_dump({"seed": 3, "networks": networks}))
    results, page = tmp_path / "r.csv", tmp_path / "report.html"
    with LabProcess(["--config", str(config)]) as lab:
        scan = fcrdns("scan", "198.18.0.0/16", "--resolver", lab.address, "--rate", "0", "-q",
                      "-o", str(results), "--zone-owner", timeout=300)  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    assert fcrdns("report", str(results), "-o", str(page)).returncode == 0
    load(screen, page, "report-first-screen.png")

    rows = rows_of(results)
    failing = sum(row["status"] in FAILING for row in rows)
    passing = sum(row["status"] == "pass" for row in rows)
    # The headline and every tile within the first 1400 x 1000, with the true numbers.
    viewport = screen.execute_script("return window.innerHeight")
    assert viewport == 1000
    for element in [screen.find_element(By.ID, "headline"),
                    *screen.find_elements(By.CSS_SELECTOR, "#tiles .tile")]:  # fmt: skip
        assert element.rect["y"] + element.rect["height"] <= viewport, element.text
    headline = screen.find_element(By.ID, "headline").text
    assert headline.startswith(
        f"{100 * passing / len(rows):.0f}% of {len(rows):,} addresses pass; {failing:,} to fix"
    )
    shown = tiles(screen)
    assert shown["addresses"] == f"{len(rows):,}" and shown["to-fix"] == f"{failing:,}"
    # --zone-owner alone asked no name server directly: not checked, not 0.
    assert shown["out-of-sync"] == shown["lame"] == shown["disagree"] == "not checked"
    assert screen.find_elements(By.ID, "ns-not-checked")

    # The passing /24 is drawn apart from one with about a quarter of its addresses failing.
    per_block: dict[str, Counter[str]] = {}
    for row in rows:
        block = str(ipaddress.ip_network(f"{row['ip']}/24", strict=False))
        per_block.setdefault(block, Counter())[row["status"]] += 1
    share = {block: sum(c[s] for s in FAILING) / c.total() for block, c in per_block.items()}
    assert share[PASSING] == 0
    quarter = min((b for b in share if b != PASSING), key=lambda b: abs(share[b] - 0.23))
    assert 0.15 < share[quarter] < 0.25

    def cell(block: str):
        return screen.find_element(By.CSS_SELECTOR, f'#v4map rect.cell[data-block="{block}"]')

    def fill(element) -> str:
        return screen.execute_script("return getComputedStyle(arguments[0]).fill", element)

    assert cell(PASSING).get_attribute("data-share") == "0%"
    assert cell(quarter).get_attribute("data-share") == f"{100 * share[quarter]:.0f}%"
    assert fill(cell(PASSING)) != fill(cell(quarter))
    # The colours follow the share: every cell of a 10-25% share has one colour.
    between = {fill(cell(b)) for b in share if 0.10 <= share[b] < 0.25}
    assert len(between) == 1 and fill(cell(PASSING)) not in between
    # The map is framed to the scanned /16 and says which it is; the table view has every cell.
    assert screen.find_element(By.CSS_SELECTOR, "#v4map figcaption").text == "198.18.0.0/16"
    assert len(screen.find_elements(By.CSS_SELECTOR, "#map-table tbody tr")) == 256


def test_lame_servers_and_serials_appear_when_the_check_ran(screen, tmp_path):
    results, summary = tmp_path / "r.csv", tmp_path / "s.json"
    with LabProcess(["--authoritative"]) as lab:
        scan = fcrdns(
            "scan", "198.18.0.0/22", "198.19.7.0/26", "2001:db8:1::/120", "--resolver",
            lab.address, "--rate", "0", "-q", "--check-authoritative", "--authoritative-allow",
            NS_NETWORK, "--authoritative-port", str(lab.port), "--authoritative-rate", "10000",
            "-o", str(results), "--summary", str(summary), timeout=300,
        )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    zones = json.loads(summary.read_text())["authoritative"]["zones"]
    lame = {s["server"] for zone in zones.values() for s in zone["servers"] if s["lame"]}
    out_of_sync = {apex for apex, zone in zones.items() if not zone["in_sync"]}
    assert lame and out_of_sync  # the lab's lame ns3 and its serials out of step

    for extra, name in ((["--summary", str(summary)], "summary"), ([], "rows")):
        page = tmp_path / f"report-{name}.html"
        made = fcrdns("report", str(results), *extra, "-o", str(page))
        assert made.returncode == 0, made.stderr
        load(screen, page, f"report-nameservers-{name}.png")
        shown = tiles(screen)
        assert shown["out-of-sync"] == str(len(out_of_sync)) and shown["lame"] == str(len(lame))
        disagree = sum(row["ns_consistent"] == "no" for row in rows_of(results))
        assert shown["disagree"] == f"{disagree:,}"
        health = screen.find_element(By.ID, "ns-health").text
        assert all(server in health for server in lame) and "unreachable" in health
        serials = {str(s["serial"]) for zone in zones.values() for s in zone["servers"]
                   if s["serial"] is not None}  # fmt: skip
        assert all(serial in health for serial in serials)


def test_the_trend_of_the_last_nights_only_with_a_history(screen, tmp_path):
    database = str(tmp_path / "history.db")
    mixes = [QUARTER, {"confirm": 1}, {"confirm": 50, "no_ptr": 50}]
    for night, mix in enumerate(mixes, start=1):
        config = tmp_path / f"lab{night}.yaml"
        config.write_text(yaml.safe_dump({"seed": 3, "networks": [{"cidr": "198.18.0.0/24",
                                                                   "mix": mix}]}))  # fmt: skip
        with LabProcess(["--config", str(config)]) as lab:
            out = str(tmp_path / f"n{night}.csv")
            scan = fcrdns("scan", "198.18.0.0/24", "--resolver", lab.address, "--rate", "0",
                          "-q", "-o", out, "--history", database)  # fmt: skip
        assert scan.returncode == 0, scan.stderr
    stored = json.loads(fcrdns("history", database, "--format", "jsonl").stdout.splitlines()[-1])
    page = tmp_path / "report.html"
    made = fcrdns("report", str(tmp_path / "n3.csv"), "--history", database, "-o", str(page))
    assert made.returncode == 0, made.stderr
    load(screen, page, "report-trend.png")
    assert len(screen.find_elements(By.CSS_SELECTOR, "#trend svg circle")) == 3
    points = screen.find_elements(By.CSS_SELECTOR, "#trend-table tbody tr")
    assert [int(p.find_elements(By.TAG_NAME, "td")[3].text) for p in points][-1] == (
        stored["failing"]
    )
    # These results are the history's last night: new and fixed since the night before.
    shown = tiles(screen)
    assert shown["new"] == f"{stored['new_failing']:,}" and stored["new_failing"] > 0
    assert shown["fixed"] == f"{stored['fixed']:,}"
    # Without a history: no trend, not an empty chart.
    plain = tmp_path / "plain.html"
    assert fcrdns("report", str(tmp_path / "n3.csv"), "-o", str(plain)).returncode == 0
    load(screen, plain, "report-no-trend.png")
    assert screen.find_elements(By.ID, "trend") == []
    assert (ARTIFACTS / "report-trend.png").exists()
