#!/usr/bin/env bash
# Headless Chromium and its driver from the system's packages, for tests/browser (the HTML report
# looked at in a real browser). Nothing to do where both are installed; otherwise Debian/Ubuntu's
# apt-get, as root or with sudo. No browser is downloaded by any other tool.
# BP_ORACLE_SKIP_BROWSER=1: install nothing (the browser tests then skip, and say so).
set -euo pipefail
if [ "${BP_ORACLE_SKIP_BROWSER:-0}" = 1 ]; then
  exit 0
fi
have_browser() { command -v chromium || command -v chromium-browser || command -v google-chrome; }
if have_browser >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install_browser.sh: no apt-get here: install Chromium and chromedriver with your system's package manager," \
       "or set BP_ORACLE_SKIP_BROWSER=1 to skip the browser tests" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
