"""Whether the PyTorch tools (``model.export``, ``model.train``) can run in this installation.

The GUI never imports torch: it starts these tools in their own processes as
``sys.executable -m MODULE`` (the standalone build's program understands ``-m`` too, see
packaging/inkwell_main.py). The standalone build leaves PyTorch out; ``torch_missing`` says, in
words for the user, what to install instead. Checking costs no torch import.
"""

from __future__ import annotations

import importlib.util

from app.about import frozen

PYTORCH_NEEDED = (
    "Importing PyTorch checkpoints and fine-tuning need PyTorch, which the standalone Inkwell "
    "leaves out to keep the download small. To use them, install Inkwell with pip from its source "
    "folder (see Install in the README: pip install torch==2.13.0 .) and use them from that install."
)


def torch_missing() -> str | None:
    """Why the PyTorch tools cannot run in this installation, or None when they can."""
    if importlib.util.find_spec("torch") is not None:  # finds, does not import
        return None
    if frozen():
        return PYTORCH_NEEDED
    return ("Importing PyTorch checkpoints and fine-tuning need PyTorch, which is not installed: "
            "pip install torch==2.13.0 (the CPU build is enough).")


def missing_package(exc: ModuleNotFoundError) -> str | None:
    """What to tell the user when a tool stopped on a package that is not installed (PyTorch in the
    standalone build, above all); None when the missing module is Inkwell's own, which is a bug."""
    top = (exc.name or "").split(".")[0]
    if not top or top in ("app", "model"):
        return None
    return (torch_missing() if top == "torch" else None) or \
        f"needs the Python package {exc.name!r}, which is not installed"
