"""The settings panel (a dock): every control edits one setting, and changes apply at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QKeySequence, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSlider,
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFontComboBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QKeySequenceEdit,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import models
from app.settings import LENGTHS, PROVIDERS, SAMPLING_KEYS, SPECS, THEMES, Settings
from app.spelling import LANGUAGES
from app.ui.actions import KEY_LABELS, resolve_keys
from app.ui.spell_check import system_language
from app.ui.theme import default_editor_font
from core.machine import cpu_count

# A new thread count reloads the model: it is applied once the spin box rests, not at each step.
THREADS_SETTLE_MS = 600


class WheelGuard(QObject):
    """Fields that change their value under the mouse wheel take it only once clicked or tabbed
    into: scrolling a long panel over them must scroll the panel, not change a setting in passing."""

    def __init__(self, scroll: QAbstractScrollArea) -> None:
        super().__init__(scroll)
        self._scroll = scroll

    def guard(self, field: QWidget) -> None:
        field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # not WheelFocus: a wheel turn gives no focus
        field.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not isinstance(event, QWheelEvent) or not isinstance(watched, QWidget) or watched.hasFocus():
            return False
        # Handed to the panel's scroll area itself: Qt passes an unhandled wheel event on to the
        # parents only when it came from the window system, not when a program sent it.
        viewport = self._scroll.viewport()
        at = viewport.mapFromGlobal(event.globalPosition())
        QApplication.sendEvent(viewport, QWheelEvent(
            at, event.globalPosition(), event.pixelDelta(), event.angleDelta(), event.buttons(),
            event.modifiers(), event.phase(), event.inverted(), event.source()))
        event.accept()  # handled: a window-system event must not go on to the parents a second time
        return True


class SettingsPanel(QDockWidget):
    model_reload_requested = Signal()

    def __init__(self, settings: Settings, default_keys: dict[str, str], parent: QWidget | None = None):
        super().__init__("Settings", parent)
        self.setObjectName("settingsDock")
        self.settings = settings
        self.default_keys = default_keys
        self._refreshers: dict[str, Callable[[], None]] = {}
        self._form: QFormLayout | None = None
        self._updating = False

        body = QWidget()
        body.setObjectName("settingsBody")
        self._layout = QVBoxLayout(body)
        self._layout.setContentsMargins(14, 10, 14, 14)
        self._layout.setSpacing(4)
        self._build_sampling()
        self._build_suggestions()
        self._build_model()
        self._build_editor()
        self._build_keys()
        reset = QPushButton("Reset all to defaults")
        reset.setToolTip("Sampling, behaviour, model, editor and keys; your presets and recent files stay")
        reset.clicked.connect(self._reset)
        self._layout.addSpacing(12)
        self._layout.addWidget(reset, 0, Qt.AlignmentFlag.AlignLeft)
        self._layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(body)
        self.setWidget(scroll)
        self._wheel_guard = WheelGuard(scroll)
        for kind in (QAbstractSpinBox, QComboBox, QAbstractSlider):
            for field in body.findChildren(kind):
                self._wheel_guard.guard(field)
        self.setMinimumWidth(300)
        settings.on_change(self._setting_changed)

    # building ---------------------------------------------------------------------------------

    def _section(self, title: str) -> QFormLayout:
        """A heading in the panel's one form (one form, so that all fields line up)."""
        if self._form is None:
            self._form = QFormLayout()
            self._form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            self._form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
            self._form.setHorizontalSpacing(12)
            self._form.setVerticalSpacing(6)
            self._layout.addLayout(self._form)
        label = QLabel(title)
        font = label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.08)
        label.setFont(font)
        label.setContentsMargins(0, 14 if self._form.rowCount() else 0, 0, 2)
        self._form.addRow(label)
        return self._form

    def _bind(self, key: str, widget: QWidget, read: Callable[[], Any], write: Callable[[Any], None],
              changed, settle_ms: int = 0) -> QWidget:
        """``widget`` edits setting ``key``. With ``settle_ms`` a change is applied once the
        value has stayed put that long (or the field is left), not at each step on the way."""
        widget.setObjectName(f"setting_{key}")

        def push(*_):
            if not self._updating:
                self.settings.set(key, read())

        def pull():
            self._updating = True
            try:
                write(self.settings[key])
            finally:
                self._updating = False

        if settle_ms:
            settle = QTimer(widget, singleShot=True, interval=settle_ms)
            settle.timeout.connect(push)

            def left() -> None:  # Enter, or focus elsewhere: apply now what waits
                if settle.isActive():
                    settle.stop()
                    push()

            if isinstance(widget, QAbstractSpinBox):
                widget.editingFinished.connect(left)
            changed.connect(lambda *_: None if self._updating else settle.start())
        else:
            changed.connect(push)
        self._refreshers[key] = pull
        pull()
        return widget

    def _spin(self, key: str, low: float, high: float, step: float = 1, decimals: int = 0,
              special: str | None = None, suffix: str = "", settle_ms: int = 0) -> QWidget:
        box: QSpinBox | QDoubleSpinBox
        read: Callable[[], float]
        if decimals:
            real = QDoubleSpinBox()
            real.setDecimals(decimals)
            real.setRange(low, high)
            real.setSingleStep(step)
            read = lambda: round(real.value(), decimals)  # noqa: E731
            box = real
        else:
            whole = QSpinBox()
            whole.setRange(int(low), int(high))
            whole.setSingleStep(int(step))
            read = whole.value
            box = whole
        box.setSuffix(suffix)
        box.setKeyboardTracking(False)  # typing "0.75" must not apply 0, 0.7 on the way
        if special:
            box.setSpecialValueText(special)
        return self._bind(key, box, read, box.setValue, box.valueChanged, settle_ms)

    def _check(self, key: str, text: str) -> QWidget:
        box = QCheckBox(text)
        return self._bind(key, box, box.isChecked, box.setChecked, box.toggled)

    def _choice(self, key: str, choices: dict[str, str]) -> QWidget:
        box = QComboBox()
        for value, label in choices.items():
            box.addItem(label, value)
        return self._bind(key, box, box.currentData, lambda v: box.setCurrentIndex(box.findData(v)),
                          box.currentIndexChanged)

    def _build_sampling(self) -> None:
        form = self._section("Sampling")
        self.preset_box = QComboBox()
        self.preset_box.setObjectName("preset")
        self.preset_box.activated.connect(self._preset_chosen)
        save = QPushButton("Save as…")
        save.setToolTip("Save the current sampling values as a preset of your own")
        save.clicked.connect(self._save_preset)
        self.delete_preset_button = QPushButton("Delete")
        self.delete_preset_button.clicked.connect(self._delete_preset)
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.preset_box, 1)
        row.addWidget(save)
        row.addWidget(self.delete_preset_button)
        form.addRow("Preset", row)
        form.addRow("Temperature", self._spin("temperature", 0, 2, 0.05, 2, special="0 (greedy)"))
        form.addRow("Top-k", self._spin("top_k", 0, 1000, 5, special="off"))
        form.addRow("Top-p", self._spin("top_p", 0.05, 1, 0.01, 2))
        form.addRow("Min-p", self._spin("min_p", 0, 1, 0.01, 2, special="off"))
        form.addRow("Repetition penalty", self._spin("repetition_penalty", 1, 2, 0.05, 2, special="off"))
        form.addRow("Suggestion length", self._spin("suggestion_tokens", 1, 128, suffix=" tokens"))
        form.addRow("Story length", self._spin("story_tokens", 8, 1024, 10, suffix=" tokens"))
        form.addRow("Alternatives", self._spin("alternatives", 1, 5))
        seed = QSpinBox()
        seed.setRange(-1, 2**31 - 1)
        seed.setSpecialValueText("random")
        seed.setKeyboardTracking(False)
        self._bind("seed", seed, lambda: None if seed.value() < 0 else seed.value(),
                   lambda v: seed.setValue(-1 if v is None else v), seed.valueChanged)
        form.addRow("Seed", seed)
        self._refresh_presets()

    def _build_suggestions(self) -> None:
        form = self._section("Suggestions")
        form.addRow(self._check("auto_suggest", "Suggest automatically while I type"))
        form.addRow("After a pause of", self._spin("delay_ms", 0, 5000, 50, suffix=" ms"))
        show = self._choice("show_suggestions", SPECS["show_suggestions"].labels or {})
        show.setToolTip("Often: a suggestion at every pause. When fairly sure, or only when sure: fewer "
                        "suggestions, right more often (Ctrl+Space asks for one whatever the model's "
                        "confidence).")
        form.addRow("Show suggestions", show)
        form.addRow("Stop at the", self._choice("length", LENGTHS))
        unsure = self._spin("min_confidence", 0, 0.5, 0.01, 2, special="never")
        unsure.setToolTip("A suggestion ends before a new word once the model's confidence in it (the mean "
                          "probability of its tokens) falls below this: sure continuations run on, unsure ones "
                          "stay short.")
        form.addRow("Or when less sure than", unsure)
        shading = self._check("confidence_shading", "Fade the words the model is unsure of")
        shading.setToolTip("Suggested text is painted fainter where the model gave it a low probability")
        form.addRow(shading)

    def _build_model(self) -> None:
        form = self._section("Model")
        self.model_box = QComboBox()
        self.model_box.setObjectName("setting_model")
        self.model_box.activated.connect(lambda _: self.settings.set("model", self.model_box.currentData()))
        self._refreshers["model"] = self.refresh_models
        self.refresh_models()
        form.addRow("Model", self.model_box)
        form.addRow("Run on", self._choice("provider", PROVIDERS))
        # No more than the cores there are (the engine limits a larger setting the same way).
        form.addRow("CPU threads", self._spin("threads", 0, cpu_count(), special="automatic",
                                                   settle_ms=THREADS_SETTLE_MS))
        self.model_status = QLabel("")
        self.model_status.setObjectName("modelStatus")
        self.model_status.setWordWrap(True)
        self.model_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.model_status)

    def _build_editor(self) -> None:
        form = self._section("Editor")
        font = QFontComboBox()
        self._bind("font_family", font, lambda: font.currentFont().family(),
                   lambda family: font.setCurrentFont(QFont(family) if family else default_editor_font(12)),
                   font.currentFontChanged)
        form.addRow("Font", font)
        form.addRow("Size", self._spin("font_size", 6, 72, suffix=" pt"))
        form.addRow("Theme", self._choice("theme", THEMES))
        form.addRow(self._check("wrap", "Wrap long lines"))
        form.addRow("Text width", self._spin("column_chars", 0, 400, 4, special="whole window",
                                             suffix=" characters"))
        form.addRow("Autosave every", self._spin("autosave_s", 1, 3600, 5, suffix=" s"))
        form.addRow(self._check("spell_check", "Check spelling as I type"))
        system = f"As the system ({LANGUAGES[system_language()]})"
        form.addRow("Spelling language", self._choice("spell_language", {"": system, **LANGUAGES}))

    def _build_keys(self) -> None:
        # A form of its own: its long labels would push every field above out of the panel.
        self._form = None
        self._layout.addSpacing(14)
        form = self._section("Keys")
        self.key_edits: dict[str, QKeySequenceEdit] = {}
        for name, label in KEY_LABELS.items():
            edit = QKeySequenceEdit()
            edit.setObjectName(f"key_{name}")
            edit.setMaximumSequenceLength(1)
            edit.setClearButtonEnabled(True)
            edit.editingFinished.connect(lambda n=name, e=edit: self._key_edited(n, e))
            self.key_edits[name] = edit
            form.addRow(label, edit)
        self.key_problem = QLabel("")  # why the key just pressed was refused
        self.key_problem.setObjectName("keyProblem")
        self.key_problem.setWordWrap(True)
        form.addRow(self.key_problem)
        self._refreshers["keys"] = self._refresh_keys
        self._refresh_keys()

    # reacting -----------------------------------------------------------------------------------

    def _setting_changed(self, key: str, value: Any) -> None:
        refresh = self._refreshers.get(key)
        if refresh and not self._updating:
            refresh()
        if key in SAMPLING_KEYS or key in ("user_presets", "preset"):
            self._refresh_presets()

    def _refresh_presets(self) -> None:
        current = self.settings.matching_preset()
        self.preset_box.blockSignals(True)
        self.preset_box.clear()
        for name in self.settings.presets():
            self.preset_box.addItem(name, name)
        if not current:
            self.preset_box.addItem("Custom", "")
        self.preset_box.setCurrentIndex(self.preset_box.findData(current))
        self.preset_box.blockSignals(False)
        self.delete_preset_button.setEnabled(current in self.settings["user_presets"])

    def _preset_chosen(self, index: int) -> None:
        name = self.preset_box.itemData(index)
        if name:
            self.settings.apply_preset(name)

    def _save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Name for these sampling settings:")
        if not ok:
            return
        try:
            self.settings.save_preset(name)
        except ValueError as exc:
            QMessageBox.warning(self, "Save preset", str(exc).split(": ", 1)[-1].capitalize())

    def _delete_preset(self) -> None:
        name = self.preset_box.currentData()
        if name in self.settings["user_presets"]:
            self.settings.delete_preset(name)

    def refresh_models(self) -> None:
        self.model_box.blockSignals(True)
        self.model_box.clear()
        installed = [m for m in models.installed_models() if m.problem is None]
        default = models.default_model()
        for model in installed:
            value = "" if model == default else str(model.folder)
            self.model_box.addItem(model.label, value)
        chosen = self.settings["model"]
        if chosen and self.model_box.findData(chosen) < 0:
            # a model used from its own folder, outside the two model folders
            active, _ = models.active_model(chosen)
            if active is not None and str(active.folder) == chosen:
                self.model_box.addItem(active.label, chosen)
        if not self.model_box.count():
            self.model_box.addItem("No model installed", "")
        index = self.model_box.findData(chosen)
        self.model_box.setCurrentIndex(max(0, index))
        self.model_box.blockSignals(False)

    def set_model_status(self, text: str) -> None:
        self.model_status.setText(text)

    def _refresh_keys(self) -> None:
        keys, _ = resolve_keys(self.settings["keys"])  # the keys in use: a clashing one is not
        self.key_problem.setText("")
        for name, edit in self.key_edits.items():
            edit.blockSignals(True)
            edit.setKeySequence(QKeySequence(keys.get(name, "")))
            edit.blockSignals(False)

    def _key_edited(self, name: str, edit: QKeySequenceEdit) -> None:
        text = edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
        keys = dict(self.settings["keys"])
        if text == self.default_keys.get(name):
            keys.pop(name, None)
        else:
            keys[name] = text
        _, problems = resolve_keys(keys)
        if name in problems:
            self._refresh_keys()  # refused: the field shows the key the command still has
            self.key_problem.setText(f"{problems[name]}: choose another.")
            return
        self.settings.set("keys", keys)  # (the fields follow, as on any change of the setting)

    def _reset(self) -> None:
        answer = QMessageBox.question(self, "Reset settings",
                                      "Reset all settings to their defaults? Your presets and recent files stay.")
        if answer == QMessageBox.StandardButton.Yes:
            self.settings.reset()
            for refresh in self._refreshers.values():
                refresh()
            self._refresh_presets()
