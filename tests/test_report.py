"""`fcrdns report`: the HTML page, checked in headless Chromium (Debian's chromium and
chromium-driver, driven by Selenium), not by reading its text.

The page must load with no console error and no network request, show the
counts of the results file, draw one map cell per scanned /24, and carry the
hostile lab's names as text, never as markup. A screenshot of each page is
kept under test-artifacts/ (not committed).
"""

from __future__ import annotations

import csv
import ipaddress
from collections import Counter
from pathlib import Path

import pytest
import yaml
from browser import browser_fixture, load  # noqa: F401 (the `browser` fixture)
from helpers import fcrdns
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from scanner.core.report import ReportBuilder
from scanner.lab.process import LabProcess

# Runs the Debian tools `make test` installs (see the `lab` marker).
pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = str(ROOT / "configs" / "hostile-lab.yaml")
MIX = {"confirm": 40, "generic": 10, "multi": 5, "mismatch": 10, "no_ptr": 12,
       "ptr_nodata": 3, "dangling": 5, "servfail": 2}  # fmt: skip
NETWORKS = ["198.18.0.0/22", "198.18.9.0/26", "2001:db8:1::/120"]


def scan_lab(work: Path, networks: list[str], config: Path | str, *extra: str) -> Path:
    out = work / "r.csv"
    with LabProcess(["--config", str(config)]) as lab:
        scan = fcrdns("scan", *networks, "--resolver", lab.address, "--rate", "0", "-q",
                      "-o", str(out), "--summary", str(work / "s.json"), *extra)  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    return out


def write_config(path: Path, overrides: dict[str, str] | None = None) -> Path:
    config = {"seed": 5, "networks": [{"cidr": cidr, "mix": MIX} for cidr in NETWORKS]}
    if overrides:
        config["overrides"] = overrides
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def number(text: str) -> int:
    return int(text.replace(",", ""))


def rows_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_lab_scans_report_shows_its_counts_and_a_cell_per_slash_24(browser, tmp_path):
    results = scan_lab(tmp_path, NETWORKS, write_config(tmp_path / "lab.yaml"), "--zone-owner")
    page = tmp_path / "report.html"
    made = fcrdns("report", str(results), "--summary", str(tmp_path / "s.json"), "-o", str(page))
    assert made.returncode == 0, made.stderr
    load(browser, page, "report-lab.png")

    rows = rows_of(results)
    shown = {
        row.get_attribute("data-status"): number(row.find_element(By.CLASS_NAME, "count").text)
        for row in browser.find_elements(By.CSS_SELECTOR, "#statuses tr[data-status]")
    }
    counted = Counter(row["status"] for row in rows)
    assert {status: n for status, n in shown.items() if n} == counted
    assert number(browser.find_element(By.ID, "total").text) == len(rows)
    postfix = {
        row.get_attribute("data-postfix"): int(row.find_elements(By.TAG_NAME, "td")[2].text)
        for row in browser.find_elements(By.CSS_SELECTOR, "#mail tr[data-postfix]")
    }
    assert postfix == Counter(row["postfix"] for row in rows)

    # One cell per scanned /24, each with its block's counts.
    blocks = Counter(
        str(ipaddress.ip_network(f"{row['ip']}/24", strict=False))
        for row in rows
        if ":" not in row["ip"]
    )
    cells = browser.find_elements(By.CSS_SELECTOR, "#v4map rect.cell")
    assert sorted(cell.get_attribute("data-block") for cell in cells) == sorted(blocks)
    for cell in cells:
        counts = [int(n) for n in cell.get_attribute("data-counts").split(",")]
        assert sum(counts) == blocks[cell.get_attribute("data-block")]
    ActionChains(browser).move_to_element(cells[0]).perform()
    info = browser.find_element(By.ID, "cell-info").text
    assert info.startswith(cells[0].get_attribute("data-block") + ": pass ")
    # IPv6: one tile for the /64, with its counts.
    tiles = browser.find_elements(By.CSS_SELECTOR, "#v6tiles .tile6")
    assert len(tiles) == 1 and tiles[0].text.startswith("2001:db8:1::/64")
    v6 = [row for row in rows if ":" in row["ip"]]
    assert sum(int(n) for n in tiles[0].get_attribute("data-counts").split(",")) == len(v6)
    # Whom to call: the zones, with their name servers.
    zones = browser.find_element(By.ID, "zones").text
    assert "18.198.in-addr.arpa" in zones and "ns1.hosting.example" in zones
    # Sorting a table by a column puts its numbers in order.
    header = browser.find_element(By.CSS_SELECTOR, "#worst-blocks th:nth-child(6)")
    header.click()
    column = browser.find_elements(By.CSS_SELECTOR, "#worst-blocks tbody td:nth-child(6)")
    values = [int(cell.get_attribute("data-value")) for cell in column]
    assert values == sorted(values, reverse=True) and len(values) == len(blocks) + 1


