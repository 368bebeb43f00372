"""The wizard's child processes (warm-up estimate, training, comparison, export): started through
app.ui.jobs.JsonProcess and stopped without waiting. Stopping sends SIGTERM (a warm-up removes its
temporary files, a training run writes its checkpoint) and ``on_end`` follows once the process has
ended; the GUI thread never waits for it."""

from __future__ import annotations

from pathlib import Path
from typing import TypeGuard

import shiboken6

from app.ui.jobs import KILL_AFTER_MS, JsonProcess


def start_child(parent, module: str, args: list[str], on_event, on_end, what: str,
                log_path: Path | None = None, kill_after_ms: int = KILL_AFTER_MS) -> JsonProcess:
    """Start ``python -m module args``; ``on_end(process, outcome, message)`` with outcome "ok",
    "stopped" (cancelled on request), "error" (it said what is wrong) or "crashed"."""
    proc = JsonProcess(module, args, parent, what, log_path=log_path, kill_after_ms=kill_after_ms)
    proc.received.connect(on_event)
    proc.finished.connect(lambda _ok, message: on_end(
        proc, {"cancelled": "stopped", None: "crashed"}.get(proc.outcome, proc.outcome), message))
    proc.start()
    return proc


def running(proc: JsonProcess | None) -> TypeGuard[JsonProcess]:
    # (a process whose page is gone went with it: it runs no more)
    return proc is not None and shiboken6.isValid(proc) and shiboken6.isValid(proc.process) and proc.running


def stop(proc: JsonProcess | None) -> None:
    """Ask a child to stop (it is killed if it has not within its ``kill_after_ms``); returns at
    once. A stopped child still reports its end (``finished``)."""
    if running(proc):
        proc.cancel()
