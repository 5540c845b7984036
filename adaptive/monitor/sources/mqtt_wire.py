"""A minimal MQTT 3.1.1 subscriber for the monitor: the wire format read in bulk.

Why not paho's loop: paho reads one packet per loop iteration (a ``select`` and two or three
``recv`` calls) and runs Python for each message (packet object, callback, queue), about 30 us
of CPU per message here; on a 2-core machine that shares the cores with the broker and the
publishers, that was the monitor's ceiling. This client reads whatever the socket holds (up to
``recv_bytes``) in one call and a compiled kernel (:func:`_scan`) cuts the bytes into packets;
a micro-batch of thousands of messages then costs a few Python operations per message (the
topic's name) plus the kernels that parse their numbers.

It does what the monitor needs and no more: CONNECT with a fixed client id and a persistent
session (clean session off), SUBSCRIBE at QoS 1, PUBLISH received at QoS 0 or 1, PUBACK sent
when the monitor says so (after its checkpoint), PINGREQ from a timer thread, reconnection with
back-off. No TLS, no credentials, no MQTT 5 (the URL forms of :func:`parse_mqtt_url`).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from adaptive.drift._drivers import kernel


def parse_mqtt_url(url: str) -> tuple[str, int, str]:
    """``mqtt://host:port/topic`` -> (host, port, topic); ValueError naming what is wrong.

    Examples
    --------
    >>> parse_mqtt_url("mqtt://127.0.0.1:1883/plant/#")
    ('127.0.0.1', 1883, 'plant/#')
    """
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"MQTT URL {url!r} must look like mqtt://host:port/topic")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ValueError(f"MQTT URL {url!r} has an invalid port") from None
    topic = parts.path.lstrip("/")
    if parts.fragment == "" and url.endswith("#"):
        topic += "#"  # urlsplit reads '#' as the start of a fragment
    elif parts.fragment:
        topic += "#" + parts.fragment
    if not topic:
        raise ValueError(f"MQTT URL {url!r} names no topic")
    return parts.hostname, port, topic




def start_client(client: Any, host: str, port: int) -> None:
    """Connect a paho ``client`` (keepalive 30 s) and start its network thread; ValueError when
    the broker cannot be reached (the alert sink publishes with paho)."""
    try:
        client.connect(host, port, keepalive=30)
    except OSError as err:
        raise ValueError(f"cannot connect to MQTT broker {host}:{port}: {err}") from None
    client.loop_start()


PUBLISH, CONNACK, SUBACK = 3, 2, 9  # packet types the client reads


def _string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("!H", len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    """Fixed header (type and flags, remaining length as a varint) + body."""
    n, length = len(body), bytearray()
    while True:
        n, digit = divmod(n, 128)
        length.append(digit | (128 if n else 0))
        if not n:
            return bytes([first]) + bytes(length) + body


def connect_packet(client_id: str, keepalive: int) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session off (a persistent session)."""
    return _packet(0x10, _string("MQTT") + bytes([4, 0x00]) + struct.pack("!H", keepalive)
                   + _string(client_id))


def subscribe_packet(pid: int, topic: str) -> bytes:
    """SUBSCRIBE to ``topic`` at QoS 1."""
    return _packet(0x82, struct.pack("!H", pid) + _string(topic) + bytes([1]))


def puback_packets(mids: np.ndarray) -> bytes:
    """One PUBACK (4 bytes) per packet id, all in one buffer."""
    out = np.empty((mids.size, 4), dtype=np.uint8)
    out[:, 0], out[:, 1] = 0x40, 2
    out[:, 2], out[:, 3] = mids >> 8, mids & 0xFF
    return out.tobytes()


PINGREQ = bytes([0xC0, 0])
DISCONNECT = bytes([0xE0, 0])


@kernel
def _scan(buf, out):
    """Complete packets of ``buf`` -> rows of ``out`` (P, 6): type, flags, start of the
    variable header, end of the packet, and for PUBLISH the start and end of the topic.
    Returns (packets found, bytes consumed); a packet cut by the end of ``buf`` is left."""
    n = buf.shape[0]
    i = 0
    k = 0
    while i < n and k < out.shape[0]:
        first = buf[i]
        j = i + 1
        length = 0
        mult = 1
        done = False
        while j < n and j < i + 5:
            d = buf[j]
            length += (d & 127) * mult
            mult *= 128
            j += 1
            if d < 128:
                done = True
                break
        if not done or j + length > n:
            break
        out[k, 0] = first >> 4
        out[k, 1] = first & 15
        out[k, 2] = j
        out[k, 3] = j + length
        if first >> 4 == 3 and length >= 2:
            tlen = buf[j] * 256 + buf[j + 1]
            out[k, 4] = j + 2
            out[k, 5] = j + 2 + tlen
        k += 1
        i = j + length
    return k, i


