"""A suggestion of several lines is painted as it would be written: its first line at the cursor,
the others below the cursor's line (the text after them pushed down), with the usual keys."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

BEFORE = "Dear Sir,\n\nI write to you today"
AFTER = ", in haste."
GHOST = " about the estate.\n\nIt is a long story;\nbut I shall be brief"


@pytest.fixture
def editor(editor):
    editor.setPlainText(BEFORE + AFTER + "\nThe next paragraph.")
    cursor = editor.textCursor()
    cursor.setPosition(len(BEFORE))
    editor.setTextCursor(cursor)
    return editor


def show(editor, text):
    editor.expect_suggestion()
    editor.add_piece(0, text)
    editor.finish_suggestion()


def next_block_top(editor):
    block = editor.textCursor().block().next()
    return editor.blockBoundingGeometry(block).top()


def test_the_lines_after_the_first_go_below_the_cursor_line(qtbot, editor):
    top_before = next_block_top(editor)
    block = editor.textCursor().block()
    line_height = block.layout().lineAt(0).height()
    show(editor, GHOST)
    layout = block.layout()
    assert "⏎" not in layout.preeditAreaText()
    qtbot.waitUntil(lambda: layout.lineCount() > 1)  # (laid out when painted)
    assert layout.lineCount() == 4  # the cursor's line, an empty line, two more lines
    first, blank, third, last = (layout.lineAt(i) for i in range(4))
    start = len("I write to you today")
    assert first.textStart() == 0 and blank.textLength() == 1  # (its line separator)
    # every following line starts at the left edge, under the one before
    assert third.x() == first.x() and last.x() == first.x()
    assert first.y() < blank.y() < third.y() < last.y()
    # the rest of the cursor's line follows the suggestion's last line
    assert layout.lineForTextPosition(start + len(GHOST)).lineNumber() == 3
    # and the paragraphs below move down by the three lines the suggestion added
    assert next_block_top(editor) == pytest.approx(top_before + 3 * line_height, abs=1)
    assert editor.toPlainText() == BEFORE + AFTER + "\nThe next paragraph."


def test_tab_writes_the_lines_as_paragraphs_in_one_undo_step(qtbot, editor):
    show(editor, GHOST)
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == BEFORE + GHOST + AFTER + "\nThe next paragraph."
    assert editor.document().blockCount() == 7
    assert next_block_top(editor) > 0 and editor.textCursor().block().layout().preeditAreaText() == ""
    editor.undo()
    assert editor.toPlainText() == BEFORE + AFTER + "\nThe next paragraph."


def test_enter_types_through_a_line_break_of_the_suggestion(qtbot, editor):
    show(editor, "\nIt is a long story;\nbut brief")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    assert editor.ghost_text == "It is a long story;\nbut brief"  # kept: the writer typed its start
    block = editor.textCursor().block()
    assert block.layout().preeditAreaText() == "It is a long story;\u2028but brief"
    assert editor.document().findBlockByNumber(2).layout().preeditAreaText() == ""  # left the old line
    qtbot.keyClicks(editor, "It is")
    assert editor.ghost_text == " a long story;\nbut brief"


def test_ctrl_right_takes_a_line_break_with_the_next_word(qtbot, editor):
    show(editor, " estate.\n\nIt is")
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert editor.ghost_text == ".\n\nIt is"  # a word, then its mark: one key each
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert editor.ghost_text == "\n\nIt is"
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert editor.ghost_text == " is"
    assert editor.toPlainText().startswith(BEFORE + " estate.\n\nIt")
