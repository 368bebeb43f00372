"""Autosave and recovery: a real editor process is killed, the next start offers its text."""

from __future__ import annotations

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
        try:
            texts.append(json.loads(file.read_text(encoding="utf-8"))["text"])
        except (OSError, ValueError):
            pass
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
        window.offer_recovery()
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
        window.offer_recovery()
        assert len(asked) == 1 and window.editor.toPlainText() == ""
        window.offer_recovery()
        assert len(asked) == 1
    finally:
        _close(window)


def test_autosave_writes_only_unsaved_changes(qtbot, tmp_path):
    window = _window()
    try:
        window.autosave()
        assert _snapshot_texts() == []
        qtbot.keyClicks(window.editor, "Some words")
        window.autosave()
        assert _snapshot_texts() == ["Some words"]
        window._write(str(tmp_path / "saved.txt"))
        assert _snapshot_texts() == []  # saved: nothing to recover
    finally:
        _close(window)
