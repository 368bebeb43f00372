"""Text the editor cannot hold as it is, and the writer's Undo while a story streams in."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt

from app.ui.suggestions import SuggestionController
from app.ui.worker import Request

ODD = "one\u2029two\ufdd0three\ufdd1four"


def test_separators_opened_and_saved_or_pasted_are_said_never_silently_changed(qtbot, quiet_window, tmp_path):
    w = quiet_window
    path = tmp_path / "odd.txt"
    path.write_text(ODD, encoding="utf-8")
    w.files.load_file(str(path))
    qtbot.waitUntil(lambda: not w.files.loading)
    opened = w.notice_bar.label.text()
    assert "U+2029 (paragraph separator) (1), U+FDD0 (1), U+FDD1 (1)" in opened
    assert "Saving writes them as line breaks" in opened
    w.notice_bar.hide()
    assert w.files.write(str(tmp_path / "saved.txt"))
    assert (tmp_path / "saved.txt").read_text(encoding="utf-8") == "one\ntwo\nthree\nfour"  # as the notice said
    # pasted: the same characters, the same notice (the paste used to change them unsaid)
    w.notice_bar.label.setText("")
    pasted = QMimeData()
    pasted.setText(" five\u2029six")
    w.editor.moveCursor(w.editor.textCursor().MoveOperation.End)
    w.editor.insertFromMimeData(pasted)
    assert w.editor.toPlainText().endswith("four five\nsix")
    assert "The pasted text holds" in w.notice_bar.label.text()
    assert "U+2029 (paragraph separator) (1)" in w.notice_bar.label.text()


def test_undo_while_a_story_streams_stops_it_and_undoes_the_whole_passage_redo_brings_it_back(qtbot, editor):
    from app.settings import Settings

    controller = SuggestionController(editor, Settings.load())
    qtbot.keyClicks(editor, "Once upon a time")
    # the story, as the worker streams it (the controller fed its pieces directly)
    editor.begin_generated()
    story = controller._story = Request("story", "Once upon a time", controller.params("story"))
    for piece in (" there", " was", " a"):
        controller._piece(story, 0, piece)
    assert editor.toPlainText() == "Once upon a time there was a" and controller.writing
    qtbot.keyClick(editor, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not controller.writing and not editor.generating  # the story stopped first
    assert editor.toPlainText() == "Once upon a time"  # the whole passage, one step
    controller._piece(story, 0, " king.")  # a piece already on its way is dropped
    assert editor.toPlainText() == "Once upon a time"
    editor.redo()
    assert editor.toPlainText() == "Once upon a time there was a"  # all of it back
    editor.undo()
    assert editor.toPlainText() == "Once upon a time"
    controller.generator.shutdown()


def test_pasted_control_characters_are_left_out_and_said_so_the_saved_file_opens_again(qtbot, quiet_window, tmp_path):
    w = quiet_window
    path = tmp_path / "chapter.txt"
    path.write_text("My chapter.\n", encoding="utf-8")
    w.files.load_file(str(path))
    qtbot.waitUntil(lambda: not w.files.loading)
    pasted = QMimeData()
    pasted.setText("\x1b[1mbold\x1b[0m output\x00\x07\tand a tab\r\n")
    w.editor.insertFromMimeData(pasted)
    assert w.files.document_text() == "[1mbold[0m output\tand a tab\nMy chapter.\n"
    assert "4 control characters" in w.notice_bar.label.text()
    assert w.files.save()
    w.editor.document().setModified(False)
    assert w.files.load_file(str(path))  # today: "this is a binary file, not text" for its own saved file
