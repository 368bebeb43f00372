"""The window and the files it edits: encodings and line ends kept, other writers noticed, a full
disk named, an unwritable config folder survived."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.settings import Settings
from app.ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parent.parent
CJK = "扊型瑪心麈隠駼褭涟尷" * 30


@pytest.fixture
def window(qtbot):
    windows = []

    def make() -> MainWindow:
        w = MainWindow(Settings.load())
        w.show()
        qtbot.waitExposed(w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.editor.document().setModified(False)
        w.close()
        w.deleteLater()


def answer_box(monkeypatch, button_text: str) -> list[str]:
    """Every QMessageBox built with buttons is answered by clicking ``button_text``."""
    asked = []

    def exec_(box):
        asked.append(box.text())
        next(b for b in box.buttons() if b.text() == button_text).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return asked


def type_text(w: MainWindow, text: str) -> None:
    w.editor.textCursor().insertText(text)  # as typing does (QTest types ASCII only)


# --- encodings and line ends ---------------------------------------------------------------------


def test_utf16_cjk_without_a_mark_is_opened_and_saved_without_loss(qtbot, window, tmp_path):
    path = tmp_path / "cjk.txt"
    path.write_bytes(CJK.encode("utf-16-le"))
    w = window()
    assert w.load_file(str(path))
    assert w.editor.toPlainText() == CJK  # today: Windows-1252 mojibake, saved over the file as UTF-8
    assert "UTF-16" in w.notice_bar.label.text() and "guess" in w.notice_bar.label.text()
    assert w.format_label.text() == "UTF-16 LE? · LF"
    type_text(w, "。")
    assert w.save()
    assert path.read_bytes() == ("。" + CJK).encode("utf-16-le")


def test_crlf_line_ends_are_kept_and_shown(qtbot, window, tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes(b"First line\r\nSecond line\r\n")
    w = window()
    w.load_file(str(path))
    assert w.format_label.text() == "UTF-8 · CRLF" and "CRLF line ends" in w.statusBar().currentMessage()
    qtbot.keyClicks(w.editor, "New ")
    assert w.save()
    assert path.read_bytes() == b"New First line\r\nSecond line\r\n"  # today: LF throughout, silently


def test_no_break_spaces_and_line_separators_survive_a_save(qtbot, window, tmp_path):
    text = "« Bonjour » dit-il\u00a0: « déjà\u202f? »\u2028suite\n"
    path = tmp_path / "fr.txt"
    path.write_text(text, encoding="utf-8")
    w = window()
    w.load_file(str(path))
    qtbot.keyClicks(w.editor, "X")
    assert w.save()
    assert path.read_text(encoding="utf-8") == "X" + text  # toPlainText() made them plain spaces


def test_a_character_the_encoding_cannot_hold_asks_before_converting(qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "old.txt"
    data = "café\r\n".encode("cp1252")
    path.write_bytes(data)
    w = window()
    w.load_file(str(path))
    type_text(w, "→ ")
    asked = answer_box(monkeypatch, "Cancel")
    assert not w.save() and "Windows-1252" in asked[0]
    assert path.read_bytes() == data and w.editor.document().isModified()
    answer_box(monkeypatch, "Save as UTF-8")
    assert w.save()
    assert path.read_bytes() == "→ café\r\n".encode() and w.format_label.text() == "UTF-8 · CRLF"


# --- a full disk ---------------------------------------------------------------------------------


def test_a_full_disk_is_named_and_the_text_kept(qtbot, window, small_disk, monkeypatch):
    path = small_disk / "story.txt"
    path.write_text("precious", encoding="utf-8")
    (small_disk / "filler").write_bytes(b"x" * (256 * 1024 - 8192))
    w = window()
    w.load_file(str(path))
    type_text(w, "A long new beginning. " * 20000)
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    assert not w.save()
    assert "the disk is full" in warned[0] and "still here" in warned[0]  # today: "(Unknown error)"
    assert path.read_text(encoding="utf-8") == "precious" and w.editor.document().isModified()


# --- another writer ------------------------------------------------------------------------------


def _write_from_another_process(path: Path, text: str, how: str = "replace") -> None:
    """A real second writer: another program rewrites the file, in place or by renaming a new one over it."""
    code = textwrap.dedent(f"""
        import os, sys
        path, text = sys.argv[1], sys.argv[2]
        if {how!r} == "replace":
            with open(path + ".new", "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(path + ".new", path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        """)
    subprocess.run([sys.executable, "-c", code, str(path), text], check=True, timeout=60)


@pytest.mark.parametrize("how", ["replace", "in place"])
def test_save_asks_when_another_program_changed_the_file(qtbot, window, tmp_path, monkeypatch, how):
    path = tmp_path / "shared.txt"
    path.write_text("Our first draft.", encoding="utf-8")
    w = window()
    w.load_file(str(path))
    qtbot.keyClicks(w.editor, "My edit. ")
    _write_from_another_process(path, "Their version.", how)
    qtbot.waitUntil(lambda: "changed by another program" in w.notice_bar.label.text(), timeout=10000)
    assert w.editor.toPlainText() == "My edit. Our first draft."  # ours is untouched

    asked = answer_box(monkeypatch, "Cancel")
    assert not w.save() and "changed by another program" in asked[0]
    assert path.read_text() == "Their version."  # today: silently overwritten

    other = tmp_path / "mine.txt"
    monkeypatch.setattr("app.ui.files.QFileDialog.getSaveFileName", lambda *a, **k: (str(other), ""))
    answer_box(monkeypatch, "Save As…")
    assert w.save()
    assert path.read_text() == "Their version." and other.read_text() == "My edit. Our first draft."


