"""Autosave snapshots of unsaved text, and recovering them after a crash.

Each running editor owns one snapshot slot in ``state_dir()/autosave``: ``<id>.json`` (the text,
the file it belongs to, when it was taken) guarded by ``<id>.lock``, a lock (core.locks) held for as
long as the editor runs. A snapshot whose lock can be taken belongs to an editor that is gone without
closing cleanly (a crash, a kill, a power cut): that is the text to offer on the next start.
A clean close, a save or an explicit discard removes the snapshot.

A snapshot that cannot be read (damaged, not a file, too large) never hides the others: it is
moved aside as ``<id>.json.bad-DATE`` and reported. The temporary files of a snapshot write that
was killed half-way are removed on the next start, once their editor is provably gone (its lock
can be taken).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core import paths
from core.fileio import (
    DamagedFile,
    atomic_write,
    back_up,
    describe_os_error,
    is_finite_number,
    read_json,
    remove_stale_temps,
)
from core.locks import FileLock

# A snapshot holds a document's text (the editor opens up to 64 MiB) as JSON, where a line break
# takes two bytes and a control character six.
MAX_SNAPSHOT_BYTES = 4 * 64 * 1024 * 1024
_LATEST_TIME = 1e11  # seconds since 1970 (the year 5138): a later saved_at is not a time


def autosave_dir() -> Path:
    folder = paths.autosave_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class _Lock(FileLock):
    """A slot's lock: free only once the editor holding it no longer runs, however long it has
    been open; its file goes with it."""

    def release(self, remove: bool = True) -> None:
        super().release(remove)


@dataclass
class Snapshot:
    """An orphaned snapshot: the text an editor that did not close cleanly had not saved."""

    file: Path
    text: str
    document_path: str  # "" for a document that was never saved
    saved_at: float
    _lock: FileLock
    meta: dict = field(default_factory=dict)  # the file's encoding and state on disk (app.documents)

    @property
    def title(self) -> str:
        return Path(self.document_path).name if self.document_path else "Untitled"

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        self._lock.release()


def _snapshot_json(pieces: Iterable[str], document_path: str, meta: dict | None) -> Iterator[str]:
    """The snapshot file's JSON, written a piece of the text at a time: escaping 50 MB in one
    call would hold the interpreter (and with it the window) for a third of a second."""
    head = json.dumps({"version": 1, "path": document_path, "saved_at": time.time(), **(meta or {})},
                      ensure_ascii=False)
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
        self._lock = _Lock(folder / f"{self.id}.lock")
        if not self._lock.try_acquire():
            raise OSError(f"its lock file cannot be made in {folder}")
        self._guard = threading.Lock()
        self.generation = 0  # counts clears; a write begun before one is dropped

    def write(self, text: str | Iterable[str], document_path: str, meta: dict | None = None,
              generation: int | None = None) -> bool:
        """Snapshot ``text`` (or its pieces, in order); False when the slot was cleared since
        ``generation`` (the default: now), and nothing is left of this write."""
        generation = self.generation if generation is None else generation
        pieces = [text] if isinstance(text, str) else text
        if generation != self.generation:
            return False

        def write_json(out) -> None:
            for part in _snapshot_json(pieces, document_path, meta):
                out.write(part.encode("utf-8"))

        atomic_write(self.file, write_json, private=True)  # private to the user: unsaved text
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
        self._lock.release()


def orphaned_snapshots() -> list[Snapshot]:
    """Snapshots left by editors that are no longer running, newest first; each holds its lock."""
    return scan_snapshots()[0]


def scan_snapshots() -> tuple[list[Snapshot], list[str]]:
    """(orphaned snapshots newest first, each holding its lock; what was wrong with the others,
    in words). Leftover temporary files of dead editors are removed first."""
    try:
        folder = autosave_dir()
    except OSError as exc:
        return [], [f"Autosaved text cannot be looked for in {paths.state_dir()}: {describe_os_error(exc)}"]
    remove_stale_temps(folder, abandoned=_abandoned_temp)
    found, problems = [], []
    for file in folder.glob("*.json"):
        lock = _Lock(file.with_suffix(".lock"))
        if not lock.try_acquire():
            continue  # its editor is still running
        try:
            snapshot = _read_snapshot(file, lock)
        except (OSError, DamagedFile) as exc:
            # It cannot be offered; keep it aside for a person to look at, and go on with the others.
            backup = back_up(file)
            lock.release()
            why = describe_os_error(exc) if isinstance(exc, OSError) else exc.reason
            kept = f"; it was kept as {backup}" if backup else ""
            problems.append(f"An autosaved text could not be recovered ({file.name}: {why}){kept}.")
            continue
        found.append(snapshot)
    found.sort(key=lambda s: s.saved_at, reverse=True)
    return found, problems


def _read_snapshot(file: Path, lock: FileLock) -> Snapshot:
    data = read_json(file, MAX_SNAPSHOT_BYTES)
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise DamagedFile(file, "not an autosave snapshot (no text)")
    path = data.get("path") or ""
    saved_at = data.get("saved_at")
    if not isinstance(path, str):
        raise DamagedFile(file, "not an autosave snapshot (the file name is not text)")
    if not is_finite_number(saved_at) or not 0 <= saved_at <= _LATEST_TIME:
        saved_at = file.stat().st_mtime  # (the question shows the time: localtime(1e300) raises)
    if "\x00" in path or (path and not os.path.isabs(path)):
        path = ""  # not a path Inkwell wrote (os.stat raises on NUL; a relative one would land in the cwd): Save As asks
    meta = {k: data[k] for k in ("format", "disk") if isinstance(data.get(k), dict)}
    return Snapshot(file, data["text"], path, float(saved_at), lock, meta)


def _abandoned_temp(tmp: Path) -> bool:
    """Whether the temporary file ``.<id>.json.XXXX.tmp`` belongs to an editor that is gone."""
    slot_id = tmp.name[1:].split(".", 1)[0]
    lock = _Lock(tmp.with_name(f"{slot_id}.lock"))
    if not lock.try_acquire():
        return False  # its editor runs (and may be writing it right now)
    lock.release()
    return True
