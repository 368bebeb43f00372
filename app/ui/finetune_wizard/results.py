"""The Results page: perplexity before and after, a side-by-side comparison, and installing the model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from app import finetune as ft
from app.ui.finetune_wizard.children import running, start_child
from app.ui.finetune_wizard.common import ERROR_STYLE
from app.ui.jobs import JsonProcess
from core import paths

if TYPE_CHECKING:
    from app.ui.finetune_wizard.wizard import FinetuneWizard


class ResultsPage(QWizardPage):
    def __init__(self, wizard: FinetuneWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Results")
        self.setSubTitle("How well each model predicts the held-out part of your texts (lower is better), "
                         "and both continuing the same prompt.")
        self.setFinalPage(True)
        self.scores = QLabel()
        self.scores.setWordWrap(True)
        self.prompt = QLineEdit()
        self.compare_button = QPushButton("Compare")
        self.base_text = QPlainTextEdit()
        self.tuned_text = QPlainTextEdit()
        for box in (self.base_text, self.tuned_text):
            box.setReadOnly(True)
        self.base_label = QLabel("Base model")
        self.tuned_label = QLabel("Your model")
        self.use_button = QPushButton("Use this model")
        self.use_bar = QProgressBar()
        self.use_bar.hide()
        self.use_status = QLabel()
        self.use_status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Prompt:"))
        row.addWidget(self.prompt, 1)
        row.addWidget(self.compare_button)
        sides = QHBoxLayout()
        for label, box in ((self.base_label, self.base_text), (self.tuned_label, self.tuned_text)):
            col = QVBoxLayout()
            col.addWidget(label)
            col.addWidget(box)
            sides.addLayout(col)
        use = QHBoxLayout()
        use.addWidget(self.use_button)
        use.addWidget(self.use_bar, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.scores)
        layout.addLayout(row)
        layout.addLayout(sides, 1)
        layout.addLayout(use)
        layout.addWidget(self.use_status)
        self.compare_process: JsonProcess | None = None
        self.export_process: JsonProcess | None = None
        self.compare_button.clicked.connect(self.compare)
        self.prompt.returnPressed.connect(self.compare)
        self.use_button.clicked.connect(self.use_model)
        self.installed: Path | None = None
        self._dest: Path | None = None  # where use_model installs the trained model

    @property
    def run_dir(self) -> Path:
        return Path(self.w.job["out"])

    def initializePage(self) -> None:
        run = ft.read_run(self.run_dir)
        name = self.w.job.get("name") or self.run_dir.name
        base = Path(self.w.job["init"]).parent.name
        self.base_label.setText(f"Base model ({base})")
        self.tuned_label.setText(f"Your model ({name})")
        if run and run.val_ppl and run.val_ppl_before:
            self.scores.setText(
                f"<b>Validation perplexity: {run.val_ppl_before:.1f} before, {run.val_ppl:.1f} after</b> "
                f"({'%.1f times' % (run.val_ppl_before / run.val_ppl) if run.val_ppl < run.val_ppl_before else 'no'} "
                f"better at predicting the held-out part of your texts).")
        elif run and run.val_ppl:
            self.scores.setText(f"<b>Validation perplexity after training: {run.val_ppl:.1f}</b>")
        self.use_button.setText(f"Use this model (install “{name}” and switch the editor to it)")
        prompts = self.w.job.get("sample_prompts") or ["The"]
        self.prompt.setText(prompts[0])
        self.compare()

    def compare(self) -> None:
        if running(self.compare_process):
            return
        self.base_text.setPlainText("Writing…")
        self.tuned_text.setPlainText("Writing…")
        self.compare_button.setEnabled(False)
        self.compare_process = start_child(self, "app.finetune_cli", ["--compare", str(self.run_dir), "--prompt",
                                                                    self.prompt.text() or "The", "--json"],
                                           self._compared, self._compare_ended, "the comparison")

    def _compared(self, e: dict) -> None:
        if e["event"] == "compare":
            self.base_text.setPlainText(e["prompt"] + e["base"])
            self.tuned_text.setPlainText(e["prompt"] + e["tuned"])

    def _compare_ended(self, _proc: JsonProcess, outcome: str, message: str) -> None:
        self.compare_button.setEnabled(True)
        if outcome != "ok":
            self.base_text.setPlainText(f"The comparison failed: {message}")
            self.tuned_text.setPlainText("")

    def use_model(self) -> None:
        name = self.w.job.get("name") or self.run_dir.name
        dest = paths.model_folder(ft.slug(name))
        self.use_button.setEnabled(False)
        self._dest = dest
        if (dest / "inkwell-model.json").is_file():  # installed before (the wizard was opened again)
            self._export_ended(None, "ok", "")
            return
        self.use_bar.show()
        self.use_bar.setRange(0, 0)
        self.use_status.setText("Exporting to ONNX for the editor…")
        self.export_process = start_child(
            self, "model.export", [str(self.run_dir), str(dest), "--variants", ",".join(ft.EXPORT_VARIANTS),
                                   "--hf-dtype", ft.EXPORT_HF_DTYPE, "--name", name, "--json"],
            self._export_event, self._export_ended, "the export", self.w.training_page.log_path)

    def _export_event(self, e: dict) -> None:
        if e["event"] == "start":
            self.use_bar.setRange(0, e["total_steps"])
        elif e["event"] == "progress":
            self.use_bar.setValue(e["step"])
            self.use_status.setText(e.get("message", ""))

    def _export_ended(self, _proc: JsonProcess | None, outcome: str, message: str) -> None:
        self.use_bar.hide()
        if outcome == "ok":
            self.installed = self._dest
            self.w.settings.set("model", str(self._dest))
            self.use_status.setText(f"Installed in {self._dest}. The editor now writes with "
                                    f"“{self.w.job.get('name')}” (Model menu to switch back).")
        else:
            self.use_button.setEnabled(True)
            self.use_status.setStyleSheet(ERROR_STYLE)
            self.use_status.setText(f"The model could not be installed: {message or 'the export stopped'}. "
                                    f"The trained weights stay in {self.run_dir}; try again.")
