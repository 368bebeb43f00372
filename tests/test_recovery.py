"""Autosave and recovery: a real editor process is killed, the next start offers its text."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.recovery import autosave_dir, orphaned_snapshots
from app.settings import Settings
from app.ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parent.parent
TEXT = "Call me Ishmael. Some years ago, never mind how long precisely"

# An editor that types, autosaves every second, and waits to be killed.
DRIVER = f"""
import sys
from PySide6.QtWidgets import QApplication
from PySide6.QtTest import QTest
app = QApplication([])
from app.settings import Settings
from app.ui.main_window import MainWindow
settings = Settings.load()
settings.update({{"autosave_s": 1, "auto_suggest": False}})
window = MainWindow(settings)
window.show()
QTest.keyClicks(window.editor, {TEXT!r})
print("typed", flush=True)
sys.exit(app.exec())
"""


def _snapshot_texts():
    texts = []
    for file in autosave_dir().glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            texts.append(json.loads(file.read_text(encoding="utf-8"))["text"])
    return texts


@pytest.fixture
def killed_editor(qtbot, inkwell_home):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INKWELL_HOME": str(inkwell_home)}
    process = subprocess.Popen([sys.executable, "-c", DRIVER], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "typed", process.stderr.read()
        qtbot.waitUntil(lambda: TEXT in _snapshot_texts(), timeout=20000)
        # while that editor runs, its snapshot is its own: nothing to recover
        assert orphaned_snapshots() == []
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=20)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def _answer_recovery(monkeypatch, button_text):
    asked = []

    def exec_(box):
        asked.append(box.text())
        next(b for b in box.buttons() if b.text() == button_text).click()
        return 0

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    return asked


def _window():
    window = MainWindow(Settings.load())
    window.show()
    return window


def _close(window):
    window.editor.document().setModified(False)
    window.close()
    window.deleteLater()


@pytest.mark.slow
def test_text_of_a_killed_editor_is_recovered(qtbot, killed_editor, monkeypatch):
    asked = _answer_recovery(monkeypatch, "Recover")
    window = _window()
    try:
        window.files.offer_recovery()
        assert len(asked) == 1 and "Untitled" in asked[0]
        assert window.editor.toPlainText() == TEXT
        assert window.editor.document().isModified()  # recovered, not yet saved anywhere
        # the recovered text now sits in this editor's own slot; the old snapshot is gone
        assert orphaned_snapshots() == []
        assert _snapshot_texts() == [TEXT]
    finally:
        _close(window)
    # a clean close leaves nothing to recover
    assert _snapshot_texts() == []


@pytest.mark.slow
def test_discarded_snapshot_is_not_offered_again(qtbot, killed_editor, monkeypatch):
    asked = _answer_recovery(monkeypatch, "Discard")
    window = _window()
    try:
        window.files.offer_recovery()
        assert len(asked) == 1 and window.editor.toPlainText() == ""
        window.files.offer_recovery()
        assert len(asked) == 1
    finally:
        _close(window)


def test_autosave_writes_only_unsaved_changes(qtbot, tmp_path):
    window = _window()
    try:
        window.files.autosave()
        assert _snapshot_texts() == []
        qtbot.keyClicks(window.editor, "Some words")
        window.files.autosave()
        assert _snapshot_texts() == ["Some words"]
        window.files.write(str(tmp_path / "saved.txt"))
        assert _snapshot_texts() == []  # saved: nothing to recover
    finally:
        _close(window)


# An editor's autosave that dies: it takes a slot, writes a snapshot (or the given JSON instead),
# leaves a half-written temporary file as a kill during a write does, and exits without cleaning up.
DYING = """
import os, sys
from pathlib import Path
from app.recovery import SnapshotSlot
slot = SnapshotSlot()
if sys.argv[1] == "good":
    slot.write("Text worth saving", "")
elif sys.argv[1] != "none":
    slot.file.write_bytes(Path(sys.argv[1]).read_bytes())
