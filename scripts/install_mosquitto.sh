#!/usr/bin/env bash
# Install Debian's mosquitto MQTT broker if it is missing (used by the MQTT tests of the sensor
# monitor). Idempotent: exits 0 at once when `mosquitto` is already on PATH or in /usr/sbin.
# Needs root and apt-get; otherwise it prints how to install the broker and exits 1.
set -euo pipefail

if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
    echo "mosquitto: already installed ($(command -v mosquitto || echo /usr/sbin/mosquitto))"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "mosquitto: apt-get not found; install the mosquitto broker with your package manager" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "mosquitto: not root and no sudo; run: apt-get install -y mosquitto (as root)" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: the broker only (no mosquitto-clients); the service is not started,
# the tests start their own broker on a free loopback port.
$SUDO apt-get install -y -qq --no-install-recommends mosquitto
echo "mosquitto: installed ($(command -v mosquitto || echo /usr/sbin/mosquitto))"
