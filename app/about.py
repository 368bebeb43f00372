"""What Inkwell is: its application id, version, the versions it runs on, and the licences of what it ships.

Used by ``inkwell --version``, the About dialog and the self-test, so that all three say the same.
Imports ONNX Runtime only when asked for its version, and never Qt: the window passes in Qt's own
rows (app.ui.about.qt_versions), so that this module stays on the Qt-free side of app/.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Sequence

from app import __version__

# Reverse-DNS id shared by the desktop entry, the AppStream metainfo, the icon files and the
# window (QGuiApplication.setDesktopFileName), so desktops match the running window to its entry.
APP_ID = "io.github.inkwell.Inkwell"

# The bundled model's licence is read from its manifest (inserted second); these are the rest.
CREDITS = [
    ("Inkwell", "MIT licence."),
    ("Its training text",
     "171 novels and story collections by 63 authors, first published 1880–1925, and Jane Austen's six novels "
     "(Emma, Mansfield Park, Northanger Abbey, Persuasion, Pride and Prejudice, "
     "Sense and Sensibility), public domain, from Project Gutenberg."),
    ("GPT-2 tokenizer files",
     "encoder.json and vocab.bpe, OpenAI's GPT-2 byte-pair encoding, modified MIT licence (Copyright (c) 2019 OpenAI; "
     "the full text is in resources/tokenizer/gpt2/LICENSE)."),
    ("Qt and PySide6", "The Qt Company, LGPLv3."),
    ("ONNX Runtime", "Microsoft, MIT licence."),
]


def frozen() -> bool:
    """True inside the standalone (PyInstaller) build."""
    return bool(getattr(sys, "frozen", False))


def versions(toolkit: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """(component, version) of Inkwell and what it runs on; ``toolkit``: the window toolkit's own
    rows, after Inkwell's (app.ui.about.qt_versions)."""
    import onnxruntime

    build = "standalone build" if frozen() else "from Python packages"
    return [
        ("Inkwell", f"{__version__} ({build})"),
        *toolkit,
        ("ONNX Runtime", onnxruntime.__version__),
        ("Python", f"{platform.python_version()} ({platform.system()} {platform.machine()})"),
    ]


def about_html(toolkit: Sequence[tuple[str, str]] = ()) -> str:
    """The About dialog's text: what Inkwell is, versions (``toolkit``: as for ``versions``), where
    things live, licences."""
    from html import escape

    from app import models
    from core import paths

    rows = "".join(f"<tr><td>{escape(name)}</td><td>&nbsp;{escape(version)}</td></tr>" for name, version in versions(toolkit))
    credits = list(CREDITS)
    for model in models.installed_models():  # the manifest's own words, should the bundled model change
        if model.bundled and model.manifest.get("licence"):
            credits.insert(1, (f"Bundled model {model.name}", model.manifest["licence"]))
    licences = "".join(f"<li><b>{escape(name)}</b>: {escape(text)}</li>" for name, text in credits)
    return (
        "<h3>Inkwell</h3><p>A writing assistant that runs GPT-2 on your own machine. "
        "Nothing you write leaves it.</p>"
        f"<table>{rows}</table>"
        f"<p>Settings: {escape(str(paths.config_dir()))}<br>Models: {escape(str(paths.models_dir()))}<br>"
        f"Autosaves: {escape(str(paths.state_dir()))}<br>Logs: {escape(str(paths.log_dir()))}</p>"
        f"<p><b>Licences</b></p><ul>{licences}</ul>"
        f"<p>Application id: {APP_ID}</p>"
    )
