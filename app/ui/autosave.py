"""Autosave without stalling the window, however long the document.

Copying a 50 MB document out of Qt in one call, escaping it as JSON and writing it with an fsync
held the window for the better part of a second every 30 seconds. Here the text is copied a
piece at a time between turns of the event loop (``TextCollector``, which follows the edits made
meanwhile), and a large snapshot is written on a worker thread. A small one is copied and
written at once, as before.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QTextCursor, QTextDocument

from app.recovery import SnapshotSlot
from core.fileio import describe_os_error

PIECE_CHARS = 1 << 18
TURN_S = 0.008  # copying per turn of the event loop
SMALL_CHARS = 1 << 20  # snapshots up to this are written on the GUI thread (milliseconds)


class TextCollector(QObject):
    """Copies a document's text in pieces, a few milliseconds per turn of the event loop.

    The copy is a row of segments covering the document, each copied text or not yet copied. An
    edit made meanwhile (QTextDocument.contentsChange: where, how much removed, how much added)
    leaves the segments before it as they are, moves those after it along, cuts the one it falls
    in around it where it can, and leaves only the edit's own span to be copied: typing
    while a 50 MB text is copied costs the copy a character per key, not a new start.
    """

    done = Signal(object)  # a list of pieces, which joined are the document's text at the time
    # (object, not list: a list would be converted to Qt and back, 50 MB copied twice)

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self._doc = document
        self._timer = QTimer(self, interval=0)
        self._timer.timeout.connect(self._step)
        self._segments: list[list] = []  # [start, end, text or None (not copied yet)], in order
        self.running = False

    def start(self) -> None:
        """Begin; the first turn's work is done now (all of it for a small document)."""
        self._segments = [[0, self._end_of_text(), None]]
        if not self.running:
            self._doc.contentsChange.connect(self._edited)
        self.running = True
        self._step()
        if self.running:
            self._timer.start()

    def cancel(self) -> None:
        if self.running:
            self._doc.contentsChange.disconnect(self._edited)
        self.running = False
        self._timer.stop()
        self._segments = []

    def _end_of_text(self) -> int:
        return self._doc.characterCount() - 1  # (the count includes the last paragraph's end)

    def _edited(self, position: int, removed: int, added: int) -> None:
        before, after = [], []
        low, high = position, position + added  # the span to copy again, in the new positions
        shift = added - removed
        for segment in self._segments:
            start, end, text = segment
            if end <= position:
                before.append(segment)
            elif start >= position + removed:
                after.append([start + shift, end + shift, text])
            elif text is not None and len(text) == end - start:
                # (one character per position: no character outside the Basic Multilingual
                # Plane, which Qt counts as two, so the text can be cut by position)
                if start < position:
                    before.append([start, position, text[:position - start]])
                if end > position + removed:
                    after.append([position + added, end + shift, text[position + removed - start:]])
            else:
                low, high = min(low, start), max(high, end + shift)
        end_of_text = self._end_of_text()
        high = min(high, end_of_text)
        segments = before + ([[low, high, None]] if high > low else []) + after
        if (not segments or segments[0][0] != 0 or segments[-1][1] != end_of_text
                or any(a[1] != b[0] for a, b in zip(segments, segments[1:]))):
            segments = [[0, end_of_text, None]]  # a change not as described: copy it all again
        self._segments = segments

    def _step(self) -> None:
        doc, segments = self._doc, self._segments
        cursor = QTextCursor(doc)  # (not kept: a QTextCursor that outlives its document crashes)
        deadline = time.perf_counter() + TURN_S
        while self.running:
            i = next((i for i, s in enumerate(segments) if s[2] is None), None)
            if i is None:
                pieces = [s[2] for s in segments]
                self.cancel()
                self.done.emit(pieces)
                return
            start, end, _ = segments[i]
            cut = end
            if end - start > PIECE_CHARS:
                # end a piece where a paragraph begins (never inside a character Qt counts as two)
                block = doc.findBlock(start + PIECE_CHARS)
                cut = block.position() if block.position() > start else min(block.position() + block.length(), end)
            cursor.setPosition(start)
            cursor.setPosition(cut, QTextCursor.MoveMode.KeepAnchor)
            text = cursor.selectedText().replace("\u2029", "\n")
            rest = [[cut, end, None]] if cut < end else []
            if i and segments[i - 1][2] is not None and len(segments[i - 1][2]) + len(text) <= PIECE_CHARS + 4096:
                segments[i - 1][1] = cut  # a short copy joins the piece before it: few segments
                segments[i - 1][2] += text
                segments[i:i + 1] = rest
            else:
                segments[i:i + 1] = [[start, cut, text]] + rest
            if time.perf_counter() >= deadline:
                return


