#!/usr/bin/env bash
# Install Debian's Chromium if it is missing (used by `make docs-check` to open the built
# documentation headless and save screenshots). Idempotent: exits 0 at once when `chromium` is
# on PATH; otherwise installs it through scripts/apt_install.sh (root or sudo needed).
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium: already installed ($(command -v chromium))"
    exit 0
fi
bash "$(dirname "$0")/apt_install.sh" chromium fonts-dejavu-core
echo "chromium: installed ($(command -v chromium))"