def scan(data: bytes) -> tuple[np.ndarray, int]:
    """Packets (P, 6) of ``data`` (see ``_scan``) and the bytes they take.

    Examples
    --------
    >>> pkts, used = scan(_packet(0x32, _string("a/b") + b"\\x00\\x07" + b"1.5") + b"\\x40")
    >>> pkts.tolist(), used
    ([[3, 2, 2, 12, 4, 7]], 12)
    """
    out = np.zeros((len(data) // 2 + 1, 6), dtype=np.int64)
    k, used = _scan(np.frombuffer(data, dtype=np.uint8), out)
    return out[:k], used


class Connection:
    """One subscriber session: connect, subscribe, read raw bytes, send acks and pings.

    ``read()`` returns the bytes the socket holds (blocking up to ``timeout``); after a lost
    connection it reconnects (back-off up to 30 s) and reports it through ``reconnects``.
    """

    def __init__(self, host: str, port: int, client_id: str, topic: str, *,
                 keepalive: int = 30, connect_timeout: float = 10.0,
                 recv_bytes: int = 1 << 20):
        self.host, self.port, self.client_id, self.topic = host, port, client_id, topic
        self.keepalive, self.connect_timeout, self.recv_bytes = keepalive, connect_timeout, \
            recv_bytes
        self.reconnects = 0
        self._lock = threading.Lock()  # one writer at a time (acks, pings)
        self._sock: socket.socket | None = None
        self._closed = threading.Event()
        self._connect()
        self._pinger = threading.Thread(target=self._ping_loop, daemon=True)
        self._pinger.start()

    def _connect(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), self.connect_timeout)
        except OSError as err:
            raise ValueError(f"cannot connect to MQTT broker {self.host}:{self.port}: "
                             f"{err}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.sendall(connect_packet(self.client_id, self.keepalive))
        head = self._read_exact(sock, 4)
        if head[0] >> 4 != CONNACK or head[3] != 0:
            sock.close()
            raise ValueError(f"MQTT broker {self.host}:{self.port} refused the connection "
                             f"(CONNACK return code {head[3]})")
        sock.sendall(subscribe_packet(1, self.topic))
        sock.settimeout(None)
        self._sock = sock
        self._leftover = b""  # SUBACK and the first messages arrive on the stream

    def _read_exact(self, sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            part = sock.recv(n - len(data))
            if not part:
                raise ValueError(f"MQTT broker {self.host}:{self.port} closed the connection")
            data += part
        return data

    def read(self, timeout: float) -> bytes:
        """What the socket holds now, or b"" after ``timeout`` seconds without data (0: do not
        wait)."""
        if self._leftover:
            data, self._leftover = self._leftover, b""
            return data
        sock = self._sock
        try:
            sock.settimeout(timeout)  # type: ignore[union-attr]
            data = sock.recv(self.recv_bytes)  # type: ignore[union-attr]
        except (TimeoutError, BlockingIOError):  # timeout 0: nothing there now
            return b""
        except OSError:
            data = b""
        if not data and not self._closed.is_set():
            self._reconnect()
        return data

    def _reconnect(self) -> None:
        with self._lock:
            try:
                self._sock.close()  # type: ignore[union-attr]
            except OSError:
                pass
            delay = 0.1
            while not self._closed.is_set():
                try:
                    self._connect()
                    self.reconnects += 1
                    return
                except ValueError:
                    time.sleep(delay)
                    delay = min(30.0, 2 * delay)

    def send(self, data: bytes) -> None:
        with self._lock:
            try:
                self._sock.sendall(data)  # type: ignore[union-attr]
            except OSError:
                pass  # the reader reconnects; unacknowledged messages come back

    def _ping_loop(self) -> None:
        while not self._closed.wait(self.keepalive / 2):
            self.send(PINGREQ)

    def close(self) -> None:
        self._closed.set()
        self.send(DISCONNECT)
        with self._lock:
            try:
                self._sock.close()  # type: ignore[union-attr]
            except OSError:
                pass
