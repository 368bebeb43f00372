"""How the page is shown: zoom steps, and the distraction-free full screen (only the text).

The zoom is kept as a percentage of the font size setting, so that changing the font or its size
keeps the zoom, and Ctrl+0 brings back exactly the size chosen in the settings.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QWheelEvent
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QWidget

ZOOM_STEPS = (50, 67, 80, 90, 100, 110, 125, 150, 175, 200, 250, 300)
HINT_MS = 2500


def zoom_step(current: int, direction: int) -> int:
    """The next step above (direction > 0) or below the zoom ``current`` (which may lie between
    steps, from an older setting); the end steps stay where they are."""
    if direction > 0:
        return next((step for step in ZOOM_STEPS if step > current), ZOOM_STEPS[-1])
    return next((step for step in reversed(ZOOM_STEPS) if step < current), ZOOM_STEPS[0])


class CtrlWheelZoom(QObject):
    """Ctrl + mouse wheel over the text zooms through ``zoom(direction)`` (the setting), not
    through the editor's own zoom, which would change the font behind the settings' back."""

    def __init__(self, viewport: QWidget, zoom: Callable[[int], None]) -> None:
        super().__init__(viewport)
        self._zoom = zoom
        viewport.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if isinstance(event, QWheelEvent) and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta().y()
            if delta:
                self._zoom(1 if delta > 0 else -1)
            return True
        return False


class FullScreen(QObject):
    """Distraction-free writing: the window fills the screen and shows the text alone (no menu
    bar, status bar or panels); F11 (the action) or Esc leaves, and what was shown comes back.

    Esc leaves only when nothing else wanted it: a shown suggestion and a story being written take
    Esc first (the editor and the stop shortcut handle it before it reaches the window).
    """

    toggled = Signal(bool)

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self._window = window
        self._on = False
        self._hidden: list[QWidget] = []
        self._before = Qt.WindowState.WindowNoState
        self.hint = QLabel("Full screen: F11 or Esc leaves", window)
        self.hint.setObjectName("fullScreenHint")
        self.hint.setStyleSheet("#fullScreenHint { background: rgba(40, 40, 40, 200); color: white; "
                                "border-radius: 6px; padding: 6px 14px; }")
        self.hint.hide()
        self._hint_timer = QTimer(self, singleShot=True, interval=HINT_MS)
        self._hint_timer.timeout.connect(self.hint.hide)
        window.installEventFilter(self)
        editor = getattr(window, "editor", None)
        if isinstance(editor, QWidget):
            editor.installEventFilter(self)  # (a bar shown under the text makes it shorter)

    @property
    def active(self) -> bool:
        return self._on

    def set_active(self, on: bool) -> None:
        if on != self._on:
            (self.enter if on else self.leave)()

    def enter(self) -> None:
        window = self._window
        self._on = True
        self._before = window.windowState()
        chrome = [window.menuBar(), window.statusBar(), *window.findChildren(QDockWidget)]
        self._hidden = [w for w in chrome if w.isVisible()]
        for widget in self._hidden:
            widget.hide()
        window.setWindowState(self._before | Qt.WindowState.WindowFullScreen)
        self._show_hint()
        self.toggled.emit(True)

    def leave(self) -> None:
        window = self._window
        self._on = False
        window.setWindowState(self._before & ~Qt.WindowState.WindowFullScreen)
        for widget in self._hidden:
            widget.show()
        self._hidden = []
        self.hint.hide()
        self.toggled.emit(False)

    def _place_hint(self) -> None:
        # at the foot of the page, where it covers no text that is being written, and above the
        # bars under the text (find and replace, story mode), whose fields it would hide
        window = self._window
        bottom = window.height()
        editor = getattr(window, "editor", None)
        if isinstance(editor, QWidget) and editor.isVisible():
            bottom = min(bottom, editor.mapTo(window, QPoint(0, editor.height())).y())
        self.hint.move((window.width() - self.hint.width()) // 2, max(0, bottom - self.hint.height() - 32))

    def _show_hint(self) -> None:
        self.hint.adjustSize()
        self._place_hint()
        self.hint.raise_()
        self.hint.show()
        self._hint_timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and self.hint.isVisible():
            self._place_hint()
        elif (watched is self._window and event.type() == QEvent.Type.KeyPress and self.active
              and isinstance(event, QKeyEvent)
              and event.key() == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier):
            self.leave()
            return True
        return False
