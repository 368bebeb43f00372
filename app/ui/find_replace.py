"""Find and replace: a bar under the text (Ctrl+F finds, Ctrl+H replaces, F3 / Shift+F3 go to
the next / previous match), with match case, whole words and regular expressions.

Every search is one QRegularExpression (plain text is escaped into one), so the three options
mean the same thing to Find and to Replace all. Matches lie within a paragraph, as Qt's
QTextDocument.find has them; empty matches are skipped. Replace all collects the matches
paragraph by paragraph and replaces them from the last to the first inside one edit block: one
undo step. Thousands of matches (a word of a 2 MB novel) are replaced a slice per turn of the
event loop, the slices joined into the one edit block, so the window keeps repainting; spelling
is checked again afterwards, a few milliseconds per turn. In a long text, finding as you type
waits for a pause in the typing (a search that finds nothing reads the whole text).
"""

from __future__ import annotations

import re
import time

from PySide6.QtCore import QRegularExpression, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QTextBlock, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QToolButton,
    QWidget,
)

RegexOption = QRegularExpression.PatternOption
TURN_S = 0.015  # the work of one slice
LONG_TEXT = 200_000  # characters from which finding as you type waits, and replace all goes in slices
TYPING_PAUSE_MS = 150
_TEMPLATE = re.compile(r"\\(\d|n|t|\\)")


def build_pattern(text: str, match_case: bool, whole_words: bool,
                  regex: bool) -> tuple[QRegularExpression | None, str]:
    """The expression for a search, or None and a sentence saying what is wrong with it."""
    if not text:
        return None, ""
    source = text if regex else QRegularExpression.escape(text)
    if whole_words:
        source = rf"(?<!\w)(?:{source})(?!\w)"
    options = RegexOption.UseUnicodePropertiesOption  # \w, \b and case for every script
    if not match_case:
        options |= RegexOption.CaseInsensitiveOption
    expression = QRegularExpression(source, options)
    if not expression.isValid():
        offset = expression.patternErrorOffset()
        if whole_words:
            offset -= len(r"(?<!\w)(?:")
        where = f" at character {offset + 1}" if 0 <= offset <= len(text) else ""
        return None, f"Not a valid regular expression: {expression.errorString()}{where}"
    return expression, ""


def expand(template: str, match) -> str:
    r"""``template`` with \0-\9 replaced by the match's groups, \n by a line break, \t by a tab
    and \\ by a backslash."""
    def one(m: re.Match) -> str:
        code = m.group(1)
        if code.isdigit():
            return match.captured(int(code)) if int(code) <= match.lastCapturedIndex() else ""
        return {"n": "\n", "t": "\t", "\\": "\\"}[code]

    return _TEMPLATE.sub(one, template)


def block_matches(block: QTextBlock, expression: QRegularExpression):
    """Each non-empty match of ``expression`` in one paragraph: (document position, match)."""
    text = block.text()
    if text:
        found = expression.globalMatch(text)
        while found.hasNext():
            match = found.next()
            if match.capturedLength():
                yield block.position() + match.capturedStart(), match


def find_all(document: QTextDocument, expression: QRegularExpression):
    """Each non-empty match of ``expression`` in ``document``: (position, match)."""
    block = document.firstBlock()
    while block.isValid():
        yield from block_matches(block, expression)
        block = block.next()


