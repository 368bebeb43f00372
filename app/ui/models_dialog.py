"""The Models dialog (Model ▸ Manage models…): installed models, import, download, and a faster
copy of a model (``python -m app.compress_cli``, asked for by app/ui/compress_dialog.py).

Imports and downloads run ``python -m app.models_cli … --json`` through QProcess (torch and the
network stay out of the editor's process); the dialog shows its events as a progress bar with
bytes, speed and time left, and Cancel ends the process. A cancelled or failed download keeps
its partial files, and choosing the same model again continues it, also after a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import hub, installer, models
from app.installer import SIZES, progress_text
from app.settings import Settings
from app.tools import torch_missing
from app.ui.compress_dialog import CompressDialog
from app.ui.jobs import KILL_AFTER_MS, JsonProcess
from core.errors import ModelError
from core.units import human_bytes, human_duration

COLUMNS = ("Name", "Parameters", "Size", "Variants", "Source", "Perplexity", "Active")
_SOURCES = {
    "hf": "Hugging Face checkpoint folder…",
    "weights": "Weights file (.safetensors, .bin)…",
    "onnx": "ONNX file…",
    "bundle": "Inkwell model folder…",
}
_NEEDS_TORCH = {"hf", "weights"}  # converted to ONNX by model.export; downloads too


def _item(text: str, tooltip: str = "", align_right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if tooltip:
        item.setToolTip(tooltip)
    if align_right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def perplexity_cells(rows: list[models.InstalledModel]) -> tuple[list[tuple[str, str]], str]:
    """Each model's perplexity cell (text, tooltip) and the column's tooltip. Each model measured
    its own figure on a text of its own choosing, and only figures on the same text compare:
    when they were measured on different texts, each figure says which ("text 2"), and the
    column's tooltip names the texts."""
    texts: list[str] = []
    for m in rows:
        if m.perplexity and m.perplexity_text and m.perplexity_text not in texts:
            texts.append(m.perplexity_text)
    several = len(texts) > 1 or any(m.perplexity and not m.perplexity_text for m in rows)
    cells = []
    for m in rows:
        ppl, text = m.perplexity, m.perplexity_text
        if not ppl:
            cells.append(("—", "not measured for this model"))
        elif not text:
            cells.append((f"{ppl:.1f} (text unknown)", "The model does not say what text this was measured on: "
                          "it compares with no other figure."))
        elif several:
            number = texts.index(text) + 1
            cells.append((f"{ppl:.1f} (text {number})", f"Measured on text {number}: {text}. Only figures "
                          f"measured on the same text compare."))
        else:
            cells.append((f"{ppl:.1f}", f"Measured on: {text}"))
    column = "How well the model predicts a text it did not learn from: lower is better, but only " \
             "between figures measured on the same text."
    if texts:
        column += "\n" + "\n".join(f"Text {i + 1}: {t}" if several else f"Measured on: {t}" for i, t in enumerate(texts))
    return cells, column


