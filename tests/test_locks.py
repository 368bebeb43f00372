"""core.locks: a lock is held while its process lives, by any holder in any process, and is free
once that process is gone, however it ended."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from core.locks import FileLock, try_lock

ROOT = Path(__file__).resolve().parent.parent


def test_a_held_lock_is_refused_to_a_second_holder_and_free_once_released(tmp_path):
    first = try_lock(tmp_path / "x.lock")
    assert first is not None and first.held
    assert try_lock(tmp_path / "x.lock") is None
    released = threading.Thread(target=first.release)  # given back from another thread
    released.start()
    released.join()
    second = FileLock(tmp_path / "x.lock")
    assert second.try_acquire()
    second.release(remove=True)
    assert not (tmp_path / "x.lock").exists()
    second.release()  # not held: nothing to do


def test_a_killed_holder_leaves_the_lock_free(tmp_path):
    path = tmp_path / "slot.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from core.locks import try_lock; import time; lock = try_lock({str(path)!r}); "
                               "print('held' if lock else 'busy', flush=True); time.sleep(120)"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert try_lock(path) is None
    finally:
        holder.kill()
        holder.wait()
    assert try_lock(path) is not None
