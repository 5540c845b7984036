#!/usr/bin/env bash
# Install Debian's mosquitto MQTT broker if it is missing (used by the MQTT tests of the sensor
# monitor). Idempotent: exits 0 at once when `mosquitto` is already on PATH or in /usr/sbin.
# Needs root and apt-get; otherwise it prints how to install the broker and exits 1.
# --no-install-recommends (apt_install.sh): the broker only; the service is not started, the
# tests start their own broker on a free loopback port.
set -euo pipefail

if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
    echo "mosquitto: already installed ($(command -v mosquitto || echo /usr/sbin/mosquitto))"
    exit 0
fi
bash "$(dirname "$0")/apt_install.sh" mosquitto
echo "mosquitto: installed ($(command -v mosquitto || echo /usr/sbin/mosquitto))"
