"""One writer per file: an exclusive, non-blocking OS lock (``flock``) on the monitor's state
and output files, held while the monitor runs and released by the OS when the process dies
(even by ``kill -9``). Without ``fcntl`` (Windows) files are not locked."""

from __future__ import annotations

import os
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


def holder(fd: int) -> int | None:
    """The pid holding a ``flock`` on the file of ``fd``, from /proc/locks (Linux), or None."""
    st = os.fstat(fd)
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 5 and parts[1] == "FLOCK" and parts[5] == key:
                    return int(parts[4])
    except (OSError, ValueError):
        pass
    return None


def lock(f: IO, what: str) -> None:
    """Lock the open file ``f`` for this process; ValueError naming ``what`` and the holder's
    pid when another process (or another open file of this one) holds it."""
    if fcntl is None:
        return
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = holder(f.fileno())
        by = f"process {pid}" if pid is not None else "another process"
        raise ValueError(f"{what} is in use by another monitor ({by}): one writer per "
                         "file") from None
