"""Running the PyTorch tools (``model.export``, ``model.train``) as subprocesses of the GUI.

The GUI never imports torch: it starts these tools in their own processes (QProcess) and reads
their JSON-lines events. ``tool_command`` says what to start, from a Python install and from the
standalone build alike; ``torch_missing`` says, in words for the user, why they cannot run here.
"""

from __future__ import annotations

import importlib.util
import sys

from app.about import frozen

# module -> the ``inkwell`` subcommand that runs it (the standalone build has no ``python -m``)
TOOLS = {"model.export": "export", "model.train": "train"}

PYTORCH_NEEDED = (
    "Importing PyTorch checkpoints and fine-tuning need PyTorch, which the standalone Inkwell "
    "leaves out to keep the download small. To use them, install Inkwell with pip from its source "
    "folder (see Install in the README: pip install torch==2.13.0 .) and run 'inkwell export' or "
    "'inkwell train' from that install."
)


def torch_missing() -> str | None:
    """Why the PyTorch tools cannot run in this installation, or None when they can."""
    if importlib.util.find_spec("torch") is not None:  # finds, does not import
        return None
    if frozen():
        return PYTORCH_NEEDED
    return ("Importing PyTorch checkpoints and fine-tuning need PyTorch, which is not installed: "
            "pip install torch==2.13.0 (the CPU build is enough).")


def tool_command(module: str, args: list[str]) -> tuple[str, list[str]]:
    """Program and arguments that run ``python -m MODULE ARGS`` here (for QProcess.start)."""
    if frozen():
        return sys.executable, [TOOLS[module], *args]
    return sys.executable, ["-m", module, *args]
