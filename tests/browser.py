"""Headless Chromium for the report tests (Debian's chromium and chromium-driver, driven
by Selenium): a page must load with no console message and no network request."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))


def chromium(size: str = "1200,2000") -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={size}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = webdriver.ChromeService(
        executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver"
    )
    return webdriver.Chrome(options=options, service=service)


@pytest.fixture(scope="module", name="browser")
def browser_fixture():
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a driver
    driver = chromium()
    yield driver
    driver.quit()


def load(driver: webdriver.Chrome, page: Path, screenshot: str) -> None:
    """Open `page`; fail on any console message of level warning or worse, and on
    any request other than the page itself."""
    driver.get_log("browser")  # drop what earlier pages left
    driver.get_log("performance")
    driver.get(page.as_uri())
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / screenshot))
    problems = [
        entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")
    ]
    assert problems == []
    requested = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.add(message["params"]["request"]["url"])
    assert requested <= {page.as_uri()}, requested
