"""The Method and settings page, with its estimate from a short warm-up run (a child process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QButtonGroup,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QWizard,
    QWizardPage,
)

from app import finetune as ft
from app.ui.finetune_wizard.children import start_child, stop
from app.ui.finetune_wizard.common import error_label
from app.ui.jobs import JsonProcess
from core import paths
from core.fileio import atomic_write_text, describe_os_error
from core.textfile import TRAINING_MAX_BYTES, TextFileError, read_file

if TYPE_CHECKING:
    from app.ui.finetune_wizard.wizard import FinetuneWizard


class MethodPage(QWizardPage):
    def __init__(self, wizard: FinetuneWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Method and settings")
        self.setSubTitle("The defaults suit most texts. The estimate comes from a short warm-up run on this machine.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        self.name = QLineEdit()
        self._build_method()
        self._build_duration()
        self._build_settings()
        self._build_estimate()
        self._lay_out()
        self._init_estimate_run()
        self._connect()
        self._job_file = paths.finetune_estimate_file()

    def _build_method(self) -> None:
        self.full = QRadioButton("Full fine-tune (all weights)")
        self.lora = QRadioButton("LoRA (small adapters, faster for large models)")
        self.method_group = QButtonGroup(self)
        self.method_group.addButton(self.full)
        self.method_group.addButton(self.lora)
        self.rank = QSpinBox()
        self.rank.setRange(1, 256)

    def _build_duration(self) -> None:
        self.by_epochs = QRadioButton("Epochs")
        self.by_steps = QRadioButton("Steps")
        self.duration_group = QButtonGroup(self)
        self.duration_group.addButton(self.by_epochs)
        self.duration_group.addButton(self.by_steps)
        self.epochs = QDoubleSpinBox()
        self.epochs.setRange(0.1, 100)
        self.epochs.setSingleStep(0.5)
        self.epochs.setDecimals(1)
        self.steps = QSpinBox()
        self.steps.setRange(1, 1_000_000)

    def _build_settings(self) -> None:
        """The learning rate, context, batch, validation share, seed and sample prompt."""
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(0.000001, 0.1)
        self.lr.setSingleStep(0.0001)
        self.seq_len = QSpinBox()
        self.batch = QSpinBox()
        self.batch.setRange(1, 512)
        self.val_share = QSpinBox()
        self.val_share.setRange(1, 50)
        self.val_share.setSuffix(" %")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.prompt = QLineEdit()

    def _build_estimate(self) -> None:
        """The problem line, and the estimate with its progress and Measure again."""
        self.problem = error_label()
        self.estimate_label = QLabel()
        self.estimate_label.setWordWrap(True)
        self.estimate_busy = QProgressBar()
        self.estimate_busy.setRange(0, 0)
        self.estimate_busy.setMaximumHeight(8)
        self.estimate_busy.setTextVisible(False)
        self.measure = QPushButton("Measure again")
        self.measure.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.estimate: dict | None = None

    def _lay_out(self) -> None:
        form = QFormLayout(self)
        form.addRow("Name of the new model:", self.name)
        method = QHBoxLayout()
        method.addWidget(self.full)
        method.addWidget(self.lora)
        method.addWidget(QLabel("rank"))
        method.addWidget(self.rank)
        method.addStretch()
        form.addRow("Method:", method)
        duration = QHBoxLayout()
        for widget in (self.by_epochs, self.epochs, self.by_steps, self.steps):
            duration.addWidget(widget)
        duration.addStretch()
        form.addRow("Train for:", duration)
        form.addRow("Learning rate:", self.lr)
        form.addRow("Context length (tokens):", self.seq_len)
        form.addRow("Batch size:", self.batch)
        form.addRow("Held out for validation:", self.val_share)
        form.addRow("Seed:", self.seed)
        form.addRow("Sample prompt:", self.prompt)
        form.addRow(self.problem)
        estimate = QHBoxLayout()
        estimate.addWidget(self.estimate_busy, 1)
        estimate.addWidget(self.measure)
        form.addRow("Estimate:", estimate)
        form.addRow(self.estimate_label)
        for spin in (self.epochs, self.steps, self.lr, self.seq_len, self.batch, self.val_share, self.seed):
            spin.setMaximumWidth(160)

    def _init_estimate_run(self) -> None:
        """The warm-up child, none yet, and the pause after a change before it is asked again."""
        self.process: JsonProcess | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(700)
        self.timer.timeout.connect(self.run_estimate)

    def _connect(self) -> None:
        self.measure.clicked.connect(self.run_estimate)
        for spin in (self.rank, self.epochs, self.steps, self.lr, self.seq_len, self.batch, self.val_share, self.seed):
            spin.valueChanged.connect(self._changed)
        for button in (self.full, self.lora, self.by_epochs, self.by_steps):
            button.toggled.connect(self._changed)
        self.lora.toggled.connect(self._method_toggled)
        self.name.textChanged.connect(lambda _: self.completeChanged.emit())

    def initializePage(self) -> None:
        base = self.w.base_page.chosen()
        arch = base.manifest.get("architecture", {})
        n_positions = int(arch.get("n_positions", 1024))
        s = ft.default_settings(int(base.manifest.get("parameters") or 0), n_positions)
        prefill = self.w.prefill or {}
        if prefill:
            s.update(method=prefill.get("method", s["method"]), lr=prefill.get("lr", s["lr"]),
                     seq_len=min(prefill.get("seq_len", s["seq_len"]), n_positions),
                     batch_size=prefill.get("batch_size", s["batch_size"]),
                     val_share=prefill.get("holdout", {}).get("fraction", s["val_share"]),
                     seed=prefill.get("seed", s["seed"]), lora_rank=prefill.get("lora_rank", s["lora_rank"]),
                     epochs=prefill.get("epochs") or s["epochs"], steps=None if prefill.get("epochs") else prefill.get("steps"))
        (self.lora if s["method"] == "lora" else self.full).setChecked(True)  # sets the method's rate...
        self.rank.setValue(s["lora_rank"])
        self.epochs.setValue(s["epochs"])
        self.steps.setValue(s["steps"] or 100)
        (self.by_steps if s["steps"] else self.by_epochs).setChecked(True)
        self.lr.setValue(s["lr"])  # ...and this the one asked for
        self.seq_len.setRange(8, n_positions)
        self.seq_len.setValue(s["seq_len"])
        self.batch.setValue(s["batch_size"])
        self.val_share.setValue(round(s["val_share"] * 100))
        self.seed.setValue(s["seed"])
        first = self.w.texts_page.usable()[0].path
        if prefill.get("sample_prompts"):
            self.prompt.setText(prefill["sample_prompts"][0])
        else:
            self.prompt.setText(ft.sample_prompt_from(self._text_of(first)[:20000]))
        base_name = prefill.get("name") or f"{base.name}-{first.stem}"
        name, n = base_name, 2
        while ft.name_problem(name) is not None and n < 100:
            name, n = f"{base_name}-{n}", n + 1
        self.name.setText(name)
        self._changed()

    @staticmethod
    def _text_of(path: Path) -> str:
        """A training file's text, decoded as training reads it (UTF-16, Windows-1252...)."""
        try:
            return read_file(path, TRAINING_MAX_BYTES, allow_empty=False)[0].text
        except TextFileError:
            return ""  # it was readable when it was added; the prompt is only a suggestion

    def _method_toggled(self, lora: bool) -> None:
        """Each method has its own learning rate (LoRA's adapters take larger steps)."""
        base = self.w.base_page.selected()
        if base is not None:
            self.lr.setValue(ft.default_settings(int(base.manifest.get("parameters") or 0), 1024,
                                                 "lora" if lora else "full")["lr"])

    def settings(self) -> dict:
        return {
            "method": "lora" if self.lora.isChecked() else "full",
            "lora_rank": self.rank.value(),
            "epochs": self.epochs.value(),
            "steps": self.steps.value() if self.by_steps.isChecked() else None,
            "lr": self.lr.value(),
            "seq_len": self.seq_len.value(),
            "batch_size": self.batch.value(),
            "val_share": self.val_share.value() / 100,
            "seed": self.seed.value(),
            "line_breaks": "unwrap" if self.w.texts_page.unwrap.isChecked() else "keep",
        }

    def _changed(self, *_args) -> None:
        self.rank.setEnabled(self.lora.isChecked())
        self.epochs.setEnabled(self.by_epochs.isChecked())
        self.steps.setEnabled(self.by_steps.isChecked())
        self.completeChanged.emit()
        if self.size_problem() is None:
            self.timer.start()
        else:
            self.timer.stop()
            stop(self.process)
            self.estimate_label.setText("–")
            self.estimate_busy.hide()

    def size_problem(self) -> str | None:
        s = self.settings()
        total = self.w.texts_page.total_tokens()
        train, val = total * (1 - s["val_share"]), total * s["val_share"]
        need = s["batch_size"] * (s["seq_len"] + 1)
        if train < need * 1.05:  # each file gives up its share, and documents are separated: a margin
            return (f"Too little text for a batch of {s['batch_size']} × {s['seq_len']} tokens (about {int(train):,} "
                    f"tokens to train on, {need:,} needed): lower the batch size or the context length, or add text.")
        if val < 2:
            return "Nothing would be held out for validation: raise the held-out share or add text."
        return None

    def job(self, name: str) -> dict:
        s = self.settings()
        total = self.w.texts_page.total_tokens()
        return ft.make_job(name, self.w.base_page.chosen().folder,
                           [str(e.path) for e in self.w.texts_page.usable()], s,
                           int(total * (1 - s["val_share"])), self.prompt.text().strip() or None)

    def run_estimate(self) -> None:
        if self.size_problem() is not None:
            return
        stop(self.process)
        try:
            atomic_write_text(self._job_file, json.dumps(self.job("estimate")))
        except OSError as exc:
            self.estimate_label.setText(f"Cannot write the estimate's job file ({describe_os_error(exc)}).")
            return
        self.estimate = None
        self.estimate_label.setText("Measuring with a short warm-up run…")
        self.estimate_busy.show()
        self.process = start_child(self, "app.finetune_cli", ["--job", str(self._job_file), "--estimate", "--json"],
                                   self._estimate_event, self._estimate_ended, "the warm-up run")

    def _estimate_event(self, event: dict) -> None:
        sender = self.sender()
        if sender is not None and sender is not self.process:
            return  # a warm-up replaced by a newer one, still ending: its settings are not these
        if event["event"] == "estimate":
            self.estimate_busy.hide()
            self.estimate = event
            self.estimate_label.setText(ft.describe_estimate(event))

    def _estimate_ended(self, proc: JsonProcess, outcome: str, message: str) -> None:
        if proc is not self.process:
            return  # one that was replaced by a newer measurement
        self.estimate_busy.hide()
        if outcome == "error":
            self.estimate_label.setText(f"The warm-up failed: {message}")
        elif outcome == "crashed" and self.estimate is None and not self.timer.isActive():
            self.estimate_label.setText("The warm-up did not finish; the time cannot be estimated. "
                                        "Training can start anyway.")

    def isComplete(self) -> bool:
        problem = ft.name_problem(self.name.text()) or self.size_problem()
        self.problem.setText(problem or "")
        return problem is None

    def validatePage(self) -> bool:
        self.stop_estimate()
        self.w.job = self.job(self.name.text().strip())
        self.w.resume_run = None
        return True

    def stop_estimate(self) -> None:
        self.timer.stop()
        stop(self.process)