class JobPanel(QWidget):
    """What a running import or download is doing, with its Cancel button."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("jobPanel")
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 6, 0, 0)
        self.title = QLabel("")
        self.title.setObjectName("jobTitle")
        row = QHBoxLayout()
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        self.detail = QLabel("")
        self.detail.setObjectName("jobDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        column.addWidget(self.title)
        column.addLayout(row)
        column.addWidget(self.detail)

    def begin(self, title: str) -> None:
        self.title.setText(title)
        self.bar.setRange(0, 0)  # busy until the first progress event
        self.detail.setText("Starting…")
        self.cancel_button.setEnabled(True)
        self.show()


class DownloadDialog(QDialog):
    """Choose a GPT-2 model; its size, the disk it needs and any partial download are shown
    (asked of the hub by a subprocess) before anything is downloaded."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Download a model")
        self.setObjectName("downloadDialog")
        self.plan: dict | None = None
        self._query: JsonProcess | None = None
        column = QVBoxLayout(self)
        intro = QLabel(f"GPT-2 from the Hugging Face Hub ({hub.endpoint()}). It is checked against the "
                       "hub's checksums, then converted for Inkwell. Nothing is sent but the request.")
        intro.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("downloadList")
        for name, (repo, description) in hub.KNOWN.items():
            item = QListWidgetItem(f"{name} — {description}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(repo)
            self.list.addItem(item)
        self.info = QLabel("Choose a model to see its size.")
        self.info.setObjectName("downloadInfo")
        self.info.setWordWrap(True)
        self.info.setMinimumHeight(64)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Download", QDialogButtonBox.ButtonRole.AcceptRole)
        self.discard_button = self.buttons.addButton("Discard partial download",
                                                     QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.start_button.setEnabled(False)
        self.discard_button.hide()
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.discard_button.clicked.connect(self._discard)
        column.addWidget(intro)
        column.addWidget(self.list, 1)
        column.addWidget(self.info)
        column.addWidget(self.buttons)
        self.list.currentItemChanged.connect(lambda *_: self._ask_hub())
        self.resize(560, 420)

    @property
    def chosen(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _ask_hub(self) -> None:
        self.plan = None
        self.start_button.setEnabled(False)
        self.discard_button.hide()
        if self._query is not None:
            self._query.cancel()
        name = self.chosen
        if name is None:
            return
        self.info.setText(f"Asking the hub about {name}…")
        query = JsonProcess("app.models_cli", ["download", name, "--plan", "--json"], self, "the size query")
        query.received.connect(lambda event, n=name: self._planned(n, event))
        query.finished.connect(lambda ok, message, n=name, q=query: self._answered(n, q, ok, message))
        self._query = query
        query.start()

    def _planned(self, name: str, event: dict) -> None:
        if event["event"] != "plan" or name != self.chosen:
            return
        self.plan = event
        total, have = event["total_bytes"], event["have_bytes"]
        lines = [f"<b>{name}</b> ({event['repo']}): {human_bytes(total)} to download"]
        if have:
            lines.append(f"{human_bytes(have)} already downloaded: the download continues from there.")
        enough = event["disk_free"] >= event["disk_needed"]
        lines.append(f"Needs {human_bytes(event['disk_needed'])} of disk with the conversion; "
                     f"{human_bytes(event['disk_free'])} free" + ("." if enough else " — <b>not enough</b>."))
        if event.get("licence"):
            lines.append(f"Licence: {event['licence']}.")
        self.info.setText("<br>".join(lines))
        self.start_button.setEnabled(enough)
        self.discard_button.setVisible(have > 0)

    def _answered(self, name: str, query: JsonProcess, ok: bool, message: str) -> None:
        if query is self._query:
            self._query = None
        if not ok and name == self.chosen and message != "cancelled":
            self.info.setText(message)

    def _discard(self) -> None:
        name = self.chosen
        if name and installer.discard_download(name):
            self._ask_hub()

    def done(self, result: int) -> None:
        if self._query is not None:
            self._query.cancel()
        super().done(result)


class ModelsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.job: JsonProcess | None = None
        self._closing = False  # closed while a job ran: waiting for it to end
        self._installed_folder: str | None = None
        self._compressing: str | None = None  # the copy being made, by name
        self._rows: list[models.InstalledModel] = []
        self.setWindowTitle("Models")
        self.setObjectName("modelsDialog")
        self._build_table()
        self._build_buttons()
        self._build_import_menu()
        self._connect_buttons()
        top = self._top_row()
        close = self._build_status()
        column = QVBoxLayout(self)
        column.addLayout(top, 1)
        column.addWidget(self.pending)
        column.addWidget(self.job_panel)
        column.addWidget(self.status)
        column.addWidget(close)
        self.resize(900, 460)
        self.refresh()

    def _build_table(self) -> None:
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("modelsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda *_: self.use_selected())

    def _build_buttons(self) -> None:
        self.use_button = QPushButton("Use")
        self.use_button.setToolTip("Write with this model")
        self.rename_button = QPushButton("Rename…")
        self.delete_button = QPushButton("Delete…")
        self.folder_button = QPushButton("Open folder")
        self.import_button = QPushButton("Import…")
        self.download_button = QPushButton("Download…")
        self.compress_button = QPushButton("Make a faster copy…")
        self.compress_button.setToolTip("A smaller copy of the selected model, trained on your texts to write like it")

    def _build_import_menu(self) -> None:
        import_menu = QMenu(self.import_button)
        import_menu.setToolTipsVisible(True)
        # Without PyTorch (the standalone build) checkpoints cannot be converted: say so up front.
        self.torch_missing = torch_missing()
        for kind, label in _SOURCES.items():
            action = import_menu.addAction(label, self._chooser(kind))
            if self.torch_missing and kind in _NEEDS_TORCH:
                action.setEnabled(False)
                action.setToolTip(self.torch_missing)
        if self.torch_missing:
            self.download_button.setToolTip(self.torch_missing)
        self.import_button.setMenu(import_menu)

    def _connect_buttons(self) -> None:
        self.use_button.clicked.connect(self.use_selected)
        self.rename_button.clicked.connect(self.rename_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.folder_button.clicked.connect(self.open_folder)
        self.download_button.clicked.connect(self.choose_download)
        self.compress_button.clicked.connect(self.choose_compress)

    def _top_row(self) -> QHBoxLayout:
        """The table, and beside it the buttons: those for the selected model above, adding below."""
        side = QVBoxLayout()
        for button in (self.use_button, self.rename_button, self.delete_button, self.folder_button,
                       self.compress_button):
            side.addWidget(button)
        side.addStretch(1)
        side.addWidget(self.import_button)
        side.addWidget(self.download_button)
        top = QHBoxLayout()
        top.addWidget(self.table, 1)
        top.addLayout(side)
        return top

    def _build_status(self) -> QDialogButtonBox:
        """The lines under the table: pending downloads, the job's progress, the status; and Close."""
        self.pending = QLabel("")
        self.pending.setObjectName("pendingDownloads")
        self.pending.setWordWrap(True)
        self.status = QLabel("")
        self.status.setObjectName("modelsStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.job_panel = JobPanel()
        self.job_panel.cancel_button.clicked.connect(self.cancel_job)
        self.job_panel.hide()
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        return close

    # the list ------------------------------------------------------------------------------------

    def refresh(self, select: str | None = None) -> None:
        current = self.selected()
        select = select or (str(current.folder) if current else None)
        active, _ = models.active_model(self.settings["model"])
        self._rows = models.installed_models()
        self.table.setRowCount(len(self._rows))
        perplexities, perplexity_tip = perplexity_cells(self._rows)
        self.table.model().setHeaderData(COLUMNS.index("Perplexity"), Qt.Orientation.Horizontal, perplexity_tip,
                                         Qt.ItemDataRole.ToolTipRole)
        for row, m in enumerate(self._rows):
            is_active = active is not None and m.folder == active.folder
            if m.problem:
                cells = [_item(m.name, m.problem), _item("—"), _item(human_bytes(m.size_bytes), align_right=True),
                         _item("—"), _item(f"cannot be used: {m.problem}", m.problem), _item("—"), _item("")]
            else:
                params = f"{m.parameters / 1e6:.1f}M" if m.parameters else "—"
                cells = [
                    _item(m.name + (" (bundled)" if m.bundled else ""), str(m.folder)),
                    _item(params, f"{m.parameters:,} parameters" if m.parameters else "", True),
                    _item(human_bytes(m.size_bytes), align_right=True),
                    _item(", ".join(m.variants) or "built on first use",
                          "int8 runs on CPUs, fp16 on NVIDIA GPUs, fp32 is the reference"
                          + ("" if m.variants else "; this model ships its weights only, and the graph "
                             "for this computer is built from them the first time it runs")),
                    _item(m.provenance, self._provenance_tip(m)),
                    _item(*perplexities[row], align_right=True),
                    _item("✓" if is_active else ""),
                ]
            cells[-1].setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            for col, cell in enumerate(cells):
                if is_active:
                    font = cell.font()
                    font.setBold(True)
                    cell.setFont(font)
                self.table.setItem(row, col, cell)
            if select and str(m.folder) == select:
                self.table.selectRow(row)
        if self.table.currentRow() < 0 and self._rows:
            self.table.selectRow(next((i for i, m in enumerate(self._rows)
                                       if active is not None and m.folder == active.folder), 0))
        self._show_pending()
        self._update_buttons()

    @staticmethod
    def _provenance_tip(m: models.InstalledModel) -> str:
        prov = m.manifest.get("provenance") or {}
        lines = [f"{k}: {prov[k]}" for k in ("source", "hub_commit", "imported_from", "created", "downloaded")
                 if isinstance(prov.get(k), str)]
        lines.append(f"licence: {m.manifest.get('licence', 'unspecified')}")
        if m.compression:
            lines.append(m.compression[:1].upper() + m.compression[1:] + " (measured when it was installed)")
        return "\n".join(lines)

    def _show_pending(self) -> None:
        root = installer.downloads_dir()
        names = []
        if root.is_dir():
            by_repo = {repo: name for name, (repo, _) in hub.KNOWN.items()}
            for folder in sorted(root.iterdir()):
                repo = folder.name.replace("--", "/", 1)
                done = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
                names.append(f"{by_repo.get(repo, repo)} ({human_bytes(done)})")
        self.pending.setText("Unfinished downloads: " + ", ".join(names) +
                             ". Download… the same model again to continue." if names else "")
        self.pending.setVisible(bool(names))

    def selected(self) -> models.InstalledModel | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self._rows):
            return None
        return self._rows[rows[0].row()]

    def _update_buttons(self) -> None:
        m = self.selected()
        busy = self.job is not None
        self.use_button.setEnabled(m is not None and m.problem is None)
        self.rename_button.setEnabled(m is not None and not m.bundled and m.problem is None)
        self.delete_button.setEnabled(m is not None and not m.bundled)
        self.delete_button.setToolTip("The bundled model cannot be deleted" if m is not None and m.bundled else "")
        self.folder_button.setEnabled(m is not None)
        trainable = m is not None and m.problem is None and (m.folder / "hf" / "config.json").is_file()
        self.compress_button.setEnabled(not busy and trainable and not self.torch_missing)
        self.compress_button.setToolTip(self.torch_missing or ("" if m is None or trainable else
                                        "This model has no Hugging Face weights (hf/) to train a copy from"))
        self.import_button.setEnabled(not busy)
        self.download_button.setEnabled(not busy and not self.torch_missing)

    # actions on the selected model ------------------------------------------------------------

    def use_selected(self) -> None:
        m = self.selected()
        if m is None or m.problem:
            return
        default = models.default_model()
        self.settings.set("model", "" if m == default else str(m.folder))
        self.status.setText(f"Writing with {m.name} now.")
        self.refresh(select=str(m.folder))

    def rename_selected(self) -> None:
        m = self.selected()
        if m is None or m.bundled:
            return
        name, ok = QInputDialog.getText(self, "Rename model", "New name:", text=m.name)
        if not ok or not name.strip():
            return
        try:
            models.rename(m, name)
        except (ModelError, OSError) as exc:
            QMessageBox.warning(self, "Cannot rename", str(exc))
            return
        self.refresh(select=str(m.folder))

    def delete_selected(self) -> None:
        m = self.selected()
        if m is None or m.bundled:
            return
        answer = QMessageBox.question(
            self, "Delete model", f"Delete {m.name} and its files ({human_bytes(m.size_bytes)})?\n\n{m.folder}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return
        active, _ = models.active_model(self.settings["model"])
        try:
            if active is not None and active.folder == m.folder:
                self.settings.set("model", "")  # back to the default before its files go
            models.remove(m)
        except ModelError as exc:
            QMessageBox.warning(self, "Cannot delete", str(exc))
        self.status.setText(f"Deleted {m.name}.")
        self.refresh()

    def open_folder(self) -> None:
        m = self.selected()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(m.folder if m else models.paths.models_dir())))

    # import and download ----------------------------------------------------------------------

    def _chooser(self, kind: str) -> Callable[[], None]:
        return lambda: self.choose_import(kind)

    def choose_import(self, kind: str) -> None:
        title = _SOURCES[kind].rstrip("…")
        if kind in ("hf", "bundle"):
            src = QFileDialog.getExistingDirectory(self, title)
        else:
            pattern = "ONNX graphs (*.onnx)" if kind == "onnx" else "Weights (*.safetensors *.bin)"
            src, _ = QFileDialog.getOpenFileName(self, title, "", pattern)
        if not src:
            return
        size = None
        if kind == "weights":
            size = self.ask_size(Path(src))
            if size is None:
                return
        self.start_import(src, size)

    def ask_size(self, path: Path) -> str | None:
        guess = installer.guess_size(path)
        items = list(SIZES)
        size, ok = QInputDialog.getItem(
            self, "GPT-2 size", f"Which GPT-2 are the weights in {path.name}?"
            + (f"\n(The file's shapes match {guess}.)" if guess else ""),
            items, items.index(guess) if guess in items else 1, False)
        return size if ok else None

    def start_import(self, src: str, size: str | None = None) -> None:
        args = ["import", str(src), "--json"] + (["--size", size] if size else [])
        self._run(args, f"Importing {Path(src).name}", "the import")

    def choose_download(self) -> None:
        dialog = DownloadDialog(self)
        if dialog.exec() == QDialog.DialogCode.Accepted and dialog.chosen:
            self.start_download(dialog.chosen)

    def start_download(self, name: str) -> None:
        self._run(["download", name, "--json"], f"Downloading {name}", "the download")

    def choose_compress(self) -> None:
        m = self.selected()
        if m is None or self.job is not None:
            return
        dialog = CompressDialog(m, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.start_compress(dialog.args(), dialog.name.text().strip())

    def start_compress(self, args: list[str], name: str) -> None:
        # A stopped training writes its checkpoint first: give it time before it is killed.
        self._run(args, f"Making {name}", "making the copy", module="app.compress_cli", kill_after_ms=120_000)
        self._compressing = name

    def _run(self, args: list[str], title: str, what: str, module: str = "app.models_cli",
             kill_after_ms: int = KILL_AFTER_MS) -> None:
        if self.job is not None:
            return
        self.status.setText("")
        self._installed_folder = None
        self._compressing = None
        self.job = JsonProcess(module, args, self, what, kill_after_ms=kill_after_ms)
        self.job.received.connect(self._job_event)
        self.job.finished.connect(self._job_finished)
        self.job_panel.begin(title)
        self._update_buttons()
        self.job.start()

    def cancel_job(self) -> None:
        if self.job is not None:
            self.job_panel.detail.setText("Cancelling…")
            self.job_panel.cancel_button.setEnabled(False)
            self.job.cancel()

    def _job_event(self, event: dict) -> None:
        kind = event["event"]
        panel = self.job_panel
        if kind == "plan":
            have = event["have_bytes"]
            panel.detail.setText(f"{human_bytes(event['total_bytes'])} to download"
                                 + (f", continuing from {human_bytes(have)}" if have else ""))
        elif kind == "download":
            # Progress bars hold ints: count kilobytes so that multi-gigabyte files fit.
            panel.bar.setRange(0, max(1, event["total"] // 1024))
            panel.bar.setValue(event["done"] // 1024)
            panel.detail.setText(progress_text(event))
        elif kind == "verify":
            panel.detail.setText(f"Checking {event['file']} against the hub's checksum…")
        elif kind == "stage":
            panel.detail.setText(event["message"] + "…")
        elif kind == "export":
            panel.title.setText(panel.title.text().split(" — ")[0] + " — converting for Inkwell")
            panel.bar.setRange(0, max(1, event["total_steps"]))
            panel.bar.setValue(event["step"])
            panel.detail.setText(event["message"])
        elif kind == "installed":
            self._installed_folder = event["folder"]
        elif kind == "pruned":
            panel.detail.setText(f"Kept {event['plan']}; now learning from the original…")
        elif kind == "progress":
            panel.bar.setRange(0, max(1, event["total_steps"]))
            panel.bar.setValue(event["step"])
            left = f", about {human_duration(event['eta_s'])} left" if event.get("eta_s") is not None else ""
            panel.detail.setText(f"Learning from the original: step {event['step']} of {event['total_steps']}{left}")
        elif kind == "done":
            panel.bar.setRange(0, 0)
            panel.detail.setText("Installing the copy…")

    def _job_finished(self, ok: bool, message: str) -> None:
        if self.job is not None and self.job.outcome == "crashed":
            message += " (nothing was installed)"  # the installer moves a model into place only when complete
        self.job = None
        self.job_panel.hide()
        if ok:
            self.refresh(select=self._installed_folder)
            m = self.selected()
            self.status.setText(f"Installed {m.name if m else 'the model'}. Click Use to write with it.")
        else:
            self.refresh()
            cancelled = message.startswith("cancelled")
            self.status.setText(message[:1].upper() + message[1:] if cancelled else f"Failed: {message}")
            if self._compressing and cancelled:
                self.status.setText(f"Stopped; its last checkpoint is kept. Continue it with Model ▸ Fine-tune on "
                                    f"your texts… (the Texts page lists it) or: inkwell finetune --resume "
                                    f"\"{self._compressing}\"")
        self._update_buttons()

    def reject(self) -> None:
        if self._closing:
            return  # stopping the job already: the dialog closes when it has ended
        if self.job is not None:
            answer = QMessageBox.question(
                self, "Stop?", "Stop the running import or download? A download continues where it "
                               "stopped when you start it again.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                return
            if self.job is None:  # it ended while the question was open: close, as asked
                super().reject()
                return
            # The job flushes its partial files on SIGTERM (killed after a few seconds if it hangs):
            # close once it has ended, without blocking the window meanwhile.
            self._closing = True
            self.job.finished.disconnect(self._job_finished)
            self.job.finished.connect(self._close_after_job)
            self.cancel_job()
            self.status.setText("Stopping…")
            # The job is killed KILL_AFTER_MS after the request; should even that not end it,
            # the dialog still closes rather than keep the window modal for ever.
            QTimer.singleShot(KILL_AFTER_MS + 5000, self._close_after_job)
            return
        super().reject()

    def _close_after_job(self) -> None:
        if not self._closing:
            return  # closed already
        self._closing = False
        self.job = None
        super().reject()
