"""The fine-tune wizard: pick your texts and a base model, train it on your machine, see that it
learned, and switch the editor to it.

Pages: Texts -> Base model -> Method and settings -> Training -> Results. Training, the warm-up
estimate, the side-by-side comparison and the export run as child processes
(app.ui.jobs.JsonProcess) so this process never imports torch and stays responsive. A run lives in
runs_dir()/NAME: stopping, a crash or closing the app keep its last checkpoint, and the Texts
page offers to resume it (or to run it again with the same texts and settings).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QProcess, Qt, QTimer
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSizePolicy,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from app import finetune as ft
from app import models
from app.settings import Settings
from app.tools import torch_missing
from app.ui.jobs import KILL_AFTER_MS, JsonProcess
from app.ui.loss_chart import LossChart
from core import paths
from core.prose import looks_hard_wrapped
from core.textfile import TEXT_SUFFIXES, TRAINING_MAX_BYTES, TextFileError, read_file
from core.units import human_bytes, human_duration

TEXTS, BASE, METHOD, TRAINING, RESULTS = range(5)
# Below this the Method page cannot make even one batch of a useful size: refuse early.
MIN_TOKENS = 500
# Stopping a training run lets it finish its step and write a checkpoint (a large model's takes a
# while) before the process is killed.
TRAINING_STOP_MS = 300_000
WARNING_STYLE = "color: #a15c00;"
ERROR_STYLE = "color: #b00020;"


@dataclass
class TextEntry:
    path: Path
    size: int
    tokens: int = 0
    sha256: str = ""
    problem: str | None = None    # why it is left out (binary, encoding, empty, duplicate)
    note: str = ""                # a remark that does not leave it out (converted encoding)
    wrap_width: int = 0           # lines hard-wrapped at about this many characters (0: not)

    @property
    def usable(self) -> bool:
        return self.problem is None


def describe(entry: TextEntry, unwrap: bool) -> str:
    """The Note column: why a file is left out, or what happens to it."""
    if entry.problem:
        return entry.problem
    notes = [entry.note] if entry.note else []
    if entry.wrap_width:
        notes.append(f"Lines wrapped at about {entry.wrap_width} characters: "
                     + ("joined into paragraphs." if unwrap else "kept as they are."))
    return " ".join(notes)


def read_entry(path: Path, seen: dict[str, Path]) -> TextEntry:
    """Check one file as training text; ``seen`` maps contents (sha256) to the first file with them."""
    from core.tokenizer import get_encoding

    try:
        size = path.stat().st_size
    except OSError as exc:
        return TextEntry(path, 0, problem=f"cannot be read ({exc.strerror}).")
    try:
        decoded, data = read_file(path, TRAINING_MAX_BYTES, allow_empty=False)
    except TextFileError as exc:
        what_to_do = {
            "binary": "Left out: this is not a text file. Add .txt or .md files (export other documents as plain text).",
            "encoding": "Left out: its text encoding is not recognised. Save it as UTF-8 in your editor and add it again.",
            "empty": "Left out: the file has no text.",
        }.get(exc.kind, f"Left out: {str(exc).split(': ', 1)[-1]}")
        return TextEntry(path, size, problem=what_to_do)
    sha = hashlib.sha256(data).hexdigest()
    if sha in seen:
        return TextEntry(path, size, sha256=sha, problem=f"Left out: the same text as {seen[sha].name} (a duplicate).")
    seen[sha] = path
    tokens = len(get_encoding().encode_ordinary(decoded.text))
    note = "" if decoded.is_utf8 else f"Read as {decoded.encoding_name}{'' if decoded.certain else ' (a guess)'}."
    wrapped = looks_hard_wrapped(decoded.text)
    return TextEntry(path, size, tokens, sha, None, note, wrapped.width if wrapped.hard_wrapped else 0)


def start_child(parent, module: str, args: list[str], on_event, on_end, what: str,
                log_path: Path | None = None, kill_after_ms: int = 5000) -> JsonProcess:
    """Start ``python -m module args``; ``on_end(process, outcome, message)`` with outcome "ok",
    "stopped" (cancelled on request), "error" (it said what is wrong) or "crashed"."""
    proc = JsonProcess(module, args, parent, what, log_path=log_path, kill_after_ms=kill_after_ms)
    proc.event.connect(on_event)
    proc.finished.connect(lambda _ok, message: on_end(
        proc, {"cancelled": "stopped", None: "crashed"}.get(proc.outcome, proc.outcome), message))
    proc.start()
    return proc


def running(proc: JsonProcess | None) -> bool:
    return proc is not None and proc.running


def end_now(proc: JsonProcess | None) -> None:
    """Stop a warm-up, comparison or export: SIGTERM lets it remove its temporary files."""
    if running(proc):
        proc.cancel()
        proc.process.waitForFinished(KILL_AFTER_MS + 2000)


def _error_label(style: str = ERROR_STYLE) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet(style)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


# --- Texts ----------------------------------------------------------------------------------

class TextsPage(QWizardPage):
    def __init__(self, wizard: "FinetuneWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Your texts")
        self.setSubTitle("Add the writing the model should learn from: .txt or .md files, a folder, or the "
                         "document you have open. Drop files here too.")
        self.setAcceptDrops(True)
        self.entries: list[TextEntry] = []
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["File", "Size", "Tokens", "Note"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
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
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.unwrap = QCheckBox("Join hard-wrapped lines into paragraphs")
        self.unwrap.setChecked(True)
        self.unwrap.setToolTip("Texts saved with a line break every 60-80 characters, like a printed page, would "
                               "teach the model to break lines mid-sentence. Turn this off for poetry or code, "
                               "where every line break matters.")
        self.unwrap.toggled.connect(lambda _on: self._update())
        self.warning = _error_label(WARNING_STYLE)

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

        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(self.unwrap)
        layout.addWidget(self.warning)
        layout.addWidget(self.runs_box)
        self.unavailable = _error_label()
        self.unavailable.setText(self.w.unavailable or "")
        self.unavailable.setVisible(bool(self.w.unavailable))
        layout.addWidget(self.unavailable)
        self.fill_runs()
        self._update()

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
        folder = paths.data_dir() / "finetune-texts"
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
        path = folder / f"{ft.slug(Path(title).stem) or 'document'}-{digest}.txt"
        if not path.exists():
            path.write_text(text, encoding="utf-8")
        self.add_paths([path])

    def _remove_selected(self) -> None:
        rows = sorted((self.tree.indexOfTopLevelItem(i) for i in self.tree.selectedItems()), reverse=True)
        for row in rows:
            del self.entries[row]
        # A duplicate of a removed file is the original now.
        paths_left = [e.path for e in self.entries]
        self.entries = []
        self.add_paths(paths_left)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
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

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        if self.w.unavailable:
            return False
        return self.w.resume_run is not None or self.total_tokens() >= MIN_TOKENS

    def nextId(self) -> int:  # noqa: N802 - Qt's name
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


# --- Base model -----------------------------------------------------------------------------

class BasePage(QWizardPage):
    def __init__(self, wizard: "FinetuneWizard") -> None:
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

    def initializePage(self) -> None:  # noqa: N802 - Qt's name
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
            if self.trainable(m) and (chosen < 0 or m.folder == wanted or (wanted is None and active and m.folder == active.folder)):
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

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        return self.selected() is not None


# --- Method and settings --------------------------------------------------------------------

class MethodPage(QWizardPage):
    def __init__(self, wizard: "FinetuneWizard") -> None:
        super().__init__()
        self.w = wizard
        self.setTitle("Method and settings")
        self.setSubTitle("The defaults suit most texts. The estimate comes from a short warm-up run on this machine.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        self.name = QLineEdit()
        self.full = QRadioButton("Full fine-tune (all weights)")
        self.lora = QRadioButton("LoRA (small adapters, faster for large models)")
        self.method_group = QButtonGroup(self)
        self.method_group.addButton(self.full)
        self.method_group.addButton(self.lora)
        self.rank = QSpinBox()
        self.rank.setRange(1, 256)
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
        self.problem = _error_label()
        self.estimate_label = QLabel()
        self.estimate_label.setWordWrap(True)
        self.estimate_busy = QProgressBar()
        self.estimate_busy.setRange(0, 0)
        self.estimate_busy.setMaximumHeight(8)
        self.estimate_busy.setTextVisible(False)
        self.measure = QPushButton("Measure again")
        self.measure.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.estimate: dict | None = None

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

        self.process: JsonProcess | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(700)
        self.timer.timeout.connect(self.run_estimate)
        self.measure.clicked.connect(self.run_estimate)
        for spin in (self.rank, self.epochs, self.steps, self.lr, self.seq_len, self.batch, self.val_share, self.seed):
            spin.valueChanged.connect(self._changed)
        for button in (self.full, self.lora, self.by_epochs, self.by_steps):
            button.toggled.connect(self._changed)
        self.lora.toggled.connect(self._method_toggled)
        self.name.textChanged.connect(lambda _: self.completeChanged.emit())
        self._job_file = paths.state_dir() / "finetune-estimate.json"

    def initializePage(self) -> None:  # noqa: N802 - Qt's name
        base = self.w.base_page.selected()
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
            end_now(self.process)
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
        return ft.make_job(name, self.w.base_page.selected().folder,
                           [str(e.path) for e in self.w.texts_page.usable()], s,
                           int(total * (1 - s["val_share"])), self.prompt.text().strip() or None)

    def run_estimate(self) -> None:
        if self.size_problem() is not None:
            return
        end_now(self.process)
        self._job_file.write_text(json.dumps(self.job("estimate")), encoding="utf-8")
        self.estimate = None
        self.estimate_label.setText("Measuring with a short warm-up run…")
        self.estimate_busy.show()
        self.process = start_child(self, "app.finetune_cli", ["--job", str(self._job_file), "--estimate", "--json"],
                                   self._estimate_event, self._estimate_ended, "the warm-up run")

    def _estimate_event(self, event: dict) -> None:
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

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        problem = ft.name_problem(self.name.text()) or self.size_problem()
        self.problem.setText(problem or "")
        return problem is None

    def validatePage(self) -> bool:  # noqa: N802 - Qt's name
        self.stop_estimate()
        self.w.job = self.job(self.name.text().strip())
        self.w.resume_run = None
        return True

    def stop_estimate(self) -> None:
        self.timer.stop()
        end_now(self.process)


# --- Training -------------------------------------------------------------------------------

class TrainingPage(QWizardPage):
    def __init__(self, wizard: "FinetuneWizard") -> None:
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
        self.message = _error_label()
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
        return paths.log_dir() / f"finetune-{self.run_dir.name}.log"

    def initializePage(self) -> None:  # noqa: N802 - Qt's name
        self.last_checkpoint = self.w.resume_run.step if self.w.resume_run else 0
        self.start(resume=self.w.resume_run is not None)

    def start(self, resume: bool) -> None:
        self.message.setText("")
        if not resume:
            self.chart.clear()
        if resume:
            args = ["--out", str(self.run_dir), "--resume"]
        else:
            job_file = paths.state_dir() / f"finetune-{self.run_dir.name}.job.json"
            job_file.write_text(json.dumps(self.w.job, indent=2), encoding="utf-8")
            args = ["--job", str(job_file)]
        self.state = "running"
        self.status.setText("Resuming from the last checkpoint…" if resume else "Reading your texts and the base model…")
        self._buttons()
        self.process = start_child(self, "model.train", args, self._event, self._ended, "the training",
                                   self.log_path, TRAINING_STOP_MS)
        self.process.log_line.connect(self.log.appendPlainText)
        self.completeChanged.emit()

    def stop(self) -> None:
        if running(self.process):
            self.status.setText("Stopping at the end of this step; keeping a checkpoint…")
            self.stop_button.setEnabled(False)
            self.process.cancel()

    def _buttons(self) -> None:
        busy = self.state == "running"
        self.stop_button.setEnabled(busy)
        self.stop_button.setVisible(self.state != "done")
        self.resume_button.setVisible(self.state in ("stopped", "crashed") and self._checkpoint_exists())
        self.w.button(QWizard.WizardButton.CancelButton).setText("Close" if not busy else "Cancel")

    def _checkpoint_exists(self) -> bool:
        return (self.run_dir / "checkpoints" / "last.pt").is_file()

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
        elif kind == "done":
            self.w.summary = e

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
        self._buttons()
        self.completeChanged.emit()

    def _forget_empty_run(self) -> None:
        """A run that failed before its first checkpoint holds nothing worth keeping; its name is freed."""
        if self.run_dir.is_dir() and not self._checkpoint_exists() and not (self.run_dir / "training.json").exists():
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def isComplete(self) -> bool:  # noqa: N802 - Qt's name
        return self.state == "done"


# --- Results --------------------------------------------------------------------------------

class ResultsPage(QWizardPage):
    def __init__(self, wizard: "FinetuneWizard") -> None:
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

    @property
    def run_dir(self) -> Path:
        return Path(self.w.job["out"])

    def initializePage(self) -> None:  # noqa: N802 - Qt's name
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
        dest = paths.models_dir() / ft.slug(name)
        self.use_button.setEnabled(False)
        self._dest = dest
        if (dest / "inkwell-model.json").is_file():  # installed before (the wizard was opened again)
            self._export_ended(None, "ok", "")
            return
        self.use_bar.show()
        self.use_bar.setRange(0, 0)
        self.use_status.setText("Exporting to ONNX for the editor…")
        self._dest = dest
        self.export_process = start_child(
            self, "model.export", [str(self.run_dir), str(dest), "--variants", ",".join(ft.EXPORT_VARIANTS),
                                   "--hf-dtype", ft.EXPORT_HF_DTYPE, "--name", name, "--json"],
            self._export_event, self._export_ended, "the export", paths.log_dir() / f"finetune-{self.run_dir.name}.log")

    def _export_event(self, e: dict) -> None:
        if e["event"] == "start":
            self.use_bar.setRange(0, e["total_steps"])
        elif e["event"] == "progress":
            self.use_bar.setValue(e["step"])
            self.use_status.setText(e.get("message", ""))

    def _export_ended(self, _proc: JsonProcess, outcome: str, message: str) -> None:
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


# --- the wizard -----------------------------------------------------------------------------

class FinetuneWizard(QWizard):
    def __init__(self, settings: Settings, document=None, parent: QWidget | None = None) -> None:
        """``document``: a callable giving (title, text) of the open document, or None."""
        super().__init__(parent)
        self.settings = settings
        self.document = document
        self.job: dict = {}
        self.summary: dict | None = None
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

    def busy(self) -> bool:
        return running(self.training_page.process) or running(self.results_page.export_process)

    def reject(self) -> None:
        if self.busy():
            answer = QMessageBox.question(
                self, "Stop training?", "Training is still running. Stop it now? The last checkpoint is kept, and "
                "you can resume later from Model ▸ Fine-tune on your texts….")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.shut_down()
        super().reject()

    def shut_down(self) -> None:
        """Stop every child process: training checkpoints first; the others have nothing to keep."""
        self.method_page.stop_estimate()
        for proc in (self.results_page.compare_process, self.results_page.export_process):
            end_now(proc)
        training = self.training_page.process
        if running(training):
            training.cancel()  # it checkpoints, or is killed after TRAINING_STOP_MS
            training.process.waitForFinished(TRAINING_STOP_MS + 5000)

    def done(self, result: int) -> None:
        self.shut_down()
        super().done(result)

