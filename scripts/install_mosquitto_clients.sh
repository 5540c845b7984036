#!/usr/bin/env bash
# Install Debian's mosquitto-clients (mosquitto_pub, mosquitto_sub) if they are missing. The
# MQTT benchmark (benchmarks/bench_monitor_mqtt.py) publishes with mosquitto_pub from other
# processes and measures the broker's own ceiling with mosquitto_sub; the tests do not need them.
# Idempotent: exits 0 at once when both programs are on PATH; otherwise scripts/apt_install.sh
# (apt-get as root or through sudo, or the command to run and exit 1).
set -euo pipefail

if command -v mosquitto_pub >/dev/null 2>&1 && command -v mosquitto_sub >/dev/null 2>&1; then
    echo "mosquitto-clients: already installed ($(command -v mosquitto_pub))"
    exit 0
fi
bash "$(dirname "$0")/apt_install.sh" mosquitto-clients
echo "mosquitto-clients: installed ($(command -v mosquitto_pub))"
