"""What the fine-tune wizard's pages share: page ids, limits and message styles."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

TEXTS, BASE, METHOD, TRAINING, RESULTS = range(5)
# Below this the Method page cannot make even one batch of a useful size: refuse early.
MIN_TOKENS = 500
# Stopping a training run lets it finish its step and write a checkpoint (a large model's takes a
# while) before the process is killed.
TRAINING_STOP_MS = 300_000
WARNING_STYLE = "color: #a15c00;"
ERROR_STYLE = "color: #b00020;"


def error_label(style: str = ERROR_STYLE) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(style)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label
