"""What the JSON-lines tools (export, model installer, fine-tune) share on their command line."""

from __future__ import annotations

import sys
from typing import Any

from core.events import emit_json


def raise_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM handler: QProcess.terminate() (the GUI's Cancel) unwinds like Ctrl-C, so the tool
    removes its temporary files on the way out."""
    raise KeyboardInterrupt


def fail(prog: str, message: str, as_json: bool, code: int = 1) -> int:
    """Report an error for people (stderr) and, with ``as_json``, as an ``error`` event; returns ``code``.

    Run by a person (not ``--json``), the error also goes to Inkwell's log; with ``--json`` the
    program reading the events (the editor) reports and logs it, so it is not logged twice.
    """
    from core.names import printable

    # A message may quote a name from a file (a manifest's): never a terminal's escape sequence.
    message = printable(message, limit=4000)
    if as_json:
        emit_json({"event": "error", "message": message})
    elif code != 130:  # a cancel is no error
        log_error(f"{prog}: {message}")
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    return code


def log_error(message: str) -> None:
    """``message`` to Inkwell's log, when there can be one (never an error of its own)."""
    try:
        from core import logs

        if logs.setup() is not None:
            logs.error("%s", message)
    except Exception:  # noqa: BLE001 - the log helps explain a failure; it is no reason for another
        pass
