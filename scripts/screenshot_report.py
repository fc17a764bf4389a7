"""The picture of the HTML report in docs/: a planted bug (BP2 with σ'(a^l) where σ'(z^l) is due)
checked on the quick suite, its page opened in headless Chromium, and one failing case's section
captured.

    python scripts/screenshot_report.py [--out docs/html-report.png] [--case 1]

Needs Chromium and chromedriver (scripts/install_browser.sh) and selenium (the test extra).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

import chromium  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "html-report.png"))
    parser.add_argument("--case", type=int, default=1, help="which failing case's section (0 = the first)")
    args = parser.parse_args(argv)
    impl = f"{sys.executable} {ROOT / 'scripts' / 'examples' / 'buggy_backprop.py'} --bug sigma_prime_of_a_in_bp2 --with-trace"
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "report.html"
        done = subprocess.run([sys.executable, "-m", "bp_oracle.cli", "check", "--impl", impl, "--suite", "quick",
                               "--no-progress", "--html", str(page)], capture_output=True, text=True)
        if done.returncode != 1 or not page.exists():
            print(f"the planted bug was not reported as expected (exit {done.returncode}): {done.stderr}", file=sys.stderr)
            return 1
        driver = chromium.start(width=1100, height=1500)
        try:
            driver.get(page.as_uri())
            errors = chromium.console_errors(driver)
            if errors:
                print(f"console errors: {errors}", file=sys.stderr)
                return 1
            driver.find_elements("css selector", "section.case")[args.case].screenshot(args.out)
        finally:
            driver.quit()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
