#!/usr/bin/env bash
# Install Debian's chromium and chromium-driver for the browser tests (tests/test_browser_*.py),
# unless they are already there. Playwright drives /usr/bin/chromium; no browser is downloaded
# from the network by Playwright itself.
set -euo pipefail

if [ -x /usr/bin/chromium ] && { [ -x /usr/bin/chromedriver ] || command -v chromedriver >/dev/null 2>&1; }; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo unknown version)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium chromium-driver
/usr/bin/chromium --version
