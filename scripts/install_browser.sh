#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests of `pixelthink app` (tests/test_app_browser.py),
# when it is missing. Playwright drives it (`executable_path`); it never downloads a browser.
# Needs root (CI runs as root); elsewhere it says what to run and leaves the tests to skip.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/install_browser.sh: Chromium is missing; run 'sudo apt-get install -y chromium' for the browser tests" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "scripts/install_browser.sh: no apt-get here; install Chromium and set PIXELTHINK_CHROMIUM=/path/to/chromium" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 0
fi
echo "installing Debian's chromium for the browser tests (apt-get) ..."
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
command -v chromium
