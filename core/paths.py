"""Where Inkwell keeps things, via platformdirs (app name "Inkwell").

``INKWELL_HOME`` puts every folder under one directory instead: tests use it, and so can a
portable install.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import platformdirs

APP_NAME = "Inkwell"
RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def _dir(kind: str) -> Path:
    home = os.environ.get("INKWELL_HOME")
    if home:
        path = Path(home) / kind
    else:
        path = Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME, appauthor=False))
    return _made(path)


def _made(path: Path) -> Path:
    """``path``, created if it can be. A folder that cannot be created (read-only, or a file is
    in the way) is not an error here: whoever writes into it reports that, in words, and
    reading from it finds nothing."""
    with contextlib.suppress(OSError):
        path.mkdir(parents=True, exist_ok=True)
    return path


def config_dir() -> Path:
    return _dir("config")


def data_dir() -> Path:
    return _dir("data")


def state_dir() -> Path:
    return _dir("state")


def cache_dir() -> Path:
    """Things that can be made again (token caches, the graphs of a model built from its checkpoint)."""
    return _dir("cache")


def log_dir() -> Path:
    return _dir("log")


def models_dir() -> Path:
    return _made(data_dir() / "models")


def runs_dir() -> Path:
    return _made(data_dir() / "runs")


def bundled_models_dir() -> Path:
    return RESOURCES / "models"


def icons_dir() -> Path:
    return RESOURCES / "icons"
