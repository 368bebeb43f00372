"""Model-written text in the editor (story mode): a continuation inserted at the cursor as it
streams, as one undo step, and marked with a soft background until the writer edits it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QColor, QTextCursor, QTextFormat
from PySide6.QtWidgets import QTextEdit

if TYPE_CHECKING:
    from app.ui.editor import GhostEditor


def undo_barrier(cursor: QTextCursor) -> None:
    """End the open edit block's text so that typing after it is not merged into it.

    Qt merges a typed insertion into a directly preceding inserted edit block (so undo would
    remove both). Inserting and deleting a zero-width space inside the block leaves the block's
    last command a removal, which nothing typed can merge with; the text is unchanged.
    """
    cursor.insertText("\u200b")
    cursor.deletePreviousChar()


class StoryText:
    """The model text of ``editor``: the passage being written, and the marks of those written."""

    def __init__(self, editor: GhostEditor) -> None:
        self.editor = editor
        self.color = QColor("#fbf3d9")
        self._marks: list[QTextCursor] = []
        self._spans: list[tuple[int, int]] = []  # the marks as they were before an edit
        self._cursor: QTextCursor | None = None  # where model text is being inserted
        self._start = 0  # where the text being inserted begins
        self._joined = False  # whether the insertion has opened its undo step yet

    @property
    def writing(self) -> bool:
        return self._cursor is not None

    def begin(self, replace: tuple[int, int] | None = None) -> None:
        """Start inserting at the editor's cursor, or in place of ``replace`` (start, end)."""
        editor = self.editor
        cursor = QTextCursor(editor.textCursor())
        cursor.clearSelection()
        with editor.own_edit():
            cursor.beginEditBlock()
            if replace is not None:
                self._marks = [m for m in self._marks if (m.selectionStart(), m.selectionEnd()) != replace]
                cursor.setPosition(replace[0])
                cursor.setPosition(replace[1], QTextCursor.MoveMode.KeepAnchor)
                cursor.removeSelectedText()
            cursor.endEditBlock()
        editor.setTextCursor(cursor)
        self._cursor = QTextCursor(cursor)  # collapsed at the insertion point
        self._start = cursor.position()
        self._joined = replace is not None  # the removal opened the undo step the text joins

    def append(self, text: str) -> None:
        cursor = self._cursor
        if cursor is None or not text:
            return
        with self.editor.own_edit():
            if self._joined:
                cursor.joinPreviousEditBlock()
            else:
                cursor.beginEditBlock()
                self._joined = True
            cursor.insertText(text)
            cursor.endEditBlock()
        mark = self._current_mark()
        if mark is None:
            mark = QTextCursor(self.editor.document())
            self._marks.append(mark)
        mark.setPosition(self._start)
        mark.setPosition(cursor.position(), QTextCursor.MoveMode.KeepAnchor)
        self.show()
        self.editor.ensureCursorVisible()

    def _current_mark(self) -> QTextCursor | None:
        for mark in self._marks:
            if mark.selectionStart() == self._start:
                return mark
        return None

    def end(self) -> tuple[int, int] | None:
        """Stop inserting; the (start, end) of what was written, or None when nothing was."""
        cursor, self._cursor = self._cursor, None
        if cursor is None:
            return None
        if self._joined:
            with self.editor.own_edit():
                cursor.joinPreviousEditBlock()
                undo_barrier(cursor)
                cursor.endEditBlock()
        mark = self._current_mark()
        return (mark.selectionStart(), mark.selectionEnd()) if mark else None

    def ranges(self) -> list[tuple[int, int]]:
        return [(m.selectionStart(), m.selectionEnd()) for m in self._marks]

    def track(self, position: int, removed: int, added: int, own_edit: bool) -> None:
        """An edit was made (``own_edit``: by the program): the marks the writer edited go."""
        if not self._marks:
            return
        kept, trimmed = [], False
        for mark, (start, end) in zip(self._marks, self._spans):
            # (start, end) are from before this change, as are position and removed.
            if not own_edit:
                if removed and position < end and position + removed > start:
                    continue  # part of the model's text was deleted or replaced
                if not removed and start < position < end:
                    continue  # the writer typed into it
            if not removed and position == end:
                # Text added straight after the model's (typed, or an accepted suggestion) is
                # new writing, not part of it; a story's own growth re-marks itself.
                mark.setPosition(mark.selectionStart())
                mark.setPosition(position, QTextCursor.MoveMode.KeepAnchor)
                trimmed = True
            kept.append(mark)
        if len(kept) != len(self._marks) or trimmed:
            self._marks = kept
            self.show()
        else:
            # The shown selections follow the edit by themselves (their cursors are the
            # document's); only the spans to compare the next edit with need updating.
            self._spans = self.ranges()

    def show(self) -> None:
        """Paint the marks (the editor's extra selections)."""
        self._spans = self.ranges()
        selections = []
        for mark in self._marks:
            if mark.hasSelection():
                selection = QTextEdit.ExtraSelection()
                selection.cursor = mark
                selection.format.setBackground(self.color)
                selection.format.setProperty(QTextFormat.Property.FullWidthSelection, False)
                selections.append(selection)
        self.editor.setExtraSelections(selections)

    def set_color(self, color: QColor) -> None:
        self.color = QColor(color)
        self.show()

    def clear(self) -> None:
        self._marks = []
        self.show()
