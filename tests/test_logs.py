"""Inkwell's log: warnings and errors go to a rotating file in the log folder; a log that cannot
be opened never stops anything; Help ▸ Open log folder shows it."""

from __future__ import annotations

import os
import sys

import pytest

from core import logs, paths


@pytest.fixture
def log_file(inkwell_home):
    path = logs.setup()
    assert path == paths.log_dir() / "inkwell.log"
    yield path
    for handler in list(logs.logger().handlers):  # the next test has another INKWELL_HOME
        logs.logger().removeHandler(handler)
        handler.close()


def text(path) -> str:
    for handler in logs.logger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8") if path.exists() else ""


def test_warnings_and_errors_are_written_and_rotated(log_file, monkeypatch):
    logs.logger().info("not this")
    logs.warning("the model %s was not loaded", "tiny")
    assert "WARNING" in text(log_file) and "the model tiny was not loaded" in text(log_file)
    assert "not this" not in text(log_file)
    handler = next(h for h in logs.logger().handlers if isinstance(h, logs._Handler))
    monkeypatch.setattr(handler, "maxBytes", 2000)
    for i in range(100):
        logs.error("error number %d with some words to fill the file", i)
    assert (log_file.parent / "inkwell.log.1").is_file()
    assert len(list(log_file.parent.glob("inkwell.log*"))) <= 1 + logs.BACKUPS
    assert os.path.getsize(log_file) <= 2000 + 200


def test_a_log_that_cannot_be_opened_stops_nothing(inkwell_home, capsys):
    inkwell_home.mkdir(parents=True, exist_ok=True)
    (inkwell_home / "log").write_text("a file where the log folder should be")
    assert logs.setup() is None
    logs.error("nowhere to go")
    (inkwell_home / "log").unlink()
    (inkwell_home / "log" / "inkwell.log").mkdir(parents=True)  # a folder where the file should be
    assert logs.setup() is None
    logs.error("still nowhere")
    assert capsys.readouterr().err == ""


def test_a_log_that_fails_later_is_quiet(log_file, capsys):
    """The disk fills up after the log was opened: no traceback on stderr, nothing raised."""
    import io

    class Full(io.StringIO):
        def write(self, data):
            raise OSError(28, "No space left on device")

    handler = next(h for h in logs.logger().handlers if isinstance(h, logs._Handler))
    handler.stream.close()
    handler.stream = Full()
    logs.error("the disk is full")
    assert capsys.readouterr().err == ""


def test_an_engine_failure_is_logged(log_file, qtbot, tmp_path):
    from app.ui.worker import Generator

    generator = Generator()
    try:
        with qtbot.waitSignal(generator.load_failed, timeout=20000):
            generator.load(str(tmp_path / "no-model"))
    finally:
        generator.shutdown()
    assert "model not loaded" in text(log_file) and "no-model" in text(log_file)


def test_a_crashed_child_process_is_logged(log_file, qtbot, tmp_path, monkeypatch):
    from app.ui.jobs import JsonProcess

    (tmp_path / "dies.py").write_text("import os, signal, sys\nprint('about to go', file=sys.stderr, flush=True)\n"
                                      "os.kill(os.getpid(), signal.SIGKILL)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    job = JsonProcess("dies", [], what="the test job")
    with qtbot.waitSignal(job.finished, timeout=20000):
        job.start()
    assert job.outcome == "crashed"
    log = text(log_file)
    assert "ERROR" in log and "the test job (python -m dies) crashed" in log and "about to go" in log


def test_a_download_error_on_the_command_line_is_logged(log_file, fake_hub, capsys):
    from app import models_cli

    assert models_cli.main(["download", "someone/missing"]) == 1
    assert "inkwell models: someone/missing: no such repository" in text(log_file)
    assert "error: someone/missing: no such repository" in capsys.readouterr().err


def test_help_opens_the_log_folder(qtbot, monkeypatch):
    from PySide6.QtGui import QAction, QDesktopServices

    from app.settings import Settings
    from app.ui.main_window import MainWindow

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    window = MainWindow(Settings.load())
    qtbot.addWidget(window)
    action = window.findChild(QAction, "openLogFolder")
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    assert action in help_menu.actions()
    action.trigger()
    assert [url.toLocalFile() for url in opened] == [str(paths.log_dir())]
    window.editor.document().setModified(False)
    window.close()


@pytest.mark.slow
def test_the_app_starts_without_a_log_folder(tmp_path):
    """`inkwell` with a log folder it cannot create: the window still comes up."""
    import subprocess

    home = tmp_path / "home"
    home.mkdir()
    (home / "log").write_text("not a folder")
    env = {**os.environ, "INKWELL_HOME": str(home), "INKWELL_QUIT_WHEN_SHOWN": "1", "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-m", "app.cli"], env=env, capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0, proc.stderr
    assert "window shown" in proc.stdout
