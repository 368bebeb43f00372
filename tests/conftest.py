"""Shared fixtures. Qt runs offscreen, and every test gets its own Inkwell folders."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

TINY = dict(n_layer=2, n_embd=64, n_head=4, n_positions=256)


@pytest.fixture(autouse=True)
def inkwell_home(tmp_path, monkeypatch):
    """Settings, models, autosaves and logs of each test live in a temporary folder."""
    home = tmp_path / "inkwell-home"
    monkeypatch.setenv("INKWELL_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_unanswered_dialogs(monkeypatch):
    """A modal message box nobody answers would wait forever offscreen (and hang the suite):
    one that a test did not expect fails that test at once, naming the question. Tests that
    expect one patch these again with their answer."""
    from PySide6.QtWidgets import QMessageBox

    def unexpected(kind):
        def show(*args, **kwargs):
            text = next((a for a in args[2:] if isinstance(a, str)), "")
            title = args[1] if len(args) > 1 and isinstance(args[1], str) else ""
            raise AssertionError(f"unexpected {kind} dialog: {title!r}: {text!r}")
        return show

    for kind in ("question", "warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, kind, staticmethod(unexpected(kind)))
    monkeypatch.setattr(QMessageBox, "exec", lambda box, *a: unexpected("message box")(None, box.windowTitle(), box.text()))


@pytest.fixture
def quiet_window(qtbot):
    """The real main window, shown, with suggestions and spell checking off (tests of the other
    writing aids); closed without asking about unsaved text."""
    from app.settings import Settings
    from app.ui.main_window import MainWindow

    settings = Settings.load()
    settings.update({"auto_suggest": False, "spell_check": False})
    w = MainWindow(settings)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.editor.document().setModified(False)
    w.close()
    w.deleteLater()


@pytest.fixture
def editor(qtbot):
    """The ghost-text editor alone, shown and focused, not asking for suggestions by itself;
    wide enough that a test's suggestion does not wrap (a test file adds its starting text by
    overriding this fixture with one that takes it)."""
    from app.ui.editor import GhostEditor

    widget = GhostEditor()
    widget.auto_suggest = False
    qtbot.addWidget(widget)
    widget.resize(700, 400)
    widget.show()
    qtbot.waitExposed(widget)
    widget.setFocus()
    return widget


@pytest.fixture(scope="session")
def tiny_hf_dir(tmp_path_factory):
    """A tiny randomly initialised GPT-2 (GPT-2 vocabulary) saved in Hugging Face format."""
    import torch

    from core.config import GPT2Config
    from model.gpt2 import GPT2
    from model.hf import save_gpt2

    torch.manual_seed(1234)
    folder = tmp_path_factory.mktemp("tiny-hf")
    save_gpt2(GPT2(GPT2Config(**TINY)).eval(), folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bundle(tiny_hf_dir, tmp_path_factory):
    """``tiny_hf_dir`` exported to an Inkwell model bundle (fp32, int8 and fp16 variants, hf/).

    Session-scoped and shared: tests must not modify it (copy it first).
    """
    from model.export import export_bundle

    folder = tmp_path_factory.mktemp("tiny-bundle") / "tiny"
    export_bundle(tiny_hf_dir, folder, name="tiny-test")
    return folder


@pytest.fixture
def small_disk(tmp_path):
    """A real 256 KiB file system (tmpfs), to fill up: writes into it fail with ENOSPC.
    Needs the right to mount (root in a container that allows it); skipped elsewhere."""
    import subprocess

    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.fixture(scope="session")
def unprivileged():
    """A command prefix under which file permissions hold: [] for an ordinary user; for root,
    setpriv dropping the capabilities that let root write and read anywhere. Skips when neither."""
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0:
        return []
    drop = [shutil.which("setpriv") or "setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    try:
        usable = subprocess.run([*drop, "true"], capture_output=True).returncode == 0
    except OSError:
        usable = False
    if not usable:
        pytest.skip("running as root, and setpriv cannot drop the capability to write anywhere")
    return drop


HUB_REPO = "openai-community/gpt2"


@pytest.fixture
def fake_hub(tiny_hf_dir, monkeypatch):
    """The one stand-in for the Hugging Face Hub (tests/fake_hub.py), serving ``tiny_hf_dir`` as
    ``HUB_REPO``, that downloads in this test reach (HF_ENDPOINT) and retry at once."""
    from fake_hub import FakeHub

    from app import hub

    server = FakeHub().start()
    server.add_folder(HUB_REPO, tiny_hf_dir)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setattr(hub, "BACKOFF_S", 0.0)
    yield server
    server.stop()
