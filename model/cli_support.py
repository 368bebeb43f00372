"""What the JSON-lines tools (export, model installer, fine-tune) share on their command line."""

from __future__ import annotations

import json
import sys
from typing import Any


def raise_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM handler: QProcess.terminate() (the GUI's Cancel) unwinds like Ctrl-C, so the tool
    removes its temporary files on the way out."""
    raise KeyboardInterrupt


def fail(prog: str, message: str, as_json: bool, code: int = 1) -> int:
    """Report an error for people (stderr) and, with ``as_json``, as an ``error`` event; returns ``code``."""
    if as_json:
        print(json.dumps({"event": "error", "message": message}), flush=True)
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    return code
