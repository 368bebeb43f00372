r"""Find and replace: a bar under the text (Ctrl+F finds, Ctrl+H replaces, F3 / Shift+F3 go to
the next / previous match), with match case, whole words and regular expressions.

Every search is one QRegularExpression (plain text is escaped into one), so the three options
mean the same thing to Find and to Replace all. Matches lie within a paragraph, as Qt's
QTextDocument.find has them; empty matches are skipped. Replace all collects the matches
paragraph by paragraph and replaces them from the last to the first inside one edit block: one
undo step. Thousands of matches (a word of a 2 MB novel) are replaced a slice per turn of the
event loop, the slices joined into the one edit block, so the window keeps repainting; spelling
is checked again afterwards, a few milliseconds per turn. In a long text, finding as you type
waits for a pause in the typing (a search that finds nothing reads the whole text).

No search holds the window: matching goes paragraph by paragraph, a slice per turn of the event
loop once it takes longer than FIND_SYNC_S, and is stopped, with a message, when the expression
is too slow on the text (PCRE2 gives up on a paragraph after its backtracking limit, or the
matching has taken TIME_BOX_S in all): an expression like (\w+\s?)+$ takes exponential time.
Esc, a new search, another text and any edit stop a search under way. After a find, the matches
are counted the same way ("3 of 17").
"""

from __future__ import annotations

import re
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QRegularExpression, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QTextBlock, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from app.ui.editor import GhostEditor

RegexOption = QRegularExpression.PatternOption
TURN_S = 0.015  # the work of one slice
LONG_TEXT = 200_000  # characters from which finding as you type waits, and replace all goes in slices
TYPING_PAUSE_MS = 150
FIND_SYNC_S = 0.05  # a search or count not done in this long goes on a slice per turn
TIME_BOX_S = 20.0  # of matching, after which an expression is too slow on the text (Esc stops sooner)
MAX_COUNTED = 1_000_000  # matches counted ("3 of 17"); beyond, the count is not shown
TOO_SLOW = ("This expression is too slow on this text, so the search was stopped (repeats inside "
            "repeats, such as (\\w+\\s?)+, can take exponential time)")
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


class TooSlow(Exception):
    """The regular expression engine gave up on a paragraph (its backtracking limit)."""


def _global(expression: QRegularExpression, text: str, offset: int = 0):
    """Each non-empty match of ``expression`` in ``text`` from ``offset``; TooSlow when the
    engine gives up (Qt then reports the match, and the iterator, as not valid)."""
    found = expression.globalMatch(text, offset)
    end = offset  # where the last match ended
    while found.hasNext():
        match = found.next()
        end = match.capturedEnd()
        if match.capturedLength():
            yield match
    # Not valid: the engine gave up, or (after an empty match at the very end) there was nothing
    # left to look at.
    if not found.isValid() and end < len(text):
        raise TooSlow


def block_matches(block: QTextBlock, expression: QRegularExpression):
    """Each non-empty match of ``expression`` in one paragraph: (document position, match);
    TooSlow when the engine gives up on the paragraph."""
    text = block.text()
    if text:
        for match in _global(expression, text):
            yield block.position() + match.capturedStart(), match


def find_all(document: QTextDocument, expression: QRegularExpression):
    """Each non-empty match of ``expression`` in ``document``: (position, match)."""
    block = document.firstBlock()
    while block.isValid():
        yield from block_matches(block, expression)
        block = block.next()




def _first_in(block: QTextBlock, expression: QRegularExpression, column: int) -> tuple[int, int] | None:
    """(start, length) in the document of the first non-empty match starting at ``column`` or later."""
    text = block.text()
    for match in _global(expression, text, column):
        return block.position() + match.capturedStart(), match.capturedLength()
    return None


def _last_in(block: QTextBlock, expression: QRegularExpression, column: int) -> tuple[int, int] | None:
    """(start, length) in the document of the last non-empty match starting at ``column`` or before."""
    last = None
    for match in _global(expression, block.text(), 0):
        if match.capturedStart() > column:
            break
        last = match
    return None if last is None else (block.position() + last.capturedStart(), last.capturedLength())


Found = tuple[tuple[int, int] | None, bool]  # (start, length) or None; whether it went on from the edge
Job = Generator[None, None, Any]


