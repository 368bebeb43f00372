"""A Python module run as a child process through QProcess, reporting JSON-lines events.

The GUI never imports torch: training, the warm-up estimate and export run as
``python -m MODULE ...`` children that print one JSON object per line on stdout and a log for
people on stderr. This class turns stdout into ``event`` signals, keeps the stderr log (in a
file when given one, so it survives a crash and the app), and says how the child ended:
"ok", "stopped" (asked to stop: it checkpointed and left), "error" (it reported an error event)
or "crashed" (killed, or died without a word).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

ROOT = Path(__file__).resolve().parent.parent  # where the `model` package lives


class JsonLinesProcess(QObject):
    event = Signal(dict)
    log_line = Signal(str)
    ended = Signal(str, str)  # outcome ("ok" | "stopped" | "error" | "crashed"), message for people

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self.log_path: Path | None = None
        self.log_tail: list[str] = []
        self.last_error: str | None = None
        self._stdout = b""
        self._stderr = b""
        self._stop_requested = False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning

    def start(self, module: str, args: list[str], log_path: Path | None = None) -> None:
        if self.running:
            raise RuntimeError("the process is still running")
        self.log_path, self.log_tail, self.last_error = log_path, [], None
        self._stdout = self._stderr = b""
        self._stop_requested = False
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(f"--- python -m {module} {' '.join(args)}\n")
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        # The child imports the same code as this process, installed or not.
        env.insert("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), env.value("PYTHONPATH")) if p))
        env.insert("PYTHONUNBUFFERED", "1")
        proc.setProcessEnvironment(env)
        proc.setWorkingDirectory(str(ROOT))
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._error)
        self.process = proc
        proc.start(sys.executable, ["-m", module, *args])

    def stop(self) -> None:
        """Ask the child to stop (SIGTERM): model.train checkpoints and exits."""
        if self.running:
            self._stop_requested = True
            self.process.terminate()

    def kill(self) -> None:
        if self.running:
            self.process.kill()

    def wait(self, msecs: int = 60000) -> bool:
        return self.process is None or self.process.waitForFinished(msecs)

    # --- reading ----------------------------------------------------------------------------

    def _read_stdout(self) -> None:
        self._stdout += bytes(self.process.readAllStandardOutput())
        *lines, self._stdout = self._stdout.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                self._log(line)  # a stray print: keep it, it may explain a failure
                continue
            if isinstance(event, dict) and "event" in event:
                if event["event"] == "error":
                    self.last_error = str(event.get("message", "unknown error"))
                self.event.emit(event)

    def _read_stderr(self) -> None:
        self._stderr += bytes(self.process.readAllStandardError())
        *lines, self._stderr = self._stderr.split(b"\n")
        for raw in lines:
            self._log(raw.decode("utf-8", errors="replace").rstrip("\r"))

    def _log(self, line: str) -> None:
        self.log_tail = (self.log_tail + [line])[-400:]
        if self.log_path is not None:
            try:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
            except OSError:
                pass  # the log is a help, not a reason to stop
        self.log_line.emit(line)

    # --- the end ----------------------------------------------------------------------------

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        for rest in (self._stderr, self._stdout):
            if rest.strip():
                self._log(rest.decode("utf-8", errors="replace"))
        self._stdout = self._stderr = b""
        stopped_codes = (128 + signal.SIGTERM, 128 + signal.SIGINT)
        if status == QProcess.ExitStatus.NormalExit and code == 0:
            self.ended.emit("ok", "")
        elif self._stop_requested and status == QProcess.ExitStatus.NormalExit and code in stopped_codes:
            self.ended.emit("stopped", "")
        elif self.last_error is not None and status == QProcess.ExitStatus.NormalExit:
            self.ended.emit("error", self.last_error)
        elif status == QProcess.ExitStatus.CrashExit:
            self.ended.emit("crashed", "the process was killed or crashed")
        else:
            self.ended.emit("crashed", f"the process ended with exit code {code} without finishing")

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.ended.emit("crashed", f"could not start {sys.executable} ({self.process.errorString()})")
