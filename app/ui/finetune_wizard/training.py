"""The Training page: the training child process, its progress, loss chart, samples and log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QProcess
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from app.ui.finetune_wizard.children import running, start_child
from app.ui.finetune_wizard.common import TRAINING_STOP_MS, error_label
from app.ui.jobs import JsonProcess
from app.ui.loss_chart import LossChart
from core import paths
from core.fileio import atomic_write_text, describe_os_error
from core.runfolder import CHECKPOINT, SUMMARY
from core.units import human_duration

if TYPE_CHECKING:
    from app.ui.finetune_wizard.wizard import FinetuneWizard


class TrainingPage(QWizardPage):
    def __init__(self, wizard: FinetuneWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Training")
        self.setSubTitle("You can keep writing meanwhile. Stop keeps the last checkpoint: resume now, or later "
                         "from Model ▸ Fine-tune on your texts…, even after closing Inkwell.")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.bar = QProgressBar()
        self.stats = QLabel()
        self.chart = LossChart()
        self.sample = QPlainTextEdit()
        self.sample.setReadOnly(True)
        self.sample.setMaximumHeight(110)
        self.message = error_label()
        self.stop_button = QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.log_button = QPushButton("Show log")
        self.log_button.setCheckable(True)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setFont(QFont("monospace"))
        self.log.setMaximumBlockCount(2000)
        self.log.hide()
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(lambda: self.start(resume=True))
        self.log_button.toggled.connect(self.log.setVisible)
        buttons = QHBoxLayout()
        for b in (self.stop_button, self.resume_button, self.log_button):
            buttons.addWidget(b)
        buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addWidget(self.bar)
        layout.addWidget(self.stats)
        layout.addWidget(self.chart, 1)
        layout.addWidget(QLabel("Sample:"))
        layout.addWidget(self.sample)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        layout.addWidget(self.log, 1)
        self.process: JsonProcess | None = None
        self.state = "idle"         # idle | running | stopped | crashed | error | done
        self.last_checkpoint = 0
        self.outcome_message = ""

    @property
    def run_dir(self) -> Path:
        return Path(self.w.job["out"])

    @property
    def log_path(self) -> Path:
        return paths.finetune_log_file(self.run_dir.name)

    def initializePage(self) -> None:
        self.last_checkpoint = self.w.resume_run.step if self.w.resume_run else 0
        self.start(resume=self.w.resume_run is not None)

    def start(self, resume: bool) -> None:
        self.message.setText("")
        if not resume:
            self.chart.clear()
        if resume:
            args = ["--out", str(self.run_dir), "--resume"]
        else:
            job_file = paths.finetune_job_file(self.run_dir.name)
            try:
                atomic_write_text(job_file, json.dumps(self.w.job, indent=2))
            except OSError as exc:
                self.message.setText(f"Cannot write the training's job file ({describe_os_error(exc)}).")
                return
            args = ["--job", str(job_file)]
        self.state = "running"
        self.status.setText("Resuming from the last checkpoint…" if resume else "Reading your texts and the base model…")
        self.update_buttons()
        self.process = start_child(self, "model.train", args, self._event, self._ended, "the training",
                                   self.log_path, TRAINING_STOP_MS)
        self.process.log_line.connect(self.log.appendPlainText)
        self.completeChanged.emit()

    def stop(self) -> None:
        if running(self.process):
            self.status.setText("Stopping at the end of this step; keeping a checkpoint…")
            self.stop_button.setEnabled(False)
            self.process.cancel()

    def update_buttons(self) -> None:
        busy = self.state == "running"
        self.stop_button.setEnabled(busy)
        self.stop_button.setVisible(self.state != "done")
        self.resume_button.setVisible(self.state in ("stopped", "crashed") and self._checkpoint_exists())
        self.w.button(QWizard.WizardButton.CancelButton).setText("Close" if not busy else "Cancel")

    def _checkpoint_exists(self) -> bool:
        return (self.run_dir / CHECKPOINT).is_file()

    def _event(self, e: dict) -> None:
        kind = e["event"]
        if kind == "start":
            self.bar.setRange(0, e["total_steps"])
            self.bar.setValue(e["step"])
            self.chart.set_total(e["total_steps"])
            what = "LoRA adapters" if self.w.job.get("method") == "lora" else "all weights"
            self.status.setText(
                (f"Resumed at step {e['step']}. " if e.get("resumed") else "")
                + f"Training {what} of a {e['parameters'] / 1e6:.1f}M-parameter model on {e['train_tokens']:,} tokens "
                f"({e['val_tokens']:,} held out), on the {e['device'].upper()}.")
        elif kind == "progress":
            self.bar.setValue(e["step"])
            self.chart.add_train(e["step"], e["loss"])
            self.stats.setText(f"Step {e['step']:,} of {e['total_steps']:,} · loss {e['loss']:.3f} · "
                               f"{e['tokens_per_s']:,.0f} tokens/s · {human_duration(e.get('eta_s'))} left")
        elif kind == "eval":
            self.chart.add_val(e["step"], e["val_loss"])
        elif kind == "sample":
            label = "the base model, before training" if e["step"] == 0 else f"step {e['step']:,}"
            self.sample.setPlainText(f"At {label}:\n{e['prompt']}{e['text']}")
        elif kind == "checkpoint":
            self.last_checkpoint = e["step"]

    def _ended(self, proc: JsonProcess, outcome: str, message: str) -> None:
        self.state = {"ok": "done"}.get(outcome, outcome)
        if outcome == "ok":
            self.status.setText("Finished. Next: see what it learned.")
        elif outcome == "stopped":
            self.status.setText(f"Stopped. The checkpoint at step {self.last_checkpoint:,} is kept: Resume continues "
                                "from there, now or later.")
        elif outcome == "crashed":
            self.status.setText("Training stopped unexpectedly.")
            tail = "\n".join(proc.stderr_tail[-3:])
            where = (f"Resume continues from the last checkpoint (step {self.last_checkpoint:,})."
                     if self._checkpoint_exists() else "No checkpoint was written yet; close and start again.")
            how = ("it was killed or crashed" if proc.process.exitStatus() == QProcess.ExitStatus.CrashExit
                   else f"exit code {proc.process.exitCode()}")
            self.message.setText(f"The training process ended before finishing ({how}). The log is kept in "
                                 f"{self.log_path}. {where}" + (f"\n\nLast lines of the log:\n{tail}" if tail else ""))
            self.log_button.setChecked(True)
        else:  # error: the trainer said what is wrong
            self.status.setText("Training could not go on.")
            self.message.setText(f"{message}\n\nThe log is kept in {self.log_path}. Close the wizard, change what "
                                 "the message names, and start again.")
            self._forget_empty_run()
        self.outcome_message = message
        self.update_buttons()
        self.completeChanged.emit()

    def _forget_empty_run(self) -> None:
        """A run that failed before its first checkpoint holds nothing worth keeping; its name is freed."""
        if self.run_dir.is_dir() and not self._checkpoint_exists() and not (self.run_dir / SUMMARY).exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def isComplete(self) -> bool:
        return self.state == "done"
