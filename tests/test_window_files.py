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
    assert w.files.load_file(str(path))
    assert w.editor.toPlainText() == CJK  # today: Windows-1252 mojibake, saved over the file as UTF-8
    assert "UTF-16" in w.notice_bar.label.text() and "guess" in w.notice_bar.label.text()
    assert w.status.format_label.text() == "UTF-16 LE? · LF"
    type_text(w, "。")
    assert w.files.save()
    assert path.read_bytes() == ("。" + CJK).encode("utf-16-le")


def test_crlf_line_ends_are_kept_and_shown(qtbot, window, tmp_path):
    path = tmp_path / "windows.txt"
    path.write_bytes(b"First line\r\nSecond line\r\n")
    w = window()
    w.files.load_file(str(path))
    assert w.status.format_label.text() == "UTF-8 · CRLF" and "CRLF line ends" in w.statusBar().currentMessage()
    qtbot.keyClicks(w.editor, "New ")
    assert w.files.save()
    assert path.read_bytes() == b"New First line\r\nSecond line\r\n"  # today: LF throughout, silently


def test_no_break_spaces_and_line_separators_survive_a_save(qtbot, window, tmp_path):
    text = "« Bonjour » dit-il\u00a0: « déjà\u202f? »\u2028suite\n"
    path = tmp_path / "fr.txt"
    path.write_text(text, encoding="utf-8")
    w = window()
    w.files.load_file(str(path))
    qtbot.keyClicks(w.editor, "X")
    assert w.files.save()
    assert path.read_text(encoding="utf-8") == "X" + text  # toPlainText() made them plain spaces


