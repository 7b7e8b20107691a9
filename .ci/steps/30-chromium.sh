#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the browser tests (replay HTML, report HTML, dashboard).
# Under CI the tests fail rather than skip when they are missing, so install them here.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  echo "chromium: $(chromium --version 2>/dev/null)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
echo "chromium: $(chromium --version 2>/dev/null)"
