"""The resumable run loop of :class:`adaptive.SensorMonitor`: a source to its end, with
checkpoints every ``checkpoint_every`` readings and at shutdown, and MQTT acknowledgements only
after the checkpoint that covers them (see :mod:`adaptive.monitor.state` for the protocol)."""

from __future__ import annotations

import signal
from typing import Any

from adaptive.monitor import _faults


class _Stop(Exception):
    """Raised by the signal handler while the monitor is blocked reading its source."""


def run(monitor: Any, source: Any, *, handle_signals: bool = True) -> dict[str, Any]:
    """Process ``source`` to its end (or a stop request) with checkpoints; return the summary.

    On a restart (the state file exists) the source resumes at the saved position.
    """
    if monitor._restored is None:
        monitor.restore()
    monitor._resumable.bind(getattr(source, "identity", None))
    if hasattr(source, "max_abs"):  # the parser dead-letters overflow with the raw text
        source.max_abs = monitor.max_abs
    if monitor._restored:
        source.seek(monitor.position)
    else:  # the first checkpoint: where the source starts (after a CSV header)
        monitor.position = dict(getattr(source, "position", monitor.position))
        monitor.checkpoint()
    old = {}
    blocked = [False]

    def handler(signum, frame):
        monitor.request_stop()
        if hasattr(source, "stop"):
            source.stop()
        if blocked[0]:
            raise _Stop

    if handle_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, handler)
    since = 0
    pending_acks: list = []
    try:
        it = source.batches()
        while not monitor._stop:
            blocked[0] = True
            try:
                batch = next(it, None)
            except _Stop:
                break
            finally:
                blocked[0] = False
            if batch is None:
                break
            monitor.process(batch)
            _faults.point("batch.done")
            pending_acks.extend(batch.acks)
            since += batch.values.size
            if monitor.checkpoint_every is not None and since >= monitor.checkpoint_every:
                _checkpoint_and_ack(monitor, source, pending_acks)
                since = 0
        _checkpoint_and_ack(monitor, source, pending_acks)
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    return monitor.summary()


def _checkpoint_and_ack(monitor: Any, source: Any, pending_acks: list) -> None:
    """Checkpoint, then acknowledge the messages the checkpoint covers (emptying the list)."""
    monitor.checkpoint()
    if pending_acks:
        _faults.point("acks.before")
        source.ack(pending_acks)
        pending_acks.clear()
