"""The Qt binding itself: Inkwell emits signals by the thousand (one per streamed token)."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    fired = Signal(int, int, str)


def test_signal_emit_keeps_reference_counts():
    # PySide6 6.12.0 on Python 3.11 releases a reference to True per emit(), which ends in
    # "Fatal Python error: bool_dealloc" after a few hundred emits.
    emitter = _Emitter()
    received = []
    emitter.fired.connect(lambda a, b, c: received.append(a))
    before = sys.getrefcount(True)
    for i in range(200):
        emitter.fired.emit(i, 0, "x")
    assert len(received) == 200
    assert abs(sys.getrefcount(True) - before) < 50


def test_an_unexpected_dialog_fails_the_test_instead_of_waiting(qtbot):
    from PySide6.QtWidgets import QMessageBox, QWidget

    parent = QWidget()
    qtbot.addWidget(parent)
    with pytest.raises(AssertionError, match="unexpected question dialog: 'Stop training.': 'Training is"):
        QMessageBox.question(parent, "Stop training?", "Training is still running.")
    box = QMessageBox(QMessageBox.Icon.Warning, "Replace?", "The file changed on disk.", parent=parent)
    with pytest.raises(AssertionError, match="unexpected message box dialog: 'Replace.'"):
        box.exec()
