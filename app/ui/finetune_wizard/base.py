"""The Base model page: the installed model to start from (one with Hugging Face weights)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWizardPage

from app import finetune as ft
from app import models

if TYPE_CHECKING:
    from app.ui.finetune_wizard.wizard import FinetuneWizard


class BasePage(QWizardPage):
    def __init__(self, wizard: FinetuneWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Base model")
        self.setSubTitle("The model to start from. It needs its Hugging Face weights (hf/): the bundled "
                         "model has them, and so does any GPT-2 you import.")
        self.list = QListWidget()
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.list.currentRowChanged.connect(self._selected)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.details)
        self.models: list[models.InstalledModel] = []

    def initializePage(self) -> None:
        self.models = models.installed_models()
        self.list.clear()
        active, _ = models.active_model(self.w.settings["model"])
        wanted = None
        if self.w.prefill and self.w.prefill.get("init"):
            wanted = Path(self.w.prefill["init"]).parent
        chosen = -1
        for i, m in enumerate(self.models):
            item = QListWidgetItem(m.label)
            if not self.trainable(m):
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                item.setToolTip(m.problem or "No Hugging Face weights (hf/): this model cannot be fine-tuned.")
                item.setText(m.label + " – cannot be fine-tuned (no hf/ weights)")
            self.list.addItem(item)
            preferred = m.folder == wanted or (wanted is None and active and m.folder == active.folder)
            if self.trainable(m) and (chosen < 0 or preferred):
                chosen = i
        if chosen >= 0:
            self.list.setCurrentRow(chosen)
        else:
            self.details.setText("No installed model can be fine-tuned: none has Hugging Face weights. "
                                 "Import a GPT-2 model first.")

    @staticmethod
    def trainable(m: models.InstalledModel) -> bool:
        return m.problem is None and (m.folder / "hf" / "config.json").is_file()

    def selected(self) -> models.InstalledModel | None:
        i = self.list.currentRow()
        return self.models[i] if 0 <= i < len(self.models) and self.trainable(self.models[i]) else None

    def chosen(self) -> models.InstalledModel:
        """The selected model, on the pages after this one (which it lets through only with one)."""
        m = self.selected()
        if m is None:
            raise RuntimeError("no base model is selected")
        return m

    def _selected(self) -> None:
        m = self.selected()
        if m is not None:
            arch = m.manifest.get("architecture", {})
            params = m.manifest.get("parameters") or 0
            ppl = (m.manifest.get("perplexity") or {}).get("value")
            self.details.setText(
                f"{m.name}: {params / 1e6:.1f}M parameters, {arch.get('n_layer')} layers, context "
                f"{arch.get('n_positions')} tokens" + (f", held-out perplexity {ppl:.1f}" if ppl else "") + ". "
                + ("LoRA is the default method for a model this size." if params >= ft.LORA_FROM_PARAMETERS
                   else "A full fine-tune is quick at this size."))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.selected() is not None
