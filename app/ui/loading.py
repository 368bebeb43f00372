"""Opening long documents without freezing the window.

A 50 MB file used to hold the window for many seconds: reading and decoding it, then Qt taking
the whole text in one call. Here a big file is read, decoded and checked for over-long lines on a
worker thread (``FileReader``), and the text goes into the editor a slice at a time, a few
milliseconds per turn of the event loop (``TextLoader``), so the window repaints, scrolls and
shows its progress meanwhile (the window keeps the text read-only until it is complete). Undo
starts empty, as after QPlainTextEdit.setPlainText. Small texts (a blink to set) go in at once.
A slice holds at most ``SLICE_LINES`` lines: Qt's work grows with the paragraphs a slice makes
(a few microseconds each), so 3 MB of empty lines would otherwise be 65,536 of them at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTextBoundaryFinder, QTimer, Signal
from PySide6.QtGui import QTextCursor

from app.bigtext import SLICE, break_long_lines
from app.documents import DocumentError, LoadedText, read_text

# Up to this size a file is read, and a text set, at once: it takes a few tens of milliseconds.
SMALL_BYTES = 1 << 18
SMALL_CHARS = 1 << 18
SLICE_LINES = 2048  # lines put into the editor at once (a few milliseconds of Qt's work)
SMALL_LINES = 4 * SLICE_LINES  # a text of more lines goes in slices, however short
TURN_S = 0.010  # the text loader's work per turn of the event loop


def is_small_file(path: str | Path) -> bool:
    try:
        return Path(path).stat().st_size <= SMALL_BYTES
    except OSError:
        return True  # read_text says what is wrong with it


def grapheme_start(text: str, index: int) -> int:
    """Where the grapheme cluster holding ``text[index]`` begins (app.bigtext.ClusterStart), by
    Qt's Unicode rules: a letter with its accents, a flag (two regional indicators) and an emoji
    ZWJ sequence are one character each to the writer, and are never broken."""
    if text[index - 1] < "\x80" and text[index] < "\x80":
        return index  # two ASCII characters (and no CR LF: lines are apart): the common case, at once
    start = 0  # where Qt reads from
    if _regional(text[index]) or _regional(text[index - 1]):
        # Qt (6.11) pairs the regional indicators of flags wrongly after an emoji ZWJ sequence:
        # it reads a run of them from the run's start, where a cluster begins.
        start = index
        while start > 0 and _regional(text[start - 1]):
            start -= 1
    before = text[start:index].encode("utf-16-le")  # Qt counts UTF-16 units: an emoji is two
    finder = QTextBoundaryFinder(QTextBoundaryFinder.BoundaryType.Grapheme, text[start:index + 1])
    finder.setPosition(len(before) // 2)
    if finder.isAtBoundary():
        return index
    found = finder.toPreviousBoundary()
    return start + len(before[:2 * found].decode("utf-16-le")) if found > 0 else start


def _regional(character: str) -> bool:
    """A regional indicator: two of them make a flag."""
    return "\U0001F1E6" <= character <= "\U0001F1FF"


def break_for_editor(text: str, column: int = 0) -> tuple[str, int]:
    """app.bigtext.break_long_lines, never inside a grapheme cluster."""
    return break_long_lines(text, column=column, cluster_start=grapheme_start)


def read_for_editor(path: str | Path) -> tuple[LoadedText, int]:
    """The file as the editor shows it: read (app.documents.read_text, DocumentError as it
    raises it) with its over-long lines broken; and how many were."""
    loaded = read_text(path)
    text, broken = break_for_editor(loaded.text)
    return (dataclasses.replace(loaded, text=text) if broken else loaded), broken


class FileReader(QObject):
    """Reads a text file on a worker thread; only the latest request's answer is delivered."""

    done = Signal(str, object, int)  # path, LoadedText (its lines broken), lines broken
    failed = Signal(str, str)  # path, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ticket = 0
        self._results = _Results(self)
        self._results.arrived.connect(self._arrived)
        self.reading = False

    def read(self, path: str) -> None:
        self._ticket += 1
        self.reading = True
        threading.Thread(target=self._run, args=(self._ticket, path), name="inkwell-read", daemon=True).start()

    def cancel(self) -> None:
        self._ticket += 1
        self.reading = False

    def _run(self, ticket: int, path: str) -> None:
        result: tuple[str, LoadedText | None, int, str | None]
        try:
            loaded, broken = read_for_editor(path)
            result = (path, loaded, broken, None)
        except DocumentError as exc:
            result = (path, None, 0, str(exc))
        except Exception as exc:  # noqa: BLE001 - a worker thread must not take its failure with it
            result = (path, None, 0, f"{path}: cannot be opened ({type(exc).__name__}: {exc})")
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile
            self._results.arrived.emit(ticket, result)  # queued to the GUI thread

    def _arrived(self, ticket: int, result: tuple) -> None:
        if ticket != self._ticket:
            return  # another file was asked for meanwhile
        self.reading = False
        path, loaded, broken, message = result
        if message is None:
            self.done.emit(path, loaded, broken)
        else:
            self.failed.emit(path, message)