class Autosaver(QObject):
    """Keeps ``slot`` holding the editor's unsaved text (no slot: autosave is off, all is a no-op)."""

    failed = Signal(str)  # why the last snapshot could not be written: a notice until ``working``
    working = Signal()  # a snapshot was written after one that failed
    _written = Signal(int, str)  # from the writer thread: the revision written (-1: dropped), error

    def __init__(self, document: QTextDocument, slot: SnapshotSlot | None) -> None:
        super().__init__(document)
        self._doc = document
        self.slot = slot
        self._collector = TextCollector(document)
        self._collector.done.connect(self._collected)
        self._written.connect(self._on_written)
        self._revision = -1  # the document revision the slot holds
        self._path: str = ""
        self._meta: dict = {}
        self._thread: threading.Thread | None = None
        self._failing = False

    @property
    def busy(self) -> bool:
        return self._collector.running or self._thread is not None

    def tick(self, document_path: str, meta: dict | None = None) -> None:
        """Snapshot the text (with ``meta``: app.recovery) if it has unsaved changes not yet in
        the slot; empty the slot if it has none."""
        if self.slot is None:
            return
        if not self._doc.isModified():
            self.drop()
            return
        if self._doc.revision() == self._revision or self.busy:
            return
        self._path, self._meta = document_path, meta or {}
        self._collector.start()

    def drop(self) -> None:
        """Nothing to recover (saved, or replaced): stop snapshotting and empty the slot."""
        self._collector.cancel()
        if self._failing:  # nothing is unsaved now: the problem no longer loses anything
            self._failing = False
            self.working.emit()
        if self.slot is not None:
            self.slot.clear()
        self._revision = -1

    def write_now(self, text: str, document_path: str, meta: dict | None = None) -> None:
        """Put ``text`` in the slot before returning (a recovered text, before its old snapshot goes)."""
        self._collector.cancel()
        if self.slot is not None:
            self.slot.write(text, document_path, meta)

    def close(self) -> None:
        """A clean exit: nothing to recover; a write under way ends first (and is dropped)."""
        self._collector.cancel()
        if self.slot is None:
            return
        self.slot.clear()
        if self._thread is not None:
            self._thread.join()
        self.slot.close()

    def _collected(self, pieces: list[str]) -> None:
        slot = self.slot
        if slot is None:
            return
        revision, generation = self._doc.revision(), slot.generation
        if sum(map(len, pieces)) <= SMALL_CHARS:
            self._on_written(*self._write(slot, pieces, revision, generation))
            return

        def run() -> None:
            self._written.emit(*self._write(slot, pieces, revision, generation))  # queued to the GUI thread

        self._thread = threading.Thread(target=run, name="inkwell-autosave", daemon=True)
        self._thread.start()

    def _write(self, slot: SnapshotSlot, pieces: list[str], revision: int, generation: int) -> tuple[int, str]:
        try:
            return (revision if slot.write(pieces, self._path, self._meta, generation) else -1), ""
        except OSError as exc:
            return -1, describe_os_error(exc)
        except ValueError as exc:  # (text Python cannot encode)
            return -1, str(exc)

    def _on_written(self, revision: int, error: str) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if error:
            self._failing = True
            self.failed.emit(f"Autosave failed: {error}. Your unsaved changes are not kept for recovery "
                             "until it works again; saving the file keeps them.")
        elif revision >= 0:
            self._revision = revision
            if self._failing:
                self._failing = False
                self.working.emit()
