"""The mosquitto fixture: a real MQTT broker on a free loopback port, one per test session.

Without mosquitto the MQTT tests skip with how to install it, except in CI (CI=true), where
they fail: .ci/run installs the broker first (scripts/install_mosquitto.sh).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest


def _mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory):
    """(host, port) of a running broker; unlimited in-flight and queued QoS 1 messages."""
    exe = _mosquitto()
    if exe is None:
        msg = "mosquitto is not installed: run `bash scripts/install_mosquitto.sh` (root, apt-get)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    pytest.importorskip("paho.mqtt.client")
    d = tmp_path_factory.mktemp("mosquitto")
    port = _free_port()
    conf = d / "mosquitto.conf"
    # in-flight/queued limits off: the monitor acknowledges QoS 1 messages only after each
    # checkpoint, and queues build up while a killed monitor restarts
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_inflight_messages 0\nmax_queued_messages 0\n"
        f"log_dest file {d / 'mosquitto.log'}\n"
    )
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.poll() is not None else "timeout"
                proc.kill()
                pytest.fail(f"mosquitto did not start: {err}")
            time.sleep(0.05)
    yield "127.0.0.1", port
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
