"""The settings file: defaults, validation, atomic writes, presets, surviving a bad file."""

from __future__ import annotations

import json
import os
import time

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


def _write_settings(inkwell_home, text: str):
    path = inkwell_home / "config" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, why", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"top_k": ' + "9" * 5000 + "}", "digits"),
])
def test_json_that_breaks_the_parser_is_a_damaged_file(inkwell_home, text, why):
    path = _write_settings(inkwell_home, text)
    settings = Settings.load()  # on today's code: RecursionError / ValueError on every start
    assert settings["top_k"] == 40 and why in settings.notice and "kept as" in settings.notice
    assert json.loads(path.read_text())["top_k"] == 40
    assert [p.read_text() for p in path.parent.glob("settings.json.bad-*")] == [text]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_on_load(inkwell_home, value):
    _write_settings(inkwell_home, f'{{"temperature": {value}, "top_p": 0.5, "user_presets": '
                                  f'{{"Mine": {{"temperature": {value}, "top_k": 1, "top_p": 0.5, "min_p": 0, '
                                  '"repetition_penalty": 1}}}')
    settings = Settings.load()
    assert settings["temperature"] == 0.8 and settings["top_p"] == 0.5
    assert settings["user_presets"] == {}
    assert "temperature" in settings.notice and "user_presets" in settings.notice
    with pytest.raises(ValueError, match="temperature"):
        settings.set("temperature", float("nan"))


def test_a_huge_recent_files_list_is_capped_on_load(inkwell_home):
    entries = [f"/home/writer/story-{i}.txt" for i in range(200_000)]
    _write_settings(inkwell_home, json.dumps({"recent_files": [None, "", "/a.txt", "/a.txt", *entries]}))
    settings = Settings.load()
    assert settings["recent_files"] == ["/a.txt", *entries[:9]]
    assert settings.notice is None  # kept what was good; nothing to warn about


@pytest.mark.slow
def test_long_texts_and_big_dicts_are_refused(inkwell_home):
    _write_settings(inkwell_home, json.dumps({"geometry": "0" * 1_000_000,
                                              "keys": {f"k{i}": "Tab" for i in range(100_000)}}))
    settings = Settings.load()
    assert settings["geometry"] == "" and settings["keys"] == {}
    assert "geometry" in settings.notice and "keys" in settings.notice and len(settings.notice) < 2000


def test_settings_file_that_is_not_a_file_is_moved_aside(inkwell_home):
    path = inkwell_home / "config" / "settings.json"
    path.mkdir(parents=True)  # a folder where the file should be
    settings = Settings.load()
    assert "folder" in settings.notice and json.loads(path.read_text())["version"] == 1
    assert len(list(path.parent.glob("settings.json.bad-*"))) == 1


def test_a_config_folder_that_cannot_be_made_means_read_only(inkwell_home):
    # (Tests run as root, whom chmod does not stop: a file where the folder should be fails the
    # same way, with ENOTDIR. test_window.py runs the window with a real chmod 555 folder.)
    inkwell_home.mkdir()
    (inkwell_home / "config").write_text("not a folder")
    settings = Settings.load()
    assert settings.read_only and "not kept" in settings.notice and "is a file, not a folder" in settings.notice
    settings.set("temperature", 1.1)  # today: NotADirectoryError, a traceback on every change
    settings.add_recent("/tmp/story.txt")
    assert settings["temperature"] == 1.1 and settings["recent_files"] == ["/tmp/story.txt"]


def test_a_folder_that_turns_unwritable_is_said_once(inkwell_home, monkeypatch):
    settings = Settings.load()
    heard = []
    settings.on_problem(heard.append)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("app.settings.atomic_write_text", full)
    settings.set("temperature", 1.1)
    settings.set("temperature", 1.2)
    assert settings["temperature"] == 1.2
    assert len(heard) == 1 and "the disk is full" in heard[0] and "not kept" in heard[0]


def test_an_unreadable_settings_file_is_never_written_over(inkwell_home, monkeypatch):
    path = _write_settings(inkwell_home, json.dumps({"temperature": 1.3}))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("app.settings.read_json", denied)
    settings = Settings.load()
    assert "cannot be read (permission denied)" in settings.notice
    settings.set("temperature", 0.5)
    assert json.loads(path.read_text()) == {"temperature": 1.3}  # left alone


def test_leftovers_of_a_killed_save_are_removed(inkwell_home):
    folder = inkwell_home / "config"
    folder.mkdir(parents=True)
    stale = folder / ".settings.json.k1ll3d00.tmp"
    stale.write_text("{half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    running = folder / ".settings.json.s4v1ng00.tmp"  # another Inkwell saving right now
    running.write_text("{half")
    Settings.load()
    assert not stale.exists() and running.exists()


def test_settings_of_a_newer_inkwell_survive_a_change(tmp_path):
    """Issue 22.11: keys this version does not know (written by a newer Inkwell) were erased by
    the first change; they are kept as they were."""
    import json as _json

    from app.settings import Settings

    path = tmp_path / "settings.json"
    path.write_text(_json.dumps({"version": 99, "future_feature": {"on": True, "level": 3}, "zzz": [1, 2]}))
    settings = Settings.load(path)
    settings.set("alternatives", 2)
    written = _json.loads(path.read_text())
    assert written["future_feature"] == {"on": True, "level": 3} and written["zzz"] == [1, 2]
    assert written["alternatives"] == 2


@pytest.mark.parametrize("value", [1e-40, 5e-324])
def test_a_tiny_temperature_in_the_settings_gives_suggestions(tmp_path, value):
    """Issue 22.3: temperature 1e-40 in settings.json made every suggestion fail."""
    import json as _json

    import numpy as np

    from app.engine import sampling
    from app.generation import params_for
    from app.settings import Settings

    path = tmp_path / "settings.json"
    path.write_text(_json.dumps({"temperature": value}))
    params = params_for(Settings.load(path), "suggestion")
    sampler = sampling.Sampler(params.validate())
    scores = sampler.process(np.log(np.array([[0.5, 0.3, 0.2]], dtype=np.float32)), [np.array([], dtype=np.int64)])
    assert sampler.sample(scores)[0] == 0
