"""Models ▸ Make a faster copy…: what ``inkwell compress`` is to be asked (app/compress_cli.py).

The writer picks how much of the model's work per word to keep and the texts the copy learns from
(their own, so it keeps their voice); the dialog says what the copy will be and, on request, how
long making the copy takes (``inkwell compress --estimate``: a warm-up of the pruning and of the
training, in a child process like the fine-tune wizard's). The Models dialog runs the command and
shows its progress.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app import models
from app.finetune import describe_compress_estimate, name_problem
from app.ui.finetune_wizard.children import start_child, stop
from app.ui.jobs import JsonProcess
from core.config import GPT2Config
from core.errors import ModelError
from core.prune_plan import plan, smallest_share

DEFAULT_KEEP_PERCENT = 50


class CompressDialog(QDialog):
    def __init__(self, model: models.InstalledModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.setWindowTitle(f"Make a faster copy of {model.name}")
        self.setObjectName("compressDialog")
        try:
            self.config: GPT2Config | None = GPT2Config.load(model.folder / "hf" / "config.json")
        except ModelError:
            self.config = None

        intro = QLabel("Inkwell removes the parts of the model your texts need least (attention heads "
                       "and the width they carry, MLP neurons, whole layers: of the mixes that fit, the "
                       "one that loses least), then trains the smaller copy to write like the original "
                       "on your texts. The original stays as it is.")
        intro.setWordWrap(True)
        self._build_keep()
        text_buttons = self._build_texts()
        self._build_name(model)
        self._build_estimate()
        self._lay_out(intro, text_buttons)
        self._connect()
        self.resize(560, 420)
        self._update()

    def _build_keep(self) -> None:
        self.keep = QSpinBox()
        self.keep.setObjectName("keepPercent")
        self.keep.setRange(20, 90)
        self.keep.setSingleStep(5)
        self.keep.setSuffix(" % of its work")
        self.keep.setValue(DEFAULT_KEEP_PERCENT)
        self.expected = QLabel("")
        self.expected.setObjectName("expectedSpeedup")
        self.expected.setWordWrap(True)

    def _build_estimate(self) -> None:
        self.estimate_button = QPushButton("Estimate the time")
        self.estimate_button.setObjectName("compressEstimate")
        self.estimate_button.setToolTip("A short warm-up on this computer: measures how long the copy takes")
        self.estimate_button.clicked.connect(self.run_estimate)
        self.estimate_label = QLabel("")
        self.estimate_label.setObjectName("compressEstimateText")
        self.estimate_label.setWordWrap(True)
        self.process: JsonProcess | None = None

    def _build_texts(self) -> QHBoxLayout:
        """The list of texts to learn from; returns the row of its buttons."""
        self.texts = QListWidget()
        self.texts.setObjectName("compressTexts")
        add_files = QPushButton("Add files…")
        add_folder = QPushButton("Add folder…")
        remove = QPushButton("Remove")
        add_files.clicked.connect(self._add_files)
        add_folder.clicked.connect(self._add_folder)
        remove.clicked.connect(lambda: [self.texts.takeItem(self.texts.row(i)) for i in self.texts.selectedItems()])
        text_buttons = QHBoxLayout()
        for b in (add_files, add_folder, remove):
            text_buttons.addWidget(b)
        text_buttons.addStretch(1)
        return text_buttons

    def _build_name(self, model: models.InstalledModel) -> None:
        self.name = QLineEdit(f"{model.name} (faster)")
        self.name.setObjectName("compressName")
        self.problem = QLabel("")
        self.problem.setObjectName("compressProblem")
        self.problem.setWordWrap(True)

    def _lay_out(self, intro: QLabel, text_buttons: QHBoxLayout) -> None:
        form = QFormLayout()
        form.addRow("Keep:", self.keep)
        form.addRow("", self.expected)
        form.addRow("Learn from:", self.texts)
        form.addRow("", text_buttons)
        form.addRow("Name:", self.name)
        form.addRow("Time:", self.estimate_button)
        form.addRow("", self.estimate_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = self.buttons.addButton("Make the copy", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        column = QVBoxLayout(self)
        column.addWidget(intro)
        column.addLayout(form)
        column.addWidget(self.problem)
        column.addWidget(self.buttons)

    def _connect(self) -> None:
        self.keep.valueChanged.connect(self._update)
        self.name.textChanged.connect(self._update)
        self.texts.model().rowsInserted.connect(self._update)
        self.texts.model().rowsRemoved.connect(self._update)

    def args(self) -> list[str]:
        """The command's arguments for what the writer chose."""
        data: list[str] = []
        for i in range(self.texts.count()):
            data += ["--data", self.texts.item(i).text()]
        return ["--model", str(self.model.folder), "--keep", f"{self.keep.value() / 100:g}", *data,
                "--name", self.name.text().strip(), "--no-use", "--json"]

    def run_estimate(self) -> None:
        """Measure the time in a child process (``inkwell compress --estimate``); the answer
        replaces the label's text when it comes."""
        stop(self.process)
        self.estimate_label.setText("Measuring with a short warm-up run…")
        self.process = start_child(self, "app.compress_cli", [*self.args(), "--estimate"], self._estimate_event,
                                   self._estimate_ended, "the estimate")

    def _estimate_event(self, event: dict) -> None:
        if event["event"] == "estimate" and self.sender() in (None, self.process):
            self.estimate_label.setText(describe_compress_estimate(event))

    def _estimate_ended(self, proc: JsonProcess, outcome: str, message: str) -> None:
        if proc is self.process and outcome in ("error", "crashed"):
            self.estimate_label.setText(f"The estimate failed: {message}" if outcome == "error" else
                                        "The warm-up did not finish; the time cannot be estimated.")

    def done(self, result: int) -> None:
        stop(self.process)  # a warm-up still running is not needed any more
        super().done(result)

    def add_text(self, path: str) -> None:
        if path and not self.texts.findItems(path, Qt.MatchFlag.MatchExactly):
            self.texts.addItem(path)

    def _add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Texts to learn from", "", "Text (*.txt *.md);;All files (*)")
        for f in files:
            self.add_text(f)

    def _add_folder(self) -> None:
        self.add_text(QFileDialog.getExistingDirectory(self, "A folder of texts to learn from"))

    def _update(self) -> None:
        keep = self.keep.value() / 100
        share_problem = None
        if self.config is not None:
            try:
                shape = plan(self.config, keep)
            except ValueError:
                share_problem = (f"keep at least {math.ceil(smallest_share(self.config) * 100)} %: the smallest "
                                 f"copy of this model (one layer, one head) does that much of its work")
                self.expected.setText("")
            else:
                total = self.config.num_parameters() / 1e6
                self.expected.setText(
                    f"About {shape.config(self.config).num_parameters() / 1e6:.1f}M of {total:.1f}M parameters, "
                    f"doing about {1 / shape.cost_share(self.config):.1f}× less work per word (the shape is chosen "
                    f"on your texts; how much sooner a suggestion comes is measured when the copy is installed). "
                    f"Estimate the time to measure how long making it takes.")
        problem = share_problem or (name_problem(self.name.text().strip()) if self.name.text().strip()
                                    else "give the copy a name")
        if problem is None and self.name.text().strip() in {m.name for m in models.installed_models()}:
            problem = "a model of that name is installed already"
        if problem is None and not self.texts.count():
            problem = "add the texts the copy learns from (your own, so it keeps your voice)"
        self.problem.setText(problem[:1].upper() + problem[1:] + "." if problem else "")
        self.start_button.setEnabled(problem is None)
        self.estimate_button.setEnabled(problem is None)
        if self.estimate_label.text() and self.process is not None:
            stop(self.process)  # the choices changed: the estimate was for others
            self.process = None
            self.estimate_label.setText("")
