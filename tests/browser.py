"""Pages in a real headless browser (Debian's chromium and chromium-driver, through selenium):
the fixture every browser test uses, offline (no host resolves), and a wait for what a loaded
machine renders late. Without them the tests are skipped, naming what is missing; under CI they
must run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

DRIVER = shutil.which("chromedriver")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    import selenium  # noqa: F401

    SELENIUM = True
except ImportError:
    SELENIUM = False
MISSING = "needs chromium, chromium-driver (apt) and selenium (pip); CI installs them"
if os.environ.get("CI") and not (DRIVER and BROWSER and SELENIUM):
    raise RuntimeError(f"the browser test must run in CI: it {MISSING}")
needs_browser = pytest.mark.skipif(not (DRIVER and BROWSER and SELENIUM), reason=MISSING)


@pytest.fixture()
def browser(tmp_path: Path):
    """A headless chromium with no network: a page that needs one fails here."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(tmp_path / "downloads")})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def until(driver, condition, seconds: float = 20) -> None:
    """Wait for `condition(driver)`: a loaded machine renders and downloads late, never wrongly."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition)
