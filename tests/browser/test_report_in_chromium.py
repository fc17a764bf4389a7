"""The HTML report as a person sees it: loaded in headless Chromium (the system's package, driven
by Selenium), with no console error, the verdict shown, and for a planted bug (BP2 with σ'(a^l))
the failing case's layer diagram and heatmap drawn, and the coverage table's counts equal to the
JSON report's. The console check itself is tested with pages it must catch.

Chromium is installed by the README's test command (scripts/install_browser.sh). Without it
these tests FAIL, so a gate cannot pass by not looking; BP_ORACLE_SKIP_BROWSER=1 skips them on
purpose, and says so in the summary.
"""

from __future__ import annotations

import os

import pytest

import chromium
import manual_bp as mb
from bp_oracle.check import check_implementation
from bp_oracle.html_report import check_page
from bp_oracle.report import OUTCOMES, to_json
from broken_backprops import BROKEN

pytestmark = pytest.mark.slow  # a real browser: its own lane (docs/testing.md)


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("BP_ORACLE_SKIP_BROWSER") == "1":
        pytest.skip("BP_ORACLE_SKIP_BROWSER=1: the report is not looked at in a browser")
    try:
        driver = chromium.start()
    except Exception as e:  # noqa: BLE001  (a missing browser is this test's failure, named)
        pytest.fail(f"cannot start headless Chromium: {e}; install it: {chromium.INSTALL}, or set "
                    f"BP_ORACLE_SKIP_BROWSER=1 to skip these tests on purpose", pytrace=False)
    yield driver
    driver.quit()


def _open(browser, path):
    browser.get(path.as_uri())
    return chromium.console_errors(browser)


@pytest.fixture(scope="module")
def bp2_page(tmp_path_factory):
    """The quick suite against BP2 with σ'(a^l) where σ'(z^l) is due, δ sent; page and JSON."""
    def answer(net, params, x, y):
        t = BROKEN["sigma_prime_of_a_in_bp2"][0](net, params, x, y)
        return {"grads": t.grads, "deltas": t.delta}
    report = check_implementation(answer, "quick")
    path = tmp_path_factory.mktemp("html") / "bp2.html"
    check_page.write_page(report, str(path), "bp-oracle check --impl … --suite quick")
    return path, to_json(report)


def test_a_planted_bp2_bug_shows_its_verdict_diagram_and_heatmap_without_console_errors(browser, bp2_page):
    path, _ = bp2_page
    assert _open(browser, path) == []
    assert "DOES NOT CONFORM" in browser.find_element("css selector", "#verdict .word").text
    case = browser.find_element("css selector", "section.case")
    root = case.find_element("css selector", "svg.diagram g.mark.root")
    assert root.get_attribute("data-equation") == "BP2" and root.is_displayed()
    assert "ROOT" in root.find_element("css selector", "text").text
    assert root.size["width"] > 50 and root.size["height"] > 10  # drawn, not just present
    heatmap = case.find_element("css selector", ".tensor[data-root='true'] svg.heatmap")
    assert heatmap.is_displayed() and heatmap.size["width"] > 20 and heatmap.size["height"] > 20
    glyphs = browser.execute_script("return [...arguments[0].querySelectorAll('g.beyond text')]"
                                    ".map(t => t.textContent)", heatmap)
    assert glyphs and int(heatmap.get_attribute("data-beyond")) >= 1
    assert set(glyphs) <= {"+", "−", "?", "∞"}
    assert heatmap.find_elements("css selector", "g.worst")


def test_the_coverage_table_counts_equal_the_json_reports(browser, bp2_page):
    path, report = bp2_page
    assert _open(browser, path) == []
    # the table as the browser renders it, read in one call (a WebDriver call per cell costs ~5 ms)
    rows = browser.execute_script(
        "return [...document.querySelectorAll('table.coverage tbody tr')]"
        ".map(r => [r.dataset.feature, [...r.querySelectorAll('td')].map(td => td.innerText)])")
    assert rows and all(len(cells) == 7 for _, cells in rows)
    shown = {feature: [int(text) for text in cells[1:6]] for feature, cells in rows}
    expected = {f: [c["judged"], *(c[o] for o in OUTCOMES)] for f, c in report["coverage"].items()}
    expected["dtype:float64"] = [report["judged"], *(report["counts"][o] for o in OUTCOMES)]
    assert shown == expected


def test_a_conforming_run_and_a_verify_run_load_cleanly_with_their_plots(browser, tmp_path, run_cli):
    page = tmp_path / "ok.html"
    check_page.write_page(check_implementation(mb.backprop, "quick", include=["depth:1"]), str(page), "cmd")
    assert _open(browser, page) == []
    assert "CONFORMS" in browser.find_element("css selector", "#verdict .word").text
    assert not browser.find_elements("css selector", "section.case")
    sweep = tmp_path / "verify.html"
    assert run_cli("verify", "--cases", "8", "--no-progress", "--html", sweep)[0] == 0
    assert _open(browser, sweep) == []
    assert "AGREES" in browser.find_element("css selector", "#verdict .word").text
    images = browser.find_elements("css selector", "img.plot")
    assert len(images) == 2
    assert all(browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100
               for img in images)


@pytest.mark.parametrize("planted", [
    '<img src="https://example.invalid/tracker.png" alt="">',  # a fetch the page's policy refuses
    '<script>undefinedFunction()</script>',  # a script (refused too, and an error if it ran)
])
def test_the_console_check_catches_a_page_that_fetches_or_runs_anything(browser, bp2_page, tmp_path, planted):
    path, _ = bp2_page
    broken = tmp_path / "broken.html"
    broken.write_text(path.read_text().replace("</body>", planted + "</body>"))
    assert _open(browser, broken) != []