class FindBar(QWidget):
    """The find and replace bar of ``editor``; hidden until asked for."""

    replaced = Signal(int)  # how many matches Replace all replaced

    def __init__(self, editor: QPlainTextEdit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.setObjectName("findBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.find_edit = QLineEdit(placeholderText="Find")
        self.find_edit.setObjectName("findText")
        self.find_edit.setClearButtonEnabled(True)
        self.replace_edit = QLineEdit(placeholderText="Replace with")
        self.replace_edit.setObjectName("replaceText")
        self.case_box = QCheckBox("Match case")
        self.words_box = QCheckBox("Whole words")
        self.regex_box = QCheckBox("Regular expression")
        self.regex_box.setToolTip(r"In the replacement, \1 … \9 are the groups and \0 the whole match")
        self.previous_button = QPushButton("Previous")
        self.next_button = QPushButton("Next")
        self.replace_button = QPushButton("Replace")
        self.replace_all_button = QPushButton("Replace all")
        self.message = QLabel("")
        self.message.setObjectName("findMessage")
        self._edits: list[tuple[int, int, str]] | None = None  # a replace all under way
        self._expression = QRegularExpression()
        self._collected = 0  # paragraphs looked at for matches (-1: all, replacing now)
        self._done = 0  # matches replaced
        self._sliced = False
        self._count = 0
        self._replace_timer = QTimer(self, interval=0)
        self._replace_timer.timeout.connect(self._replace_some)
        self._typed_timer = QTimer(self, singleShot=True, interval=TYPING_PAUSE_MS)
        self._typed_timer.timeout.connect(self._find_from_selection)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Close (Esc)")
        close.setAutoRaise(True)
        for widget in (self.case_box, self.words_box, self.regex_box, self.previous_button, self.next_button,
                       self.replace_button, self.replace_all_button, close):
            widget.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # a click leaves the focus in the field

        grid = QGridLayout(self)
        grid.setContentsMargins(16, 6, 8, 6)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)
        grid.addWidget(self.find_edit, 0, 0)
        grid.addWidget(self.previous_button, 0, 1)
        grid.addWidget(self.next_button, 0, 2)
        options = QHBoxLayout()
        options.addWidget(self.case_box)
        options.addWidget(self.words_box)
        options.addWidget(self.regex_box)
        options.addWidget(self.message, 1)
        grid.addLayout(options, 0, 3)
        grid.addWidget(close, 0, 4)
        grid.addWidget(self.replace_edit, 1, 0)
        grid.addWidget(self.replace_button, 1, 1)
        grid.addWidget(self.replace_all_button, 1, 2)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(3, 3)
        self._replace_row = (self.replace_edit, self.replace_button, self.replace_all_button)

        self.find_edit.textEdited.connect(self._search_as_typed)
        self.find_edit.returnPressed.connect(self.find_next)
        self.replace_edit.returnPressed.connect(self.replace)
        for box in (self.case_box, self.words_box, self.regex_box):
            box.toggled.connect(self._search_as_typed)
        self.next_button.clicked.connect(self.find_next)
        self.previous_button.clicked.connect(self.find_previous)
        self.replace_button.clicked.connect(self.replace)
        self.replace_all_button.clicked.connect(self.replace_all)
        close.clicked.connect(self.close_bar)
        self.hide()

    # showing -------------------------------------------------------------------------------------

    def show_find(self, replace: bool = False) -> None:
        selected = self.editor.textCursor().selectedText()
        if selected and "\u2029" not in selected:
            self.find_edit.setText(selected)
        for widget in self._replace_row:
            widget.setVisible(replace)
        self.show()
        field = self.replace_edit if replace and self.find_edit.text() else self.find_edit
        field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        field.selectAll()
        self._check_pattern()

    def close_bar(self) -> None:
        self.hide()
        self.editor.setFocus(Qt.FocusReason.OtherFocusReason)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.close_bar()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.find_previous()
            return
        super().keyPressEvent(event)

    # searching -----------------------------------------------------------------------------------

    def pattern(self) -> QRegularExpression | None:
        expression, problem = build_pattern(self.find_edit.text(), self.case_box.isChecked(),
                                            self.words_box.isChecked(), self.regex_box.isChecked())
        if problem:
            self._say(problem, bad=True)
        return expression

    def _check_pattern(self) -> bool:
        self._say("")
        return self.pattern() is not None

    def _say(self, text: str, bad: bool = False) -> None:
        self.message.setText(text)
        self.message.setProperty("bad", bad)
        self.message.setStyleSheet("color: #c0392b;" if bad else "")

    def _search_as_typed(self, *_) -> None:
        """Typing in the field finds the first match from where the current one starts."""
        if not self._check_pattern():
            return
        if self.editor.document().characterCount() > LONG_TEXT:
            self._typed_timer.start()
            return
        self._find_from_selection()

    def _find_from_selection(self) -> None:
        start = self.editor.textCursor().selectionStart()
        self._find(backward=False, start=start)

    def find_next(self) -> bool:
        if not self.isVisible() or not self.find_edit.text():
            self.show_find()
            return False
        return self._find(backward=False)

    def find_previous(self) -> bool:
        if not self.isVisible() or not self.find_edit.text():
            self.show_find()
            return False
        return self._find(backward=True)

    def _find(self, backward: bool, start: int | None = None) -> bool:
        self._say("")
        expression = self.pattern()
        if expression is None:
            return False
        document = self.editor.document()
        flags = QTextDocument.FindFlag.FindBackward if backward else QTextDocument.FindFlag(0)
        if self.case_box.isChecked():
            # (Qt's find sets or clears the expression's case option from this flag)
            flags |= QTextDocument.FindFlag.FindCaseSensitively
        cursor = self.editor.textCursor()
        if start is not None:
            cursor.setPosition(start)
        found = self._search(document, expression, cursor, flags)
        at_edge = cursor.position() == (document.characterCount() - 1 if backward else 0) and not cursor.hasSelection()
        if found.isNull() and at_edge:
            self._say("No matches", bad=True)  # the whole text was searched already
            return False
        if found.isNull():
            edge = QTextCursor(document)
            if backward:
                edge.movePosition(QTextCursor.MoveOperation.End)
            found = self._search(document, expression, edge, flags)
            if found.isNull():
                self._say("No matches", bad=True)
                return False
            self._say("Went on from the end" if backward else "Went on from the top")
        self.editor.setTextCursor(found)
        self.editor.ensureCursorVisible()
        return True

    @staticmethod
    def _search(document: QTextDocument, expression: QRegularExpression, cursor: QTextCursor,
                flags) -> QTextCursor:
        """document.find, stepping over empty matches (a pattern like ``a*`` finds one anywhere)."""
        found = document.find(expression, cursor, flags)
        while not found.isNull() and not found.hasSelection():
            step = QTextCursor(found)
            moved = step.movePosition(QTextCursor.MoveOperation.PreviousCharacter
                                      if flags & QTextDocument.FindFlag.FindBackward
                                      else QTextCursor.MoveOperation.NextCharacter)
            if not moved:
                return QTextCursor()
            found = document.find(expression, step, flags)
        return found

    # replacing -----------------------------------------------------------------------------------

    def _selection_match(self, expression: QRegularExpression):
        """The match that is the selection, when the selection is one (else None)."""
        cursor = self.editor.textCursor()
        if not cursor.hasSelection() or "\u2029" in cursor.selectedText():
            return None
        block = cursor.block()
        column = cursor.selectionStart() - block.position()
        match = expression.match(block.text(), column)
        if match.hasMatch() and match.capturedStart() == column and \
                match.capturedEnd() == cursor.selectionEnd() - block.position():
            return match
        return None

    def replace(self) -> bool:
        """Replace the selected match and go to the next one (only find it, when none is selected)."""
        if self.editor.isReadOnly():
            return False
        expression = self.pattern()
        if expression is None:
            return False
        match = self._selection_match(expression)
        if match is not None:
            cursor = self.editor.textCursor()
            cursor.beginEditBlock()
            cursor.insertText(self._replacement(match))
            cursor.endEditBlock()
            self.editor.setTextCursor(cursor)
        return self._find(backward=False)

    def _replacement(self, match) -> str:
        text = self.replace_edit.text()
        return expand(text, match) if self.regex_box.isChecked() else text

    def replace_all(self) -> int:
        """Replace every match in the document as one undo step. A short text is done at once
        (the count is returned); in a long one the matches are collected and replaced a slice
        per turn of the event loop (0 is returned; ``replacing`` is true meanwhile, the text is
        read-only, the bar shows the progress and ``replaced`` the count at the end), all in
        one edit block joined slice to slice."""
        if self.editor.isReadOnly() or self.replacing or getattr(self.editor, "generating", False):
            return 0
        expression = self.pattern()
        if expression is None:
            return 0
        document = self.editor.document()
        self._expression = expression
        self._edits, self._collected, self._done, self._count = [], 0, 0, 0
        self._sliced = document.characterCount() > LONG_TEXT
        if self._sliced:
            self.editor.setReadOnly(True)
            self._replace_timer.start()
            self._replace_some()
            return 0
        self._replace_some()
        return self._count

    def _collect_some(self, deadline: float) -> bool:
        """Collect matches, paragraph by paragraph, until ``deadline``; True when all are in."""
        document = self.editor.document()
        block = document.findBlockByNumber(self._collected)
        expression = self._expression
        edits = self._edits
        assert edits is not None  # (a replace all is under way)
        while block.isValid():
            edits.extend((position, match.capturedLength(), self._replacement(match))
                         for position, match in block_matches(block, expression))
            block = block.next()
            self._collected += 1
            if self._sliced and time.perf_counter() > deadline:
                return not block.isValid()
        return True

    @property
    def replacing(self) -> bool:
        return self._edits is not None

    def _replace_some(self) -> None:
        edits = self._edits
        if edits is None:
            return
        deadline = time.perf_counter() + TURN_S
        if self._collected >= 0:
            if not self._collect_some(deadline):
                self._say(f"Looking for matches… {100 * self._collected // self.editor.document().blockCount()}%")
                return
            self._collected = -1  # all in: replacing from now on
            if not edits:
                self._finish_replacing()
                self._say("No matches", bad=True)
                return
            highlighter = getattr(self.editor, "highlighter", None)
            if highlighter is not None:
                highlighter.paused = True  # spelling follows in slices, not over the whole text now
            if self._sliced:
                return  # the next turn replaces
        cursor = QTextCursor(self.editor.document())
        if self._done:
            cursor.joinPreviousEditBlock()  # the same undo step as the slices before
        else:
            cursor.beginEditBlock()
        try:
            # Last to first: the positions of the matches still to do stay where they were.
            while self._done < len(edits):
                position, length, text = edits[len(edits) - 1 - self._done]
                cursor.setPosition(position)
                cursor.setPosition(position + length, QTextCursor.MoveMode.KeepAnchor)
                cursor.insertText(text)
                self._done += 1
                if self._sliced and self._done % 64 == 0 and time.perf_counter() > deadline:
                    break
        finally:
            cursor.endEditBlock()
        if self._done < len(edits):
            self._say(f"Replacing… {self._done:,} of {len(edits):,}")
            return
        self._finish_replacing()
        highlighter = getattr(self.editor, "highlighter", None)
        if highlighter is not None:
            highlighter.paused = False
            highlighter.recheck()
        self._count = len(edits)
        self._say(f"Replaced {len(edits):,}")
        self.replaced.emit(len(edits))

    def _finish_replacing(self) -> None:
        self._replace_timer.stop()
        self._edits = None
        if self._sliced:
            self.editor.setReadOnly(False)
