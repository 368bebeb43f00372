"""The first start's welcome: the keys in one picture, the small bundled model, GPT-2 offered with
its download size when the hub answers, shown once."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.settings import Settings
from app.ui import welcome
from core.units import human_bytes


@pytest.fixture
def window(quiet_window):
    return quiet_window


def test_offers_gpt2_with_its_size_when_the_hub_answers(qtbot, window, fake_hub, tiny_hf_dir, monkeypatch):
    wanted = []
    monkeypatch.setattr(window, "download_model", wanted.append)
    shown = welcome.show_first_run(window)
    assert shown is not None and shown.isVisible()
    assert "small" in shown.findChild(type(shown.network), "modelNote").text()
    assert shown.keys.sizeHint().height() >= len(welcome.SHOWN) * welcome.KeysPicture.ROW
    qtbot.waitUntil(lambda: shown._query is None, timeout=60_000)
    assert shown.plan is not None, shown.network.text()
    size = human_bytes((tiny_hf_dir / "model.safetensors").stat().st_size + (tiny_hf_dir / "config.json").stat().st_size)
    assert shown.download_button.isVisible() and shown.download_button.text() == f"Download GPT-2 ({size})…"
    qtbot.mouseClick(shown.download_button, Qt.MouseButton.LeftButton)
    assert wanted == ["gpt2"] and not shown.isVisible()
    assert window.settings["welcome_shown"] is True
    assert welcome.show_first_run(window) is None  # never again
    assert Settings.load()["welcome_shown"] is True  # also after a restart


def test_without_a_network_it_says_where_to_download_later(qtbot, window, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    shown = welcome.show_first_run(window)
    qtbot.waitUntil(lambda: shown._query is None, timeout=60_000)
    assert not shown.download_button.isVisible()
    assert shown.network.text().startswith("No network now: Model ▸ Manage models ▸ Download…")
    qtbot.keyClick(shown, Qt.Key.Key_Escape)  # dismissed: as good as seen
    assert not shown.isVisible() and window.settings["welcome_shown"] is True


def test_not_shown_by_windows_that_tests_make(qtbot, window):
    assert getattr(window, "welcome", None) is None and not window.settings["welcome_shown"]


def test_the_key_picture_is_never_drawn_under_the_text_that_follows(qtbot):
    from PySide6.QtWidgets import QLabel

    dialog = welcome.Welcome(Settings.load(), ask_hub=False)
    qtbot.addWidget(dialog)
    dialog.resize(560, 300)  # narrower and shorter than its text needs
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.answered(False, "no route to host")  # the network note grows
    note = dialog.findChild(QLabel, "modelNote")
    qtbot.waitUntil(lambda: dialog.keys.height() >= dialog.keys.sizeHint().height()
                    and dialog.keys.geometry().bottom() < note.geometry().top())
