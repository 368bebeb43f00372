"""The one lock Inkwell's processes take on a file: ``FileLock``, on the ``filelock`` package.

A lock is the operating system's (flock on Linux and macOS, LockFileEx on Windows): it goes with
the process however that ends, a crash or kill -9 included, so a lock that can be taken belongs
to nobody alive. Locks are never waited for here: whoever finds one held says so (another
install runs, the editor that owns this autosave slot is still open) or leaves the thing alone.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import filelock


class FileLock:
    """A lock on the file at ``path`` (created when missing), taken without waiting.

    Two holders in one process exclude each other too, as two processes do. A holder may be
    released from any thread (an editor's slot is taken on the window's thread and given back by
    whichever closes it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = filelock.FileLock(str(self.path), thread_local=False)

    def try_acquire(self) -> bool:
        """Take the lock now; False when another holds it."""
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        return True

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def release(self, remove: bool = False) -> None:
        """Give the lock back (nothing when not held); with ``remove`` its file goes too. Where
        an open file can be deleted, the file goes first, so that nobody takes the lock of a
        file about to disappear and takes it for an abandoned one."""
        if not self._lock.is_locked:
            return
        if remove and os.name != "nt":
            self.path.unlink(missing_ok=True)
        self._lock.release(force=True)
        if remove and os.name == "nt":
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def try_lock(path: str | Path) -> FileLock | None:
    """The lock on ``path``, held; None when another holds it."""
    lock = FileLock(path)
    return lock if lock.try_acquire() else None
