"""Markdown files look like Markdown (headings, emphasis, lists lightly highlighted) and are saved
exactly as typed; other files are plain."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

from app import markdown


def kinds(line, in_fence=False):
    spans, after = markdown.line_spans(line, in_fence)
    return {(line[s:s + n], kind) for s, n, kind in spans}, after


def test_line_shapes():
    found, _ = kinds("## A heading")
    assert ("## A heading", markdown.HEADING) in found and ("##", markdown.MARKER) in found
    assert kinds("#hashtag")[0] == set()  # not a heading without the space
    found, _ = kinds("Some *soft* and **loud** words, and `code *not emphasis*`.")
    assert ("*soft*", markdown.EMPHASIS) in found and ("**loud**", markdown.STRONG) in found
    assert ("`code *not emphasis*`", markdown.CODE) in found
    assert not any(kind == markdown.EMPHASIS and "not" in text for text, kind in found)
    assert ("-", markdown.MARKER) in kinds("  - an item")[0]
    assert ("12.", markdown.MARKER) in kinds("12. an item")[0]
    assert kinds("snake_case_name and 2*3*4")[0] == set()  # no emphasis inside words
    found, _ = kinds("> quoted")
    assert (">", markdown.MARKER) in found and ("> quoted", markdown.QUOTE) in found


def test_fenced_code_carries_from_line_to_line():
    assert kinds("```python")[1] is True
    found, inside = kinds("# not a heading", in_fence=True)
    assert found == {("# not a heading", markdown.CODE)} and inside
    assert kinds("```", in_fence=True)[1] is False


def test_suffixes():
    assert markdown.is_markdown("notes.md") and markdown.is_markdown("/a/B.MARKDOWN")
    assert not markdown.is_markdown("notes.txt") and not markdown.is_markdown(None)


@pytest.fixture
def window(quiet_window):
    return quiet_window


def formats_of(block):
    text = block.text()
    return {(text[r.start:r.start + r.length], r.format.fontWeight() == QFont.Weight.Bold,
             r.format.fontItalic()) for r in block.layout().formats()}


def test_markdown_file_is_highlighted_and_saved_as_typed(qtbot, window, tmp_path):
    source = "# Title\n\nIt was *very* cold.\n\n- one\n- two\n\n```\n# code\n```\n"
    path = tmp_path / "chapter.md"
    path.write_text(source)
    assert window.files.load_file(str(path))
    doc = window.editor.document()
    assert {("#", True, False), (" Title", True, False)} <= formats_of(doc.findBlockByNumber(0))
    assert ("*very*", False, True) in formats_of(doc.findBlockByNumber(2))
    assert any(text == "-" for text, *_ in formats_of(doc.findBlockByNumber(4)))
    assert not any(bold for _, bold, _ in formats_of(doc.findBlockByNumber(8)))  # "# code" in a fence

    cursor = window.editor.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    window.editor.setTextCursor(cursor)
    qtbot.keyClicks(window.editor, "## More **bold** _words_")
    qtbot.keyClick(window.editor, Qt.Key.Key_Return)
    qtbot.keyClicks(window.editor, "* item")
    last = doc.lastBlock().previous()
    shown = formats_of(last)
    assert ("##", True, False) in shown and ("_words_", True, True) in shown
    assert window.files.save()
    assert path.read_bytes() == (source + "## More **bold** _words_\n* item").encode()


def test_plain_text_files_are_not_highlighted(qtbot, window, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("# Not a title\n*not emphasis*\n")
    assert window.files.load_file(str(path))
    assert window.editor.document().firstBlock().layout().formats() == []
    # Saved under a Markdown name, the same text looks like Markdown.
    assert window.files.write(str(tmp_path / "notes.md"))
    qtbot.waitUntil(lambda: not window.highlighter.rechecking)
    assert (" Not a title", True, False) in formats_of(window.editor.document().firstBlock())
