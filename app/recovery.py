"""Autosave snapshots of unsaved text, and recovering them after a crash.

Each running editor owns one snapshot slot in ``state_dir()/autosave``: ``<id>.json`` (the text,
the file it belongs to, when it was taken) guarded by ``<id>.lock``, a QLockFile held for as long
as the editor runs. A snapshot whose lock can be taken belongs to an editor that is gone without
closing cleanly (a crash, a kill, a power cut): that is the text to offer on the next start.
A clean close, a save or an explicit discard removes the snapshot.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile

from app import paths
from app.settings import atomic_write_text


def autosave_dir() -> Path:
    folder = paths.state_dir() / "autosave"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _lock(path: Path) -> QLockFile:
    lock = QLockFile(str(path))
    # 0: never stale by age, only when the owning process no longer runs; the default (30 s)
    # would let a second editor steal the slot of one that simply has been open a while.
    lock.setStaleLockTime(0)
    return lock


@dataclass
class Snapshot:
    """An orphaned snapshot: the text an editor that did not close cleanly had not saved."""

    file: Path
    text: str
    document_path: str  # "" for a document that was never saved
    saved_at: float
    _lock: QLockFile

    @property
    def title(self) -> str:
        return Path(self.document_path).name if self.document_path else "Untitled"

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        self._lock.unlock()


def _snapshot_json(pieces: Iterable[str], document_path: str) -> Iterator[str]:
    """The snapshot file's JSON, written a piece of the text at a time: escaping 50 MB in one
    call would hold the interpreter (and with it the window) for a third of a second."""
    head = json.dumps({"version": 1, "path": document_path, "saved_at": time.time()}, ensure_ascii=False)
    yield head[:-1] + ', "text": "'
    for piece in pieces:
        yield json.dumps(piece, ensure_ascii=False)[1:-1]
    yield '"}'


class SnapshotSlot:
    """This editor's snapshot slot. ``write`` may run on a worker thread while the window goes
    on: a ``clear`` made meanwhile (the text was saved or replaced) wins, whichever ends first."""

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex
        folder = autosave_dir()
        self.file = folder / f"{self.id}.json"
        self._lock = _lock(folder / f"{self.id}.lock")
        if not self._lock.tryLock(0):
            raise OSError(f"{folder}: cannot lock an autosave slot")
        self._guard = threading.Lock()
        self.generation = 0  # counts clears; a write begun before one is dropped

    def write(self, text: str | Iterable[str], document_path: str, generation: int | None = None) -> bool:
        """Snapshot ``text`` (or its pieces, in order); False when the slot was cleared since
        ``generation`` (the default: now), and nothing is left of this write."""
        generation = self.generation if generation is None else generation
        pieces = [text] if isinstance(text, str) else text
        if generation != self.generation:
            return False
        atomic_write_text(self.file, _snapshot_json(pieces, document_path))
        with self._guard:
            if generation == self.generation:
                return True
            self.file.unlink(missing_ok=True)  # a clear came while this was written
            return False

    def clear(self) -> None:
        with self._guard:
            self.generation += 1
            self.file.unlink(missing_ok=True)

    def close(self) -> None:
        """A clean exit: nothing left to recover."""
        self.clear()
        self._lock.unlock()


def orphaned_snapshots() -> list[Snapshot]:
    """Snapshots left by editors that are no longer running, newest first; each holds its lock."""
    found = []
    for file in autosave_dir().glob("*.json"):
        lock = _lock(file.with_suffix(".lock"))
        if not lock.tryLock(0):
            continue  # its editor is still running
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            snapshot = Snapshot(file, str(data["text"]), str(data.get("path") or ""),
                                float(data.get("saved_at", file.stat().st_mtime)), lock)
        except (OSError, ValueError, KeyError, TypeError):
            # An unreadable snapshot cannot be offered; keep it for a person to look at.
            lock.unlock()
            continue
        found.append(snapshot)
    found.sort(key=lambda s: s.saved_at, reverse=True)
    return found
