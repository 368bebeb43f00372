"""The settings file: defaults, validation, atomic writes, presets, surviving a bad file."""

from __future__ import annotations

import json

import pytest

from app.settings import BUILTIN_PRESETS, Settings


def test_defaults_then_values_persist(inkwell_home):
    settings = Settings.load()
    assert settings["temperature"] == 0.8 and settings.notice is None
    settings.set("temperature", 1.2)
    settings.set("auto_suggest", False)
    again = Settings.load()
    assert again["temperature"] == 1.2 and again["auto_suggest"] is False
    assert not list((inkwell_home / "config").glob("*.tmp"))  # nothing half-written left behind


def test_invalid_value_is_refused_by_name():
    settings = Settings.load()
    with pytest.raises(ValueError, match="temperature"):
        settings.set("temperature", 7.0)
    with pytest.raises(ValueError, match="length"):
        settings.set("length", "chapter")
    assert settings["temperature"] == 0.8


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "does not hold a JSON object"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_unreadable_file_means_defaults_backup_and_notice(inkwell_home, content, problem):
    path = inkwell_home / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    settings = Settings.load()
    assert settings["temperature"] == 0.8
    assert problem in settings.notice and str(path) in settings.notice
    backups = list(path.parent.glob("settings.json.bad-*"))
    assert len(backups) == 1 and str(backups[0]) in settings.notice
    assert json.loads(path.read_text())["temperature"] == 0.8  # a good file again


def test_invalid_values_fall_back_one_by_one(inkwell_home):
    path = inkwell_home / "config" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"temperature": "hot", "top_k": 10, "theme": "purple", "future_key": 1}))
    settings = Settings.load()
    assert settings["temperature"] == 0.8 and settings["theme"] == "light"
    assert settings["top_k"] == 10  # the valid value is kept
    assert "temperature" in settings.notice and "theme" in settings.notice


def test_presets_user_presets_and_reset():
    settings = Settings.load()
    settings.apply_preset("Precise")
    assert settings["temperature"] == BUILTIN_PRESETS["Precise"]["temperature"]
    assert settings.matching_preset() == "Precise"
    settings.set("temperature", 0.55)
    assert settings.matching_preset() == ""
    settings.save_preset("Mine")
    assert Settings.load().presets()["Mine"]["temperature"] == 0.55
    with pytest.raises(ValueError, match="built-in"):
        settings.save_preset("Creative")
    settings.set("theme", "dark")
    settings.reset()
    assert settings["theme"] == "light" and settings["temperature"] == 0.8
    assert "Mine" in settings.presets()  # the writer's own presets survive a reset
    settings.delete_preset("Mine")
    assert "Mine" not in Settings.load().presets()


def test_change_listeners_hear_changes():
    settings = Settings.load()
    heard = []
    settings.on_change(lambda key, value: heard.append((key, value)))
    settings.set("delay_ms", 400)
    settings.set("delay_ms", 400)  # no change, no call
    assert heard == [("delay_ms", 400)]
