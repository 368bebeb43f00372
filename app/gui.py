"""Start the desktop application: ``inkwell [FILE]``."""

from __future__ import annotations

import sys


def run(argv: list[str]) -> int:
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from app.ui.main_window import MainWindow

    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: inkwell [FILE]", file=sys.stderr)
        return 2
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Inkwell")
    app.setApplicationDisplayName("Inkwell")
    app.setDesktopFileName("inkwell")
    app.setWindowIcon(QIcon.fromTheme("accessories-text-editor"))
    window = MainWindow()
    window.show()
    # The model loads on the worker thread once the window is up; the file opens right away.
    window.start(argv[0] if argv else None)
    return app.exec()
