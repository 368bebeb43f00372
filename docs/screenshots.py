"""Take the README's screenshots of the real window: ``xvfb-run python docs/screenshots.py OUT_DIR``.

Types into the editor as a writer would, waits for the model, and saves PNGs of the ghost text,
story mode and the settings panel. Uses the active model (the bundled one unless INKWELL_HOME's
settings say otherwise).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's app/, not another

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

OPENING = (
    "The rain had not stopped for three days, and the river at the bottom of the garden was "
    "higher than anyone in the village could remember.\n\n"
    "Margaret stood at the kitchen window with her coffee going cold in her hands. She had "
    "promised her sister she would leave before dark, but she"
)
STORY = "\n\nWhen the knock came at the door, she"


def type_text(widget, text: str) -> None:
    for index, line in enumerate(text.split("\n")):
        if index:
            QTest.keyClick(widget, Qt.Key.Key_Return)
        for char in line:
            QTest.keyClick(widget, char)
            spin(2)


def spin(ms: int) -> None:
    """Run the real event loop: QTest.qWait keeps the interpreter lock while it sleeps, which
    would starve the model's thread and make the status bar's figures look slow."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not get there in time")
        spin(20)


def main(out: str) -> int:
    app = QApplication([sys.argv[0]])
    app.setApplicationName("Inkwell")
    from app.ui.main_window import MainWindow

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    window = MainWindow()
    window.settings.update({"auto_suggest": True, "delay_ms": 200})
    window.resize(1180, 760)
    window.show()
    window.start()
    wait(lambda: window.suggestions.generator.ready)
    editor = window.editor
    editor.setFocus()
    type_text(editor, OPENING)
    wait(lambda: editor.ghost_text and not window.suggestions.busy)
    # A suggestion of a few words on the line shows the feature best; a lone "." does not.
    for _ in range(12):
        if len(editor.ghost_text.split()) >= 4 and "\n" not in editor.ghost_text:
            break
        editor.clear_ghost()
        editor.ask_now()
        wait(lambda: editor.ghost_text and not window.suggestions.busy)
    spin(300)
    window.grab().save(str(folder / "ghost-text.png"))
    if len(editor.ghost_alternatives) > 1:
        window.show_alternatives()
        spin(300)
        # the list is a window of its own: take the screen
        screen = app.primaryScreen().grabWindow(0)
        screen.copy(window.frameGeometry()).save(str(folder / "alternatives.png"))
        window.alternatives_menu.close()

    editor.clear_ghost()
    type_text(editor, STORY)
    editor.clear_ghost()
    window.suggestions.story_continue()
    wait(lambda: not window.editor.generating, 60)
    spin(200)
    window.grab().save(str(folder / "story-mode.png"))

    window.panel.show()
    spin(300)
    window.grab().save(str(folder / "settings-panel.png"))
    window.settings.set("theme", "dark")
    spin(300)
    window.grab().save(str(folder / "dark-theme.png"))
    window.settings.set("theme", "light")
    window.panel.hide()
    window.editor.document().setModified(False)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "screenshots"))
