"""The prose editor: a QPlainTextEdit that shows suggestions as grey "ghost text" at the cursor.

The ghost text is laid out through the block's pre-edit area, the slot Qt keeps for text an input
method has not committed yet: it is drawn inline at the cursor, in the text's own font, pushes the
rest of the line aside and wraps over as many lines as it needs (a suggestion of several lines
shows them below the cursor's line, pushing the text after it down), yet it is not in the document, so
undo history, the modified flag and the saved text never see it. What is shown, and what becomes
of it as the writer types, accepts or moves, is decided by app.ghost.GhostState (``editor.ghost``):
this widget paints its text at its ``anchor`` and reports each edit and ghost key to it.

The ghost is painted by app.ui.ghost_paint, model-written continuations (story mode) go in
through app.ui.story_text, and pasted text is cleaned by app.ui.paste.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import contextmanager
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QMimeData, QTimer, Signal
from PySide6.QtGui import QColor, QKeyEvent, QKeySequence, QResizeEvent, QTextCursor
from PySide6.QtWidgets import QApplication, QFrame, QMenu, QPlainTextEdit, QWidget

from app.ghost import GhostState, Outcome
from app.ui.actions import DEFAULT_KEYS, GHOST_ACTIONS
from app.ui.ghost_paint import GhostPainter
from app.ui.paste import plain_text, separators_in
from app.ui.story_text import StoryText, undo_barrier

if TYPE_CHECKING:
    from app.ui.highlighter import TextHighlighter

# Suggestions are asked for only where text may follow: not in the middle of a word.
_WORD_CHAR = re.compile(r"\w")
PROMPT_CHARS = 6000  # the engine keeps the tail that fits its context; this bounds the copy


class GhostEditor(QPlainTextEdit):
    suggestion_wanted = Signal(str, int)  # the writer paused where a suggestion may go: the text before, the anchor
    ghost_cleared = Signal()  # the pending or shown suggestion is no longer wanted
    ghost_changed = Signal(bool)  # a suggestion is shown (True) or not
    user_edited = Signal()  # the writer changed the text (not the model, not undo of model text)
    long_lines_broken = Signal(int)  # pasted or dropped text had this many over-long lines (broken)
    controls_left_out = Signal(int)  # pasted or dropped text held this many CONTROLS, not inserted
    separators_pasted = Signal(str)  # pasted or dropped text held these SEPARATORS (separators_in)
    interrupted = Signal()  # the writer undoes while model text goes in: its writing must stop first

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.document().setDocumentMargin(28)  # room to breathe around the text
        self.document().setModified(False)  # (changing the margin counts as a change)
        self.auto_suggest = True
        self.column_chars = 72
        # The suggestion's keys: the action table's defaults until the window applies the writer's.
        self.keymap: dict[str, QKeySequence] = {name: QKeySequence(DEFAULT_KEYS[name]) for name in GHOST_ACTIONS}
        # What is shown at the cursor (app.ghost); this widget paints it and reports the edits.
        self.ghost = GhostState()
        self._accepting = False  # inserting an accepted word: not typing into the ghost
        # The document's highlighter (spelling, Markdown), told when the ghost comes and goes so
        # that the paragraph's other formats survive it; and whoever adds to the context menu.
        self.highlighter: TextHighlighter | None = None
        self.context_menu_hooks: list[Callable[[QMenu, QTextCursor], None]] = []
        self.changing: tuple[int, int] | None = None  # the span of the edit being reported
        self.painter = GhostPainter(self)
        self.story = StoryText(self)  # model-written text and its marks
        self._own_edit = False
        self._locks: set[str] = set()  # why the text is read-only now (set_locked)
        self._debounce = QTimer(self, singleShot=True, interval=250)
        self._debounce.timeout.connect(self._pause_elapsed)
        self.document().contentsChange.connect(self._contents_changed)
        self.cursorPositionChanged.connect(self._cursor_moved)

    # the read-only flag ------------------------------------------------------------------------

    def set_locked(self, reason: str, locked: bool) -> None:
        """Hold (``locked``) or release the text's read-only flag for ``reason`` ("loading": a
        file goes in; "replacing": a Replace all in slices; "closing": Inkwell waits for a
        fine-tune to stop). The one writer of the flag: the text is read-only while any reason
        holds it, so one part finishing never makes the text writable under another."""
        if locked:
            self._locks.add(reason)
        else:
            self._locks.discard(reason)
        if self.isReadOnly() != bool(self._locks):
            self.setReadOnly(bool(self._locks))

    # appearance ------------------------------------------------------------------------------

    def set_colors(self, ghost: QColor, mark: QColor) -> None:
        self.painter.set_color(ghost)
        self._show_ghost()
        self.story.set_color(mark)

    def set_delay(self, ms: int) -> None:
        self._debounce.setInterval(ms)

    def set_column(self, chars: int) -> None:
        self.column_chars = chars
        self._update_margins()

    def resizeEvent(self, event) -> None:
        # Margins first: the base class then lays the text out for the viewport's new width.
        self._set_margins()
        super().resizeEvent(event)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._update_margins()

    def _update_margins(self) -> None:
        if self._set_margins():
            # The text is laid out again only on a resize of the whole widget.
            QApplication.sendEvent(self, QResizeEvent(self.size(), self.size()))

    def _set_margins(self) -> bool:
        """Centre a column of ``column_chars`` characters (long lines are hard to read);
        True when the margins changed."""
        side = 0
        if self.column_chars and self.lineWrapMode() != QPlainTextEdit.LineWrapMode.NoWrap:
            column = self.fontMetrics().averageCharWidth() * self.column_chars
            scrollbar = self.verticalScrollBar().sizeHint().width()
            side = max(0, (self.width() - scrollbar - column) // 2)
        margins = self.viewportMargins()
        if margins.left() == side and margins.right() == side:
            return False
        self.setViewportMargins(side, 0, side, 0)
        return True

    @property
    def confidence_shading(self) -> bool:
        return self.painter.confidence_shading

    def set_confidence_shading(self, on: bool) -> None:
        """Fade the ghost text where the model was unsure (per piece), or paint it all alike."""
        self.painter.confidence_shading = on
        if self.ghost.text:
            self._show_ghost()

    def _show_ghost(self) -> None:
        self.painter.paint()

    def _remove_ghost(self, span: tuple[int, int] | None = None) -> None:
        self.painter.remove(span)

    # ghost text: state -----------------------------------------------------------------------

    @property
    def ghost_text(self) -> str:
        return self.ghost.text

    @property
    def ghost_alternatives(self) -> list[str]:
        return self.ghost.alternatives

    @property
    def ghost_index(self) -> int:
        return self.ghost.index

    def can_suggest(self) -> bool:
        cursor = self.textCursor()
        if cursor.hasSelection() or self.isReadOnly() or self.story.writing:
            return False
        block = cursor.block()
        after = block.text()[cursor.positionInBlock():cursor.positionInBlock() + 1]
        return not _WORD_CHAR.match(after) and bool(self.text_before_cursor().strip())

    def text_before_cursor(self) -> str:
        end = self.textCursor().position()
        cursor = QTextCursor(self.document())
        cursor.setPosition(max(0, end - PROMPT_CHARS))
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        # selectedText() uses U+2029 between paragraphs
        return cursor.selectedText().replace("\u2029", "\n")

    def expect_suggestion(self) -> None:
        """A suggestion for the cursor's position is coming; its pieces follow (``add_piece``)."""
        self._remove_ghost()
        # The anchor is a cursor of the document's: it follows the edits before it, and typing
        # at it (into the suggestion) leaves it after what was typed, by itself.
        self.ghost.expect(self._cursor_at(self.textCursor().position()))

    def _cursor_at(self, position: int) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.setPosition(position)
        return cursor

    def _want_suggestion(self) -> None:
        self.expect_suggestion()
        self.suggestion_wanted.emit(self.text_before_cursor(), self.textCursor().position())

    def add_piece(self, alternative: int, piece: str, probability: float = 1.0) -> None:
        """``piece`` of the engine's row ``alternative``, which the model gave ``probability``."""
        if self.ghost.add(alternative, piece, probability):
            self._show_ghost()

    def finish_suggestion(self, rows: set[int] | None = None) -> None:
        outcome = self.ghost.finish(rows)
        if outcome is Outcome.KEPT:
            self._show_ghost()
        elif outcome is Outcome.DROPPED:
            self._ghost_gone(cleared=True)

    def clear_ghost(self) -> None:
        self._remove_ghost()
        if self.ghost.clear():
            self._ghost_gone(cleared=True)

    def _ghost_gone(self, cleared: bool) -> None:
        """The state holds no suggestion any more: unpaint it and say so (``cleared``: it is no
        longer wanted, so its request may be cancelled)."""
        self._remove_ghost()
        if cleared:
            self.ghost_cleared.emit()
        self.ghost_changed.emit(False)

    # ghost text: actions ---------------------------------------------------------------------

    def accept(self) -> bool:
        text = self.ghost.text
        if not text:
            return False
        self.clear_ghost()
        self._insert_as_writer(text)
        return True

    def accept_word(self) -> bool:
        word = self.ghost.next_word()
        if not word:
            return False
        self._remove_ghost()
        self._accepting = True  # the insertion below is not typing into the ghost
        try:
            self._insert_as_writer(word)
        finally:
            self._accepting = False
        # The other alternatives stay where they begin with the same word; the stream goes on.
        if self.ghost.accept_word(word) is Outcome.KEPT:
            self._show_ghost()
        else:
            self._ghost_gone(cleared=True)
        return True

    def cycle(self, step: int) -> bool:
        if not self.ghost.cycle(step):
            return False
        self._show_ghost()
        return True

    def choose(self, index: int) -> None:
        if self.ghost.choose(index):
            self._show_ghost()

    @contextmanager
    def own_edit(self):
        """Edits made inside are the program's (loading a text, say), not the writer's: they
        bring no suggestion and no user_edited."""
        before, self._own_edit = self._own_edit, True
        try:
            yield
        finally:
            self._own_edit = before

    def insertFromMimeData(self, source) -> None:
        # Pasted or dropped text: over-long lines broken, control characters left out (app.ui.paste).
        if source.hasText():
            if found := separators_in(source.text()):
                self.separators_pasted.emit(found)
            cursor = self.textCursor()
            text, broken, controls = plain_text(source.text(), cursor.selectionStart() - cursor.block().position())
            if broken or controls:
                plain = QMimeData()
                plain.setText(text)
                super().insertFromMimeData(plain)
                if broken:
                    self.long_lines_broken.emit(broken)
                if controls:
                    self.controls_left_out.emit(controls)
                return
        super().insertFromMimeData(source)

    def ask_now(self) -> None:
        self._debounce.stop()
        if self.can_suggest():
            self._want_suggestion()

    def _insert_as_writer(self, text: str) -> None:
        cursor = self.textCursor()
        self._own_edit = True
        try:
            # An edit block of its own: otherwise Qt merges it into the typing before it.
            cursor.beginEditBlock()
            cursor.insertText(text)
            undo_barrier(cursor)
            cursor.endEditBlock()
        finally:
            self._own_edit = False
        self.setTextCursor(cursor)
        self.ensureCursorVisible()

    # keys ------------------------------------------------------------------------------------

    def _ghost_action(self, event: QKeyEvent) -> str | None:
        if not self.ghost_text:
            return None
        pressed = QKeySequence(event.keyCombination())
        for name, key in self.keymap.items():
            if key and key.matches(pressed) == QKeySequence.SequenceMatch.ExactMatch:
                return name
        return None

    def ghost_commands(self) -> dict[str, Callable[[], object]]:
        """The suggestion's commands (scope "ghost" in app.ui.actions) by name: what its keys do
        here, and what its menu entries do."""
        return {
            "accept": self.accept,
            "accept_word": self.accept_word,
            "dismiss": self.clear_ghost,
            "next_alternative": lambda: self.cycle(1),
            "previous_alternative": lambda: self.cycle(-1),
        }

    def event(self, event) -> bool:
        # While a suggestion shows, its keys belong to it (Tab would otherwise insert a tab, and a
        # window shortcut could take Esc); with none shown they keep their usual meaning.
        if event.type() == QEvent.Type.ShortcutOverride and self._ghost_action(event):
            event.accept()
            return True
        return super().event(event)

    def undo(self) -> None:
        # While model text streams in, its pieces join one undo step still open: undone then,
        # the next piece would open a new step and Redo could never bring the passage back. So
        # the writing stops first (closing the step), and Undo takes the whole passage.
        if self.generating:
            self.interrupted.emit()  # (the story's owner stops the model)
            self.end_generated()
        super().undo()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self.generating and event.matches(QKeySequence.StandardKey.Undo):
            self.undo()  # (QPlainTextEdit would undo at once)
            event.accept()
            return
        action = self._ghost_action(event)
        if action is not None:
            self.ghost_commands()[action]()
            event.accept()
            return
        super().keyPressEvent(event)

    def contextMenuEvent(self, event) -> None:
        menu = self.createStandardContextMenu(event.pos())
        at = self.cursorForPosition(event.pos())
        for hook in self.context_menu_hooks:
            hook(menu, at)
        menu.exec(event.globalPos())
        menu.deleteLater()

    def inputMethodEvent(self, event) -> None:
        self.clear_ghost()  # an input method needs the pre-edit area for itself
        super().inputMethodEvent(event)

    # reacting to edits and moves -------------------------------------------------------------

    def _contents_changed(self, position: int, removed: int, added: int) -> None:
        self.changing = (position, position + added)
        try:
            self._handle_change(position, removed, added)
        finally:
            self.changing = None

    def _handle_change(self, position: int, removed: int, added: int) -> None:
        self.story.track(position, removed, added, self._own_edit)
        if self.ghost.active and not self._accepting:
            # The blocks that may hold the ghost now: those of the change and that of the painted
            # text's place (which has followed the change).
            self._remove_ghost(span=(position, position + added))
            typed = self._typed_into_ghost(position, removed, added)
            outcome = self.ghost.typed(typed) if typed else Outcome.DROPPED
            if outcome is Outcome.KEPT:
                self._show_ghost()
            else:  # typed to its end (nothing to cancel), or edited elsewhere
                self.ghost.clear()
                self._ghost_gone(cleared=outcome is Outcome.DROPPED)
        if not self._own_edit:
            self.user_edited.emit()
            if self.auto_suggest and not self.story.writing:
                self._debounce.start()
            else:
                self._debounce.stop()

    def _typed_into_ghost(self, position: int, removed: int, added: int) -> str:
        if self._own_edit or not self.ghost.may_type_into(position, removed, added):
            return ""
        cursor = QTextCursor(self.document())
        cursor.setPosition(position)
        cursor.setPosition(position + added, QTextCursor.MoveMode.KeepAnchor)
        typed = cursor.selectedText().replace("\u2029", "\n")  # Enter: a new paragraph, "\n" in the suggestion
        return typed if self.ghost.text.startswith(typed) else ""

    def _cursor_moved(self) -> None:
        if self._accepting:
            return
        cursor = self.textCursor()
        if self.ghost.moved(cursor.position(), cursor.hasSelection()):
            self._ghost_gone(cleared=True)

    def _pause_elapsed(self) -> None:
        if self.auto_suggest and not self.ghost.active and self.can_suggest():
            self._want_suggestion()

    # model-written text (story mode: app.ui.story_text) --------------------------------------

    @property
    def generating(self) -> bool:
        return self.story.writing

    def begin_generated(self, replace: tuple[int, int] | None = None) -> None:
        """Start inserting model text at the cursor, or in place of ``replace`` (start, end)."""
        self.clear_ghost()
        self._debounce.stop()
        self.story.begin(replace)

    def append_generated(self, text: str) -> None:
        self.story.append(text)

    def end_generated(self) -> tuple[int, int] | None:
        """Stop inserting; the (start, end) of what was written, or None when nothing was."""
        return self.story.end()

    def generated_ranges(self) -> list[tuple[int, int]]:
        return self.story.ranges()

    def clear_marks(self) -> None:
        self.story.clear()
