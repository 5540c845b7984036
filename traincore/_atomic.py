"""Atomic replacement of a file through a locked temp file, and removal of stale temp files.

A writer creates ``.<name>.XXXXXXXX.tmp`` next to the target (``tempfile.mkstemp``: eight
characters of ``[a-z0-9_]``), takes an exclusive ``flock`` on it, writes, fsyncs, renames it
over the target with ``os.replace`` and only then closes it (which drops the lock), then
fsyncs the directory. The lock is how a later process tells a live writer's file from one left
by a writer that died: the kernel drops a process's locks when it dies, SIGKILL included.

A temp file of our naming is *stale*, and removed, only when a non-blocking ``flock`` on it
succeeds *and* the name still refers to the file that was locked. A file another process is
writing is locked, so it is never touched; a writer that finds its fresh file unlinked by a
cleaner in the instant between ``mkstemp`` and its ``flock`` starts over with a new name.
Where ``flock`` does not exist (Windows) or the file system refuses it, nothing is removed:
what cannot be proven stale is kept.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; temp files are then never removed
    fcntl = None  # type: ignore[assignment]

Hook = Callable[[str], None]


def temp_name_pattern(target: Path) -> re.Pattern:
    """The names ``mkstemp`` gives our temp files for ``target`` (and nothing else)."""
    return re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")


def atomic_write(
    target: Path, write: Callable[[IO[bytes]], None], hook: Hook | None = None
) -> None:
    """Replace ``target`` by what ``write(handle)`` writes; the old file survives any failure.

    ``hook``, a test seam, is called with ``"open"``, ``"chunk"`` (after every write call),
    ``"synced"`` and ``"replaced"`` at those points of the write.
    """
    fd, tmp = _locked_temp(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hook is not None:
                hook("open")
            write(handle if hook is None else _HookedFile(handle, hook))  # type: ignore[arg-type]  # duck-typed file
            handle.flush()
            os.fsync(handle.fileno())
            if hook is not None:
                hook("synced")
            os.replace(tmp, target)  # still locked: no cleaner can take it for stale
            if hook is not None:
                hook("replaced")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _locked_temp(target: Path) -> tuple[int, str]:
    for _ in range(100):
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        if fcntl is None or _lock_and_check(fd, tmp):
            return fd, tmp
        os.close(fd)  # a cleaner took the fresh file for stale (and removes it): take another
    raise OSError(f"could not create a locked temp file next to {str(target)!r}")


def _lock_and_check(fd: int, path: str) -> bool:
    """Lock ``fd``; True when the lock is ours and ``path`` still names the locked file."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # no locks on this file system: write unlocked (never taken for stale)
        return True
    try:
        return _same_file(fd, path)
    except FileNotFoundError:
        return False


def _same_file(fd: int, path: str | Path) -> bool:
    now, locked = os.stat(path, follow_symlinks=False), os.fstat(fd)
    return (now.st_dev, now.st_ino) == (locked.st_dev, locked.st_ino)


class _HookedFile:
    """A file whose every ``write`` is followed by ``hook("chunk")``."""

    def __init__(self, handle: IO[bytes], hook: Hook):
        self._handle, self._hook = handle, hook

    def write(self, data: Any) -> int:
        written = self._handle.write(data)
        self._hook("chunk")
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def _fsync_dir(directory: Path) -> None:
    # makes the rename itself durable; directories cannot be opened for fsync on Windows
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temp_files(target: str | os.PathLike) -> list[Path]:
    """Remove the temp files of writers of ``target`` that died; return the paths removed.

    Only names of our own pattern (``.<target name>.XXXXXXXX.tmp`` in the target's directory)
    are looked at, and of those only files no live process holds locked (see the module
    docstring). Symlinks, directories and unreadable files are left alone.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / ".last.pt.x1y2z3w4.tmp").write_bytes(b"left by kill -9")
    >>> _ = (folder / "notes.tmp").write_bytes(b"not ours")
    >>> [p.name for p in remove_stale_temp_files(folder / "last.pt")]
    ['.last.pt.x1y2z3w4.tmp']
    >>> sorted(p.name for p in folder.iterdir())
    ['notes.tmp']
    """
    if not isinstance(target, (str, os.PathLike)):
        raise TypeError(f"target must be a str or os.PathLike, got {type(target).__name__}")
    target = Path(target)
    if fcntl is None:
        return []
    pattern = temp_name_pattern(target)
    try:
        names = sorted(os.listdir(target.parent))
    except FileNotFoundError:
        return []
    return [path for path in (target.parent / name for name in names if pattern.fullmatch(name))
            if _remove_if_stale(path)]


def _remove_if_stale(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:  # gone already, a symlink, or not ours to read
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by a live writer (or no locks here): keep it
            return False
        try:
            if not _same_file(fd, path):  # renamed away and the name reused meanwhile
                return False
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True
    finally:
        os.close(fd)
