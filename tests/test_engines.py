"""The two DNS engines: the compiled binding's declarations, and the aiodns fallback.

The fast engine calls c-ares through pycares' CFFI module, whose declarations
are pycares' internals. Every one it uses must be listed in `REQUIRED` (so an
upgrade that changes them is caught at start-up, not mid-scan), and when one
is missing the scanner must say so and scan the lab correctly through aiodns.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from helpers import fcrdns, write_lab_config
from pycares import _cares

from scanner.dns import cares_binding, cares_engine
from scanner.dns.cares_binding import REQUIRED, missing_symbols
from scanner.lab.process import LabProcess
from scanner.lab.truth import compare

# Every module that calls the binding.
SOURCE = "".join(Path(m.__file__).read_text() for m in (cares_binding, cares_engine))


def test_every_binding_declaration_the_engine_uses_is_listed():
    used_lib = set(re.findall(r"(?<![\w.])lib\.(\w+)", SOURCE))
    used_options = set(re.findall(r"\boptions\.(\w+)", SOURCE))
    used_types = set(re.findall(r'(?<![\w.])ffi\.(?:new|callback)\("([^"]+)"', SOURCE))
    listed = set(REQUIRED["functions"]) | set(REQUIRED["constants"])
    assert used_lib <= listed, used_lib - listed
    assert used_options <= set(REQUIRED["option_fields"]), used_options
    # `char[]` is CFFI's own; the rest are the binding's declarations.
    assert used_types - {"char[]"} <= set(REQUIRED["types"]), used_types
    assert len(used_lib) > 20 and used_options and used_types  # the scan found them


def test_the_installed_binding_declares_all_of_them():
    assert missing_symbols(_cares) == []


class _Hidden:
    """A view of a CFFI library without one name: what a changed pycares looks like."""

    def __init__(self, lib, hidden):
        self._lib, self._hidden = lib, hidden

    def __getattr__(self, name):
        if name == self._hidden:
            raise AttributeError(name)
        return getattr(self._lib, name)


class _Binding:
    def __init__(self, hidden):
        self.ffi, self.lib = _cares.ffi, _Hidden(_cares.lib, hidden)


def test_a_missing_declaration_is_named():
    assert missing_symbols(_Binding("ares_query_dnsrec")) == ["ares_query_dnsrec"]
    assert missing_symbols(_Binding("ARES_OPT_SOCK_RCVBUF")) == ["ARES_OPT_SOCK_RCVBUF"]


# Runs the scanner with pycares' compiled module replaced by one that lacks a
# function the fast engine needs, as a pycares upgrade could leave it.
CHANGED_BINDING = """
import runpy, sys
import pycares
from pycares import _cares

class Lib:
    def __getattr__(self, name):
        if name == "ares_query_dnsrec":
            raise AttributeError(name)
        return getattr(_cares.lib, name)

class Binding:
    ffi = _cares.ffi
    lib = Lib()

pycares._cares = sys.modules["pycares._cares"] = Binding()
sys.argv = ["fcrdns", *sys.argv[1:]]
runpy.run_module("scanner", run_name="__main__")
"""


def _lab(tmp_path: Path):
    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/24", "2001:db8:5::/124"])
    truth = tmp_path / "truth.csv"
    return LabProcess(["--config", str(config), "--truth", str(truth)]), truth


def test_a_changed_binding_falls_back_to_aiodns_and_scans_right(tmp_path):
    lab, truth = _lab(tmp_path)
    out, summary = tmp_path / "r.csv", tmp_path / "s.json"
    with lab:
        scan = subprocess.run(
            [sys.executable, "-c", CHANGED_BINDING, "scan", "198.18.0.0/24", "2001:db8:5::/124",
             "--resolver", lab.address, "--rate", "0", "-q",
             "-o", str(out), "--summary", str(summary)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    assert "compiled binding is not what this version expects" in scan.stderr
    assert "ares_query_dnsrec" in scan.stderr and "aiodns" in scan.stderr
    assert scan.stderr.count("compiled binding") == 1  # said once
    assert '"engine": "c-ares (through aiodns, the fallback)"' in summary.read_text()
    comparison = compare(str(out), str(truth))
    assert comparison.ok, comparison.as_text()


def test_the_fallback_forced_scans_the_lab_exactly(tmp_path, monkeypatch):
    lab, truth = _lab(tmp_path)
    out, summary = tmp_path / "r.csv", tmp_path / "s.json"
    monkeypatch.setenv("FCRDNS_DNS_ENGINE", "aiodns")
    with lab:
        scan = fcrdns(
            "scan", "198.18.0.0/24", "2001:db8:5::/124", "--resolver", lab.address, "-q",
            "-o", str(out), "--summary", str(summary), "--workers", "2",
        )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    assert "compiled binding" not in scan.stderr  # forced: nothing to warn about
    assert "through aiodns" in summary.read_text()
    comparison = compare(str(out), str(truth))
    assert comparison.ok, comparison.as_text()


def test_no_private_resolver_configuration_is_left_behind(tmp_path, monkeypatch):
    lab, _ = _lab(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    for engine in ("cares", "aiodns"):
        monkeypatch.setenv("FCRDNS_DNS_ENGINE", engine)
        with lab:
            scan = fcrdns("scan", "198.18.0.0/26", "--resolver", lab.address, "-q", "-o", "-",
                          "--workers", "2")  # fmt: skip
        assert scan.returncode == 0, scan.stderr
        assert list((tmp_path / "tmp").iterdir()) == [], engine
