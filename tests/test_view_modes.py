"""Zoom (Ctrl+= / Ctrl+- / Ctrl+0, Ctrl+wheel; remembered) and the distraction-free full screen (F11)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from app.settings import Settings
from app.ui.main_window import MainWindow
from app.ui.view_modes import ZOOM_STEPS, zoom_step

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def make_window(qtbot):
    windows = []

    def make() -> MainWindow:
        window = MainWindow(Settings.load())
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)  # window shortcuts work in the active window only
        window.editor.setFocus()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.editor.document().setModified(False)
        window.close()


def test_zoom_steps():
    assert zoom_step(100, 1) == 110 and zoom_step(100, -1) == 90
    assert zoom_step(ZOOM_STEPS[-1], 1) == ZOOM_STEPS[-1] and zoom_step(ZOOM_STEPS[0], -1) == ZOOM_STEPS[0]
    assert zoom_step(105, 1) == 110 and zoom_step(105, -1) == 100  # a value between steps


def test_keys_zoom_and_the_zoom_is_remembered(qtbot, make_window):
    window = make_window()
    size = window.settings["font_size"]
    assert window.editor.font().pointSizeF() == size
    for _ in range(3):
        qtbot.keyClick(window.editor, Qt.Key.Key_Equal, CTRL)
    assert window.settings["zoom"] == 150
    assert window.editor.font().pointSizeF() == pytest.approx(size * 1.5)
    qtbot.keyClick(window.editor, Qt.Key.Key_Minus, CTRL)
    assert window.settings["zoom"] == 125
    assert window.editor.font().pointSizeF() == pytest.approx(size * 1.25)
    assert window.commands["zoom_reset"].text() == "&Reset zoom (125%)"
    window.close()
    again = make_window()  # a new window, the settings read from disk again
    assert again.settings["zoom"] == 125
    assert again.editor.font().pointSizeF() == pytest.approx(size * 1.25)
    # the font size setting changed: the zoom stays a share of it
    again.settings.set("font_size", 20)
    assert again.editor.font().pointSizeF() == pytest.approx(25)
    qtbot.keyClick(again.editor, Qt.Key.Key_0, CTRL)
    assert again.settings["zoom"] == 100 and again.editor.font().pointSizeF() == 20
    assert again.editor.toPlainText() == ""  # none of the keys typed anything


def test_ctrl_wheel_zooms_through_the_setting(qtbot, make_window):
    window = make_window()
    viewport = window.editor.viewport()

    def wheel(dy, modifiers):
        at = QPointF(viewport.width() / 2, viewport.height() / 2)
        QApplication.sendEvent(viewport, QWheelEvent(
            at, QPointF(viewport.mapToGlobal(at.toPoint())), QPoint(0, 0), QPoint(0, dy), Qt.MouseButton.NoButton,
            modifiers, Qt.ScrollPhase.NoScrollPhase, False))

    wheel(120, CTRL)
    assert window.settings["zoom"] == 110
    wheel(-120, CTRL)
    wheel(-120, CTRL)
    assert window.settings["zoom"] == 90
    assert window.editor.font().pointSizeF() == pytest.approx(window.settings["font_size"] * 0.9)
    wheel(-120, Qt.KeyboardModifier.NoModifier)  # a plain wheel still only scrolls
    assert window.settings["zoom"] == 90


def test_full_screen_shows_the_text_alone_and_esc_or_f11_leave(qtbot, make_window):
    window = make_window()
    window.panel.show()
    assert window.menuBar().isVisible() and window.statusBar().isVisible()
    qtbot.keyClick(window.editor, Qt.Key.Key_F11)
    assert window.isFullScreen() and window.commands["full_screen"].isChecked()
    assert not window.menuBar().isVisible() and not window.statusBar().isVisible()
    assert not window.panel.isVisible()
    assert window.editor.isVisible() and window.full_screen.hint.isVisible()
    qtbot.keyClick(window.editor, Qt.Key.Key_Escape)
    assert not window.isFullScreen() and not window.commands["full_screen"].isChecked()
    assert window.menuBar().isVisible() and window.statusBar().isVisible() and window.panel.isVisible()
    # F11 leaves too; a panel that was closed stays closed
    window.panel.hide()
    qtbot.keyClick(window.editor, Qt.Key.Key_F11)
    assert window.isFullScreen()
    qtbot.keyClick(window.editor, Qt.Key.Key_F11)
    assert not window.isFullScreen() and window.menuBar().isVisible() and not window.panel.isVisible()


def test_esc_dismisses_a_suggestion_before_it_leaves_full_screen(qtbot, make_window):
    window = make_window()
    qtbot.keyClick(window.editor, Qt.Key.Key_F11)
    editor = window.editor
    editor.setPlainText("It was")
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    editor.expect_suggestion()
    editor.add_piece(0, " late")
    assert editor.ghost_text == " late"
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.ghost_text == "" and window.isFullScreen()
    qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert not window.isFullScreen()


def test_closing_in_full_screen_opens_as_a_window_next_time(qtbot, make_window):
    window = make_window()
    qtbot.keyClick(window.editor, Qt.Key.Key_F11)
    window.close()
    again = make_window()
    assert not again.isFullScreen() and again.menuBar().isVisible()
