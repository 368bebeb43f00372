"""The Texts page: the writing to learn from, and earlier fine-tunes to resume or run again."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from app import finetune as ft
from app.ui.finetune_wizard.common import BASE, ERROR_STYLE, MIN_TOKENS, RESULTS, TRAINING, WARNING_STYLE, error_label
from app.ui.finetune_wizard.entries import TextEntry, describe, read_entry
from core import paths
from core.fileio import atomic_write_text, describe_os_error
from core.textfile import TEXT_SUFFIXES
from core.units import human_bytes

if TYPE_CHECKING:
    from app.ui.finetune_wizard.wizard import FinetuneWizard


class TextsPage(QWizardPage):
    def __init__(self, wizard: FinetuneWizard) -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Your texts")
        self.setSubTitle("Add the writing the model should learn from: .txt or .md files, a folder, or the "
                         "document you have open. Drop files here too.")
        self.setAcceptDrops(True)
        self.entries: list[TextEntry] = []
        self._build_tree()
        buttons = self._build_buttons()
        self._build_options()
        self._build_runs()
        self._lay_out(buttons)
        self.fill_runs()
        self._update()

    def _build_tree(self) -> None:
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["File", "Size", "Tokens", "Note"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)

    def _build_buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.add_files = QPushButton("Add files…")
        self.add_folder = QPushButton("Add folder…")
        self.add_document = QPushButton("Add the open document")
        self.remove = QPushButton("Remove")
        for b in (self.add_files, self.add_folder, self.add_document, self.remove):
            buttons.addWidget(b)
        buttons.addStretch()
        self.add_files.clicked.connect(self._pick_files)
        self.add_folder.clicked.connect(self._pick_folder)
        self.add_document.clicked.connect(self.add_open_document)
        self.remove.clicked.connect(self._remove_selected)
        self.add_document.setEnabled(self.w.document is not None)
        return buttons

    def _build_options(self) -> None:
        """The summary of the texts, how they are read, and what is wrong with them."""
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.unwrap = QCheckBox("Join hard-wrapped lines into paragraphs")
        self.unwrap.setChecked(True)
        self.unwrap.setToolTip("Texts saved with a line break every 60-80 characters, like a printed page, would "
                               "teach the model to break lines mid-sentence. Turn this off for poetry or code, "
                               "where every line break matters.")
        self.unwrap.toggled.connect(lambda _on: self._update())
        self.warning = error_label(WARNING_STYLE)

    def _build_runs(self) -> None:
        self.runs_box = QGroupBox("Earlier fine-tunes")
        self.runs = QComboBox()
        self.resume_button = QPushButton("Resume")
        self.rerun_button = QPushButton("Use its texts and settings")
        self.resume_button.clicked.connect(self._resume)
        self.rerun_button.clicked.connect(self._rerun)
        self.runs.currentIndexChanged.connect(self._run_selected)
        row = QHBoxLayout(self.runs_box)
        row.addWidget(self.runs, 1)
        row.addWidget(self.resume_button)
        row.addWidget(self.rerun_button)

    def _lay_out(self, buttons: QHBoxLayout) -> None:
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.unwrap)
        layout.addWidget(self.warning)
        layout.addWidget(self.runs_box)
        self.unavailable = error_label()
        self.unavailable.setText(self.w.unavailable or "")
        self.unavailable.setVisible(bool(self.w.unavailable))
        layout.addWidget(self.unavailable)

    # adding
    def _pick_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add texts", str(Path.home()),
                                                "Text files (*.txt *.md *.markdown *.text);;All files (*)")
        self.add_paths([Path(f) for f in files])

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of texts", str(Path.home()))
        if folder:
            self.add_paths([Path(folder)])

    def add_paths(self, items: list[Path]) -> None:
        files: list[Path] = []
        for item in items:
            if item.is_dir():
                found = sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
                if not found:
                    self.warning.setText(f"{item} holds no .txt or .md files.")
                files += found
            else:
                files.append(item)
        known = {e.path.resolve() for e in self.entries}
        seen = {e.sha256: e.path for e in self.entries if e.usable and e.sha256}
        for f in files:
            if f.resolve() not in known:
                known.add(f.resolve())
                self.entries.append(read_entry(f, seen))
        self._update()

    def add_open_document(self) -> None:
        """The open document, saved as a snapshot (training reads files, and a re-run needs it)."""
        if self.w.document is None:
            return
        title, text = self.w.document()
        if not text.strip():
            self.warning.setText("The open document is empty.")
            return
        folder = paths.finetune_texts_dir()
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        path = folder / f"{ft.slug(Path(title).stem) or 'document'}-{digest}.txt"
        if not path.exists():
            try:
                atomic_write_text(path, text)
            except OSError as exc:
                self.warning.setText(f"Cannot keep a copy of the document in {folder} ({describe_os_error(exc)}).")
                return
        self.add_paths([path])

    def _remove_selected(self) -> None:
        rows = sorted((self.tree.indexOfTopLevelItem(i) for i in self.tree.selectedItems()), reverse=True)
        for row in rows:
            del self.entries[row]
        # A duplicate of a removed file is the original now.
        paths_left = [e.path for e in self.entries]
        self.entries = []
        self.add_paths(paths_left)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        self.add_paths([Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()])
        event.acceptProposedAction()

    # state
    def usable(self) -> list[TextEntry]:
        return [e for e in self.entries if e.usable]

    def total_tokens(self) -> int:
        return sum(e.tokens for e in self.usable())

    def _update(self) -> None:
        self.tree.clear()
        for e in self.entries:
            note = describe(e, self.unwrap.isChecked())
            item = QTreeWidgetItem([str(e.path), human_bytes(e.size), f"{e.tokens:,}" if e.usable else "–", note])
            item.setToolTip(0, str(e.path))
            item.setToolTip(3, note)
            if e.problem:
                item.setForeground(3, Qt.GlobalColor.darkRed)
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight)
            self.tree.addTopLevelItem(item)
        total, usable = self.total_tokens(), self.usable()
        left_out = len(self.entries) - len(usable)
        self.summary.setText(f"{len(usable)} file{'s' if len(usable) != 1 else ''}, {total:,} tokens "
                             f"(about {int(total * 0.75):,} words)" + (f"; {left_out} left out (see Note)" if left_out else ""))
        if not self.entries:
            self.warning.setText("")
        elif total < MIN_TOKENS:
            self.warning.setStyleSheet(ERROR_STYLE)
            self.warning.setText(f"Too little text to train on: {total:,} tokens. Add at least a few pages "
                                 f"({MIN_TOKENS:,} tokens); a voice is learned from about {ft.RECOMMENDED_TOKENS:,} up.")
        elif total < ft.RECOMMENDED_TOKENS:
            self.warning.setStyleSheet(WARNING_STYLE)
            self.warning.setText(f"Little text: {total:,} tokens. A fine-tune learns a voice from about "
                                 f"{ft.RECOMMENDED_TOKENS:,} tokens (some 35,000 words) up; with less it mostly "
                                 f"repeats your phrases. Add more of your writing if you can.")
        else:
            self.warning.setText("")
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        if self.w.unavailable:
            return False
        return self.w.resume_run is not None or self.total_tokens() >= MIN_TOKENS

    def nextId(self) -> int:
        if self.w.resume_run is None:
            return BASE
        return RESULTS if self.w.resume_run.finished else TRAINING

    # earlier runs
    def fill_runs(self) -> None:
        self.run_list = ft.list_runs()
        self.runs.clear()
        for run in self.run_list:
            self.runs.addItem(run.label)
        self.runs_box.setVisible(bool(self.run_list))
        self._run_selected()

    def _selected_run(self) -> ft.Run | None:
        i = self.runs.currentIndex()
        return self.run_list[i] if 0 <= i < len(self.run_list) else None

    def _run_selected(self) -> None:
        run = self._selected_run()
        # A finished run opens its results (compare, install); an unfinished one resumes.
        self.resume_button.setText("See results" if run is not None and run.finished else "Resume")
        self.resume_button.setEnabled(run is not None and (run.resumable or run.finished))
        self.rerun_button.setEnabled(run is not None)

    def _resume(self) -> None:
        run = self._selected_run()
        if run is not None and (run.resumable or run.finished) and not self.w.unavailable:
            self.w.resume_run = run
            self.w.job = dict(run.job)
            self.setCommitPage(True)
            self.setButtonText(QWizard.WizardButton.CommitButton, "See results" if run.finished else "Resume training")
            self.completeChanged.emit()
            self.w.next()

    def _rerun(self) -> None:
        run = self._selected_run()
        if run is None:
            return
        self.entries = []
        self.unwrap.setChecked(run.job.get("line_breaks", "unwrap") == "unwrap")
        self.add_paths([Path(p) for p in run.job.get("data", [])])
        self.w.prefill = dict(run.job)
