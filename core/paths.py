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


# --- the files and folders inside them: every place Inkwell reads or writes is named here -------


def settings_file() -> Path:
    return config_dir() / "settings.json"


def personal_dictionary_file() -> Path:
    """The words the writer added to the spelling dictionary."""
    return config_dir() / "dictionary.txt"


def log_file() -> Path:
    return log_dir() / "inkwell.log"


def autosave_dir() -> Path:
    """The editors' snapshots of unsaved text (app.recovery, which makes it)."""
    return state_dir() / "autosave"


def downloads_dir() -> Path:
    """Model downloads in progress, kept between runs so that a download continues."""
    return data_dir() / "downloads"


def staging_dir() -> Path:
    """Where an install prepares a model (only the holder of ``install_lock_file`` uses it)."""
    return data_dir() / "staging"


def install_lock_file() -> Path:
    return models_dir() / ".install.lock"


def model_folder(folder_name: str) -> Path:
    """The folder an installed model of that folder name has (or would have)."""
    return models_dir() / folder_name


def run_folder(folder_name: str) -> Path:
    """A training or fine-tune run's folder (checkpoints, the job, the result)."""
    return runs_dir() / folder_name


def finetune_texts_dir() -> Path:
    """Texts the writer pasted into the fine-tune wizard, kept as files to train on."""
    return data_dir() / "finetune-texts"


def finetune_log_file(run_name: str) -> Path:
    return log_dir() / f"finetune-{run_name}.log"


def finetune_job_file(run_name: str) -> Path:
    return state_dir() / f"finetune-{run_name}.job.json"


def finetune_estimate_file() -> Path:
    """The job of the wizard's speed estimate (a short warm-up run)."""
    return state_dir() / "finetune-estimate.json"


def built_graph_dir(checkpoint_key: str, variant: str) -> Path:
    """Where the ``variant`` graph built from a bundle's checkpoint is kept; ``checkpoint_key``
    (from the checkpoint's hash) gives a changed checkpoint graphs of its own."""
    return cache_dir() / "graphs" / checkpoint_key / variant


def token_cache_dir() -> Path:
    """Training texts as tokens, made again when missing."""
    return cache_dir() / "tokens"