def test_a_character_the_encoding_cannot_hold_asks_before_converting(qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "old.txt"
    data = "café\r\n".encode("cp1252")
    path.write_bytes(data)
    w = window()
    w.files.load_file(str(path))
    type_text(w, "→ ")
    asked = answer_box(monkeypatch, "Cancel")
    assert not w.files.save() and "Windows-1252" in asked[0]
    assert path.read_bytes() == data and w.editor.document().isModified()
    answer_box(monkeypatch, "Save as UTF-8")
    assert w.files.save()
    assert path.read_bytes() == "→ café\r\n".encode() and w.status.format_label.text() == "UTF-8 · CRLF"


# --- a full disk ---------------------------------------------------------------------------------


def test_a_full_disk_is_named_and_the_text_kept(qtbot, window, small_disk, monkeypatch):
    path = small_disk / "story.txt"
    path.write_text("precious", encoding="utf-8")
    (small_disk / "filler").write_bytes(b"x" * (256 * 1024 - 8192))
    w = window()
    w.files.load_file(str(path))
    type_text(w, "A long new beginning. " * 20000)
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    assert not w.files.save()
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
    w.files.load_file(str(path))
    qtbot.keyClicks(w.editor, "My edit. ")
    _write_from_another_process(path, "Their version.", how)
    qtbot.waitUntil(lambda: "changed by another program" in w.notice_bar.label.text(), timeout=10000)
    assert w.editor.toPlainText() == "My edit. Our first draft."  # ours is untouched

    asked = answer_box(monkeypatch, "Cancel")
    assert not w.files.save() and "changed by another program" in asked[0]
    assert path.read_text() == "Their version."  # today: silently overwritten

    other = tmp_path / "mine.txt"
    monkeypatch.setattr("app.ui.files.QFileDialog.getSaveFileName", lambda *a, **k: (str(other), ""))
    answer_box(monkeypatch, "Save As…")
    assert w.files.save()
    assert path.read_text() == "Their version." and other.read_text() == "My edit. Our first draft."


def test_overwrite_and_reload_are_the_writers_choice(qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "shared.txt"
    path.write_text("Start.", encoding="utf-8")
    w = window()
    w.files.load_file(str(path))
    qtbot.keyClicks(w.editor, "Mine. ")
    _write_from_another_process(path, "Theirs.")
    answer_box(monkeypatch, "Overwrite")
    assert w.files.save() and path.read_text() == "Mine. Start."
    assert w.files.save()  # our own save is not "another program": no question now
    qtbot.keyClicks(w.editor, "More. ")
    _write_from_another_process(path, "Theirs again.")
    answer_box(monkeypatch, "Reload")
    assert not w.files.save()
    assert w.editor.toPlainText() == "Theirs again." and not w.editor.document().isModified()


def test_an_unmodified_document_follows_the_file(qtbot, window, tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("one", encoding="utf-8")
    w = window()
    w.files.load_file(str(path))
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
    assert w.files.save() and path.read_text() == "four back again"


def test_two_windows_on_one_file_never_lose_either_text(qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "together.txt"
    path.write_text("Shared start.", encoding="utf-8")
    a, b = window(), window()
    a.files.load_file(str(path))
    b.files.load_file(str(path))
    qtbot.keyClicks(a.editor, "A wrote this. ")
    qtbot.keyClicks(b.editor, "B wrote that. ")
    assert a.files.save()
    asked = answer_box(monkeypatch, "Cancel")
    assert not b.files.save() and len(asked) == 1
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
window.files.load_file(sys.argv[1])
QTest.keyClicks(window.editor, "Second Inkwell was here. ")
assert window.files.save()
window.close()
print("saved", flush=True)
"""


@pytest.mark.slow
def test_a_second_inkwell_saving_the_same_file_is_noticed(qtbot, window, tmp_path, monkeypatch, inkwell_home):
    path = tmp_path / "novel.txt"
    path.write_text("Chapter one.", encoding="utf-8")
    w = window()
    w.files.load_file(str(path))
    qtbot.keyClicks(w.editor, "First Inkwell typing. ")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INKWELL_HOME": str(inkwell_home)}
    done = subprocess.run([sys.executable, "-c", SECOND_INKWELL, str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "saved", done.stderr
    assert path.read_text() == "Second Inkwell was here. Chapter one."
    asked = answer_box(monkeypatch, "Cancel")
    assert not w.files.save() and asked
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
    assert w.files.load_file(str(story))  # records a recent file: today an abort (rc 134)
    w.settings.set("theme", "dark")
    assert w.settings["theme"] == "dark"
    w.files.autosave()


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


# --- issue 22: saving never writes where the writer did not mean ----------------------------------


def _swap_for_link(path: Path, target: Path) -> None:
    """Another program replaces ``path`` with a symbolic link to ``target`` (atomically)."""
    link = path.with_name(path.name + ".link")
    link.symlink_to(target)
    os.replace(link, path)


def test_a_file_swapped_for_a_link_is_never_written_through(qtbot, window, tmp_path, monkeypatch):
    path, victim = tmp_path / "doc.txt", tmp_path / "victim.txt"
    path.write_text("My draft.", encoding="utf-8")
    victim.write_text("Someone else's file.", encoding="utf-8")
    w = window()
    w.files.load_file(str(path))
    type_text(w, "Edited. ")
    _swap_for_link(path, victim)
    asked = answer_box(monkeypatch, "Cancel")
    assert not w.files.save()  # today: saved, into victim.txt, without a question
    assert asked and "link" in asked[0] and str(victim) in asked[0]
    assert victim.read_text() == "Someone else's file." and path.is_symlink()
    answer_box(monkeypatch, "Replace the link")
    assert w.files.save()
    assert not path.is_symlink() and path.read_text() == "Edited. My draft."
    assert victim.read_text() == "Someone else's file."


def test_save_as_asks_before_the_added_extension_overwrites_a_file(qtbot, window, tmp_path, monkeypatch):
    notes = tmp_path / "notes.txt"
    notes.write_text("Precious notes.", encoding="utf-8")
    w = window()
    type_text(w, "A new text.")
    monkeypatch.setattr("app.ui.files.QFileDialog.getSaveFileName", lambda *a, **k: (str(tmp_path / "notes"), ""))
    asked = answer_box(monkeypatch, "Cancel")
    assert not w.files.save()  # today: notes.txt replaced without a question
    assert asked and "notes.txt" in asked[0] and "already exists" in asked[0]
    assert notes.read_text() == "Precious notes." and w.editor.document().isModified()
    answer_box(monkeypatch, "Replace")
    assert w.files.save() and notes.read_text() == "A new text." and w.files.path == str(notes)


@pytest.mark.parametrize("kind", ["fifo", "device", "link-to-device"])
def test_save_as_onto_a_pipe_or_device_is_refused(qtbot, window, tmp_path, monkeypatch, kind):
    if kind == "fifo":
        target = tmp_path / "pipe.txt"
        os.mkfifo(target)
    else:
        target = tmp_path / "device.txt"
        try:  # a device node of its own: should the refusal break, only this node is replaced
            os.mknod(target, 0o020666, os.makedev(1, 3))
        except OSError as exc:
            pytest.skip(f"cannot make a device node here: {exc}")
        if kind == "link-to-device":
            (tmp_path / "link.txt").symlink_to(target)
    chosen = tmp_path / ("link.txt" if kind == "link-to-device" else target.name)
    w = window()
    type_text(w, "Text.")
    monkeypatch.setattr("app.ui.files.QFileDialog.getSaveFileName", lambda *a, **k: (str(chosen), ""))
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    assert not w.files.save()
    assert warned and "not a regular file" in warned[0] and "still here" in warned[0]
    mode = os.lstat(target).st_mode
    assert (mode & 0o170000) in (0o010000, 0o020000)  # still the pipe or the device
    assert w.editor.document().isModified() and w.files.path is None


IN_PLACE = """
import os, sys
from app.documents import FolderReadOnly, read_text, save_text
path = sys.argv[1]
loaded = read_text(path)
try:
    save_text(path, "new text", loaded.format)
except FolderReadOnly as exc:
    print("ASKED:", exc)
state = save_text(path, "new text", loaded.format, in_place=True)
print("SAVED", open(path).read(), state.size == os.stat(path).st_size)
"""


def test_a_read_only_folder_offers_to_write_into_the_file(tmp_path, unprivileged):
    folder = tmp_path / "shared"
    folder.mkdir()
    path = folder / "doc.txt"
    path.write_text("old text that is longer", encoding="utf-8")
    os.chmod(folder, 0o555)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    try:
        done = subprocess.run([*unprivileged, sys.executable, "-c", IN_PLACE, str(path)], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    finally:
        os.chmod(folder, 0o755)
    assert done.returncode == 0, done.stderr  # today: "cannot be saved: permission denied", no way out
    assert "ASKED:" in done.stdout and "read-only" in done.stdout
    assert "SAVED new text True" in done.stdout
    assert path.read_text() == "new text" and sorted(p.name for p in folder.iterdir()) == ["doc.txt"]


def test_the_window_asks_before_writing_into_the_file(qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "doc.txt"
    path.write_text("old", encoding="utf-8")
    w = window()
    w.files.load_file(str(path))
    type_text(w, "new ")

    def no_folder(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    real_access = os.access
    monkeypatch.setattr("core.fileio.tempfile.mkstemp", no_folder)
    monkeypatch.setattr("app.documents.os.access", lambda p, m: p != str(tmp_path) and real_access(p, m))
    asked = answer_box(monkeypatch, "Cancel")
    assert not w.files.save() and "half" in asked[0] and path.read_text() == "old"
    answer_box(monkeypatch, "Write into the file")
    assert w.files.save() and path.read_text() == "new old" and not w.editor.document().isModified()


def test_autosave_on_a_full_disk_is_a_notice_until_it_works_again(qtbot, window, monkeypatch):
    import errno

    from app.recovery import SnapshotSlot

    w = window()
    type_text(w, "Unsaved words.")
    real_write = SnapshotSlot.write

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(SnapshotSlot, "write", full)
    w.files.autosave()
    assert "Autosave failed" in w.notice_bar.label.text()  # today: a status-bar message for 10 s
    assert "the disk is full" in w.notice_bar.label.text() and w.notice_bar.isVisible()
    type_text(w, " More.")
    w.files.autosave()  # failing again: still one notice
    assert w.notice_bar.label.text().count("Autosave failed") == 1
    monkeypatch.setattr(SnapshotSlot, "write", real_write)
    type_text(w, " And more.")
    w.files.autosave()
    assert "Autosave failed" not in w.notice_bar.label.text()


def test_characters_the_editor_turns_into_line_breaks_are_named(qtbot, window, tmp_path):
    path = tmp_path / "odd.txt"
    path.write_text("one\u2029two\ufdd0three\ufdd1four", encoding="utf-8")
    w = window()
    w.files.load_file(str(path))
    notice = w.notice_bar.label.text()
    assert "U+2029" in notice and "U+FDD0" in notice and "U+FDD1" in notice  # today: silently lost
    assert "line break" in notice


# --- issue 22: hostile inputs around saving ------------------------------------------------------


def test_a_file_deleted_before_saving_is_written_again(qtbot, window, tmp_path):
    path = tmp_path / "gone.txt"
    path.write_text("text", encoding="utf-8")
    w = window()
    w.files.load_file(str(path))
    type_text(w, "more ")
    path.unlink()
    assert w.files.save() and path.read_text() == "more text"


def test_a_folder_in_place_of_the_file_is_never_replaced(qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "doc.txt"
    path.write_text("text", encoding="utf-8")
    w = window()
    w.files.load_file(str(path))
    type_text(w, "more ")
    path.unlink()
    path.mkdir()
    (path / "inside.txt").write_text("keep")
    answer_box(monkeypatch, "Overwrite")
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    assert not w.files.save()
    assert "a folder" in warned[0] and (path / "inside.txt").read_text() == "keep"
    assert w.editor.document().isModified()


def test_a_loop_of_links_in_place_of_the_file_is_asked_about(qtbot, window, tmp_path, monkeypatch):
    path = tmp_path / "doc.txt"
    path.write_text("text", encoding="utf-8")
    w = window()
    w.files.load_file(str(path))
    type_text(w, "more ")
    path.unlink()
    path.symlink_to(path)  # a link to itself
    asked = answer_box(monkeypatch, "Replace the link")
    assert w.files.save() and "link" in asked[0]
    assert not path.is_symlink() and path.read_text() == "more text"


def test_a_folder_swapped_for_a_link_is_asked_about_and_never_written_through(qtbot, window, tmp_path,
                                                                              monkeypatch):
    folder, elsewhere = tmp_path / "book", tmp_path / "elsewhere"
    folder.mkdir()
    elsewhere.mkdir()
    (folder / "doc.txt").write_text("mine", encoding="utf-8")
    (elsewhere / "doc.txt").write_text("theirs", encoding="utf-8")
    w = window()
    w.files.load_file(str(folder / "doc.txt"))
    type_text(w, "edit ")
    folder.rename(tmp_path / "book-moved")
    folder.symlink_to(elsewhere)
    offered = []

    def exec_(box):
        offered.extend(b.text() for b in box.buttons())
        next(b for b in box.buttons() if b.text() == "Cancel").click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    assert not w.files.save()
    assert "Replace the link" not in offered and "Save As…" in offered  # a link in place of a folder
    assert (elsewhere / "doc.txt").read_text() == "theirs"


def test_save_as_a_name_whose_txt_is_a_folder_is_refused(qtbot, window, tmp_path, monkeypatch):
    (tmp_path / "notes.txt").mkdir()
    w = window()
    type_text(w, "text")
    monkeypatch.setattr("app.ui.files.QFileDialog.getSaveFileName", lambda *a, **k: (str(tmp_path / "notes"), ""))
    answer_box(monkeypatch, "Replace")
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    assert not w.files.save() and "a folder" in warned[0] and (tmp_path / "notes.txt").is_dir()


def test_save_as_into_a_missing_folder_says_so(qtbot, window, tmp_path, monkeypatch):
    w = window()
    type_text(w, "text")
    target = tmp_path / "no-such-folder" / "a.txt"
    monkeypatch.setattr("app.ui.files.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    assert not w.files.save() and "no such file or folder" in warned[0]


READ_ONLY_FILE = """
import sys
from app.documents import DocumentError, FolderReadOnly, read_text, save_text
path = sys.argv[1]
try:
    save_text(path, "new", read_text(path).format)
except FolderReadOnly:
    print("WRONG: offered to write into a read-only file")
except DocumentError as exc:
    print("REFUSED:", exc)
"""


def test_a_read_only_file_is_refused_and_never_written_into(tmp_path, unprivileged):
    path = tmp_path / "locked.txt"
    path.write_text("old", encoding="utf-8")
    os.chmod(path, 0o444)
    done = subprocess.run([*unprivileged, sys.executable, "-c", READ_ONLY_FILE, str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert "REFUSED:" in done.stdout and "read-only" in done.stdout, done.stdout + done.stderr
    assert path.read_text() == "old"


def test_saving_clears_a_lasting_autosave_notice(qtbot, window, tmp_path, monkeypatch):
    import errno

    from app.recovery import SnapshotSlot

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    w = window()
    type_text(w, "words")
    monkeypatch.setattr(SnapshotSlot, "write", full)
    w.files.autosave()
    assert "Autosave failed" in w.notice_bar.label.text()
    monkeypatch.setattr("app.ui.files.QFileDialog.getSaveFileName", lambda *a, **k: (str(tmp_path / "a.txt"), ""))
    assert w.files.save()  # nothing unsaved: nothing autosave could lose
    assert "Autosave failed" not in w.notice_bar.label.text()


def test_notices_about_a_file_go_when_another_text_replaces_it(qtbot, window, tmp_path):
    """Issue 22: "… was read as UTF-16" stayed for the next file and for a new document, and the
    notices of each file opened stacked up."""
    first, second, plain = tmp_path / "first.txt", tmp_path / "second.txt", tmp_path / "plain.txt"
    first.write_bytes(CJK.encode("utf-16-le"))
    second.write_bytes(CJK.encode("utf-16-le"))
    plain.write_text("Plain UTF-8.\n", encoding="utf-8")
    w = window()
    w.show_notice("Settings: a value was reset")  # about no document: it stays
    assert w.files.load_file(str(first)) and "first.txt was read as UTF-16" in w.notice_bar.label.text()
    assert w.files.load_file(str(second))
    assert "first.txt" not in w.notice_bar.label.text() and "second.txt was read as" in w.notice_bar.label.text()
    assert w.files.load_file(str(plain))
    assert w.notice_bar.label.text() == "Settings: a value was reset"
    assert w.files.load_file(str(first))
    w.files.new_file()
    assert w.notice_bar.label.text() == "Settings: a value was reset"
    w.notice_bar.dismiss()
    assert w.files.load_file(str(first))
    assert w.files.load_file(str(first))  # the same file again: one notice
    assert w.notice_bar.label.text().count("was read as") == 1 and w.notice_bar.isVisible()
    w.files.new_file()
    assert not w.notice_bar.isVisible()


# --- a name given on the command line ----------------------------------------------------------------


def test_a_name_that_is_not_a_file_yet_opens_a_new_document_saved_under_it(qtbot, window, tmp_path):
    w = window()
    target = tmp_path / "chapter one.txt"
    w.start(str(target))
    assert w.editor.toPlainText() == "" and w.files.path == str(target.resolve())
    assert not target.exists()  # nothing written until the writer saves
    assert "chapter one.txt" in w.windowTitle()
    type_text(w, "It begins.")
    assert w.files.save()
    assert target.read_text(encoding="utf-8") == "It begins."


def test_a_name_in_a_folder_that_does_not_exist_is_an_error_not_a_new_file(qtbot, window, tmp_path, monkeypatch):
    warned = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warned.append(a[2]))
    w = window()
    w.start(str(tmp_path / "no such folder" / "story.txt"))
    assert warned and "story.txt" in warned[0]
    assert w.files.path is None
