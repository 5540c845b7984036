"""Fault-injection hook of the monitor's writers, for the crash tests (inert unless set).

Two environment variables, read once at import:

``ADAPTIVE_FAULT_KILL``
    ``<i>``: the process sends itself SIGKILL at its i-th pass through any fault site;
    ``<site>:<i>``: at its i-th pass through that site.
``ADAPTIVE_FAULT_TRACE``
    A file that gets one line per pass (the site's name), written before a kill.

Sites, in the order a run meets them: ``checkpoint.open`` (the temp file exists, empty),
``checkpoint.partial`` (half the state's bytes in it), ``checkpoint.written`` (all of them,
not fsynced, not renamed), ``checkpoint.renamed`` (renamed, directory not fsynced),
``batch.done`` (a batch's
alerts and dead letters written, not checkpointed), ``alerts.partial``/``alerts.written`` and
``dead_letters.partial``/``dead_letters.written`` (half of / all of one write handed to the OS,
not fsynced), ``acks.before`` (MQTT: checkpointed, not yet acknowledged to the broker).
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from typing import IO

_KILL = os.environ.get("ADAPTIVE_FAULT_KILL", "")
_TRACE = os.environ.get("ADAPTIVE_FAULT_TRACE", "")
ACTIVE = bool(_KILL or _TRACE)
_site, _, _nth = _KILL.rpartition(":")
_AT = int(_nth) if _nth.isdigit() else None
_passes: Counter = Counter()


def point(site: str) -> None:
    """One pass through ``site``: logged, and SIGKILL if it is the armed pass."""
    if not ACTIVE:
        return
    _passes[""] += 1
    _passes[site] += 1
    if _TRACE:
        with open(_TRACE, "a") as f:
            f.write(site + "\n")
    if _AT is not None and _passes[_site] == _AT:
        os.kill(os.getpid(), signal.SIGKILL)


def write(f: IO[bytes], data: bytes, site: str) -> None:
    """``f.write(data)`` with the passes ``<site>.partial`` (half of it flushed to the OS)
    and ``<site>.written`` when the hook is on."""
    if not ACTIVE or not data:
        f.write(data)
        return
    half = len(data) // 2
    f.write(data[:half])
    f.flush()
    point(site + ".partial")
    f.write(data[half:])
    f.flush()
    point(site + ".written")
