"""Start the desktop application."""

from __future__ import annotations

import sys


def run(argv: list[str]) -> int:
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    app.setApplicationName("Inkwell")
    window = QMainWindow()
    window.setWindowTitle("Inkwell")
    window.setCentralWidget(QLabel("Inkwell"))
    window.resize(900, 640)
    window.show()
    return app.exec()
