#!/usr/bin/env bash
# What the black-box tests drive, installed once per machine when missing:
# real clients from Debian (curl, wget, aria2c, Chromium), ffmpeg to make
# the test video, Node.js, and playwright-core (pinned in
# tests/browser/package-lock.json) to drive Chromium; systemd's
# systemd-socket-activate and systemd-analyze; Python requests (upload
# tests); maturin (PyPI) and venv to
# build and install the wheel. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
want=(curl wget aria2 chromium ffmpeg systemd)
python3 -c "import venv, ensurepip" 2>/dev/null || want+=(python3-venv)
python3 -c "import requests" 2>/dev/null || want+=(python3-requests)
command -v node >/dev/null || want+=(nodejs)
command -v npm >/dev/null || want+=(npm)
missing=()
for pkg in "${want[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ -f tests/browser/package.json ] && [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && npm ci --silent --no-audit --no-fund)
fi
python3 -c "import maturin" 2>/dev/null || command -v maturin >/dev/null || python3 -m pip install --quiet "maturin>=1.5,<2"
