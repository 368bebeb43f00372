"""JsonProcess reads a real child process: lines and UTF-8 characters that a read splits in two
reach the log and the events whole."""

from __future__ import annotations

from app.ui.jobs import JsonProcess, LineBuffer

# The child writes a line in two halves, splitting it inside "é" (two bytes in UTF-8), and waits
# for the test to say the first half was read before it writes the second.
CHILD = r'''
import sys
err, out = sys.stderr.buffer, sys.stdout.buffer
err.write("café au lait, première".encode()[:4]); err.flush()
out.write(b'{"event": "progress", "text": "caf\xc3'); out.flush()
sys.stdin.readline()
err.write(b"\xa9 au lait, premi\xc3\xa8re\n10%\r20%\rdone\n"); err.flush()
out.write(b'\xa9"}\n'); out.flush()
err.write(b"last words without a newline")
'''


def test_lines_split_across_reads_arrive_whole(qtbot, tmp_path, monkeypatch):
    (tmp_path / "split_child.py").write_text(CHILD, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    log = tmp_path / "job.log"
    job = JsonProcess("split_child", [], what="the test job", log_path=log)
    lines, events = [], []
    job.log_line.connect(lines.append)
    job.received.connect(events.append)
    first_halves = [job.process.readyReadStandardError, job.process.readyReadStandardOutput]
    with qtbot.waitSignals(first_halves, timeout=20000):
        job.start()
    assert lines == [] and events == []  # half a line is not a line
    job.process.write(b"go\n")
    with qtbot.waitSignal(job.finished, timeout=20000):
        pass
    assert lines == ["café au lait, première", "10%", "20%", "done", "last words without a newline"]
    assert events == [{"event": "progress", "text": "café"}]
    assert log.read_text(encoding="utf-8").splitlines()[1:] == lines
    assert job.outcome == "ok"


def test_line_buffer():
    buffer = LineBuffer()
    data = "ünïcödé line\r\nnext\n".encode()
    lines = []
    for i in range(len(data)):  # one byte at a time: every split there is
        lines += buffer.feed(data[i:i + 1])
    assert [line for line in lines if line] == ["ünïcödé line", "next"]
    # A broken character at the very end is replaced, not dropped with its line.
    assert buffer.feed(b"tail \xe2\x82") == [] and buffer.finish() == ["tail \ufffd"]


def test_the_event_signal_does_not_shadow_qobject_event(qtbot):
    """Issue 22.11: a signal named ``event`` hid QObject.event, the method Qt calls with every
    event the object receives."""
    from PySide6.QtCore import QCoreApplication, QEvent, QObject

    assert "event" not in vars(JsonProcess)
    assert JsonProcess.event is QObject.event
    job = JsonProcess("json", [], what="nothing")
    QCoreApplication.sendEvent(job, QEvent(QEvent.Type.User))  # reaches QObject.event, not a signal
