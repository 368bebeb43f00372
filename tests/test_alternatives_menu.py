"""The list of alternatives (Ctrl+Shift+Space): the first is under the keyboard, digits pick."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.settings import Settings
from app.ui.main_window import MainWindow

ALTERNATIVES = (" was late.", " said nothing.", " knew it.")


@pytest.fixture
def window(qtbot):
    window = MainWindow(Settings.load())
    window.show()
    qtbot.waitExposed(window)
    window.editor.setFocus()
    window.editor.setPlainText("She")
    window.editor.moveCursor(window.editor.textCursor().MoveOperation.End)
    # a suggestion with three alternatives, as the worker streams them
    window.editor.expect_suggestion()
    for row, text in enumerate(ALTERNATIVES):
        window.editor.add_piece(row, text)
    window.editor.finish_suggestion({0, 1, 2})
    yield window
    window.editor.document().setModified(False)
    window.close()


def open_list(qtbot, window):
    qtbot.keyClick(window.editor, Qt.Key.Key_Space,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    menu = window.alternatives_menu
    qtbot.waitUntil(menu.isVisible)
    return menu


def test_the_first_item_is_selected_on_open(qtbot, window):
    menu = open_list(qtbot, window)
    assert menu.activeAction() is menu.actions()[0]
    qtbot.keyClick(menu, Qt.Key.Key_Down)
    qtbot.keyClick(menu, Qt.Key.Key_Down)
    qtbot.keyClick(menu, Qt.Key.Key_Return)
    assert window.editor.toPlainText() == "She" + ALTERNATIVES[2]


@pytest.mark.parametrize("digit, picked", [(Qt.Key.Key_1, 0), (Qt.Key.Key_2, 1), (Qt.Key.Key_3, 2)])
def test_a_digit_picks_directly(qtbot, window, digit, picked):
    menu = open_list(qtbot, window)
    assert [a.text().split("  ", 1)[0] for a in menu.actions()] == ["&1", "&2", "&3"]
    qtbot.keyClick(menu, digit)
    assert window.editor.toPlainText() == "She" + ALTERNATIVES[picked]
    assert not menu.isVisible()


def test_enter_at_once_takes_the_first(qtbot, window):
    window.editor.cycle(1)  # the second is shown; the list still opens on the first
    menu = open_list(qtbot, window)
    qtbot.keyClick(menu, Qt.Key.Key_Return)
    assert window.editor.toPlainText() == "She" + ALTERNATIVES[0]
