"""The prose editor: a QPlainTextEdit that shows suggestions as grey "ghost text" at the cursor.

The ghost text is laid out through the block's pre-edit area, the slot Qt keeps for text an input
method has not committed yet: it is drawn inline at the cursor, in the text's own font, pushes the
rest of the line aside and wraps over as many lines as it needs (a suggestion of several lines
shows them below the cursor's line, pushing the text after it down), yet it is not in the document, so
undo history, the modified flag and the saved text never see it. What is shown, and what becomes
of it as the writer types, accepts or moves, is decided by app.ghost.GhostState (``editor.ghost``):
this widget paints its text at its ``anchor`` and reports each edit and ghost key to it.

The editor also inserts longer model-written continuations (story mode) as one undo step and marks
them with a soft background until the writer edits them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import contextmanager
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QKeySequence,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
    QTextFormat,
    QTextLayout,
)
from PySide6.QtWidgets import QApplication, QFrame, QMenu, QPlainTextEdit, QTextEdit, QWidget

from app.bigtext import LineBreaker
from app.ghost import GhostState, Outcome, opacity
from app.ui.loading import grapheme_start

if TYPE_CHECKING:
    from app.ui.highlighter import TextHighlighter

GHOST_KEYS = ("accept", "accept_word", "dismiss", "next_alternative", "previous_alternative")
# Suggestions are asked for only where text may follow: not in the middle of a word.
_WORD_CHAR = re.compile(r"\w")
PROMPT_CHARS = 6000  # the engine keeps the tail that fits its context; this bounds the copy
# Characters QTextDocument takes for the ends of paragraphs (U+FDD0 / U+FDD1 mark its frames):
# in the editor they become line breaks, and so in the saved file; the writer is told.
SEPARATORS = {"\u2029": " (paragraph separator)", "\ufdd0": "", "\ufdd1": ""}


# Control characters (other than tab, line feed, carriage return and form feed) in a text make
# its file read as binary (core.textfile refuses it): pasted ones are left out, and said.
CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f]")


def separators_in(text: str) -> str:
    """The SEPARATORS in ``text``, named and counted ("" when there are none)."""
    return ", ".join(f"U+{ord(c):04X}{name} ({n:,})" for c, name in SEPARATORS.items() if (n := text.count(c)))


def _undo_barrier(cursor: QTextCursor) -> None:
    """End the open edit block's text so that typing after it is not merged into it.

    Qt merges a typed insertion into a directly preceding inserted edit block (so undo would
    remove both). Inserting and deleting a zero-width space inside the block leaves the block's
    last command a removal, which nothing typed can merge with; the text is unchanged.
    """
    cursor.insertText("\u200b")
    cursor.deletePreviousChar()


class GhostEditor(QPlainTextEdit):
    suggestion_wanted = Signal()  # the writer paused where a suggestion may go
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
        self.keymap: dict[str, QKeySequence] = {
            "accept": QKeySequence(Qt.Key.Key_Tab),
            "accept_word": QKeySequence("Ctrl+Right"),
            "dismiss": QKeySequence(Qt.Key.Key_Escape),
            "next_alternative": QKeySequence("Alt+]"),
            "previous_alternative": QKeySequence("Alt+["),
        }
        # What is shown at the cursor (app.ghost); this widget paints it and reports the edits.
        self.ghost = GhostState()
        self._painted: int | None = None  # the anchor the painted ghost text is at
        self._accepting = False  # inserting an accepted word: not typing into the ghost
        # The document's highlighter (spelling, Markdown), told when the ghost comes and goes so
        # that the paragraph's other formats survive it; and whoever adds to the context menu.
        self.highlighter: TextHighlighter | None = None
        self.context_menu_hooks: list[Callable[[QMenu, QTextCursor], None]] = []
        self._changing: tuple[int, int] | None = None  # the span of the edit being reported
        self._ghost_color = QColor("#9a9a9a")
        self.confidence_shading = True
        self._ghost_formats_made: dict[float, QTextCharFormat] = {}
        self._mark_color = QColor("#fbf3d9")
        self._marks: list[QTextCursor] = []
        self._mark_spans: list[tuple[int, int]] = []  # the marks as they were before an edit
        self._generating: QTextCursor | None = None  # where model text is being inserted
        self._generated_start = 0  # where the text being inserted begins
        self._joined = False  # whether the insertion has opened its undo step yet
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
        self._ghost_color = QColor(ghost)
        self._ghost_formats_made = {}
        self._mark_color = QColor(mark)
        self._show_ghost()
        self._update_marks()

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

    @property
    def pending_request(self) -> int | None:
        return self.ghost.request_id

    def can_suggest(self) -> bool:
        cursor = self.textCursor()
        if cursor.hasSelection() or self.isReadOnly() or self._generating is not None:
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

    def expect_suggestion(self, request_id: int) -> None:
        """A suggestion for the cursor's position has been asked for; pieces will follow."""
        self._remove_ghost()
        self.ghost.expect(request_id, self.textCursor().position())

    def add_piece(self, request_id: int, alternative: int, piece: str, probability: float = 1.0) -> None:
        """``piece`` of the engine's row ``alternative`` of request ``request_id``, which the model
        gave ``probability``."""
        if self.ghost.add(request_id, alternative, piece, probability):
            self._show_ghost()

    def finish_suggestion(self, request_id: int, rows: set[int] | None = None) -> None:
        outcome = self.ghost.finish(request_id, rows)
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
        # Pasted or dropped text: lines too long for Qt to edit at typing speed are broken, as
        # when a file is opened (app.bigtext).
        if source.hasText():
            found = separators_in(source.text())
            if found:
                self.separators_pasted.emit(found)
            pasted, controls = CONTROLS.subn("", source.text())  # (else the saved file reads as binary)
            cursor = self.textCursor()
            breaker = LineBreaker(column=cursor.selectionStart() - cursor.block().position(),
                                  cluster_start=grapheme_start)
            text = breaker.feed(pasted)
            if breaker.broken or controls:
                plain = QMimeData()
                plain.setText(text)
                super().insertFromMimeData(plain)
                if breaker.broken:
                    self.long_lines_broken.emit(breaker.broken)
                if controls:
                    self.controls_left_out.emit(controls)
                return
        super().insertFromMimeData(source)

    def ask_now(self) -> None:
        self._debounce.stop()
        if self.can_suggest():
            self.suggestion_wanted.emit()

    def _insert_as_writer(self, text: str) -> None:
        cursor = self.textCursor()
        self._own_edit = True
        try:
            # An edit block of its own: otherwise Qt merges it into the typing before it.
            cursor.beginEditBlock()
            cursor.insertText(text)
            _undo_barrier(cursor)
            cursor.endEditBlock()
        finally:
            self._own_edit = False
        self.setTextCursor(cursor)
        self.ensureCursorVisible()

    # ghost text: drawing ---------------------------------------------------------------------

    def _show_ghost(self) -> None:
        cleared = self._remove_ghost(restyle=False)
        text, anchor = self.ghost.text, self.ghost.anchor
        block = self.document().findBlock(anchor) if text and anchor is not None else None
        for old in cleared:  # (each piece of a stream repaints the same paragraph: styled once, below)
            if block is None or old != block:
                self._restyle(old)
        if block is not None and anchor is not None:
            layout = block.layout()
            start = anchor - block.position()
            # A suggestion of several lines is laid out as it would be written: its first line
            # at the cursor, the others below it, and the rest of the cursor's line after its
            # last line (as code editors show them). The pre-edit area is one paragraph's text,
            # so its breaks are line separators (U+2028), which Qt's layout breaks at; one
            # character for one, so positions in the shown text are positions in the suggestion.
            shown = text.replace("\n", "\u2028")
            layout.setPreeditArea(start, shown)
            layout.setFormats(self._ghost_formats(start, shown))
            self.document().markContentsDirty(block.position(), block.length())
            self._painted = anchor
            self._restyle(block)
        self.ghost_changed.emit(bool(text))

    def _ghost_formats(self, start: int, shown: str) -> list[QTextLayout.FormatRange]:
        """The ghost colour over the shown text; with confidence shading, fainter where the model
        was less sure (neighbouring pieces of the same shade share one range)."""
        shades = [(0, len(shown), 1.0)]
        if self.confidence_shading:
            shades = [(s, n, opacity(p)) for s, n, p in self.ghost.shades] or shades
        if any(ord(c) > 0xFFFF for c in shown):
            # Qt counts UTF-16 code units: a character beyond the BMP (an emoji) is two of them.
            units = [0]
            for c in shown:
                units.append(units[-1] + (2 if ord(c) > 0xFFFF else 1))
            shades = [(units[s], units[s + n] - units[s], a) for s, n, a in shades]
        merged: list[list] = []  # [offset, count, alpha]
        for offset, count, alpha in shades:
            if merged and merged[-1][2] == alpha and merged[-1][0] + merged[-1][1] == offset:
                merged[-1][1] += count
            else:
                merged.append([offset, count, alpha])
        ranges: list[QTextLayout.FormatRange] = []
        for offset, count, alpha in merged:
            style = QTextLayout.FormatRange()
            style.start, style.length, style.format = start + offset, count, self._ghost_format(alpha)
            ranges.append(style)
        return ranges

    def _ghost_format(self, alpha: float) -> QTextCharFormat:
        """The ghost colour at ``alpha``; made once per shade (a piece streams in every few ms)."""
        fmt = self._ghost_formats_made.get(alpha)
        if fmt is None:
            color = QColor(self._ghost_color)
            color.setAlphaF(alpha)
            fmt = self._ghost_formats_made[alpha] = QTextCharFormat()
            fmt.setForeground(color)
        return fmt

    def set_confidence_shading(self, on: bool) -> None:
        """Fade the ghost text where the model was unsure (per piece), or paint it all alike."""
        self.confidence_shading = on
        if self.ghost.text:
            self._show_ghost()

    def _restyle(self, block) -> None:
        """The highlighter's formats of ``block`` again, around the ghost (which keeps its own);
        not for the paragraphs of an edit being reported, which Qt highlights right after."""
        if self.highlighter is None:
            return
        if self._changing is not None and block.position() <= self._changing[1] and \
                self._changing[0] <= block.position() + block.length():
            return
        self.highlighter.restyle(block)

    def _remove_ghost(self, span: tuple[int, int] | None = None, restyle: bool = True) -> list:
        """Take the painted ghost text out of the layout of whichever block holds it now
        (``span``: the positions it may have been pushed to by an edit); the blocks it was in."""
        if self._painted is None:
            return []
        cleared = []
        doc = self.document()
        low, high = (self._painted, self._painted) if span is None else span
        self._painted = None
        block = doc.findBlock(max(0, min(low, doc.characterCount() - 1)))
        last = doc.findBlock(max(0, min(high, doc.characterCount() - 1)))
        while block.isValid():
            layout = block.layout()
            if layout.preeditAreaText():
                layout.setPreeditArea(-1, "")
                layout.clearFormats()
                doc.markContentsDirty(block.position(), block.length())
                cleared.append(block)
                if restyle:
                    self._restyle(block)
            if block == last:
                break
            block = block.next()
        return cleared

    # keys ------------------------------------------------------------------------------------

    def _ghost_action(self, event: QKeyEvent) -> str | None:
        if not self.ghost_text:
            return None
        pressed = QKeySequence(event.keyCombination())
        for name in GHOST_KEYS:
            if self.keymap.get(name) and self.keymap[name].matches(pressed) == QKeySequence.SequenceMatch.ExactMatch:
                return name
        return None

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
            {
                "accept": self.accept,
                "accept_word": self.accept_word,
                "dismiss": self.clear_ghost,
                "next_alternative": lambda: self.cycle(1),
                "previous_alternative": lambda: self.cycle(-1),
            }[action]()
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
        self._changing = (position, position + added)
        try:
            self._handle_change(position, removed, added)
        finally:
            self._changing = None

    def _handle_change(self, position: int, removed: int, added: int) -> None:
        self._track_marks(position, removed, added)
        anchor = self.ghost.anchor  # None: no suggestion
        if anchor is not None and not self._accepting:
            # The blocks that may hold the ghost now: those of the change and of the anchor,
            # which an insertion before it has pushed on by up to ``added`` characters.
            self._remove_ghost(span=(min(position, max(0, anchor - removed)), max(position + added, anchor + added)))
            typed = self._typed_into_ghost(position, removed, added)
            outcome = self.ghost.typed(typed) if typed else Outcome.DROPPED
            if outcome is Outcome.KEPT:
                self._show_ghost()
            else:  # typed to its end (nothing to cancel), or edited elsewhere
                self.ghost.clear()
                self._ghost_gone(cleared=outcome is Outcome.DROPPED)
        if not self._own_edit:
            self.user_edited.emit()
            if self.auto_suggest and self._generating is None:
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
            self.suggestion_wanted.emit()

    # model-written text (story mode) ---------------------------------------------------------

    @property
    def generating(self) -> bool:
        return self._generating is not None

    def begin_generated(self, replace: tuple[int, int] | None = None) -> None:
        """Start inserting model text at the cursor, or in place of ``replace`` (start, end)."""
        self.clear_ghost()
        self._debounce.stop()
        cursor = QTextCursor(self.textCursor())
        cursor.clearSelection()
        self._own_edit = True
        try:
            cursor.beginEditBlock()
            if replace is not None:
                self._marks = [m for m in self._marks if (m.selectionStart(), m.selectionEnd()) != replace]
                cursor.setPosition(replace[0])
                cursor.setPosition(replace[1], QTextCursor.MoveMode.KeepAnchor)
                cursor.removeSelectedText()
            cursor.endEditBlock()
        finally:
            self._own_edit = False
        self.setTextCursor(cursor)
        self._generating = QTextCursor(cursor)  # collapsed at the insertion point
        self._generated_start = cursor.position()
        self._joined = replace is not None  # the removal opened the undo step the text joins

    def append_generated(self, text: str) -> None:
        cursor = self._generating
        if cursor is None or not text:
            return
        self._own_edit = True
        try:
            if self._joined:
                cursor.joinPreviousEditBlock()
            else:
                cursor.beginEditBlock()
                self._joined = True
            cursor.insertText(text)
            cursor.endEditBlock()
        finally:
            self._own_edit = False
        mark = self._current_mark()
        if mark is None:
            mark = QTextCursor(self.document())
            self._marks.append(mark)
        mark.setPosition(self._generated_start)
        mark.setPosition(cursor.position(), QTextCursor.MoveMode.KeepAnchor)
        self._update_marks()
        self.ensureCursorVisible()

    def _current_mark(self) -> QTextCursor | None:
        for mark in self._marks:
            if mark.selectionStart() == self._generated_start:
                return mark
        return None

    def end_generated(self) -> tuple[int, int] | None:
        """Stop inserting; the (start, end) of what was written, or None when nothing was."""
        cursor, self._generating = self._generating, None
        if cursor is None:
            return None
        if self._joined:
            self._own_edit = True
            try:
                cursor.joinPreviousEditBlock()
                _undo_barrier(cursor)
                cursor.endEditBlock()
            finally:
                self._own_edit = False
        mark = self._current_mark()
        return (mark.selectionStart(), mark.selectionEnd()) if mark else None

    def generated_ranges(self) -> list[tuple[int, int]]:
        return [(m.selectionStart(), m.selectionEnd()) for m in self._marks]

    def _track_marks(self, position: int, removed: int, added: int) -> None:
        if not self._marks:
            return
        kept, trimmed = [], False
        for mark, (start, end) in zip(self._marks, self._mark_spans):
            # (start, end) are from before this change, as are position and removed.
            if not self._own_edit:
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
            self._update_marks()
        else:
            # The shown selections follow the edit by themselves (their cursors are the
            # document's); only the spans to compare the next edit with need updating.
            self._mark_spans = [(m.selectionStart(), m.selectionEnd()) for m in self._marks]

    def _update_marks(self) -> None:
        self._mark_spans = [(m.selectionStart(), m.selectionEnd()) for m in self._marks]
        selections = []
        for mark in self._marks:
            if mark.hasSelection():
                selection = QTextEdit.ExtraSelection()
                selection.cursor = mark
                selection.format.setBackground(self._mark_color)
                selection.format.setProperty(QTextFormat.Property.FullWidthSelection, False)
                selections.append(selection)
        self.setExtraSelections(selections)

    def clear_marks(self) -> None:
        self._marks = []
        self._update_marks()