def test_hostile_names_stay_text_in_the_browsers_dom(browser, tmp_path):
    results = scan_lab(tmp_path, ["192.0.2.0/27", "2001:db8:bad::/123"], HOSTILE, "--zone-owner")
    page = tmp_path / "report.html"
    made = fcrdns("report", str(results), "-o", str(page))
    assert made.returncode == 0, made.stderr
    load(browser, page, "report-hostile.png")
    # Only the report's own script and none of the tags the names carry.
    assert browser.execute_script("return document.scripts.length") == 1
    assert browser.find_elements(By.TAG_NAME, "img") == []
    handlers = browser.execute_script(
        "return Array.from(document.querySelectorAll('*')).flatMap(e => "
        "Array.from(e.attributes).map(a => a.name)).filter(n => n.startsWith('on'))"
    )
    assert handlers == []
    names = browser.find_element(By.ID, "mismatch-targets").text
    assert "<script>alert\\(1\\)</script>" in names  # as text, as present() writes it
    assert "\\=hyperlink" in names


def test_previous_shows_exactly_the_transitions_between_two_lab_runs(browser, tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir(), after.mkdir()
    old = scan_lab(before, NETWORKS, write_config(before / "lab.yaml"))
    # Three addresses changed by hand between the runs.
    changed = {"198.18.0.5": "stale_a", "198.18.1.9": "no_ptr", "2001:db8:1::7": "servfail"}
    new = scan_lab(after, NETWORKS, write_config(after / "lab.yaml", changed))
    was = {row["ip"]: row["status"] for row in rows_of(old)}
    now = {row["ip"]: row["status"] for row in rows_of(new)}
    expected = Counter((was[ip], now[ip]) for ip in was if was[ip] != now[ip])
    assert sum(expected.values()) >= 2  # the overrides made differences
    page = tmp_path / "report.html"
    made = fcrdns("report", str(new), "--previous", str(old), "-o", str(page))
    assert made.returncode == 0, made.stderr
    load(browser, page, "report-previous.png")
    shown = Counter()
    for row in browser.find_elements(By.CSS_SELECTOR, "#transitions tbody tr"):
        key = (row.get_attribute("data-old"), row.get_attribute("data-new"))
        shown[key] = int(row.find_elements(By.TAG_NAME, "td")[2].text)
    assert shown == expected


def test_a_single_slash_24_is_mapped_address_by_address():
    builder = ReportBuilder()
    for last in range(0, 256, 3):
        builder.add({"ip": f"198.51.100.{last}", "status": "pass"})
    report = builder.finish()
    [panel] = report.panels
    assert report.cell_prefix == 32 and len(panel.cells) == len(range(0, 256, 3))
    assert len({(cell.x, cell.y) for cell in panel.cells}) == len(panel.cells)
    assert (panel.width, panel.height) == (16, 16)  # 256 addresses on a 16 x 16 square
    assert panel.label == panel.frame == "198.51.100.0/24"


def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path):
    page = tmp_path / "report.html"
    missing = fcrdns("report", str(tmp_path / "nothing.csv"), "-o", str(page))
    assert missing.returncode == 2 and "nothing.csv" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("ip,status\n198.51.100.1,pass\nnot-an-ip,pass\n", encoding="utf-8")
    wrong = fcrdns("report", str(bad), "-o", str(page))
    assert wrong.returncode == 2 and "row 2" in wrong.stderr
    assert not page.exists() and not Path(f"{page}.partial").exists()
    link = tmp_path / "link.html"
    link.symlink_to(tmp_path / "elsewhere.html")
    good = tmp_path / "good.csv"
    good.write_text("ip,status\n198.51.100.1,pass\n", encoding="utf-8")
    planted = fcrdns("report", str(good), "-o", str(link))
    assert planted.returncode == 0, planted.stderr  # the link is replaced, not followed
    assert not (tmp_path / "elsewhere.html").exists() and not link.is_symlink()
