"""Settings changed in the window are written once they settle, and a new thread count reloads the
model once the spin box rests."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QSpinBox

from app.settings import Settings
from app.ui.main_window import MainWindow


def make_window(qtbot) -> MainWindow:
    window = MainWindow(Settings.load())
    qtbot.addWidget(window)
    return window


def test_a_burst_of_changes_is_one_write_after_it_settles(qtbot, monkeypatch):
    window = make_window(qtbot)
    settings = window.settings
    writes = []
    real_save = settings.save
    monkeypatch.setattr(settings, "save", lambda: (writes.append(settings["temperature"]), real_save()))
    for value in (0.5, 0.6, 0.7):
        settings.set("temperature", value)
    assert settings["temperature"] == 0.7  # in effect at once
    assert writes == [] and settings.pending  # on disk later
    qtbot.waitUntil(lambda: not settings.pending, timeout=5000)
    assert writes == [0.7]
    assert json.loads(settings.path.read_text())["temperature"] == 0.7


def test_closing_the_window_writes_what_is_pending(qtbot):
    window = make_window(qtbot)
    window.settings.set("theme", "dark")
    assert window.settings.pending
    window.close()
    assert not window.settings.pending
    assert json.loads(window.settings.path.read_text())["theme"] == "dark"
    window.settings.set("theme", "light")  # (a closed window no longer defers the writes)
    assert json.loads(window.settings.path.read_text())["theme"] == "light"


def test_the_threads_box_reloads_the_model_once_it_rests(qtbot, monkeypatch):
    window = make_window(qtbot)
    loads = []
    monkeypatch.setattr(window.suggestions, "load_model", lambda: loads.append(window.settings["threads"]))
    box = window.panel.findChild(QSpinBox, "setting_threads")
    steps = min(3, box.maximum())
    for _ in range(steps):
        box.stepUp()
    assert box.value() == steps
    assert loads == [] and window.settings["threads"] == 0  # not one reload per step
    qtbot.waitUntil(lambda: loads == [steps], timeout=5000)
    box.stepDown()
    box.editingFinished.emit()  # Enter, or leaving the field: applied at once
    assert loads == [steps, steps - 1] and window.settings["threads"] == steps - 1
