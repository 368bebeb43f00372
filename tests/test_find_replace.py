"""Find and replace: keys, options, a clear message for a bad pattern, replace all as one undo
step, and a 2 MB novel."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt, QTimer

from app.ui.find_replace import build_pattern

TEXT = "The cat saw the Cat.\nA category of cats; the CAT!\ncat"


@pytest.fixture
def window(quiet_window):
    quiet_window.editor.setPlainText(TEXT)
    quiet_window.editor.setFocus()
    quiet_window.activateWindow()
    return quiet_window


def selected(w) -> tuple[int, str]:
    cursor = w.editor.textCursor()
    return cursor.selectionStart(), cursor.selectedText()


def test_keys_open_the_bar_and_walk_the_matches(qtbot, window):
    bar = window.find_bar
    qtbot.keyClick(window.editor, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert bar.isVisible() and bar.find_edit.hasFocus() and not bar.replace_edit.isVisible()
    qtbot.keyClicks(bar.find_edit, "cat")  # found as typed, case ignored
    assert selected(window) == (4, "cat")
    qtbot.keyClick(bar.find_edit, Qt.Key.Key_Return)
    assert selected(window) == (16, "Cat")
    qtbot.keyClick(window, Qt.Key.Key_F3)
    assert selected(window)[0] == 23  # "cat" in "category"
    qtbot.keyClick(window, Qt.Key.Key_F3, Qt.KeyboardModifier.ShiftModifier)
    assert selected(window) == (16, "Cat")
    bar.case_box.setChecked(True)
    bar.words_box.setChecked(True)
    window.editor.moveCursor(window.editor.textCursor().MoveOperation.Start)
    assert bar.find_next() and selected(window) == (4, "cat")
    assert bar.find_next() and selected(window) == (len(TEXT) - 3, "cat")  # not category, cats, Cat
    assert bar.find_next() and selected(window) == (4, "cat")
    assert bar.message.text() == "Went on from the top"
    qtbot.keyClick(bar.find_edit, Qt.Key.Key_Escape)
    assert not bar.isVisible() and window.editor.hasFocus()


def test_ctrl_h_replaces_one_at_a_time(qtbot, window):
    bar = window.find_bar
    qtbot.keyClick(window.editor, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier)
    assert bar.replace_edit.isVisible()
    qtbot.keyClicks(bar.find_edit, "the")
    bar.words_box.setChecked(True)
    bar.replace_edit.setText("a")
    assert selected(window) == (0, "The")
    bar.replace()  # replaces the selected match and goes to the next
    assert window.editor.toPlainText().startswith("a cat saw the Cat.")
    assert selected(window) == (10, "the")


def test_bad_regular_expression_is_named(qtbot, window):
    bar = window.find_bar
    bar.show_find()
    bar.regex_box.setChecked(True)
    qtbot.keyClicks(bar.find_edit, "ca(t")
    assert bar.message.text().startswith("Not a valid regular expression: missing closing parenthesis")
    assert "at character 5" in bar.message.text()
    assert bar.replace_all() == 0 and window.editor.toPlainText() == TEXT
    expression, problem = build_pattern("[a-", False, True, True)
    assert expression is None and "character" in problem


def test_replace_all_with_groups_is_one_undo_step(qtbot, window):
    bar = window.find_bar
    bar.show_find(replace=True)
    bar.regex_box.setChecked(True)
    bar.case_box.setChecked(True)
    bar.find_edit.setText(r"(\w+) (cat)\b")
    bar.replace_edit.setText(r"\2 \1")
    window.editor.insertPlainText("x ")
    before = window.editor.toPlainText()
    assert bar.replace_all() == 1
    assert window.editor.toPlainText() == before.replace("The cat", "cat The")
    assert bar.message.text() == "Replaced 1"
    bar.find_edit.setText("cat")
    bar.replace_edit.setText("dog")
    bar.case_box.setChecked(False)
    bar.regex_box.setChecked(False)
    assert bar.replace_all() == 6
    assert "cat" not in window.editor.toPlainText().lower()
    window.editor.undo()  # the whole replace all, at once
    assert window.editor.toPlainText() == before.replace("The cat", "cat The")
    window.editor.undo()
    assert window.editor.toPlainText() == before


@pytest.mark.slow
def test_a_two_megabyte_novel(qtbot, window):
    """Replace all over 2 MB stays a single undo step and far from a freeze (the figures:
    bench/bench_find.py)."""
    paragraph = ("It was the best of times, it was the worst of times, it was the age of wisdom, "
                 "it was the age of foolishness, it was the epoch of belief. ") * 3
    text = "\n".join([paragraph] * (2_000_000 // len(paragraph)))
    window.settings.set("spell_check", True)
    qtbot.waitUntil(lambda: window.spelling.speller is not None, timeout=30000)
    window.editor.setPlainText(text)
    bar = window.find_bar
    bar.show_find(replace=True)
    bar.words_box.setChecked(True)
    bar.find_edit.setText("times")
    bar.replace_edit.setText("days")
    turns = []
    ticker = QTimer(interval=0)
    ticker.timeout.connect(lambda: turns.append(1))
    ticker.start()
    started = time.perf_counter()
    with qtbot.waitSignal(bar.replaced, timeout=60_000) as done:
        assert bar.replace_all() == 0
        assert bar.replacing and window.editor.isReadOnly()  # going on in slices, the window turning
    count = done.args[0]
    assert count == text.count("times") > 10_000
    took = time.perf_counter() - started
    ticker.stop()
    assert len(turns) > 3 and not window.editor.isReadOnly()
    assert took < 20, f"replace all took {took:.1f} s"
    assert window.editor.toPlainText() == text.replace("times", "days")
    assert bar.message.text() == f"Replaced {count:,}"
    window.editor.undo()  # one step, whatever the slices
    assert window.editor.toPlainText() == text
