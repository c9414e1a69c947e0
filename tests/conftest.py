"""Fixtures and the test run's settings; the helpers are in tests/helpers.py, the fakes in
tests/fakes.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import write_lab_config
from hypothesis import settings

from scanner.lab.process import LabProcess

# In CI the property tests draw the same examples every run (a red CI must
# be reproducible); elsewhere they explore new ones each time.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, max_examples=300)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def small_lab(tmp_path: Path) -> Iterator[tuple[LabProcess, Path]]:
    """A lab serving 198.18.0.0/24 and 2001:db8:5::/124 (272 addresses)."""
    config = write_lab_config(tmp_path / "lab.yaml", ["198.18.0.0/24", "2001:db8:5::/124"])
    truth = tmp_path / "truth.csv"
    with LabProcess(["--config", str(config), "--truth", str(truth)]) as lab:
        yield lab, truth
