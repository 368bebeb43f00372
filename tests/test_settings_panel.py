"""The settings panel: the mouse wheel scrolls the panel; fields take it only once focused."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QFontComboBox,
    QScrollArea,
    QSpinBox,
)

from app.settings import Settings
from app.ui.actions import DEFAULT_KEYS
from app.ui.settings_panel import SettingsPanel


def wheel(widget, notches: int = -1) -> None:
    """Turn the wheel ``notches`` steps (negative: towards the writer, i.e. scroll down) over ``widget``."""
    for _ in range(abs(notches)):
        at = QPointF(widget.width() / 2, widget.height() / 2)
        QApplication.sendEvent(widget, QWheelEvent(
            at, QPointF(widget.mapToGlobal(at.toPoint())), QPoint(0, 0), QPoint(0, 120 if notches > 0 else -120),
            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))


@pytest.fixture
def panel(qtbot, tiny_bundle):
    settings = Settings.load()
    settings.set("model", str(tiny_bundle))  # a second model in the list, so the wheel could switch
    changed = []
    settings.on_change(lambda key, value: changed.append(key))
    panel = SettingsPanel(settings, DEFAULT_KEYS)
    qtbot.addWidget(panel)
    panel.resize(340, 320)  # shorter than its fields: the panel scrolls
    panel.show()
    qtbot.waitExposed(panel)
    panel.changed = changed
    return panel


def test_wheel_over_unfocused_fields_scrolls_the_panel(panel, qtbot):
    bar = panel.findChild(QScrollArea).verticalScrollBar()
    assert bar.maximum() > 0
    temperature = panel.findChild(QDoubleSpinBox, "setting_temperature")
    wheel(temperature, -3)
    assert panel.settings["temperature"] == 0.8 and temperature.value() == 0.8
    assert panel.preset_box.currentText() == "Balanced"
    scrolled = bar.value()
    assert scrolled > 0
    for name, kind in (("setting_model", QComboBox), ("setting_font_size", QSpinBox),
                       ("setting_font_family", QFontComboBox), ("setting_length", QComboBox)):
        field = panel.findChild(kind, name)
        chosen = field.currentText() if isinstance(field, QComboBox) else field.value()
        wheel(field, -2)
        wheel(field, 1)
        assert (field.currentText() if isinstance(field, QComboBox) else field.value()) == chosen, name
    assert bar.value() > scrolled
    assert panel.changed == []  # no setting changed at all


def test_a_focused_field_takes_the_wheel(panel, qtbot):
    temperature = panel.findChild(QDoubleSpinBox, "setting_temperature")
    assert temperature.focusPolicy() == Qt.FocusPolicy.StrongFocus
    bar = panel.findChild(QScrollArea).verticalScrollBar()
    temperature.setFocus()
    qtbot.waitUntil(temperature.hasFocus)
    wheel(temperature, -1)
    assert panel.settings["temperature"] == 0.75
    assert bar.value() == 0
    length = panel.findChild(QComboBox, "setting_length")
    length.setFocus()
    qtbot.waitUntil(length.hasFocus)
    wheel(length, -1)
    assert panel.settings["length"] != "sentence"
