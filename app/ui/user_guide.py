"""The user guide (Help ▸ User guide, F1): the README's sections for writers, rendered by Qt's
Markdown reader in a window of its own, offline.

The README is the one text of the guide, so the guide says what the README says. It sits beside
the app's packages in a source checkout and in the standalone build (packaging/inkwell.spec
copies it there); pictures it shows that are not installed are left out.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QImage, QTextCursor, QTextDocument
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from core import paths

README = paths.RESOURCES.parent / "README.md"
# The README's sections for writers (the others are for developers and packagers), in this order.
SECTIONS = (
    "Writing with Inkwell",
    "Getting GPT-2: the Models dialog",
    "Fine-tuning on your own texts",
    "Where Inkwell keeps your files",
    "Troubleshooting: slow suggestions",
)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
PICTURE_WIDTH = 720
_IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)[^)]*\)")


def sections(markdown: str, titles: tuple[str, ...] = SECTIONS) -> str:
    """The sections of ``markdown`` headed ``titles`` (each up to the next heading of its level
    or above), in the order of ``titles``, each as a second-level section."""
    lines = markdown.splitlines()
    found: dict[str, list[str]] = {}
    index = 0
    while index < len(lines):
        heading = _HEADING.match(lines[index])
        if heading and heading.group(2) in titles and heading.group(2) not in found:
            level = len(heading.group(1))
            body = [f"## {heading.group(2)}"]
            index += 1
            while index < len(lines):
                inner = _HEADING.match(lines[index])
                if inner and len(inner.group(1)) <= level:
                    break
                line = lines[index]
                if inner:  # keep the section's own structure under its new level
                    line = "#" * (len(inner.group(1)) - level + 2) + " " + inner.group(2)
                body.append(line)
                index += 1
            found[heading.group(2)] = body
            continue
        index += 1
    return "\n".join("\n".join(found[title]) for title in titles if title in found)


def guide_markdown(readme: Path = README) -> str:
    """The guide as Markdown, or a sentence saying why there is none."""
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError as exc:
        return f"# The user guide is missing\n\nIt is read from {readme}, which cannot be read ({exc.strerror or exc})."
    body = sections(text)
    if not body:
        return f"# The user guide is missing\n\n{readme} holds none of its sections ({', '.join(SECTIONS)})."

    def picture(match: re.Match) -> str:
        target = match.group(1)
        local = not re.match(r"[a-z]+:", target)
        return match.group(0) if local and (readme.parent / target).is_file() else ""

    return "# Inkwell user guide\n\n" + _IMAGE.sub(picture, body)


def fit_pictures(document: QTextDocument, folder: Path, width: int) -> None:
    """Pictures wider than ``width`` shown that wide (the README's screenshots are full windows)."""
    block = document.begin()
    while block.isValid():
        pieces = block.begin()
        while not pieces.atEnd():
            piece = pieces.fragment()
            if piece.charFormat().isImageFormat():
                picture = piece.charFormat().toImageFormat()
                size = QImage(str(folder / picture.name())).size()
                if size.width() > width:
                    picture.setWidth(width)
                    picture.setHeight(size.height() * width / size.width())
                    cursor = QTextCursor(document)
                    cursor.setPosition(piece.position())
                    cursor.setPosition(piece.position() + piece.length(), QTextCursor.MoveMode.KeepAnchor)
                    cursor.setCharFormat(picture)
            pieces += 1
        block = block.next()


class UserGuide(QDialog):
    def __init__(self, parent: QWidget | None = None, readme: Path = README) -> None:
        super().__init__(parent)
        self.setWindowTitle("Inkwell user guide")
        self.setObjectName("userGuide")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.document().setBaseUrl(QUrl.fromLocalFile(str(readme.parent) + "/"))
        self.browser.setSearchPaths([str(readme.parent)])
        self.browser.setMarkdown(guide_markdown(readme))
        fit_pictures(self.browser.document(), readme.parent, PICTURE_WIDTH)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        column = QVBoxLayout(self)
        column.addWidget(self.browser)
        column.addWidget(buttons)
        self.resize(820, 720)
