"""The Models dialog with real subprocesses: list, use, rename, delete, import, download, cancel."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from app import hub, installer, models
from app.settings import Settings
from app.ui.models_dialog import COLUMNS, DownloadDialog, ModelsDialog
from core import paths
from core.units import human_bytes

JOB_TIMEOUT_MS = 180_000


@pytest.fixture
def settings():
    return Settings.load()


@pytest.fixture
def mine(tiny_bundle):
    folder = paths.models_dir() / "mine"
    shutil.copytree(tiny_bundle, folder)
    return folder


def row_of(dialog: ModelsDialog, name: str) -> int:
    return next(i for i, m in enumerate(dialog._rows) if m.name == name)


def cell(dialog: ModelsDialog, row: int, column: str) -> str:
    return dialog.table.item(row, COLUMNS.index(column)).text()


def test_the_list_shows_each_model_and_the_active_one(qtbot, settings, mine):
    dialog = ModelsDialog(settings)
    qtbot.addWidget(dialog)
    row = row_of(dialog, "tiny-test")
    assert cell(dialog, row, "Variants") == "int8, fp16, fp32"
    assert cell(dialog, row, "Parameters").endswith("M") and cell(dialog, row, "Size").endswith("MB")
    assert cell(dialog, row, "Source").startswith("imported") and cell(dialog, row, "Perplexity") == "—"
    assert cell(dialog, row, "Active") == ""
    dialog.table.selectRow(row)
    dialog.use_button.click()
    assert settings["model"] == str(mine)
    assert cell(dialog, row_of(dialog, "tiny-test"), "Active") == "✓"


def test_the_bundled_model_cannot_be_deleted_or_renamed(qtbot, settings, mine, monkeypatch):
    bundled = [m for m in models.installed_models() if m.bundled]
    if not bundled:
        pytest.skip("no bundled model in this checkout")
    dialog = ModelsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.table.selectRow(row_of(dialog, bundled[0].name))
    assert not dialog.delete_button.isEnabled() and not dialog.rename_button.isEnabled()
    assert dialog.use_button.isEnabled()


def test_rename_and_delete(qtbot, settings, mine, monkeypatch):
    settings.set("model", str(mine))
    dialog = ModelsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.table.selectRow(row_of(dialog, "tiny-test"))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Renamed model", True))
    dialog.rename_button.click()
    assert models.find(str(mine)).name == "Renamed model"
    assert dialog.selected().name == "Renamed model"
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    dialog.delete_button.click()
    assert not mine.exists() and settings["model"] == ""  # the active model was deleted: back to the default
    assert "Renamed model" not in [m.name for m in dialog._rows]


@pytest.mark.slow
def test_import_runs_the_export_in_a_subprocess(qtbot, settings, tiny_hf_dir):
    dialog = ModelsDialog(settings)
    qtbot.addWidget(dialog)
    seen = []
    dialog.start_import(str(tiny_hf_dir))
    dialog.job.received.connect(lambda e: seen.append(e["event"]))
    assert not dialog.import_button.isEnabled() and dialog.job_panel.isVisibleTo(dialog)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=JOB_TIMEOUT_MS)
    assert dialog.status.text().startswith("Installed tiny-hf"), dialog.status.text()
    assert dialog.selected().name.startswith("tiny-hf") and "export" in seen
    assert not dialog.job_panel.isVisibleTo(dialog)


@pytest.mark.slow
def test_a_killed_import_says_so_and_lists_nothing(qtbot, settings, tiny_hf_dir):
    dialog = ModelsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.start_import(str(tiny_hf_dir))
    job = dialog.job
    job.received.connect(lambda e: job.process.kill() if e["event"] == "export" and e["step"] >= 1 else None)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=JOB_TIMEOUT_MS)
    assert "stopped unexpectedly" in dialog.status.text() and "nothing was installed" in dialog.status.text()
    assert not [m for m in models.installed_models() if not m.bundled]


@pytest.mark.slow
def test_download_shows_the_size_first(qtbot, fake_hub, tiny_hf_dir):
    chooser = DownloadDialog()
    qtbot.addWidget(chooser)
    assert not chooser.start_button.isEnabled()
    chooser.list.setCurrentRow(list(hub.KNOWN).index("gpt2"))
    qtbot.waitUntil(lambda: chooser.plan is not None, timeout=60_000)
    size = human_bytes((tiny_hf_dir / "model.safetensors").stat().st_size + (tiny_hf_dir / "config.json").stat().st_size)
    assert f"{size} to download" in chooser.info.text() and "free" in chooser.info.text()
    assert chooser.start_button.isEnabled() and not chooser.discard_button.isVisibleTo(chooser)
    fake_hub.status = 500
    chooser.list.setCurrentRow(list(hub.KNOWN).index("gpt2-xl"))
    qtbot.waitUntil(lambda: "answered HTTP 500" in chooser.info.text(), timeout=60_000)
    assert not chooser.start_button.isEnabled()


@pytest.mark.slow
def test_download_cancel_then_continue(qtbot, settings, fake_hub):
    fake_hub.hold_after["model.safetensors"] = 4_000_000
    dialog = ModelsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.start_download("gpt2")
    qtbot.waitUntil(lambda: "of 13.3 MB" in dialog.job_panel.detail.text(), timeout=60_000)
    assert "/s" in dialog.job_panel.detail.text()
    dialog.cancel_job()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    assert dialog.status.text().startswith("Cancelled; the partial download is kept")
    assert dialog.pending.isVisibleTo(dialog) and "gpt2" in dialog.pending.text()
    assert not [m for m in models.installed_models() if not m.bundled]
    fake_hub.release()
    dialog.start_download("gpt2")
    qtbot.waitUntil(lambda: dialog.job is None, timeout=JOB_TIMEOUT_MS)
    assert dialog.status.text() == "Installed gpt2. Click Use to write with it."
    assert fake_hub.ranges("model.safetensors")[-1] not in (None, "bytes=0-")  # continued, not restarted
    assert not dialog.pending.isVisibleTo(dialog)
    assert not installer.downloads_dir().exists() or not any(installer.downloads_dir().iterdir())


def downloading_dialog(qtbot, settings, fake_hub) -> ModelsDialog:
    """The dialog on screen with a download of gpt2 that the hub holds after 4 MB."""
    fake_hub.hold_after["model.safetensors"] = 4_000_000
    dialog = ModelsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.start_download("gpt2")
    qtbot.waitUntil(lambda: "of 13.3 MB" in dialog.job_panel.detail.text(), timeout=60_000)
    return dialog


@pytest.mark.slow
def test_closing_during_a_download_stops_it_without_freezing_the_window(qtbot, settings, fake_hub, monkeypatch):
    dialog = downloading_dialog(qtbot, settings, fake_hub)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Yes)
    process = dialog.job.process
    dialog.reject()
    # The window answers while the download flushes its partial file: nothing waited for it.
    assert asked and "Stop the running import or download?" in asked[0]
    assert dialog.isVisible() and dialog.status.text() == "Stopping…"
    dialog.reject()  # closing again while it stops asks nothing more
    assert len(asked) == 1
    with qtbot.waitSignal(dialog.rejected, timeout=60_000):
        pass
    assert not dialog.isVisible() and dialog.job is None
    assert process.state() == process.ProcessState.NotRunning
    assert installer.downloads_dir().exists() and any(installer.downloads_dir().iterdir())  # kept to continue
    fake_hub.release()


@pytest.mark.slow
def test_a_download_ending_while_asked_to_stop_still_closes(qtbot, settings, fake_hub, monkeypatch):
    dialog = downloading_dialog(qtbot, settings, fake_hub)

    def answer_once_it_has_ended(*_args, **_kwargs):
        fake_hub.release()  # the question is open while the download finishes
        qtbot.waitUntil(lambda: dialog.job is None, timeout=JOB_TIMEOUT_MS)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", answer_once_it_has_ended)
    dialog.reject()
    assert not dialog.isVisible()


def test_the_dialog_and_installer_modules_do_not_import_torch():
    code = ("import sys, app.ui.models_dialog, app.installer, app.models_cli, app.hub; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_model_menu_opens_the_dialog_and_use_switches_the_model(qtbot, mine, monkeypatch):
    from app.ui import models_dialog
    from app.ui.main_window import MainWindow

    window = MainWindow(Settings.load())
    window.show()

    def choose_mine(dialog):
        dialog.table.selectRow(row_of(dialog, "tiny-test"))
        dialog.use_button.click()
        return 0

    monkeypatch.setattr(models_dialog.ModelsDialog, "exec", choose_mine)
    try:
        window._fill_model_menu()
        action = next(a for a in window.model_menu.actions() if a.text() == "Manage models…")
        with qtbot.waitSignal(window.suggestions.generator.loaded, timeout=30000):
            action.trigger()
        assert window.settings["model"] == str(mine) and window.status.model_label.text().startswith("tiny-test")
    finally:
        window.close()
        window.deleteLater()


def test_without_pytorch_only_onnx_and_inkwell_models_can_be_added(qtbot, settings, monkeypatch):
    """The standalone build leaves PyTorch out: checkpoint imports and downloads (both converted
    by model.export) are disabled up front, saying why; ONNX files and Inkwell folders stay."""
    from app.ui import models_dialog

    monkeypatch.setattr(models_dialog, "torch_missing", lambda: "Importing PyTorch checkpoints needs PyTorch")
    dialog = ModelsDialog(settings)
    qtbot.addWidget(dialog)
    actions = {a.text(): a for a in dialog.import_button.menu().actions()}
    assert not actions["Hugging Face checkpoint folder…"].isEnabled()
    assert not actions["Weights file (.safetensors, .bin)…"].isEnabled()
    assert "needs PyTorch" in actions["Weights file (.safetensors, .bin)…"].toolTip()
    assert actions["ONNX file…"].isEnabled() and actions["Inkwell model folder…"].isEnabled()
    assert not dialog.download_button.isEnabled() and "needs PyTorch" in dialog.download_button.toolTip()

    monkeypatch.setattr(models_dialog, "torch_missing", lambda: None)
    with_torch = ModelsDialog(settings)
    qtbot.addWidget(with_torch)
    assert with_torch.download_button.isEnabled()
    assert all(a.isEnabled() for a in with_torch.import_button.menu().actions())


def test_perplexities_measured_on_different_texts_say_so(qtbot, settings, monkeypatch, tmp_path):
    """Issue 22: the column compared figures that each model measured on a text of its own."""
    def model(name: str, value, text=None) -> models.InstalledModel:
        measured = None if value is None else {"value": value, **({"dataset": text} if text else {})}
        return models.InstalledModel(tmp_path / name, name, False, {"perplexity": measured})

    held_out = "held out from training: the files of runs/corpus/heldout-authors"
    same = [model("a", 152.0, held_out), model("b", 98.5, held_out), model("c", None)]
    monkeypatch.setattr(models, "installed_models", lambda: same)
    dialog = ModelsDialog(settings)
    qtbot.addWidget(dialog)
    column = COLUMNS.index("Perplexity")
    assert [cell(dialog, row, "Perplexity") for row in range(3)] == ["152.0", "98.5", "—"]
    assert held_out in dialog.table.horizontalHeaderItem(column).toolTip()
    assert held_out in dialog.table.item(0, column).toolTip()

    mixed = [model("a", 152.0, held_out), model("b", 66.1, "persuasion.txt from Chapter 21"), model("c", 40.0)]
    monkeypatch.setattr(models, "installed_models", lambda: mixed)
    dialog.refresh()
    assert [cell(dialog, row, "Perplexity") for row in range(3)] == \
        ["152.0 (text 1)", "66.1 (text 2)", "40.0 (text unknown)"]
    header = dialog.table.horizontalHeaderItem(column).toolTip()
    assert f"Text 1: {held_out}" in header and "Text 2: persuasion.txt" in header and "same text" in header


def test_make_a_faster_copy_asks_for_texts_then_runs_and_installs_it(qtbot, settings, mine, tmp_path):
    from test_train import PROSE

    from app.ui.compress_dialog import CompressDialog

    dialog = ModelsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.table.selectRow(row_of(dialog, "tiny-test"))
    assert dialog.compress_button.isEnabled()
    ask = CompressDialog(dialog.selected(), dialog)
    qtbot.addWidget(ask)
    assert not ask.start_button.isEnabled() and "Add the texts" in ask.problem.text()
    assert "2.2× less work per word" in ask.expected.text()
    ask.keep.setValue(30)  # one of the tiny model's two layers with one head does 30.05% of its work
    assert ask.expected.text() == "" and "Keep at least 31 %" in ask.problem.text()
    ask.keep.setValue(35)
    assert "less work per word" in ask.expected.text() and "keep at least" not in ask.problem.text()
    texts = tmp_path / "texts.txt"
    texts.write_text(PROSE * 30, encoding="utf-8")  # a batch of the estimate's 8 x 256 tokens
    ask.add_text(str(texts))
    ask.add_text(str(texts))  # once only
    ask.name.setText("tiny-test")
    assert not ask.start_button.isEnabled() and "installed already" in ask.problem.text()
    ask.name.setText("Tiny quick")
    assert ask.start_button.isEnabled() and ask.problem.text() == ""
    args = ask.args()
    assert args[args.index("--keep") + 1] == "0.35" and args.count("--data") == 1
    ask.estimate_button.click()  # the time, measured by a warm-up in a child process
    qtbot.waitUntil(lambda: ask.estimate_label.text().startswith("About"), timeout=JOB_TIMEOUT_MS)
    assert "steps of learning from the original" in ask.estimate_label.text()
    assert "less work per word" in ask.estimate_label.text()
    dialog.start_compress(args + ["--steps", "3", "--seq-len", "32", "--batch-size", "2"], "Tiny quick")
    assert not dialog.compress_button.isEnabled()  # one job at a time
    qtbot.waitUntil(lambda: dialog.job is None, timeout=JOB_TIMEOUT_MS)
    assert "Installed Tiny quick" in dialog.status.text(), dialog.status.text()
    assert dialog.selected() is not None and dialog.selected().name == "Tiny quick"
    assert dialog.selected().compression.startswith("a faster copy of tiny-test")  # measured once installed


def test_a_faster_copy_shows_its_measured_figures(qtbot, settings, mine):
    models.record(mine, "compression", {"original": "inkwell-fiction", "keep": 0.5, "keystroke_ms_copy": 12.0,
                                        "keystroke_ms_original": 18.0, "speedup": 1.5, "perplexity_copy": 105.0,
                                        "perplexity_original": 97.0})
    dialog = ModelsDialog(settings)
    qtbot.addWidget(dialog)
    row = row_of(dialog, "tiny-test")
    assert cell(dialog, row, "Source") == "faster copy of inkwell-fiction (1.5× as fast)"
    tip = dialog.table.item(row, COLUMNS.index("Source")).toolTip()
    assert "12 ms against 18 ms" in tip and "perplexity 105.0 against 97.0" in tip
