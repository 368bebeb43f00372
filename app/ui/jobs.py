"""A subprocess that reports JSON lines on stdout, driven through QProcess.

Slow work that needs torch or the network (exports, downloads) runs in its own process, so the
editor never imports torch, stays responsive, and cancelling is ending the process.
"""

from __future__ import annotations

import codecs
import re
import sys
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from core import logs
from core.events import read_line

KILL_AFTER_MS = 5000  # after terminate(), how long a process may take to clean up
LINE_LIMIT = 1 << 20  # characters a line may grow to before it is passed on as it is
_LINE_END = re.compile(r"\r\n|[\r\n]")


class LineBuffer:
    """Bytes as a pipe delivers them in, whole lines out.

    A read ends wherever the pipe's buffer did: in the middle of a line, or of a UTF-8
    character. The bytes are decoded incrementally (a character split across two reads is
    joined) and text is held back until its line ends (\n, or \r, with which a progress bar
    redraws its line; a \r\n split across reads gives an empty line, which readers skip);
    ``finish`` gives what remains. A line longer than LINE_LIMIT is passed on in pieces rather
    than held without bound.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial = ""

    def feed(self, data: bytes) -> list[str]:
        *lines, self._partial = _LINE_END.split(self._partial + self._decoder.decode(data))
        while len(self._partial) > LINE_LIMIT:
            lines.append(self._partial[:LINE_LIMIT])
            self._partial = self._partial[LINE_LIMIT:]
        return lines

    def finish(self) -> list[str]:
        rest, self._partial = self._partial + self._decoder.decode(b"", final=True), ""
        return [rest] if rest else []


class JsonProcess(QObject):
    """``python -m MODULE ARGS...``; ``received`` per JSON line; ``finished(ok, message)`` once.

    ``message`` is the process's own ``error`` event when it sent one, else what can be said
    about how it ended (cancelled, killed, the last line it wrote on stderr); ``outcome`` says
    the same in one word: "ok", "cancelled", "error" (its own error event) or "crashed".
    With ``log_path`` its stderr is appended to that file as it comes (kept after a crash) and
    each line is also sent as ``log_line``. ``kill_after_ms``: how long ``cancel`` waits for
    the process to clean up (a training run writes a checkpoint) before killing it.
    """

    # One JSON line's event. Not named ``event``: that would hide QObject.event, the method Qt
    # calls with every event the object receives.
    received = Signal(dict)
    finished = Signal(bool, str)
    log_line = Signal(str)

    def __init__(self, module: str, args: list[str], parent: QObject | None = None, what: str = "the task",
                 log_path: Path | None = None, kill_after_ms: int = KILL_AFTER_MS):
        super().__init__(parent)
        self.what = what
        self.log_path = log_path
        self.outcome: str | None = None
        self.process = QProcess(self)
        self.process.setProgram(sys.executable)
        self.process.setArguments(["-m", module, *args])
        self.process.readyReadStandardOutput.connect(self._stdout)
        self.process.readyReadStandardError.connect(self._stderr)
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)
        self._out = LineBuffer()
        self._err = LineBuffer()
        self._stderr_lines: deque[str] = deque(maxlen=20)
        self._error_message: str | None = None
        self._cancelled = False
        self._done = False
        self._kill = QTimer(self, singleShot=True, interval=kill_after_ms)
        self._kill.timeout.connect(self.process.kill)

    def start(self) -> None:
        if self.log_path is not None:
            self._append_log(self.log_path, [f"--- python -m {' '.join(self.process.arguments()[1:])}"])
        self.process.start()

    def kill(self) -> None:
        """End the process now (it gets no chance to clean up); ``outcome`` is then "crashed"."""
        if self.running:
            self.process.kill()

    @property
    def stderr_tail(self) -> list[str]:
        return list(self._stderr_lines)

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Ask the process to stop (SIGTERM: it removes its temporary files), then kill it."""
        if self.running:
            self._cancelled = True
            self.process.terminate()
            self._kill.start()

    def _stdout(self, final: bool = False) -> None:
        lines = self._out.feed(bytes(self.process.readAllStandardOutput().data()))
        for line in lines + (self._out.finish() if final else []):
            if (event := read_line(line)) is not None:
                if event["event"] == "error":
                    self._error_message = str(event.get("message", ""))
                self.received.emit(event)

    def _stderr(self, final: bool = False) -> None:
        lines = self._err.feed(bytes(self.process.readAllStandardError().data())) + (self._err.finish() if final else [])
        lines = [line for line in lines if line.strip()]
        self._stderr_lines.extend(lines)
        if self.log_path is not None:
            self._append_log(self.log_path, lines)
        for line in lines:
            self.log_line.emit(line)

    def _append_log(self, path: Path, lines: list[str]) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as f:
                f.writelines(line + "\n" for line in lines)
        except OSError:
            pass  # the log helps explain a failure; it is no reason for one

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.outcome = "crashed"
            self._finish(False, f"could not start {self.what} ({self.process.errorString()})")

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill.stop()
        self._stdout(final=True)
        self._stderr(final=True)
        if self._error_message is not None and not self._cancelled:
            self.outcome = "ok" if code == 0 else "error"
            self._finish(code == 0, self._error_message)
        elif self._cancelled:
            self.outcome = "cancelled"
            self._finish(False, self._error_message or "cancelled")
        elif status == QProcess.ExitStatus.CrashExit:
            self.outcome = "crashed"
            self._finish(False, f"{self.what} stopped unexpectedly (the process was killed); "
                                "you can start it again")
        elif code != 0:
            self.outcome = "crashed"
            last = self._stderr_lines[-1] if self._stderr_lines else f"exit code {code}"
            self._finish(False, f"{self.what} failed: {last}")
        else:
            self.outcome = "ok"
            self._finish(True, "")

    def _finish(self, ok: bool, message: str) -> None:
        if not self._done:
            self._done = True
            if self.outcome == "error":
                logs.warning("%s failed: %s", self.what, message)
            elif self.outcome == "crashed":
                tail = "\n    ".join(self.stderr_tail[-8:])
                logs.error("%s (python -m %s) crashed: %s%s", self.what, " ".join(self.process.arguments()[1:]),
                           message, f"\n    {tail}" if tail else "")
            self.finished.emit(ok, message)
