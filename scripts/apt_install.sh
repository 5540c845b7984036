#!/usr/bin/env bash
# Install Debian packages non-interactively: `bash scripts/apt_install.sh PKG [PKG ...]`.
# Needs apt-get and root (or sudo); otherwise prints the command to run and exits 1. The
# package-specific scripts (install_chromium.sh, ...) check whether the tool is present first.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 PACKAGE [PACKAGE ...]" >&2
    exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not found; install with your package manager: $*" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "not root and no sudo; run as root: apt-get install -y $*" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$@"
