#!/usr/bin/env bash
# Install Debian's mosquitto-clients (mosquitto_pub, mosquitto_sub) if they are missing. The
# MQTT benchmark (benchmarks/bench_monitor.py) publishes with mosquitto_pub from other processes
# and measures the broker's own ceiling with mosquitto_sub; the tests do not need them.
# Idempotent: exits 0 at once when both programs are on PATH. Needs root (or sudo) and apt-get;
# otherwise it prints how to install them and exits 1.
set -euo pipefail

if command -v mosquitto_pub >/dev/null 2>&1 && command -v mosquitto_sub >/dev/null 2>&1; then
    echo "mosquitto-clients: already installed ($(command -v mosquitto_pub))"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "mosquitto-clients: apt-get not found; install mosquitto_pub/mosquitto_sub with your" \
         "package manager" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "mosquitto-clients: not root and no sudo; run: apt-get install -y mosquitto-clients" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends mosquitto-clients
echo "mosquitto-clients: installed ($(command -v mosquitto_pub))"
