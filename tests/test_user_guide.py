"""Help ▸ User guide: the README's sections for writers, offline, in the app."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.ui import user_guide


def test_sections_are_the_writers_ones_in_order():
    readme = "# App\n## Set up\nx\n## Writing with Inkwell\nwrite\n### Keys\nkeys\n## Training and fine-tuning\n" \
             "dev\n## Installing Inkwell\n### Where Inkwell keeps your files\nhere\n### Uninstalling\nno\n"
    text = user_guide.sections(readme)
    assert text == "## Writing with Inkwell\nwrite\n### Keys\nkeys\n## Where Inkwell keeps your files\nhere"


def test_missing_readme_is_said(tmp_path):
    text = user_guide.guide_markdown(tmp_path / "README.md")
    assert "The user guide is missing" in text and str(tmp_path / "README.md") in text


def test_pictures_that_are_not_there_are_left_out(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.png").write_bytes(b"png")
    readme = tmp_path / "README.md"
    readme.write_text("## Writing with Inkwell\n![shown](docs/here.png)\n![gone](docs/gone.png)\n")
    text = user_guide.guide_markdown(readme)
    assert "![shown](docs/here.png)" in text and "gone" not in text


@pytest.fixture
def window(quiet_window):
    return quiet_window


def test_help_menu_opens_the_guide_from_the_readme(qtbot, window):
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    names = [a.objectName() for a in help_menu.actions()]
    assert names[0] == "user_guide" and "openLogFolder" in names
    qtbot.keyClick(window.editor, Qt.Key.Key_F1)
    guide = window.user_guide
    assert guide.isVisible()
    shown = guide.browser.toPlainText()
    readme = Path(user_guide.README).read_text()
    assert "Inkwell user guide" in shown and "Writing with Inkwell" in shown
    assert "Find and replace" in shown and "Spelling" in shown and "Fine-tuning on your own texts" in shown
    assert "Training and fine-tuning" in readme and "Training and fine-tuning" not in shown  # for developers
    pictures = [f.charFormat().toImageFormat() for f in fragments(guide.browser.document())
                if f.charFormat().isImageFormat()]
    assert pictures and all(p.width() <= user_guide.PICTURE_WIDTH for p in pictures)
    assert any(p.width() == user_guide.PICTURE_WIDTH for p in pictures)  # a full window, fitted


def fragments(document):
    block = document.begin()
    while block.isValid():
        pieces = block.begin()
        while not pieces.atEnd():
            yield pieces.fragment()
            pieces += 1
        block = block.next()