def find_job(document: QTextDocument, expression: QRegularExpression, start: int, backward: bool) -> Generator[None, None, Found]:
    """Find the next (or previous) non-empty match from ``start`` (the position searched from:
    forward, a match starting there or later; backward, one starting before it), going on
    from the other edge of the text; yields after each paragraph."""
    if not backward:
        first = block = document.findBlock(start)
        column = start - block.position()
        while block.isValid():
            hit = _first_in(block, expression, column)
            if hit is not None:
                return hit, False
            block, column = block.next(), 0
            yield
        block = document.firstBlock()
        while block.isValid():
            hit = _first_in(block, expression, 0)
            if hit is not None or block == first:
                return hit, True
            block = block.next()
            yield
        return None, True
    first = document.findBlock(max(start - 1, 0))
    if start > 0:
        block = first
        column = start - 1 - block.position()
        while block.isValid():
            hit = _last_in(block, expression, column)
            if hit is not None:
                return hit, False
            block = block.previous()
            column = block.length()
            yield
    block = document.lastBlock()
    while block.isValid():
        hit = _last_in(block, expression, block.length())
        if hit is not None or block == first:
            return hit, True
        block = block.previous()
        yield
    return None, True


def count_job(document: QTextDocument, expression: QRegularExpression) -> Generator[None, None, array | None]:
    """Where every non-empty match starts, in order (None: more than MAX_COUNTED)."""
    starts = array("q")
    block = document.firstBlock()
    while block.isValid():
        text = block.text()
        if text:
            position = block.position()
            starts.extend(position + m.capturedStart() for m in _global(expression, text))
            if len(starts) > MAX_COUNTED:
                return None
        block = block.next()
        yield
    return starts


class Slicer(QObject):
    """Runs one job (a generator yielding after each paragraph) at a time: at once while it is
    quick, then a slice per turn of the event loop. It ends the job when the document changes
    meanwhile (its answer would be about another text), when the engine gives up (TooSlow) or
    once the matching has taken TIME_BOX_S."""

    def __init__(self, parent: QObject, document: Callable[[], QTextDocument]) -> None:
        super().__init__(parent)
        self._document = document
        self._timer = QTimer(self, interval=0)
        self._timer.timeout.connect(lambda: self._advance(TURN_S))
        self._job: Job | None = None
        self._done: Callable[[Any], None] = lambda _result: None
        self._failed: Callable[[str], None] = lambda _why: None
        self._revision = -1
        self._spent = 0.0

    @property
    def running(self) -> bool:
        return self._job is not None

    def run(self, job: Job, done: Callable[[Any], None], failed: Callable[[str], None],
            at_once_s: float = FIND_SYNC_S) -> bool:
        """Start ``job`` (ending the one before); True when it is done already (``done`` or
        ``failed`` has been called), False when it goes on between turns."""
        self.cancel()
        self._job, self._done, self._failed = job, done, failed
        self._revision, self._spent = self._document().revision(), 0.0
        return self._advance(at_once_s)

    def cancel(self) -> None:
        self._timer.stop()
        job, self._job = self._job, None
        if job is not None:
            job.close()

    def _advance(self, budget: float) -> bool:
        job = self._job
        if job is None:
            self._timer.stop()
            return True
        if self._document().revision() != self._revision:
            self.cancel()
            self._failed("")  # the text changed: the answer would be about another text
            return True
        started = time.perf_counter()
        result: Any = None
        try:
            while True:
                next(job)
                now = time.perf_counter()
                if now - started > budget or self._spent + now - started > TIME_BOX_S:
                    break
        except StopIteration as stop:
            result = stop
        except TooSlow:
            result = TooSlow()
        self._spent += time.perf_counter() - started
        if result is None and self._spent <= TIME_BOX_S:
            self._timer.start()
            return False
        self._timer.stop()
        self._job = None
        if isinstance(result, StopIteration):
            self._done(result.value)
        else:
            self._failed(TOO_SLOW)
        return True