class _Results(QObject):
    arrived = Signal(int, object)


class TextLoader(QObject):
    """Puts a whole text into an editor: at once when it is small, in slices when it is long."""

    progress = Signal(int, int)  # characters in the editor, of
    finished = Signal()

    def __init__(self, editor) -> None:
        super().__init__(editor)
        self._editor = editor
        self._timer = QTimer(self, interval=0)
        self._timer.timeout.connect(self._step)
        self.text = ""  # the whole text being loaded (the document holds a first part of it)
        self._position = 0
        self.modified = False  # the document's modified flag once loaded (and meanwhile)
        self._loading = False

    @property
    def loading(self) -> bool:
        return self._loading

    def set_text(self, text: str, modified: bool = False) -> None:
        """Replace the editor's text (its lines already broken: app.bigtext) with ``text``;
        ``finished`` is emitted when it is all in (before this returns for a small text)."""
        self.cancel()
        editor = self._editor
        doc = editor.document()
        if len(text) <= SMALL_CHARS and text.count("\n", 0, SMALL_CHARS) <= SMALL_LINES:
            with editor.own_edit():
                editor.setPlainText(text)
            doc.setModified(modified)
            self.finished.emit()
            return
        self.text, self._position, self.modified = text, 0, modified
        with editor.own_edit():
            editor.setPlainText("")
        doc.setUndoRedoEnabled(False)  # nothing to undo in loading, and no copy of 50 MB kept for it
        self._loading = True
        self._timer.start()
        self._step()

    def cancel(self) -> None:
        """Stop loading (the caller replaces the text)."""
        if not self._loading:
            return
        self._timer.stop()
        self._loading = False
        self.text = ""
        self._editor.document().setUndoRedoEnabled(True)

    def _step(self) -> None:
        if not self._loading:
            return
        text = self.text
        # (a cursor made for each turn: one kept in Python can outlive the document and crash)
        cursor = QTextCursor(self._editor.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        deadline = time.perf_counter() + TURN_S
        with self._editor.own_edit():
            while self._position < len(text):
                end = _slice_end(text, self._position)
                cursor.insertText(text[self._position:end])
                self._position = end
                if time.perf_counter() >= deadline:
                    break
        doc = self._editor.document()
        doc.setModified(self.modified)
        self.progress.emit(self._position, len(text))
        if self._position < len(text):
            return
        self.cancel()  # the same clean-up: loading is over
        doc.setModified(self.modified)
        self._editor.setTextCursor(QTextCursor(doc))  # at the beginning, as setPlainText leaves it
        self.finished.emit()


def _slice_end(text: str, start: int) -> int:
    """Where the slice of ``text`` from ``start`` ends: ``SLICE`` characters, or ``SLICE_LINES``
    lines if that is less."""
    end = min(start + SLICE, len(text))
    if text.count("\n", start, end) > SLICE_LINES:
        rest = text[start:end].split("\n", SLICE_LINES)[-1]  # what follows the last line taken
        end -= len(rest)
    return end
