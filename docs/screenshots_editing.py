"""Screenshots of the writer's editing aids: ``xvfb-run python docs/screenshots_editing.py OUT_DIR``.

A Markdown chapter with a misspelling or two and the find bar open (find-and-spelling.png), the
suggestions for a misspelled word in the context menu (spelling-menu.png), the first start's
welcome (welcome.png) and the user guide (user-guide.png). No model is needed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's app/, not another

from PySide6.QtCore import QPoint, QTimer
from PySide6.QtWidgets import QApplication
from screenshots import spin, wait

CHAPTER = """# Chapter One

The rain had not stopped for three days, and the river at the bottom of the garden was *higher*
than anyone in the village could remember. Margaret stood at the kitchen window with her coffee
going cold in her hands; she had promised her sister she would leave befor dark.

## What she took

- the letters, tied with a **blue** ribbon
- her fathers watch, which had not run since the winter
- a loaf, some cheese, and the lamp

> It is only water, her mother used to say. Water goes where it is told.

She put on her coat, and then she took it off again, and stood lisening to the rain.
"""


def main(out: str) -> int:
    folder = Path(out).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    home = tempfile.mkdtemp(prefix="inkwell-shots-")
    os.environ["INKWELL_HOME"] = home  # a first start, with no model chosen
    app = QApplication([sys.argv[0]])
    app.setApplicationName("Inkwell")
    from app.ui.main_window import MainWindow
    from app.ui.welcome import show_first_run

    chapter = Path(home) / "chapter-one.md"
    chapter.write_text(CHAPTER, encoding="utf-8")
    window = MainWindow()
    window.settings.update({"auto_suggest": False})
    window.resize(1180, 760)
    window.show()
    wait(lambda: window.spelling.speller is not None, 60)
    window.files.load_file(str(chapter))
    wait(lambda: not window.highlighter.rechecking)
    window.find_bar.show_find(replace=True)
    window.find_bar.find_edit.setText("rain")
    window.find_bar.replace_edit.setText("snow")
    window.find_bar.find_next()
    spin(300)
    window.grab().save(str(folder / "find-and-spelling.png"))
    window.find_bar.close_bar()

    # The context menu of a misspelled word, as a right click opens it.
    editor = window.editor
    cursor = editor.textCursor()
    cursor.setPosition(CHAPTER.index("lisening") + 3)
    menu = editor.createStandardContextMenu()
    window.spelling.add_to_menu(menu, cursor)
    where = editor.viewport().mapToGlobal(editor.cursorRect(cursor).bottomLeft() + QPoint(0, 4))
    QTimer.singleShot(400, lambda: (app.primaryScreen().grabWindow(0).copy(window.frameGeometry())
                                    .save(str(folder / "spelling-menu.png")), menu.close()))
    menu.exec(where)

    welcome = show_first_run(window)
    wait(lambda: welcome._query is None, 90)
    spin(300)
    welcome.grab().save(str(folder / "welcome.png"))
    welcome.accept()

    window.show_user_guide()
    spin(500)
    window.user_guide.grab().save(str(folder / "user-guide.png"))
    window.user_guide.close()
    editor.document().setModified(False)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "screenshots"))
