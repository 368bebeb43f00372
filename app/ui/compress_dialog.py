"""Models ▸ Make a faster copy…: what ``inkwell compress`` is to be asked (app/compress_cli.py).

The writer picks how much of the model to keep and the texts the copy learns from (their own, so
it keeps their voice); the dialog says how much faster a token should come and what it costs.
The Models dialog runs the command and shows its progress.
"""

from __future__ import annotations

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
from app.finetune import name_problem
from core.config import GPT2Config
from core.errors import ModelError

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

        intro = QLabel("Inkwell removes the parts of the model your texts need least (narrower layers "
                       "first, then whole layers), then trains the smaller copy to write like the "
                       "original on your texts. The original stays as it is.")
        intro.setWordWrap(True)
        self._build_keep()
        text_buttons = self._build_texts()
        self._build_name(model)
        self._lay_out(intro, text_buttons)
        self._connect()
        self.resize(560, 420)
        self._update()

    def _build_keep(self) -> None:
        self.keep = QSpinBox()
        self.keep.setObjectName("keepPercent")
        self.keep.setRange(20, 90)
        self.keep.setSingleStep(5)
        self.keep.setSuffix(" % of its layers")
        self.keep.setValue(DEFAULT_KEEP_PERCENT)
        self.expected = QLabel("")
        self.expected.setObjectName("expectedSpeedup")
        self.expected.setWordWrap(True)

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
        if self.config is not None:
            speedup = self.config.speedup_when_pruned(keep)
            kept = self.config.num_parameters() - (1 - keep) * self.config.block_parameters()
            little = (" Most of this model is its table of words, which stays whole, so a copy gains little."
                      if speedup < 1.15 else "")
            self.expected.setText(
                f"About {kept / 1e6:.1f}M of {self.config.num_parameters() / 1e6:.1f}M parameters; each word "
                f"should come about {speedup:.2f}× as fast (from the sizes; the copy is measured when it is "
                f"installed).{little} The training takes about as long as a full fine-tune on the same texts.")
        problem = name_problem(self.name.text().strip()) if self.name.text().strip() else "give the copy a name"
        if problem is None and self.name.text().strip() in {m.name for m in models.installed_models()}:
            problem = "a model of that name is installed already"
        if problem is None and not self.texts.count():
            problem = "add the texts the copy learns from (your own, so it keeps your voice)"
        self.problem.setText(problem[:1].upper() + problem[1:] + "." if problem else "")
        self.start_button.setEnabled(problem is None)
