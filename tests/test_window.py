"""The main window with the tiny model: suggestions, keys, story mode, settings, files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QCheckBox, QMessageBox, QSpinBox

from app.settings import Settings
from app.ui.main_window import MainWindow


@pytest.fixture
def open_window(qtbot):
    windows = []

    def make(model: Path | str | None = None, wait_model: bool = True, **values) -> MainWindow:
        settings = Settings.load()
        if model is not None:
            values.setdefault("delay_ms", 30)
            values.setdefault("temperature", 0.0)  # greedy: the same text for the same prompt
            values.setdefault("show_suggestions", "often")  # a random tiny model is never sure
            values["model"] = str(model)
        settings.update(values)
        window = MainWindow(settings)  # closed below, not by qtbot: that close would prompt to save
        window.show()
        qtbot.waitExposed(window)
        if wait_model and model is not None:
            with qtbot.waitSignal(window.suggestions.generator.loaded, timeout=30000):
                window.start()
        else:
            window.start()
        window.editor.setFocus()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.editor.document().setModified(False)  # no unsaved-changes prompt at teardown
        window.close()
        window.deleteLater()


def type_and_wait_for_ghost(qtbot, window, text):
    qtbot.keyClicks(window.editor, text)
    qtbot.waitUntil(lambda: window.editor.ghost_text != "" and not window.suggestions.busy, timeout=10000)
    return window.editor.ghost_text


def test_typing_brings_ghost_text(qtbot, open_window, tiny_bundle):
    window = open_window(tiny_bundle)
    assert "tiny-test" in window.status.model_label.text()
    qtbot.keyClicks(window.editor, "It was a truth")
    # (the suggestion is asked for only once the event loop runs the pause timer, below)
    document = window.editor.document()
    document.setModified(False)
    revision, undo_steps = document.revision(), document.availableUndoSteps()
    qtbot.waitUntil(lambda: window.editor.ghost_text != "" and not window.suggestions.busy, timeout=10000)
    ghost = window.editor.ghost_text
    assert window.editor.toPlainText() == "It was a truth"
    # the ghost text is no edit: no change to the document, its undo history or its modified flag
    assert not document.isModified()
    assert (document.revision(), document.availableUndoSteps()) == (revision, undo_steps)
    assert window.status.speed_label.text().endswith("tok/s")
    # painted, not inserted: saving writes only what was typed
    assert ghost not in window.editor.toPlainText()


def test_tab_accepts_as_one_undo_step(qtbot, open_window, tiny_bundle):
    window = open_window(tiny_bundle)
    ghost = type_and_wait_for_ghost(qtbot, window, "It was a truth")
    qtbot.keyClick(window.editor, Qt.Key.Key_Tab)
    assert window.editor.toPlainText() == "It was a truth" + ghost
    window.editor.undo()
    assert window.editor.toPlainText() == "It was a truth"


def test_esc_and_cursor_move_dismiss(qtbot, open_window, tiny_bundle):
    window = open_window(tiny_bundle)
    type_and_wait_for_ghost(qtbot, window, "It was a truth")
    qtbot.keyClick(window.editor, Qt.Key.Key_Escape)
    assert window.editor.ghost_text == ""
    window.editor.ask_now()
    qtbot.waitUntil(lambda: window.editor.ghost_text != "", timeout=10000)
    qtbot.keyClick(window.editor, Qt.Key.Key_Home)
    assert window.editor.ghost_text == ""
    assert window.editor.toPlainText() == "It was a truth"


def test_typing_through_a_suggestion_needs_no_new_request(qtbot, open_window, tiny_bundle):
    window = open_window(tiny_bundle, length="tokens", suggestion_tokens=8)
    ghost = type_and_wait_for_ghost(qtbot, window, "It was a truth")
    qtbot.keyClicks(window.editor, ghost[:2])
    assert window.editor.ghost_text == ghost[2:]
    # the writer's pause comes (the timer's own signal): the suggestion shown is still wanted
    with qtbot.assertNotEmitted(window.suggestions.generator._generate):
        window.editor._debounce.timeout.emit()
    assert window.editor.ghost_text == ghost[2:]


def test_alternatives_cycle_and_list(qtbot, open_window, tiny_bundle):
    window = open_window(tiny_bundle, temperature=1.0, alternatives=3, seed=7)
    first = type_and_wait_for_ghost(qtbot, window, "She said")
    alternatives = window.editor.ghost_alternatives
    assert len(alternatives) == 3 and len(set(alternatives)) == 3
    qtbot.keyClick(window.editor, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.AltModifier)
    assert window.editor.ghost_text == alternatives[1]
    qtbot.keyClick(window.editor, Qt.Key.Key_BracketLeft, Qt.KeyboardModifier.AltModifier)
    assert window.editor.ghost_text == first
    window.show_alternatives()
    menu = window.alternatives_menu
    assert len(menu.actions()) == 3
    menu.actions()[2].trigger()
    assert window.editor.toPlainText() == "She said" + alternatives[2]


def test_no_model_editing_and_files_still_work(qtbot, open_window, tmp_path, monkeypatch):
    from core import paths
    # No model at all: the setting names a missing folder and no bundled model to fall back on.
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: tmp_path / "no-bundled-models")
    window = open_window(tmp_path / "missing-model", wait_model=False)
    qtbot.keyClicks(window.editor, "Plain writing")
    assert window.editor.toPlainText() == "Plain writing"
    assert "model" in window.status.model_label.text().lower()
    target = tmp_path / "plain.txt"
    window.files.write(str(target))
    assert target.read_text(encoding="utf-8") == "Plain writing"


def test_broken_model_is_reported(qtbot, open_window, tiny_bundle, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    onnx = broken / "model.int8.onnx"
    onnx.write_bytes(b"x" * onnx.stat().st_size)  # same size, so only loading it finds out
    window = open_window(broken, wait_model=False)
    with qtbot.waitSignal(window.suggestions.generator.load_failed, timeout=30000) as blocker:
        window.suggestions.load_model()
    assert "model.int8.onnx" in blocker.args[0]
    assert window.status.model_label.text() == "Model not loaded"
    assert "model.int8.onnx" in window.status.model_label.toolTip()
    assert "model.int8.onnx" in window.notice_bar.label.text()
    qtbot.keyClicks(window.editor, "Still writing")
    assert window.editor.toPlainText() == "Still writing"
    # a bundle whose files do not match its manifest is not even tried: the notice says why
    onnx.write_bytes(b"short")
    window.notice_bar.dismiss()
    window.suggestions.load_model()
    assert "model.int8.onnx" in window.notice_bar.label.text()


def test_story_continue_stop_and_retry(qtbot, open_window, tiny_bundle):
    window = open_window(tiny_bundle, auto_suggest=False, story_tokens=200, temperature=0.9)
    qtbot.keyClicks(window.editor, "Once upon a time")
    qtbot.keyClick(window.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.story_bar.isVisible() and window.story_bar.stop_button.isVisible()
    qtbot.waitUntil(lambda: len(window.editor.toPlainText()) > len("Once upon a time") + 5, timeout=10000)
    # The stopped request's result is the worker's last word on it (its pieces come before it).
    with qtbot.waitSignal(window.suggestions.generator.finished, timeout=20000) as stopped_result:
        window.story_bar.stop_button.click()
        assert not window.editor.generating
        stopped = window.editor.toPlainText()
    assert stopped_result.args[1].cancelled
    assert window.editor.toPlainText() == stopped  # nothing more arrives after Stop
    span = window.editor.generated_ranges()
    assert span == [(len("Once upon a time"), len(stopped))]
    assert window.story_bar.retry_button.isVisible()
    # Retry writes a new sample in its place, as one undo step back to the first one
    with qtbot.waitSignal(window.suggestions.generator.finished, timeout=20000):
        window.suggestions.story_retry()
    retried = window.editor.toPlainText()
    assert retried.startswith("Once upon a time") and retried != stopped
    window.editor.undo()
    assert window.editor.toPlainText() == stopped
    window.editor.undo()
    assert window.editor.toPlainText() == "Once upon a time"


def test_editing_story_text_ends_the_mark(qtbot, open_window, tiny_bundle):
    window = open_window(tiny_bundle, auto_suggest=False, story_tokens=20)
    qtbot.keyClicks(window.editor, "Once upon a time")
    with qtbot.waitSignal(window.suggestions.generator.finished, timeout=20000):
        window.suggestions.story_continue()
    assert len(window.editor.generated_ranges()) == 1
    cursor = window.editor.textCursor()
    cursor.setPosition(len("Once upon a time") + 2)
    window.editor.setTextCursor(cursor)
    qtbot.keyClicks(window.editor, "x")
    assert window.editor.generated_ranges() == []
    assert not window.commands["story_retry"].isEnabled()


def test_settings_persist_across_windows(qtbot, open_window, inkwell_home):
    window = open_window(None, wait_model=False)
    panel = window.panel
    panel.findChild(type(panel.preset_box), "setting_theme").setCurrentIndex(1)  # Dark
    temperature = panel.findChild(type(panel.findChild(object, "setting_temperature")), "setting_temperature")
    temperature.setValue(1.25)
    window.settings.apply_preset("Creative")
    window.panel.show()
    window.resize(700, 500)  # within the offscreen screen (800x600): Qt keeps windows on screen
    qtbot.waitUntil(lambda: window.width() == 700)
    window.close()
    data = json.loads((inkwell_home / "config" / "settings.json").read_text())
    assert data["theme"] == "dark" and data["preset"] == "Creative" and data["temperature"] == 1.05
    again = open_window(None, wait_model=False)
    assert again.settings["theme"] == "dark"
    assert again.panel.isVisible()  # open panels come back
    assert (again.width(), again.height()) == (700, 500)
    assert again.panel.preset_box.currentText() == "Creative"


def test_corrupt_settings_file_is_survived(qtbot, open_window, inkwell_home):
    path = inkwell_home / "config" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"theme": "dark", "temperature": ', encoding="utf-8")
    window = open_window(None, wait_model=False)
    assert window.settings["theme"] == "light"
    assert window.notice_bar.isVisible() and "not valid JSON" in window.notice_bar.label.text()
    backups = list(path.parent.glob("settings.json.bad-*"))
    assert len(backups) == 1 and backups[0].read_text() == '{"theme": "dark", "temperature": '
    assert json.loads(path.read_text())["version"] == 1


def test_unsaved_changes_prompt(qtbot, open_window, monkeypatch, tmp_path):
    window = open_window(None, wait_model=False)
    qtbot.keyClicks(window.editor, "Draft")
    asked = []

    def answer(result):
        def warning(*args, **kwargs):
            asked.append(args[2])
            return result
        return warning

    monkeypatch.setattr(QMessageBox, "warning", answer(QMessageBox.StandardButton.Cancel))
    window.files.new_file()
    assert window.editor.toPlainText() == "Draft" and len(asked) == 1
    assert not window.close()  # Cancel keeps the window
    monkeypatch.setattr(QMessageBox, "warning", answer(QMessageBox.StandardButton.Discard))
    window.files.new_file()
    assert window.editor.toPlainText() == "" and len(asked) == 3
    qtbot.keyClicks(window.editor, "Second draft")
    target = tmp_path / "draft.md"
    monkeypatch.setattr("app.ui.files.QFileDialog.getSaveFileName", lambda *a, **k: (str(target), ""))
    monkeypatch.setattr(QMessageBox, "warning", answer(QMessageBox.StandardButton.Save))
    window.files.new_file()
    assert target.read_text(encoding="utf-8") == "Second draft"
    assert window.editor.toPlainText() == ""


def test_open_and_recent_files(qtbot, open_window, tmp_path):
    first = tmp_path / "one.txt"
    first.write_text("First file", encoding="utf-8")
    latin = tmp_path / "two.txt"
    latin.write_bytes("Café crème".encode("cp1252"))
    window = open_window(None, wait_model=False)
    assert window.files.load_file(str(first))
    assert window.editor.toPlainText() == "First file" and window.windowTitle().startswith("one.txt")
    assert window.files.load_file(str(latin))
    assert window.editor.toPlainText() == "Café crème"
    assert "Windows-1252" in window.notice_bar.label.text()
    assert window.settings["recent_files"][:2] == [str(latin), str(first)]
    assert [a.text() for a in window.recent_menu.actions()][:2] == ["two.txt", "one.txt"]



def test_keys_keep_their_meaning_without_suggestion(qtbot, open_window):
    window = open_window(None, wait_model=False)
    qtbot.keyClicks(window.editor, "one two")
    qtbot.keyClick(window.editor, Qt.Key.Key_Home)
    qtbot.keyClick(window.editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert window.editor.textCursor().position() == len("one ")
    qtbot.keyClick(window.editor, Qt.Key.Key_Tab)
    assert window.editor.toPlainText() == "one \ttwo"


def test_ask_now_and_automatic_toggle(qtbot, open_window, tiny_bundle):
    window = open_window(tiny_bundle, auto_suggest=False)
    qtbot.keyClicks(window.editor, "The sea was")
    assert not window.editor._debounce.isActive()  # automatic suggestions are off: no pause is awaited
    with qtbot.assertNotEmitted(window.editor.suggestion_wanted):
        window.editor._debounce.timeout.emit()  # and a pause would not ask for one either
    assert not window.editor.ghost.active
    window.commands["suggest_now"].trigger()  # Ctrl+Space
    qtbot.waitUntil(lambda: window.editor.ghost_text != "", timeout=10000)
    window.commands["toggle_auto"].trigger()
    assert window.settings["auto_suggest"] is True and window.commands["toggle_auto"].isChecked()
    qtbot.keyClick(window.editor, Qt.Key.Key_Escape)
    qtbot.keyClicks(window.editor, " calm")
    qtbot.waitUntil(lambda: window.editor.ghost_text != "", timeout=10000)


def test_settings_panel_changes_apply_at_once(qtbot, open_window):
    window = open_window(None, wait_model=False)
    panel = window.panel
    size = panel.findChild(QSpinBox, "setting_font_size")
    size.setValue(20)
    assert window.editor.font().pointSize() == 20
    panel.findChild(QCheckBox, "setting_wrap").setChecked(False)
    assert window.editor.lineWrapMode() == window.editor.LineWrapMode.NoWrap
    delay = panel.findChild(QSpinBox, "setting_delay_ms")
    delay.setValue(900)
    assert window.editor._debounce.interval() == 900
    # a remapped key: accept with Ctrl+J; Tab is a plain tab again
    edit = panel.key_edits["accept"]
    edit.setKeySequence(QKeySequence("Ctrl+J"))
    edit.editingFinished.emit()
    assert window.settings["keys"] == {"accept": "Ctrl+J"}
    window.editor.setPlainText("It was")
    window.editor.moveCursor(window.editor.textCursor().MoveOperation.End)
    window.editor.expect_suggestion()
    window.editor.add_piece(0, " late")
    qtbot.keyClick(window.editor, Qt.Key.Key_J, Qt.KeyboardModifier.ControlModifier)
    assert window.editor.toPlainText() == "It was late"
    assert "Ctrl+J" in window.commands["accept"].text()


def test_a_key_that_another_command_has_is_refused(qtbot, open_window):
    """Issue 22: "Continue the story" bound to Ctrl+S silently broke Save (one key, two shortcuts:
    Qt triggers neither)."""
    window = open_window(None, wait_model=False, keys={"story_continue": "Ctrl+S", "suggest_now": "Ctrl+K"})

    def holders(key: str) -> list[str]:
        return [a.objectName() for a in window.actions() if QKeySequence(key) in a.shortcuts()]

    assert holders("Ctrl+S") == ["save"] and holders("Ctrl+Return") == ["story_continue"]
    assert holders("Ctrl+K") == ["suggest_now"]  # a key nobody else has is the writer's
    notice = window.notice_bar.label.text()
    assert "Ctrl+S" in notice and "Continue the story" in notice and "Save" in notice and "Ctrl+Return" in notice
    panel = window.panel
    assert panel.key_edits["story_continue"].keySequence() == QKeySequence("Ctrl+Return")  # the key in use

    def press(name: str, key: str) -> None:
        panel.key_edits[name].setKeySequence(QKeySequence(key))
        panel.key_edits[name].editingFinished.emit()

    press("story_retry", "Ctrl+F")  # Find's
    assert "story_retry" not in window.settings["keys"] and holders("Ctrl+F") == ["find"]
    assert "Find" in panel.key_problem.text() and "Retry the continuation" in panel.key_problem.text()
    assert panel.key_edits["story_retry"].keySequence() == QKeySequence("Ctrl+Shift+Return")
    press("toggle_auto", "Ctrl+K")  # the writer's key for another command
    assert window.settings["keys"].get("toggle_auto") is None and "Suggest now" in panel.key_problem.text()
    press("dismiss", "Esc")  # a suggestion's key may be a story key too: a shown suggestion takes it first
    press("story_continue", "Ctrl+Return")  # the clash gone, so is its notice
    assert window.settings["keys"] == {"suggest_now": "Ctrl+K"} and not panel.key_problem.text()
    assert "Ctrl+S" not in window.notice_bar.label.text()


def test_keys_may_be_swapped_but_never_type_a_character(qtbot):
    from app.ui.actions import resolve_keys

    keys, problems = resolve_keys({"suggest_now": "Ctrl+Return", "story_continue": "Ctrl+Space"})
    assert problems == {} and (keys["suggest_now"], keys["story_continue"]) == ("Ctrl+Return", "Ctrl+Space")
    keys, problems = resolve_keys({"story_continue": "E", "accept": "Shift+A", "story_stop": "F7"})
    assert (keys["story_continue"], keys["accept"], keys["story_stop"]) == ("Ctrl+Return", "Tab", "F7")
    assert set(problems) == {"story_continue", "accept"} and "types a character" in problems["accept"]


@pytest.mark.slow
def test_inkwell_file_opens_the_file(tmp_path):
    # `inkwell FILE` in a process of its own: app.cli.main runs the real event loop.
    path = tmp_path / "chapter.md"
    path.write_text("# Chapter one\n\nIt begins.", encoding="utf-8")
    code = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app import cli
from app.ui.main_window import MainWindow

def look_and_quit():
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
    print(repr(window.editor.toPlainText()), window.windowTitle(), sep="\\n")
    window.close()

QTimer.singleShot(200, look_and_quit)
sys.exit(cli.main(sys.argv[1:]))
"""
    out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    text, title = out.stdout.strip().splitlines()[-2:]
    assert text == repr("# Chapter one\n\nIt begins.") and title.startswith("chapter.md")


