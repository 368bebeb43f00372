"""The user's settings: one JSON file in the config dir, validated on load, written atomically.

A file that cannot be parsed, is not a file at all, or holds invalid values (NaN included) never
stops the editor: the bad values fall back to their defaults, the file is kept beside it as a
backup, and ``notice`` says what happened so the window can show it. Lists and texts are capped
on load (200,000 recent files would take a minute to put in a menu).

A folder Inkwell cannot write (or a file it cannot read) makes the settings read-only for the
session: they work in memory, nothing is written (and nothing unread is written over), and the
window is told once, through ``on_problem``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.generation import SHOW_LABELS
from app.spelling import LANGUAGES
from core import checks, paths
from core.fileio import (
    DamagedFile,
    FileTooLarge,
    NotRegularFile,
    atomic_write_text,
    back_up,
    describe_os_error,
    read_json,
    remove_stale_temps,
)

VERSION = 1
MAX_BYTES = 16 * 1024 * 1024  # a settings file is a few KiB; a huge one is still read, then capped
MAX_TEXT = 64 * 1024  # longest text value (window geometry is the longest real one, ~2 KiB)
MAX_ITEMS = 200  # most entries in a dict setting (presets, keys)


@dataclass(frozen=True)
class Spec:
    default: Any
    kind: type | tuple[type, ...]
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    labels: dict[str, str] | None = None  # each choice as the writer reads it (the panel, the menus)

    def __post_init__(self) -> None:
        if self.labels is not None and self.choices is None:
            object.__setattr__(self, "choices", tuple(self.labels))


# The choices of the settings that have a few, in the words the panel and the menus show.
LENGTHS = {"word": "next word", "line": "end of line", "sentence": "end of sentence", "tokens": "token limit"}
PROVIDERS = {"auto": "Automatic", "cpu": "CPU", "cuda": "CUDA (NVIDIA GPU)"}
THEMES = {"light": "Light", "dark": "Dark"}


SAMPLING_KEYS = ("temperature", "top_k", "top_p", "min_p", "repetition_penalty")

SPECS: dict[str, Spec] = {
    # sampling (the keys a preset sets)
    "temperature": Spec(0.8, float, 0.0, 2.0),
    "top_k": Spec(40, int, 0, 1000),
    "top_p": Spec(0.95, float, 0.05, 1.0),  # 0 would leave no token to sample
    "min_p": Spec(0.0, float, 0.0, 1.0),
    "repetition_penalty": Spec(1.1, float, 1.0, 2.0),
    # lengths and sampling extras
    "suggestion_tokens": Spec(16, int, 1, 128),
    "story_tokens": Spec(120, int, 8, 1024),
    "alternatives": Spec(3, int, 1, 5),
    "seed": Spec(None, (int, type(None)), 0, 2**31 - 1),
    "preset": Spec("Balanced", str),
    "user_presets": Spec({}, dict),
    # suggestion behaviour
    "auto_suggest": Spec(True, bool),
    "delay_ms": Spec(250, int, 0, 5000),
    "length": Spec("sentence", str, labels=LENGTHS),
    # end a suggestion before a new word once the model's mean probability per token falls below this
    "min_confidence": Spec(0.1, float, 0.0, 0.5),
    # show a suggestion at a pause "often" (always), "fairly sure" or "sure" (app.generation.SHOW_LEVELS)
    "show_suggestions": Spec("fairly sure", str, labels=SHOW_LABELS),
    "confidence_shading": Spec(True, bool),  # ghost text fades where the model was unsure
    # model
    "model": Spec("", str),  # folder of the active model; "" = the bundled default
    "provider": Spec("auto", str, labels=PROVIDERS),
    "threads": Spec(0, int, 0, 256),
    # editor
    "font_family": Spec("", str),  # "" = a serif face chosen at start-up
    "font_size": Spec(14, int, 6, 72),
    "zoom": Spec(100, int, 30, 400),  # percent of font_size (View > Zoom, Ctrl+= / Ctrl+- / Ctrl+0)
    "theme": Spec("light", str, labels=THEMES),
    "wrap": Spec(True, bool),
    "column_chars": Spec(72, int, 0, 400),  # width of the text column; 0 = the whole window
    "autosave_s": Spec(30, int, 1, 3600),
    "spell_check": Spec(True, bool),
    "spell_language": Spec("", str, choices=("", *LANGUAGES)),  # "" = the system's (app.ui.spell_check)
    "keys": Spec({}, dict),  # action name -> key sequence (portable text); missing = default
    # window
    "geometry": Spec("", str),
    "window_state": Spec("", str),
    "recent_files": Spec([], list),
    "welcome_shown": Spec(False, bool),  # the first-run welcome was seen (and closed)
}

BUILTIN_PRESETS: dict[str, dict[str, float | int]] = {
    "Precise": {"temperature": 0.3, "top_k": 20, "top_p": 0.9, "min_p": 0.0, "repetition_penalty": 1.15},
    "Balanced": {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.0, "repetition_penalty": 1.1},
    "Creative": {"temperature": 1.05, "top_k": 0, "top_p": 0.98, "min_p": 0.05, "repetition_penalty": 1.05},
}
# Settings that "reset to defaults" leaves alone: they are the user's things, not preferences.
KEPT_ON_RESET = ("user_presets", "geometry", "window_state", "recent_files", "welcome_shown")
MAX_RECENT = 10


def _has_kind(value: Any, spec: Spec) -> bool:
    # (a function, so that the value stays Any for what follows: the kind is only known at run time)
    return isinstance(value, spec.kind)


def _check(key: str, value: Any) -> Any:
    """``value`` as stored for ``key``; ValueError naming the key when it does not fit (core.checks)."""
    spec = SPECS[key]
    if key == "recent_files" and isinstance(value, list):
        value = _recent(value)
    value = _checked_kind(key, spec, value)
    if isinstance(value, str):
        checks.text(key, value, MAX_TEXT)
    if isinstance(value, dict):
        checks.entries(key, value, MAX_ITEMS, 200)
    if key == "user_presets":
        for name, preset in value.items():
            if not isinstance(preset, dict) or set(preset) != set(SAMPLING_KEYS):
                raise ValueError(f"user_presets: preset {name!r} must set exactly {', '.join(SAMPLING_KEYS)}")
            for k, v in preset.items():
                try:
                    _check(k, v)
                except ValueError as exc:
                    raise ValueError(f"user_presets: preset {name!r}: {exc}") from None
    if key in ("keys", "recent_files"):
        items = value.values() if isinstance(value, dict) else value
        if not all(isinstance(item, str) for item in items):
            raise ValueError(f"{key}: every entry must be text")
    return copy.deepcopy(value)


def _checked_kind(key: str, spec: Spec, value: Any) -> Any:
    if spec.choices:
        return checks.choice(key, value, spec.choices)
    if spec.kind is float:
        return checks.number(key, value, spec.low, spec.high)  # a whole number is stored as a float
    if spec.kind in (int, (int, type(None))):
        if value is None and spec.kind is not int:
            return None
        low = None if spec.low is None else int(spec.low)
        high = None if spec.high is None else int(spec.high)
        return checks.whole(key, value, low, high)
    if spec.kind is bool:
        return checks.flag(key, value)
    if isinstance(value, bool) or not _has_kind(value, spec):
        kinds = ((str, "text"), (dict, "an object"), (list, "a list"))
        wanted = next(name for kind, name in kinds if kind is spec.kind)
        raise ValueError(f"{key} must be {wanted} (got {checks.shown(value)})")
    return value


def _recent(paths_: list) -> list[str]:
    """The recent files worth keeping: text that can be a path, each once, the newest
    MAX_RECENT. Looks at no more entries than it needs (the list may be huge)."""
    kept: list[str] = []
    for item in paths_:
        if len(kept) == MAX_RECENT:
            break
        if isinstance(item, str) and item and len(item) <= 4096 and "\0" not in item and item not in kept:
            kept.append(item)
    return kept



class Settings:
    """Current values, with change listeners.

    Every change is saved at once, unless ``save_later`` is set: then a change only calls it
    (the window starts a short timer that calls ``flush``), so that a burst of changes, a spin
    box held down say, is one write, off the path of each change. ``flush`` writes what is
    pending; the window calls it when it closes.
    """

    def __init__(self, path: Path | None = None):
        self.path = path or paths.settings_file()
        self.values: dict[str, Any] = {k: copy.deepcopy(s.default) for k, s in SPECS.items()}
        # Keys this version does not know (a newer Inkwell's): written back as they were read.
        self.unknown: dict[str, Any] = {}
        self.notice: str | None = None  # what went wrong while loading, for the window to show
        self.read_only: str | None = None  # why nothing is written, once that is so
        self._listeners: list[Callable[[str, Any], None]] = []
        self._problem_listeners: list[Callable[[str], None]] = []
        self.save_later: Callable[[], None] | None = None
        self.pending = False  # changes not written yet (``save_later`` was asked to)

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        settings = cls(path)
        settings._read()
        return settings

    def _read(self) -> None:
        remove_stale_temps(self.path.parent, self.path.name)  # left by a save that was killed
        try:
            data = read_json(self.path, MAX_BYTES)
        except FileNotFoundError:
            return
        except (NotRegularFile, FileTooLarge) as exc:
            self._survive(f"could not be read ({exc.strerror})")
            return
        except OSError as exc:
            # Unreadable (permissions, a disk error, no folder): never write over what could not be read.
            self._go_read_only(f"Settings file {self.path} cannot be read ({describe_os_error(exc)}). Inkwell "
                               "uses its defaults; changes work until it closes but are not kept.")
            return
        except DamagedFile as exc:
            self._survive(f"is damaged: {exc.reason}")
            return
        if not isinstance(data, dict):
            self._survive("does not hold a JSON object")
            return
        bad = []
        for key, value in data.items():
            if key == "version":
                continue
            if key not in SPECS:  # from a newer version: not used here, but kept for it
                self.unknown[key] = value
                continue
            try:
                self.values[key] = _check(key, value)
            except ValueError as exc:
                bad.append(str(exc))
        if bad:
            self._survive("had invalid values, reset to defaults: " + "; ".join(bad))

    def _survive(self, problem: str) -> None:
        backup = back_up(self.path)
        if backup is None:
            # It cannot be moved aside, so it is not written over either.
            self._go_read_only(f"Settings file {self.path} {problem}. It cannot be moved aside, so Inkwell "
                               "uses its defaults and will not change the file.")
            return
        self._report(f"Settings file {self.path} {problem}; the old file was kept as {backup}.")
        self.save()

    def _go_read_only(self, message: str) -> None:
        if self.read_only is None:
            self.read_only = message
            self._report(message)

    def _report(self, message: str) -> None:
        if self._problem_listeners:
            for listener in list(self._problem_listeners):
                listener(message)
        else:
            self.notice = f"{self.notice} {message}" if self.notice else message

    def on_problem(self, listener: Callable[[str], None]) -> None:
        """``listener(message)`` is told when the settings stop being saved."""
        self._problem_listeners.append(listener)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def set(self, key: str, value: Any) -> None:
        value = _check(key, value)
        if self.values.get(key) == value:
            return
        self.values[key] = value
        if self.save_later is not None:
            self.pending = True
            self.save_later()
        else:
            self.save()
        for listener in list(self._listeners):
            listener(key, value)

    def update(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            self.set(key, value)

    def on_change(self, listener: Callable[[str, Any], None]) -> None:
        self._listeners.append(listener)

    def flush(self) -> None:
        """Write the changes ``save_later`` was told of, if any are pending."""
        if self.pending:
            self.save()

    def save(self) -> None:
        self.pending = False
        if self.read_only is not None:
            return
        data = {**self.unknown, "version": VERSION, **self.values}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Private when new: settings are the user's only.
            atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n", private=True)
        except OSError as exc:
            self._go_read_only(f"Settings cannot be saved in {self.path.parent} ({describe_os_error(exc)}). "
                               "Changes work until Inkwell closes but are not kept.")

    def reset(self) -> None:
        self.update({k: copy.deepcopy(s.default) for k, s in SPECS.items() if k not in KEPT_ON_RESET})

    # presets ---------------------------------------------------------------------------------

    def presets(self) -> dict[str, dict]:
        return {**BUILTIN_PRESETS, **self["user_presets"]}

    def apply_preset(self, name: str) -> None:
        values = self.presets()[name]
        self.update({k: values[k] for k in SAMPLING_KEYS if k in values})
        self.set("preset", name)

    def save_preset(self, name: str) -> None:
        name = name.strip()
        if not name:
            raise ValueError("preset name: must not be empty")
        if name in BUILTIN_PRESETS:
            raise ValueError(f"preset name: {name!r} is a built-in preset")
        user = dict(self["user_presets"])
        user[name] = {k: self[k] for k in SAMPLING_KEYS}
        self.set("user_presets", user)
        self.set("preset", name)

    def delete_preset(self, name: str) -> None:
        user = dict(self["user_presets"])
        user.pop(name, None)
        self.set("user_presets", user)
        if self["preset"] == name:
            self.set("preset", self.matching_preset())

    def matching_preset(self) -> str:
        """The name of the preset the sampling values equal, or "" when they match none."""
        current = self["preset"]
        presets = self.presets()
        names = ([current] if current in presets else []) + list(presets)
        for name in names:
            if all(abs(presets[name].get(k, SPECS[k].default) - self[k]) < 1e-9 for k in SAMPLING_KEYS):
                return name
        return ""

    # recent files ----------------------------------------------------------------------------

    def add_recent(self, path: str) -> None:
        recent = [p for p in self["recent_files"] if p != path]
        self.set("recent_files", [path, *recent][:MAX_RECENT])
