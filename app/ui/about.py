"""The About dialog, and Qt's rows of the versions Inkwell runs on (app.about holds the rest and
imports no Qt)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def qt_versions() -> list[tuple[str, str]]:
    """(component, version) of Qt and of its Python binding."""
    import PySide6
    from PySide6.QtCore import qVersion

    return [("Qt", qVersion()), ("PySide6", PySide6.__version__)]


def show_about(parent: QWidget) -> None:
    from app.about import about_html

    QMessageBox.about(parent, "About Inkwell", about_html(qt_versions()))