@pytest.mark.slow
def test_esc_stops_the_story(qtbot, open_window, tiny_bundle):
    # longer than the tiny model's context (256): the window slides, the story is as long as asked
    window = open_window(tiny_bundle, auto_suggest=False, story_tokens=1000, temperature=1.0)
    qtbot.keyClicks(window.editor, "Once upon a time")
    with qtbot.waitSignal(window.suggestions.generator.piece, timeout=20000):
        window.suggestions.story_continue()  # (stopped once it runs: one stopped in the queue never reports)
    assert window.commands["story_stop"].isEnabled()
    with qtbot.waitSignal(window.suggestions.generator.finished, timeout=20000) as stopped:
        qtbot.keyClick(window.editor, Qt.Key.Key_Escape)
        assert not window.editor.generating and not window.commands["story_stop"].isEnabled()
        written = window.editor.toPlainText()
    assert stopped.args[1].cancelled  # the worker's last word on it: its pieces came before
    assert written.startswith("Once upon a time")
    assert window.editor.toPlainText() == written  # nothing arrives after Stop
    with qtbot.waitSignal(window.suggestions.generator.finished, timeout=20000) as done:
        window.suggestions.story_continue()
    assert not done.args[1].cancelled
    assert len(done.args[1].alternatives[0].token_ids) == 1000
