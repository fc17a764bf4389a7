"""Headless Chromium from the system's packages (Debian: `apt-get install chromium chromium-driver`),
driven by Selenium: the browser the HTML report is tested in, and scripts/screenshot_report.py
takes its picture with.

BP_ORACLE_CHROMIUM and BP_ORACLE_CHROMEDRIVER name other binaries; nothing is ever downloaded.
"""

from __future__ import annotations

import os
import shutil

INSTALL = "apt-get install chromium chromium-driver (scripts/install_browser.sh)"


def binaries() -> tuple[str | None, str | None]:
    browser = os.environ.get("BP_ORACLE_CHROMIUM") or next(
        filter(None, (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome"))), None)
    driver = os.environ.get("BP_ORACLE_CHROMEDRIVER") or shutil.which("chromedriver")
    return browser, driver


def start(width: int = 1280, height: int = 1000):
    """A headless Chromium that records the page's console (see `console_errors`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = binaries()
    if not browser or not driver:
        raise RuntimeError(f"no Chromium or chromedriver found: {INSTALL}")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                 "--disable-background-networking", "--disable-extensions", "--no-first-run",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def console_errors(driver) -> list[str]:
    """The console's errors since the last call: script errors, failed or refused loads (a
    Content-Security-Policy violation is one)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
