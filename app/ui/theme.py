"""Light and dark themes: a Fusion palette each, plus the editor's page, ghost and mark colours."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Theme:
    window: str
    text: str
    page: str  # the editor's background
    ink: str  # the editor's text
    ghost: str  # suggestions
    mark: str  # background of model-written text
    accent: str
    muted: str  # secondary text: status bar, hints
    button: str


THEMES = {
    "light": Theme(window="#f3f1ec", text="#2b2a27", page="#fdfcf9", ink="#26251f", ghost="#a3a09a",
                   mark="#f6ecd0", accent="#3d6f9e", muted="#77746c", button="#ebe8e1"),
    "dark": Theme(window="#1f2023", text="#d9d7d2", page="#26272b", ink="#e2dfd8", ghost="#7b7a78",
                  mark="#3a3626", accent="#7fa8d1", muted="#9a978f", button="#2e2f33"),
}


def palette(theme: Theme) -> QPalette:
    pal = QPalette()
    role = QPalette.ColorRole
    for r, colour in (
        (role.Window, theme.window), (role.WindowText, theme.text), (role.Base, theme.page),
        (role.AlternateBase, theme.window), (role.Text, theme.ink), (role.Button, theme.button),
        (role.ButtonText, theme.text), (role.ToolTipBase, theme.page), (role.ToolTipText, theme.ink),
        (role.Highlight, theme.accent), (role.HighlightedText, "#ffffff"), (role.Link, theme.accent),
        (role.PlaceholderText, theme.muted), (role.BrightText, "#ff5555"),
    ):
        pal.setColor(r, QColor(colour))
    for r in (role.WindowText, role.Text, role.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, r, QColor(theme.muted))
    return pal


def apply(app: QApplication, name: str) -> Theme:
    theme = THEMES.get(name, THEMES["light"])
    app.setStyle("Fusion")
    app.setPalette(palette(theme))
    return theme


# Faces a writer would like to read and write in, best first; the first one installed wins.
_SERIF_FACES = ("Literata", "Charter", "Iowan Old Style", "Georgia", "Source Serif 4", "Source Serif Pro",
                "Noto Serif", "DejaVu Serif", "Liberation Serif", "Times New Roman")


def default_editor_font(size: int) -> QFont:
    installed = set(QFontDatabase.families())
    for family in _SERIF_FACES:
        if family in installed:
            return QFont(family, size)
    font = QFont()
    font.setStyleHint(QFont.StyleHint.Serif)
    font.setPointSize(size)
    return font