(slot.file.parent / f".{slot.id}.json.k1ll3d00.tmp").write_text('{"version": 1, "text": "half')
print(slot.id, flush=True)
os._exit(0)
"""


def _dying_editor(inkwell_home, what: str) -> str:
    """``what``: "good", "none", or the JSON the snapshot file holds instead."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "INKWELL_HOME": str(inkwell_home)}
    if what not in ("good", "none"):
        content = inkwell_home.parent / f"snapshot-{len(what)}-{hash(what)}.json"
        content.write_text(what)
        what = str(content)
    done = subprocess.run([sys.executable, "-c", DYING, what], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.slow
def test_one_damaged_snapshot_does_not_hide_the_others(inkwell_home):
    from app.recovery import scan_snapshots

    good = _dying_editor(inkwell_home, "good")
    nested = _dying_editor(inkwell_home, "[" * 100_000 + "]" * 100_000)
    huge_int = _dying_editor(inkwell_home, '{"text": "x", "saved_at": ' + "9" * 5000 + "}")
    listed = _dying_editor(inkwell_home, "[1, 2, 3]")
    snapshots, problems = scan_snapshots()  # today: RecursionError, and nothing is offered
    try:
        assert [s.text for s in snapshots] == ["Text worth saving"] and snapshots[0].file.stem == good
        assert len(problems) == 3 and any("nested too deeply" in p for p in problems)
        for slot in (nested, huge_int, listed):
            assert not (autosave_dir() / f"{slot}.json").exists()  # moved aside, kept for a person
            assert len(list(autosave_dir().glob(f"{slot}.json.bad-*"))) == 1
    finally:
        for s in snapshots:
            s.release()
    assert scan_snapshots()[1] == []  # said once


def test_temporary_files_of_dead_editors_are_removed_not_those_of_live_ones(inkwell_home):
    from app.recovery import SnapshotSlot, scan_snapshots

    dead = _dying_editor(inkwell_home, "none")
    assert (autosave_dir() / f".{dead}.json.k1ll3d00.tmp").exists()
    live = SnapshotSlot()
    writing = autosave_dir() / f".{live.id}.json.wr1t1ng0.tmp"
    writing.write_text("{half")
    try:
        scan_snapshots()
        assert not (autosave_dir() / f".{dead}.json.k1ll3d00.tmp").exists()
        assert writing.exists()  # its editor runs: it may be writing this right now
    finally:
        writing.unlink()
        live.close()


def test_a_recovered_file_keeps_its_encoding_and_is_checked_against_the_disk(qtbot, tmp_path, monkeypatch):
    path = tmp_path / "old.txt"
    path.write_bytes("café\r\n".encode("cp1252"))
    first = _window()
    first.files.load_file(str(path))
    first.editor.textCursor().insertText("Très ")  # (QTest types ASCII only)
    first.files.autosave()
    first.files._slot._lock.release()  # as if it had been killed: the slot is free for the next start
    path.write_bytes("changed elsewhere\r\n".encode("cp1252"))
    _answer_recovery(monkeypatch, "Recover")
    second = _window()
    try:
        second.files.offer_recovery()
        assert second.files.document_text() == "Très café\n" and second.files.path == str(path)
        assert second.files.format.encoding == "cp1252" and second.files.format.newline == "\r\n"
        asked = []
        monkeypatch.setattr(type(second.files), "_ask_changed_on_disk", lambda self: asked.append(1) or "overwrite")
        assert second.files.save() and asked == [1]  # the file changed after the snapshot: asked first
        assert path.read_bytes() == "Très café\r\n".encode("cp1252")
    finally:
        first.files._slot = None
        _close(first)
        _close(second)


@pytest.mark.parametrize("field", [{"saved_at": 1e300}, {"saved_at": -1e300}, {"path": "/tmp/doc.txt\u0000x"},
                                   {"path": "relative/doc.txt"}])
def test_a_snapshot_with_an_impossible_time_or_path_is_still_offered(inkwell_home, field):
    from app.recovery import scan_snapshots

    snapshot_file = autosave_dir() / f"{'0' * 32}.json"
    snapshot_file.write_text(json.dumps({"version": 1, "path": "/tmp/doc.txt", "saved_at": 1.7e9,
                                         "text": "Text worth saving", **field}))
    snapshots, problems = scan_snapshots()
    try:
        assert [s.text for s in snapshots] == ["Text worth saving"] and problems == []
        snapshot = snapshots[0]
        import time
        time.localtime(snapshot.saved_at)  # what the question shows: once an OverflowError
        assert "\x00" not in snapshot.document_path  # once a ValueError when it was read
        assert snapshot.document_path == "" or os.path.isabs(snapshot.document_path)
    finally:
        for s in snapshots:
            s.release()