def test_overwrite_and_reload_are_the_writers_choice(qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "shared.txt"
    path.write_text("Start.", encoding="utf-8")
    w = window()
    w.load_file(str(path))
    qtbot.keyClicks(w.editor, "Mine. ")
    _write_from_another_process(path, "Theirs.")
    answer_box(monkeypatch, "Overwrite")
    assert w.save() and path.read_text() == "Mine. Start."
    assert w.save()  # our own save is not "another program": no question now
    qtbot.keyClicks(w.editor, "More. ")
    _write_from_another_process(path, "Theirs again.")
    answer_box(monkeypatch, "Reload")
    assert not w.save()
    assert w.editor.toPlainText() == "Theirs again." and not w.editor.document().isModified()


def test_an_unmodified_document_follows_the_file(qtbot, window, tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("one", encoding="utf-8")
    w = window()
    w.load_file(str(path))
    _write_from_another_process(path, "one two")
    qtbot.waitUntil(lambda: w.editor.toPlainText() == "one two", timeout=10000)
    _write_from_another_process(path, "one two three", "in place")  # still watched after the rename
    qtbot.waitUntil(lambda: w.editor.toPlainText() == "one two three", timeout=10000)
    path.unlink()
    qtbot.waitUntil(lambda: "deleted or moved" in w.notice_bar.label.text(), timeout=10000)
    assert w.editor.toPlainText() == "one two three"
    _write_from_another_process(path, "back again")  # the folder's watch sees it return
    qtbot.waitUntil(lambda: w.editor.toPlainText() == "back again", timeout=10000)
    qtbot.keyClicks(w.editor, "four ")
    assert w.save() and path.read_text() == "four back again"


def test_two_windows_on_one_file_never_lose_either_text(qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "together.txt"
    path.write_text("Shared start.", encoding="utf-8")
    a, b = window(), window()
    a.load_file(str(path))
    b.load_file(str(path))
    qtbot.keyClicks(a.editor, "A wrote this. ")
    qtbot.keyClicks(b.editor, "B wrote that. ")
    assert a.save()
    asked = answer_box(monkeypatch, "Cancel")
    assert not b.save() and len(asked) == 1
    assert path.read_text() == "A wrote this. Shared start."
    assert b.editor.toPlainText() == "B wrote that. Shared start."


# A second Inkwell, in its own process: opens the file, types, saves, quits.
SECOND_INKWELL = """
import sys
from PySide6.QtWidgets import QApplication
from PySide6.QtTest import QTest
app = QApplication([])
from app.settings import Settings
from app.ui.main_window import MainWindow
window = MainWindow(Settings.load())
window.show()
window.load_file(sys.argv[1])
QTest.keyClicks(window.editor, "Second Inkwell was here. ")
assert window.save()
window.close()
print("saved", flush=True)
"""


@pytest.mark.slow
def test_a_second_inkwell_saving_the_same_file_is_noticed(qtbot, window, tmp_path, monkeypatch, inkwell_home):
    path = tmp_path / "novel.txt"
    path.write_text("Chapter one.", encoding="utf-8")
    w = window()
    w.load_file(str(path))
    qtbot.keyClicks(w.editor, "First Inkwell typing. ")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INKWELL_HOME": str(inkwell_home)}
    done = subprocess.run([sys.executable, "-c", SECOND_INKWELL, str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "saved", done.stderr
    assert path.read_text() == "Second Inkwell was here. Chapter one."
    asked = answer_box(monkeypatch, "Cancel")
    assert not w.save() and asked
    assert path.read_text() == "Second Inkwell was here. Chapter one."


# --- an unwritable config folder -----------------------------------------------------------------


def test_a_config_folder_in_the_way_means_read_only_with_a_notice(qtbot, window, inkwell_home, tmp_path):
    inkwell_home.mkdir()
    (inkwell_home / "config").write_text("a file, not a folder")
    (inkwell_home / "state").write_text("a file, not a folder")  # no autosave either
    w = window()
    assert "not kept" in w.notice_bar.label.text() and "Autosave is off" in w.notice_bar.label.text()
    story = tmp_path / "story.txt"
    story.write_text("text", encoding="utf-8")
    assert w.load_file(str(story))  # records a recent file: today an abort (rc 134)
    w.settings.set("theme", "dark")
    assert w.settings["theme"] == "dark"
    w.autosave()


DRIVER_555 = """
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.ui.main_window import MainWindow
window = MainWindow()
window.show()
window.start(sys.argv[1])
window.settings.set("temperature", 1.0)
window.settings.set("theme", "dark")
while window.settings.pending:  # changes are written once they settle: the notice comes then
    app.processEvents()
print("NOTICE:", window.notice_bar.label.text().replace("\\n", " "), flush=True)
window.close()
print("closed", flush=True)
"""


@pytest.mark.slow
def test_a_chmod_555_config_folder_runs_read_only_without_tracebacks(tmp_path, unprivileged):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    os.chmod(home / "config", 0o555)
    story = tmp_path / "story.txt"
    story.write_text("text", encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INKWELL_HOME": str(home)}
    try:
        done = subprocess.run([*unprivileged, sys.executable, "-c", DRIVER_555, str(story)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    finally:
        os.chmod(home / "config", 0o755)
    assert done.returncode == 0, done.stderr  # today: 134, an abort when the recent file is recorded
    assert "Traceback" not in done.stderr and "closed" in done.stdout
    assert "Settings cannot be saved" in done.stdout and "permission denied" in done.stdout
    assert not list((home / "config").iterdir())
