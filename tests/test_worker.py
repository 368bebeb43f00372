"""The engine's worker thread: loading off the GUI thread, newest request wins, errors reported."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.engine.params import GenerationParams
from app.ui.worker import Generator

ROOT = Path(__file__).resolve().parent.parent
# No word checks: the tiny random model's first word is often not a word, and a row dropped for it
# streams no piece, so a test holding the worker at its first piece would not hold it.
STORY = GenerationParams(max_new_tokens=200, temperature=1.0, stop_at_eot=False, real_words=False)


def test_generation_runs_on_the_worker_thread(qtbot, tiny_bundle):
    generator = Generator()
    try:
        with qtbot.waitSignal(generator.loaded, timeout=30000) as loaded:
            generator.load(str(tiny_bundle))
        assert loaded.args[0].model_name == "tiny-test"
        threads = []
        generator._worker.piece.connect(lambda *a: threads.append(threading.get_ident()),
                                        type=Qt.ConnectionType.DirectConnection)
        pieces = []
        generator.piece.connect(lambda handle, alt, piece, prob: pieces.append((handle, alt, piece, prob)))
        with qtbot.waitSignal(generator.finished, timeout=20000) as done:
            # (Every word shown: a random model's two sampled rows may both be non-words, and gated.)
            request = generator.request("suggestion", "It was a dark",
                                        GenerationParams(max_new_tokens=8, num_alternatives=2, real_words=False))
        handle, result = done.args
        assert handle is request and not result.cancelled and len(result.alternatives) >= 1
        assert {alt for _, alt, _, _ in pieces} <= {0, 1}
        first = result.alternatives[0]  # made by the pieces of its engine row
        assert "".join(p for _, alt, p, _ in pieces if alt == first.row) == first.text
        assert all(0 < prob <= 1 for *_, prob in pieces)  # each piece with the model's probability of it
        assert threads and threading.get_ident() not in threads  # streamed from the worker thread
    finally:
        generator.shutdown()


def test_a_cancelled_request_stops_and_the_next_one_runs(qtbot, tiny_bundle):
    generator = Generator()
    try:
        with qtbot.waitSignal(generator.loaded, timeout=30000):
            generator.load(str(tiny_bundle))
        finished = {}
        generator.finished.connect(lambda handle, result: finished.__setitem__(handle, result))
        # The tiny model can write a whole story before the next request is made: hold the worker at
        # its first streamed piece until the newer request exists, so the race is decided, not timed.
        gate = threading.Event()
        generator._worker.piece.connect(lambda *a: gate.wait(10), type=Qt.ConnectionType.DirectConnection)
        first = generator.request("story", "Once upon a time", STORY)
        second = generator.request("suggestion", "Once upon a time there", GenerationParams(max_new_tokens=4))
        first.cancel()  # (by the one who asked: the Generator keeps no "current" request of its own)
        gate.set()
        qtbot.waitUntil(lambda: second in finished, timeout=20000)
        assert not finished[second].cancelled
        # the first either never ran (superseded in the queue) or stopped early, cancelled
        if first in finished:
            assert finished[first].cancelled
            # (superseded before it ran, it has no text at all)
            assert all(len(alt.token_ids) < 200 for alt in finished[first].alternatives)
    finally:
        generator.shutdown()


def test_engine_errors_are_reported_not_raised(qtbot, tiny_bundle, tmp_path):
    generator = Generator()
    try:
        with qtbot.waitSignal(generator.load_failed, timeout=30000) as failed:
            generator.load(str(tmp_path / "no-such-model"))
        assert "no-such-model" in failed.args[0]
        with qtbot.waitSignal(generator.failed, timeout=5000) as no_model:
            generator.request("suggestion", "text", GenerationParams())
        assert "No model" in no_model.args[1]
        with qtbot.waitSignal(generator.loaded, timeout=30000):
            generator.load(str(tiny_bundle))
        with qtbot.waitSignal(generator.failed, timeout=5000) as bad:
            refused = generator.request("suggestion", "text", GenerationParams(top_p=0.0))
            assert refused.refused  # refused on the GUI thread: nothing went to the worker
        assert bad.args[0] is refused and "top_p" in bad.args[1]
    finally:
        generator.shutdown()


@pytest.mark.slow
def test_the_window_never_imports_torch(tiny_bundle):
    code = f"""
import sys
from PySide6.QtWidgets import QApplication
from PySide6.QtTest import QTest
app = QApplication([])
from app.settings import Settings
from app.ui.main_window import MainWindow
settings = Settings.load()
settings.set("model", {str(tiny_bundle)!r})
window = MainWindow(settings)
window.show()
window.start()
while not window.suggestions.generator.ready:
    QTest.qWait(20)
window.editor.setPlainText("Some text")
window.suggestions.story_continue()
while window.editor.generating:
    QTest.qWait(20)
window.editor.document().setModified(False)
window.close()
print("torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
