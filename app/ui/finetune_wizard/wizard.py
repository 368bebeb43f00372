"""The wizard that holds the five pages, and the closing of their child processes."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QMessageBox, QWidget, QWizard

from app import finetune as ft
from app.settings import Settings
from app.tools import torch_missing
from app.ui.finetune_wizard.base import BasePage
from app.ui.finetune_wizard.children import running, stop
from app.ui.finetune_wizard.common import TEXTS
from app.ui.finetune_wizard.method import MethodPage
from app.ui.finetune_wizard.results import ResultsPage
from app.ui.finetune_wizard.texts import TextsPage
from app.ui.finetune_wizard.training import TrainingPage
from app.ui.jobs import JsonProcess


class FinetuneWizard(QWizard):
    stopped = Signal()  # after shut_down: every child process has ended

    def __init__(self, settings: Settings, document=None, parent: QWidget | None = None) -> None:
        """``document``: a callable giving (title, text) of the open document, or None."""
        super().__init__(parent)
        self.settings = settings
        self.document = document
        self.job: dict = {}
        self.resume_run: ft.Run | None = None
        self.prefill: dict | None = None
        self.unavailable = torch_missing()  # training needs PyTorch, which a standalone build leaves out
        self.setWindowTitle("Fine-tune on your texts")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.resize(820, 640)
        self.texts_page = TextsPage(self)
        self.base_page = BasePage(self)
        self.method_page = MethodPage(self)
        self.training_page = TrainingPage(self)
        self.results_page = ResultsPage(self)
        for page_id, page in enumerate((self.texts_page, self.base_page, self.method_page, self.training_page,
                                        self.results_page)):
            self.setPage(page_id, page)
        self.setStartId(TEXTS)
        self._stop_asked = False  # shut_down asked the children to stop
        self._close_when_stopped = False  # the writer closed the wizard while they were stopping
        self._watched: list[JsonProcess] = []  # the children whose end is awaited

    def busy(self) -> bool:
        """Training or installing: work that closing the wizard would stop."""
        return running(self.training_page.process) or running(self.results_page.export_process)

    def running_children(self) -> list[JsonProcess]:
        """The child processes still running."""
        return [proc for proc in (self.method_page.process, self.training_page.process,
                                  self.results_page.compare_process, self.results_page.export_process)
                if running(proc)]

    @property
    def stopping(self) -> bool:
        """Children were asked to stop (``shut_down``) and some have not ended yet."""
        return self._stop_asked and bool(self.running_children())

    def reject(self) -> None:
        if self.stopping:
            return  # closing already: it closes once the children have ended
        if self.busy():
            answer = QMessageBox.question(
                self, "Stop training?", "Training is still running. Stop it now? The last checkpoint is kept, and "
                "you can resume later from Model ▸ Fine-tune on your texts….")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.shut_down()
        if self.stopping:
            self._close_when_stopped = True
        else:
            super().reject()

    def shut_down(self) -> None:
        """Ask every child process to stop, without waiting: training writes its checkpoint first
        (or is killed after TRAINING_STOP_MS), the others have nothing to keep. ``stopping`` is
        True until they have all ended; then ``stopped`` is emitted."""
        self.method_page.stop_estimate()
        for proc in (self.results_page.compare_process, self.results_page.export_process):
            stop(proc)
        if running(self.training_page.process):
            self.training_page.stop()  # "Stopping at the end of this step; keeping a checkpoint…"
        left = self.running_children()
        self._stop_asked = bool(left)
        for proc in left:
            if proc not in self._watched:
                self._watched.append(proc)
                proc.finished.connect(self._child_ended)
        self._show_stopping(bool(left))
        if not left:
            self.stopped.emit()

    def _child_ended(self) -> None:
        self._watched = [proc for proc in self._watched if running(proc)]
        if not self._stop_asked:
            return
        if self.running_children():
            self._show_stopping(True)  # (a page that saw its child end may have enabled the button)
            return
        self._stop_asked = False
        self._show_stopping(False)
        self.stopped.emit()
        if self._close_when_stopped:
            self._close_when_stopped = False
            super().reject()

    def _show_stopping(self, stopping: bool) -> None:
        cancel = self.button(QWizard.WizardButton.CancelButton)
        cancel.setEnabled(not stopping)
        if stopping:
            cancel.setText("Stopping…")
        elif self.training_page.state == "idle":
            cancel.setText("Cancel")
        else:
            self.training_page.update_buttons()

    def done(self, result: int) -> None:
        self.shut_down()
        super().done(result)
