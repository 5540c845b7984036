#!/usr/bin/env bash
# Install Debian's headless-capable Chromium if it is missing (used by `make docs-check` to open
# the built documentation and save screenshots). Idempotent: exits 0 at once when `chromium` is
# on PATH. Needs root (or sudo) and apt-get; otherwise prints how to install it and exits 1.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium: already installed ($(command -v chromium))"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium: apt-get not found; install Chromium with your package manager" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "chromium: not root and no sudo; run: apt-get install -y chromium (as root)" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
echo "chromium: installed ($(command -v chromium))"