class FindBar(QWidget):
    """The find and replace bar of ``editor``; hidden until asked for."""

    replaced = Signal(int)  # how many matches Replace all replaced

    def __init__(self, editor: GhostEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.setObjectName("findBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self._build_fields()
        self._init_search(editor)
        close = self._build_close_button()
        self._lay_out(close)
        self._set_tab_order(close)
        self._connect(close)
        self.hide()

    def _build_fields(self) -> None:
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
        self.count_label = QLabel("")  # "3 of 17"
        self.count_label.setObjectName("findCount")

    def _init_search(self, editor: GhostEditor) -> None:
        """The state of a search, its count and a replace all, and their timers."""
        self._finder = Slicer(self, editor.document)
        self._counter = Slicer(self, editor.document)
        self._counted: tuple[tuple, int, array | None] | None = None  # (search, revision, starts)
        self._edits: list[tuple[int, int, str]] | None = None  # a replace all under way
        self._expression = QRegularExpression()
        self._collected = 0  # paragraphs looked at for matches (-1: all, replacing now)
        self._done = 0  # matches replaced
        self._sliced = False
        self._count = 0
        self._revision = -1  # the document's revision after the last slice of a replace all
        self._spent = 0.0  # seconds spent collecting its matches
        self._replace_timer = QTimer(self, interval=0)
        self._replace_timer.timeout.connect(self._replace_some)
        self._typed_timer = QTimer(self, singleShot=True, interval=TYPING_PAUSE_MS)
        self._typed_timer.timeout.connect(self._find_from_selection)

    def _build_close_button(self) -> QToolButton:
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Close (Esc)")
        close.setAutoRaise(True)
        for widget in (self.case_box, self.words_box, self.regex_box, self.previous_button, self.next_button,
                       self.replace_button, self.replace_all_button, close):
            widget.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # a click leaves the focus in the field
        return close

    def _lay_out(self, close: QToolButton) -> None:
        """Two rows: find, Previous, Next, the options and close; the replacement and its buttons."""
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
        options.addWidget(self.count_label)
        options.addWidget(self.message, 1)
        grid.addLayout(options, 0, 3)
        grid.addWidget(close, 0, 4)
        grid.addWidget(self.replace_edit, 1, 0)
        grid.addWidget(self.replace_button, 1, 1)
        grid.addWidget(self.replace_all_button, 1, 2)
        grid.setColumnStretch(0, 2)
        grid.setColumnStretch(3, 3)
        # A long message (a regular expression's error) is cut, whole in its tooltip: it never
        # takes the fields' room.
        self.message.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message.setMinimumWidth(0)
        for field in (self.find_edit, self.replace_edit):
            field.setMinimumWidth(field.fontMetrics().averageCharWidth() * 24)
        self._replace_row = (self.replace_edit, self.replace_button, self.replace_all_button)

    def _set_tab_order(self, close: QToolButton) -> None:
        # Tab: the find field, the replacement (when shown), then the buttons and the options.
        order = (self.find_edit, self.replace_edit, self.next_button, self.previous_button, self.replace_button,
                 self.replace_all_button, self.case_box, self.words_box, self.regex_box, close)
        for first, second in zip(order, order[1:]):
            QWidget.setTabOrder(first, second)

    def _connect(self, close: QToolButton) -> None:
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
        self.stop_searching()
        self.hide()
        self.editor.setFocus(Qt.FocusReason.OtherFocusReason)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            if self.replacing:
                self.cancel_replace_all()
                return
            self.close_bar()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and \
                event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.find_previous()
            return
        super().keyPressEvent(event)

    @property
    def searching(self) -> bool:
        """A find is going on between turns of the event loop."""
        return self._finder.running

    def stop_searching(self) -> None:
        """Stop a find and a count under way (Esc, closing the bar, another text)."""
        if self._finder.running:
            self._say("")
        self._finder.cancel()
        self._counter.cancel()

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
        self.message.setToolTip(text)
        self.message.setProperty("bad", bad)
        self.message.setStyleSheet("color: #c0392b;" if bad else "")

    def _search_as_typed(self, *_) -> None:
        """Typing in the field finds the first match from where the current one starts."""
        self.stop_searching()
        self.count_label.setText("")
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

    def _search_key(self) -> tuple:
        return (self.find_edit.text(), self.case_box.isChecked(), self.words_box.isChecked(),
                self.regex_box.isChecked())

    def _find(self, backward: bool, start: int | None = None) -> bool:
        """Select the next (previous) match. True when it is selected now; False when there is
        none, the expression is bad or too slow, or the search goes on between turns (it
        selects the match when it ends; ``searching`` meanwhile)."""
        self._say("")
        self._counter.cancel()
        expression = self.pattern()
        if expression is None:
            self._finder.cancel()
            return False
        cursor = self.editor.textCursor()
        if start is None:
            start = cursor.selectionStart() if backward else cursor.selectionEnd()
        document = self.editor.document()
        found: list[bool] = []

        def done(result: Found) -> None:
            hit, wrapped = result
            if hit is None:
                self._say("No matches", bad=True)
                self.count_label.setText("")
                found.append(False)
                return
            selection = QTextCursor(document)
            selection.setPosition(hit[0])
            selection.setPosition(hit[0] + hit[1], QTextCursor.MoveMode.KeepAnchor)
            self.editor.setTextCursor(selection)
            self.editor.ensureCursorVisible()
            self._say(("Went on from the end" if backward else "Went on from the top") if wrapped else "")
            found.append(True)
            self._show_count(expression, hit[0])

        def failed(why: str) -> None:
            self._say(why, bad=bool(why))
            self.count_label.setText("")
            found.append(False)

        if not self._finder.run(find_job(document, expression, start, backward), done, failed):
            self._say("Searching… (Esc stops)")
            return False
        return found == [True]

    def _show_count(self, expression: QRegularExpression, at: int) -> None:
        """Show which match of how many the one at ``at`` is ("3 of 17"), counting them first
        (between turns in a long text) unless they were counted for this text already."""
        key, revision = self._search_key(), self.editor.document().revision()

        def show(starts: array | None) -> None:
            self._counted = (key, revision, starts)
            if starts is None:
                self.count_label.setText(f"over {MAX_COUNTED:,} matches")
                return
            index = bisect_left(starts, at)
            known = index < len(starts) and starts[index] == at
            self.count_label.setText(f"{index + 1:,} of {len(starts):,}" if known else f"{len(starts):,} matches")

        if self._counted is not None and self._counted[:2] == (key, revision):
            show(self._counted[2])
            return
        self.count_label.setText("")
        self._counter.run(count_job(self.editor.document(), expression), show,
                          lambda _why: self.count_label.setText(""), at_once_s=FIND_SYNC_S / 2)

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
        self._revision = document.revision()
        self._spent = 0.0
        self.stop_searching()
        if self._sliced:
            self._go_sliced()
            self._replace_some()
            return 0
        self._replace_some()
        if self.replacing:  # (the matches took longer than a moment to collect: now in slices)
            return 0
        return self._count

    def _go_sliced(self) -> None:
        self._sliced = True
        self.editor.set_locked("replacing", True)
        self._replace_timer.start()

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
            if time.perf_counter() > deadline:
                return not block.isValid()
        return True

    @property
    def replacing(self) -> bool:
        return self._edits is not None

    def _replace_some(self) -> None:
        """One turn of a Replace all: matches collected, then replaced, until the turn's time is up."""
        edits = self._edits
        if edits is None:
            return
        if self.editor.document().revision() != self._revision:
            # (only a program can change the text meanwhile: it is read-only to the writer)
            self.stop_replacing("Replace all stopped: the text changed meanwhile")
            return
        started = time.perf_counter()
        deadline = started + (TURN_S if self._sliced else FIND_SYNC_S)
        if self._collected >= 0 and not self._collect_turn(started, deadline):
            return
        self._replace_until(edits, deadline)
        if self._done < len(edits):
            self._say(f"Replacing… {self._done:,} of {len(edits):,}")
            return
        self._all_replaced(len(edits))

    def _collect_turn(self, started: float, deadline: float) -> bool:
        """Collect matches until ``deadline``; True when the replacing may start in this turn."""
        try:
            collected = self._collect_some(deadline)
        except TooSlow:
            collected = False
            self._spent = TIME_BOX_S
        self._spent += time.perf_counter() - started
        if not collected and self._spent >= TIME_BOX_S:
            self.stop_replacing(TOO_SLOW)  # nothing is replaced before every match is in
            return False
        if not collected:
            if not self._sliced:
                self._go_sliced()  # the rest between turns: the window keeps answering
            self._say(f"Looking for matches… {100 * self._collected // self.editor.document().blockCount()}% "
                      "(Esc stops)")
            return False
        self._collected = -1  # all in: replacing from now on
        if not self._edits:
            self._finish_replacing()
            self._say("No matches", bad=True)
            return False
        highlighter = getattr(self.editor, "highlighter", None)
        if highlighter is not None:
            highlighter.paused = True  # spelling follows in slices, not over the whole text now
        return not self._sliced  # (sliced: the next turn replaces)

    def _replace_until(self, edits: list[tuple[int, int, str]], deadline: float) -> None:
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
        self._revision = self.editor.document().revision()

    def _all_replaced(self, count: int) -> None:
        self._finish_replacing()
        highlighter = getattr(self.editor, "highlighter", None)
        if highlighter is not None:
            highlighter.paused = False
            highlighter.recheck()
        self._count = count
        self._say(f"Replaced {count:,}")
        self.replaced.emit(count)

    def _finish_replacing(self) -> None:
        self._replace_timer.stop()
        self._edits = None
        self.editor.set_locked("replacing", False)

    def stop_replacing(self, why: str, recheck: bool = True) -> None:
        """End a Replace all under way, leaving the text as it is now (``why`` is shown)."""
        if not self.replacing:
            return
        self._finish_replacing()
        self._say(why, bad=True)
        highlighter = getattr(self.editor, "highlighter", None)
        if recheck and highlighter is not None and highlighter.paused:
            highlighter.paused = False
            highlighter.recheck()

    def cancel_replace_all(self) -> None:
        """The writer stops a Replace all (Esc): the text goes back to what it was."""
        if not self.replacing:
            return
        undo = self._collected < 0 and self._done > 0  # its slices so far are one undo step
        self.stop_replacing("Replace all stopped; the text is as it was")
        if undo:
            self.editor.document().undo()

    def document_replaced(self) -> None:
        """Another text is about to replace the document (a file opened, a new one, a reload):
        whatever the bar is doing with the old one stops (the window checks the spelling of the
        new text once it is in)."""
        self.stop_searching()
        self._counted = None
        self.count_label.setText("")
        self.stop_replacing("Replace all stopped: another text was opened", recheck=False)
