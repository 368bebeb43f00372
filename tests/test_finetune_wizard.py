"""The fine-tune wizard, offscreen, driving real training, estimate and export processes on the tiny model."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWizard
from test_train import PROSE

from app.settings import Settings
from app.ui.finetune_wizard.common import TRAINING_STOP_MS
from core import paths

ROOT = Path(__file__).resolve().parent.parent
LONG = 120_000  # ms: a real child process with torch start-up on a busy machine


@pytest.fixture
def tiny_installed(tiny_bundle):
    """The tiny model installed as a user model, so the Base model page lists it."""
    dest = paths.models_dir() / "tiny"
    shutil.copytree(tiny_bundle, dest)
    Settings.load().set("model", str(dest))  # the active model is the Base page's first choice
    return dest


@pytest.fixture
def texts(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "one.txt").write_text("The lighthouse keeper counted the ships.\n" + PROSE * 8, encoding="utf-8")
    (folder / "two.md").write_text("# Notes\n\n" + PROSE.upper() * 4, encoding="utf-8")
    return folder


@pytest.fixture
def make_wizard(qtbot, monkeypatch):
    # A test that fails mid-training leaves it running when its wizard is closed: no question then.
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    wizards = []

    def make(document=None):
        from app.ui.finetune_wizard import FinetuneWizard

        settings = Settings.load()
        wizard = FinetuneWizard(settings, document)
        qtbot.addWidget(wizard)
        wizard.show()
        wizards.append(wizard)
        return wizard

    yield make
    for w in wizards:
        w.shut_down()  # asks; the children end on their own (a training run checkpoints first)
    try:
        qtbot.waitUntil(lambda: not any(w.stopping for w in wizards), timeout=TRAINING_STOP_MS + LONG)
    finally:
        for w in wizards:  # (after a failure: nothing may be left to ask about when the wizard closes)
            for proc in w.running_children():
                proc.kill()
        qtbot.waitUntil(lambda: not any(w.running_children() for w in wizards), timeout=LONG)


@pytest.fixture
def frequent_checkpoints(monkeypatch):
    """Long runs that checkpoint every other step (and skip evaluations), so a test can stop early."""
    from app import finetune

    real = finetune.make_job

    def make_job(*args, **kwargs):
        job = real(*args, **kwargs)
        job.update(checkpoint_every=2, log_every=1, eval_every=10**6, sample_every=10**6)
        return job

    monkeypatch.setattr(finetune, "make_job", make_job)


def fast_settings(wizard, steps=6):
    page = wizard.method_page
    page.by_steps.setChecked(True)
    page.steps.setValue(steps)
    page.seq_len.setValue(32)
    page.batch.setValue(4)
    page.lora.setChecked(True)  # small checkpoints


def to_training(qtbot, wizard, texts, steps=6, name="my voice"):
    wizard.texts_page.add_paths([texts])
    assert wizard.texts_page.isComplete()
    wizard.next()
    assert wizard.currentId() == 1 and wizard.base_page.selected().name == "tiny-test"
    wizard.next()
    fast_settings(wizard, steps)
    wizard.method_page.name.setText(name)
    assert wizard.method_page.isComplete(), wizard.method_page.problem.text()
    wizard.next()
    assert wizard.currentId() == 3
    return wizard.training_page


def wait_state(qtbot, page, state, timeout=LONG):
    qtbot.waitUntil(lambda: page.state != "running", timeout=timeout)
    assert page.state == state, (page.state, page.outcome_message, page.process.stderr_tail[-10:] if page.process else None)


@pytest.mark.slow
def test_a_real_fine_tune_through_the_wizard_ends_with_a_model_the_editor_uses(qtbot, make_wizard, tiny_installed, texts):
    wizard = make_wizard()
    wizard.texts_page.add_paths([texts])
    wizard.next()
    assert wizard.base_page.selected().name == "tiny-test"
    wizard.next()
    method = wizard.method_page
    assert method.full.isChecked()  # a small model: full fine-tune by default
    fast_settings(wizard)
    method.name.setText("Harbour voice")
    # The estimate is measured by a warm-up in a child process.
    qtbot.waitUntil(lambda: method.estimate is not None, timeout=LONG)
    assert method.estimate["steps"] == 6 and method.estimate["seconds_per_step"] > 0
    assert "About" in method.estimate_label.text() and "disk" in method.estimate_label.text()
    wizard.next()
    page = wizard.training_page
    wait_state(qtbot, page, "done")
    assert page.bar.value() == page.bar.maximum() == 6
    assert page.chart.train and page.chart.val[0][0] == 0  # the base model's loss first
    assert "tokens/s" in page.stats.text() and page.sample.toPlainText()
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    wizard.next()
    results = wizard.results_page
    assert "before" in results.scores.text() and "after" in results.scores.text()
    qtbot.waitUntil(lambda: results.compare_button.isEnabled() and "Writing" not in results.tuned_text.toPlainText(),
                    timeout=LONG)
    prompt = results.prompt.text()
    assert prompt == "The lighthouse keeper counted the ships."[: len(prompt)] and prompt
    assert results.base_text.toPlainText().startswith(prompt) and results.tuned_text.toPlainText().startswith(prompt)
    assert results.base_text.toPlainText() != results.tuned_text.toPlainText()

    results.use_button.click()
    qtbot.waitUntil(lambda: not results.export_process.running and results.installed is not None, timeout=LONG)
    dest = paths.models_dir() / "Harbour-voice"
    assert wizard.settings["model"] == str(dest) == Settings.load()["model"]
    from app import models
    from app.engine import Engine, GenerationParams

    assert "Harbour voice" in [m.name for m in models.installed_models()]
    result = Engine.load(dest, provider="cpu").generate("The ships", GenerationParams(max_new_tokens=6, temperature=0))
    assert len(result.alternatives[0].token_ids) > 0
    # It keeps its settings and data list for a re-run.
    manifest = json.loads((dest / "inkwell-model.json").read_text())
    recipe = manifest["provenance"]["training"]["recipe"]
    assert recipe["method"] == "lora" and sorted(d["file"] for d in recipe["data"]) == ["one.txt", "two.md"]
    job = json.loads((paths.runs_dir() / "Harbour-voice" / "job.json").read_text())
    assert sorted(Path(p).name for p in job["data"]) == ["one.txt", "two.md"]

    # Opened again later: the finished run leads back to its results.
    wizard.settings.set("model", "")
    again = make_wizard()
    assert "Harbour voice (finished, perplexity" in again.texts_page.runs.currentText()
    assert again.texts_page.resume_button.text() == "See results"
    again.texts_page.resume_button.click()
    assert again.currentId() == 4 and "after" in again.results_page.scores.text()
    again.results_page.use_button.click()  # already installed: switches without exporting again
    assert again.settings["model"] == str(dest) and again.results_page.export_process is None


@pytest.mark.slow
def test_stop_then_resume_after_the_app_was_closed(qtbot, make_wizard, tiny_installed, texts, frequent_checkpoints):
    wizard = make_wizard()
    page = to_training(qtbot, wizard, texts, steps=3000, name="long run")
    qtbot.waitUntil(lambda: page.last_checkpoint >= 2, timeout=LONG)
    page.stop_button.click()
    wait_state(qtbot, page, "stopped")
    stopped_at = page.last_checkpoint
    assert page.resume_button.isVisibleTo(wizard) and f"step {stopped_at:,}" in page.status.text()
    wizard.reject()  # the wizard (and the app) closed

    again = make_wizard()
    texts_page = again.texts_page
    assert texts_page.runs_box.isVisibleTo(again)
    assert f"stopped at step {stopped_at} of 3000" in texts_page.runs.currentText()
    texts_page.resume_button.click()
    assert again.currentId() == 3
    page = again.training_page
    started = []
    page.process.received.connect(lambda e: started.append(e) if e["event"] == "start" else None)
    qtbot.waitUntil(lambda: page.bar.value() > stopped_at + 1, timeout=LONG)
    assert started[0]["step"] == stopped_at and started[0]["resumed"]
    assert "Resumed at step" in page.status.text()
    page.stop()
    wait_state(qtbot, page, "stopped")


@pytest.mark.slow
def test_a_crashed_training_process_keeps_its_log_and_offers_to_resume(qtbot, make_wizard, tiny_installed, texts,
                                                                      frequent_checkpoints):
    wizard = make_wizard()
    page = to_training(qtbot, wizard, texts, steps=3000, name="crashing")
    qtbot.waitUntil(lambda: page.last_checkpoint >= 2, timeout=LONG)
    page.process.kill()  # as if it ran out of memory or was killed
    wait_state(qtbot, page, "crashed")
    assert "ended before finishing (it was killed or crashed)" in page.message.text()
    assert str(page.log_path) in page.message.text()
    assert "step" in page.log_path.read_text()  # the log is kept
    assert page.resume_button.isVisibleTo(wizard) and "Traceback" not in page.message.text()
    checkpoint = page.last_checkpoint
    page.resume_button.click()
    qtbot.waitUntil(lambda: page.bar.value() > checkpoint, timeout=LONG)
    assert page.state == "running"
    page.stop()
    wait_state(qtbot, page, "stopped")


@pytest.mark.slow
def test_training_errors_are_shown_and_free_the_name(qtbot, make_wizard, tiny_installed, texts):
    wizard = make_wizard()
    wizard.texts_page.add_paths([texts])
    wizard.next()
    wizard.next()
    fast_settings(wizard)
    wizard.method_page.name.setText("broken")
    wizard.method_page.stop_estimate()
    (texts / "two.md").unlink()  # gone between choosing and training
    wizard.next()
    page = wizard.training_page
    wait_state(qtbot, page, "error")
    assert "two.md: no such file or folder" in page.message.text() and "Traceback" not in page.message.text()
    assert not (paths.runs_dir() / "broken").exists()


def test_bad_data_is_named_with_what_to_do(qtbot, make_wizard, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text(PROSE * 3, encoding="utf-8")
    (folder / "copy.txt").write_text(PROSE * 3, encoding="utf-8")
    (folder / "old.txt").write_bytes(("“Quoted” café. " * 40).encode("cp1252"))
    (folder / "picture.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 10)
    (folder / "weird.md").write_bytes(b"abc \x81\x8d\x8f\x90\x9d " * 10)
    (folder / "empty.txt").write_text("   \n")
    (folder / "ignored.pdf").write_bytes(b"%PDF")
    wizard = make_wizard()
    page = wizard.texts_page
    page.add_paths([folder])
    notes = {e.path.name: e.problem or e.note for e in page.entries}
    assert sorted(notes) == ["copy.txt", "empty.txt", "good.txt", "old.txt", "picture.txt", "weird.md"]
    assert "duplicate" in notes["copy.txt"] or "duplicate" in notes["good.txt"]
    assert "not a text file" in notes["picture.txt"]
    assert "not recognised" in notes["weird.md"] and "UTF-8" in notes["weird.md"]
    assert "no text" in notes["empty.txt"]
    assert notes["old.txt"] == "Read as Windows-1252 (a guess)."
    assert [e.path.name for e in page.usable()] == ["copy.txt", "old.txt"] or \
        [e.path.name for e in page.usable()] == ["good.txt", "old.txt"]
    # Little text: a clear warning and, below the minimum, no way on.
    assert page.isComplete() and "Little text" in page.warning.text()
    for e in list(page.entries):
        if e.path.name == "old.txt":
            page.tree.setCurrentItem(page.tree.topLevelItem(page.entries.index(e)))
    page._remove_selected()
    page.entries = [e for e in page.entries if e.path.name in ("empty.txt",)]
    page._update()
    assert not page.isComplete() and "Too little text" in page.warning.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_settings_page_validates_name_and_sizes(qtbot, make_wizard, tiny_installed, texts):
    wizard = make_wizard()
    wizard.texts_page.add_paths([texts])
    wizard.next()
    wizard.next()
    page = wizard.method_page
    page.stop_estimate()
    page.name.setText("tiny")  # the folder of an installed model
    assert not page.isComplete() and "already installed" in page.problem.text()
    page.name.setText("fresh")
    page.batch.setValue(64)
    page.seq_len.setValue(256)
    assert not page.isComplete() and "Too little text for a batch of 64" in page.problem.text()
    page.batch.setValue(2)
    page.seq_len.setValue(32)
    assert page.isComplete()
    page.stop_estimate()


def test_hard_wrapped_texts_are_marked_and_joined_unless_unchecked(qtbot, make_wizard, tiny_installed, texts):
    import textwrap

    (texts / "printed.txt").write_text("\n\n".join(textwrap.fill(PROSE, 66) for _ in range(6)), encoding="utf-8")
    wizard = make_wizard()
    page = wizard.texts_page
    page.add_paths([texts])
    notes = {Path(page.tree.topLevelItem(i).text(0)).name: page.tree.topLevelItem(i).text(3)
             for i in range(page.tree.topLevelItemCount())}
    assert notes["printed.txt"] == "Lines wrapped at about 66 characters: joined into paragraphs."
    assert notes["one.txt"] == ""
    assert page.unwrap.isChecked() and wizard.method_page.settings()["line_breaks"] == "unwrap"
    page.unwrap.setChecked(False)
    printed = next(i for i in range(page.tree.topLevelItemCount()) if page.tree.topLevelItem(i).text(0).endswith("printed.txt"))
    assert page.tree.topLevelItem(printed).text(3) == "Lines wrapped at about 66 characters: kept as they are."
    assert wizard.method_page.settings()["line_breaks"] == "keep"


def test_the_open_document_can_be_added(qtbot, make_wizard):
    wizard = make_wizard(document=lambda: ("chapter.md", PROSE * 4))
    wizard.texts_page.add_open_document()
    [entry] = wizard.texts_page.entries
    assert entry.usable and entry.path.read_text() == PROSE * 4 and entry.path.name.startswith("chapter-")


def test_without_pytorch_the_wizard_says_what_to_install(qtbot, make_wizard, texts, monkeypatch):
    import app.ui.finetune_wizard.wizard as fw

    monkeypatch.setattr(fw, "torch_missing", lambda: "Fine-tuning needs PyTorch: pip install torch")
    wizard = make_wizard()
    wizard.texts_page.add_paths([texts])
    assert wizard.texts_page.unavailable.isVisibleTo(wizard) and "pip install torch" in wizard.texts_page.unavailable.text()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_the_wizard_does_not_import_torch():
    code = ("import sys; from PySide6.QtWidgets import QApplication; app = QApplication([]);"
            "from app.settings import Settings; from app.ui.finetune_wizard import FinetuneWizard;"
            "w = FinetuneWizard(Settings.load()); w.show(); app.processEvents(); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_files_can_be_dropped_on_the_texts_page(qtbot, make_wizard, texts):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    wizard = make_wizard()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(texts / "one.txt"))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    wizard.texts_page.dropEvent(drop)
    assert [e.path.name for e in wizard.texts_page.entries] == ["one.txt"]


def test_a_cancelled_estimate_leaves_no_temporary_files(qtbot, make_wizard, tiny_installed, texts, tmp_path,
                                                        monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the warm-up's temporary folder goes here
    wizard = make_wizard()
    wizard.texts_page.add_paths([texts])
    wizard.next()
    wizard.next()
    fast_settings(wizard)
    page = wizard.method_page
    page.run_estimate()
    qtbot.waitUntil(lambda: any(scratch.glob("inkwell-estimate-*")), timeout=LONG)
    with qtbot.waitSignal(page.process.finished, timeout=LONG):  # stopping never waits: it reports its end
        page.stop_estimate()
        assert page.process.running
    assert not page.process.running and not list(scratch.iterdir())


def test_switching_method_brings_its_learning_rate(qtbot, make_wizard, tiny_installed, texts, monkeypatch):
    from app import finetune

    wizard = make_wizard()
    wizard.texts_page.add_paths([texts])
    wizard.next()
    wizard.next()
    page = wizard.method_page
    page.stop_estimate()
    monkeypatch.setattr(finetune, "SMALL_MODEL", 0)  # treat the tiny model like GPT-2
    page.lora.setChecked(True)
    assert page.lr.value() == pytest.approx(1e-3)
    page.full.setChecked(True)
    assert page.lr.value() == pytest.approx(1e-4)
    page.stop_estimate()


def test_the_model_menu_opens_the_wizard_with_the_open_document(qtbot, tiny_installed):
    from app.ui.main_window import MainWindow

    window = MainWindow(Settings.load())
    qtbot.addWidget(window)
    window.show()
    window.start()
    window.editor.setPlainText(PROSE * 3)
    window.model_menu.aboutToShow.emit()
    [action] = [a for a in window.model_menu.actions() if a.text() == "Fine-tune on your texts…"]
    action.trigger()
    wizard = window.finetune_wizard
    assert wizard.isVisible() and wizard.currentId() == 0
    wizard.texts_page.add_document.click()
    [entry] = wizard.texts_page.entries
    assert entry.usable and entry.path.read_text() == PROSE * 3
    wizard.reject()
    window.editor.document().setModified(False)
    window.close()


def test_an_earlier_fine_tune_can_be_run_again_with_its_texts_and_settings(qtbot, make_wizard, tiny_installed, texts):
    from app import finetune

    settings = {**finetune.default_settings(0, 256), "method": "lora", "lr": 0.002, "seq_len": 64,
                "batch_size": 2, "val_share": 0.2, "seed": 99, "steps": 17}
    job = finetune.make_job("Old voice", tiny_installed, [str(texts / "one.txt")], settings, 5000, "Once upon")
    Path(job["out"]).mkdir(parents=True)
    Path(job["out"], "job.json").write_text(json.dumps(job))
    wizard = make_wizard()
    page = wizard.texts_page
    assert page.runs.currentText() == "Old voice (stopped before its first checkpoint)"
    assert not page.resume_button.isEnabled()
    page.rerun_button.click()
    assert [e.path.name for e in page.entries] == ["one.txt"]
    wizard.next()
    wizard.next()
    method = wizard.method_page
    method.stop_estimate()
    assert method.lora.isChecked() and method.lr.value() == pytest.approx(0.002)
    assert (method.seq_len.value(), method.batch.value(), method.val_share.value(), method.seed.value()) == (64, 2, 20, 99)
    assert method.by_steps.isChecked() and method.steps.value() == 17
    assert method.prompt.text() == "Once upon" and method.name.text() == "Old voice-2"
    method.stop_estimate()


def test_the_sample_prompt_is_read_like_the_training_text(qtbot, make_wizard, tiny_installed, tmp_path):
    folder = tmp_path / "utf16"
    folder.mkdir()
    text = "The lighthouse keeper counted the ships again.\n" + PROSE * 8
    (folder / "keeper.txt").write_bytes(text.encode("utf-16"))  # accepted by the texts page
    wizard = make_wizard()
    wizard.texts_page.add_paths([folder])
    assert "UTF-16" in wizard.texts_page.entries[0].note
    wizard.next()
    wizard.next()
    page = wizard.method_page
    page.stop_estimate()
    # today: read as UTF-8 with replacement characters, a prompt of NULs and U+FFFD
    assert page.prompt.text() == "The lighthouse keeper counted the ships again."


@pytest.mark.slow
def test_closing_while_training_stops_it_without_waiting(qtbot, tiny_installed, texts, frequent_checkpoints):
    from app.ui.main_window import MainWindow

    window = MainWindow(Settings.load())
    qtbot.addWidget(window)
    window.show()
    window.start()
    window.open_finetune_wizard()
    wizard = window.finetune_wizard
    page = to_training(qtbot, wizard, texts, steps=3000, name="closing")
    qtbot.waitUntil(lambda: page.last_checkpoint >= 2, timeout=LONG)
    # Closing Inkwell: it returns at once, and the window waits for the checkpoint, not the GUI thread.
    assert not window.close()
    assert window.isVisible() and page.process.running and wizard.stopping
    cancel = wizard.button(QWizard.WizardButton.CancelButton)
    assert cancel.text() == "Stopping…" and not cancel.isEnabled()
    assert page.status.text().startswith("Stopping at the end of this step")
    assert window.editor.isReadOnly()
    wizard.reject()  # closing the wizard meanwhile changes nothing: it is stopping already
    assert wizard.isVisible() and wizard.stopping
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=LONG)  # closed once training stopped
    assert page.state == "stopped" and not wizard.stopping
    assert (page.run_dir / "checkpoints" / "last.pt").is_file()


def test_the_wizard_writes_its_files_atomically():
    """Issue 22.11: the job files and the open document's copy were written with write_text, so
    a crash or a full disk could leave half a file that the next step reads as damaged."""
    import re

    folder = Path(__file__).resolve().parent.parent / "app" / "ui" / "finetune_wizard"
    direct = re.compile(r"\.write_(text|bytes)\(|open\([^)]*['\"][wa]b?['\"]")
    offenders = [f"{path.name}:{n}" for path in sorted(folder.glob("*.py"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if direct.search(line)]
    assert offenders == []
