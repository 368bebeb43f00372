"""The installable application: version, self-test, desktop integration, About, and the standalone
build (PyInstaller) with its self-test run in the frozen program."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app import __version__, about, cli, tools
from app.about import APP_ID
from app.ui import selftest
from core import paths

ROOT = Path(__file__).resolve().parent.parent
LINUX = ROOT / "packaging" / "linux"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def run_cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"inkwell {__version__}\n"


@pytest.mark.slow
def test_self_test_from_source_passes_and_says_what_it_checked():
    out = run_cli("--self-test")
    assert out.returncode == 0, out.stdout + out.stderr
    for check in ("versions", "tokenizer", "bundled model", "generation", "window", "torch kept out"):
        assert f"ok   {check}: " in out.stdout
    assert "inkwell-fiction on cpu (int8)" in out.stdout
    assert "self-test passed (6 of 6 checks passed)" in out.stdout
    assert out.stderr == ""  # nothing else: no stray line from Qt's offscreen platform


def test_self_test_fails_clearly_on_a_corrupt_model(tiny_bundle, tmp_path, monkeypatch, capsys, qapp):
    models = tmp_path / "models"
    shutil.copytree(tiny_bundle, models / "tiny")
    with open(models / "tiny" / "model.int8.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"garbage")
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: models)
    home = os.environ["INKWELL_HOME"]

    assert selftest.main([]) == 1
    out = capsys.readouterr().out
    assert "FAIL bundled model: " in out and "model.int8.onnx" in out
    assert "self-test FAILED" in out
    assert os.environ["INKWELL_HOME"] == home  # the user's environment is put back


@pytest.mark.slow
def test_window_signals_when_first_shown():
    """The hook bench/bench_startup.py times: a line once the window is on screen, then exit 0."""
    out = run_cli(env={"INKWELL_QUIT_WHEN_SHOWN": "1", "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert "inkwell: window shown" in out.stdout


def test_window_icon_has_every_size(qapp):
    from app.ui.gui import app_icon

    sizes = {s.width() for s in app_icon().availableSizes()}
    assert set(SIZES) <= sizes


def test_about_names_versions_and_licences(qapp):
    import onnxruntime
    import PySide6
    from PySide6.QtCore import qVersion

    from app.ui.about import qt_versions

    text = about.about_html(qt_versions())
    for needle in (f"{__version__}", qVersion(), PySide6.__version__, onnxruntime.__version__,
                   sys.version.split()[0], "Jane Austen", "public domain", "Project Gutenberg", "OpenAI",
                   "MIT", "inkwell-fiction", APP_ID):
        assert needle in text, needle


def test_subcommand_says_which_package_is_missing(tmp_path, monkeypatch, capsys):
    (tmp_path / "needs_things.py").write_text(
        "def main(argv):\n    import no_such_package_anywhere\n\n"
        "def torch_main(argv):\n    import torch.no_such_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.SUBCOMMANDS, "x", ("needs_things:main", ""))
    monkeypatch.setitem(cli.SUBCOMMANDS, "y", ("needs_things:torch_main", ""))
    assert cli.main(["x"]) == 2
    assert "inkwell x: needs the Python package 'no_such_package_anywhere'" in capsys.readouterr().err

    # In the standalone build (no torch in it) the torch tools say what to install instead.
    monkeypatch.setattr(tools, "frozen", lambda: True)
    monkeypatch.setattr(tools.importlib.util, "find_spec", lambda name: None)
    assert cli.main(["y"]) == 2
    assert f"inkwell y: {tools.PYTORCH_NEEDED}" in capsys.readouterr().err


def test_desktop_entry_metainfo_and_icons_agree():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(LINUX / f"{APP_ID}.desktop")
    desktop = entry["Desktop Entry"]
    assert desktop["Icon"] == APP_ID and desktop["Exec"].split()[0] == "inkwell"

    meta = ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert meta.findtext("id") == APP_ID
    assert meta.findtext("launchable") == f"{APP_ID}.desktop"
    assert meta.find("releases/release").get("version") == __version__

    from PySide6.QtGui import QImage

    hicolor = paths.icons_dir() / "hicolor"
    assert (hicolor / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    for size in SIZES:
        image = QImage(str(hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png"))
        assert (image.width(), image.height()) == (size, size)


@pytest.mark.skipif(not shutil.which("appstreamcli"), reason="appstreamcli not installed (Debian: appstream)")
def test_metainfo_validates():
    out = subprocess.run(["appstreamcli", "validate", "--no-net", str(LINUX / f"{APP_ID}.metainfo.xml")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="desktop-file-utils not installed")
def test_desktop_entry_validates():
    out = subprocess.run(["desktop-file-validate", str(LINUX / f"{APP_ID}.desktop")], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr


@pytest.mark.slow
def test_standalone_build_runs_its_self_test(tmp_path, fake_hub):
    """Build dist/inkwell with the spec (as the README says), then run the frozen program."""
    import PyInstaller  # noqa: F401 - in the dev extra: CI must build, not skip

    build = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--distpath", str(tmp_path / "dist"),
         "--workpath", str(tmp_path / "build"), str(ROOT / "packaging" / "inkwell.spec")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert build.returncode == 0, build.stderr[-4000:]
    folder = tmp_path / "dist" / "inkwell"
    program = folder / "inkwell"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing from this checkout

    test = subprocess.run([str(program), "--self-test"], capture_output=True, text=True, timeout=300, env=env,
                          cwd=tmp_path)
    assert test.returncode == 0, test.stdout + test.stderr
    assert f"standalone build at {program}" in test.stdout
    assert f"Inkwell {__version__} (standalone build)" in test.stdout
    assert f"inkwell-fiction at {folder}" in test.stdout  # the model inside the bundle, not the checkout's
    assert "self-test passed (6 of 6 checks passed)" in test.stdout

    version = subprocess.run([str(program), "--version"], capture_output=True, text=True, env=env)
    assert version.stdout == f"inkwell {__version__}\n"
    export = subprocess.run([str(program), "export", "in", "out"], capture_output=True, text=True, env=env)
    assert export.returncode == 2 and tools.PYTORCH_NEEDED in export.stderr
    assert not (folder / "_internal" / "torch").exists()
    # The app starts its helpers as `sys.executable -m MODULE`: the frozen program runs them too.
    listed = subprocess.run([str(program), "-m", "app.models_cli", "list", "--json"], capture_output=True, text=True,
                            env=env)
    assert listed.returncode == 0 and '"name": "inkwell-fiction"' in listed.stdout, listed.stderr
    hf = folder / "_internal" / "resources" / "models" / "inkwell-fiction" / "hf"
    checkpoint = subprocess.run([str(program), "-m", "app.models_cli", "import", str(hf), "--json"],
                                capture_output=True, text=True, env=env)
    assert checkpoint.returncode != 0
    assert json.loads(checkpoint.stdout.splitlines()[-1]) == {"event": "error", "message": tools.PYTORCH_NEEDED}
    # The Hub's size query works; a download, which must be exported, says what it needs first.
    download = subprocess.run([str(program), "-m", "app.models_cli", "download", "gpt2", "--json"],
                              capture_output=True, text=True, env={**env, "HF_ENDPOINT": fake_hub.url}, timeout=120)
    events = [json.loads(line) for line in download.stdout.splitlines()]
    assert events[0]["event"] == "plan" and events[0]["files"]
    assert events[1:] == [{"event": "error", "message": tools.PYTORCH_NEEDED}]
    assert [r for r in fake_hub.requests if "/resolve/" in r[1]] == []  # not one byte of weights fetched
    export = subprocess.run([str(program), "-m", "model.export", str(hf), str(tmp_path / "exported")],
                            capture_output=True, text=True, env=env)
    assert export.returncode == 2 and export.stderr.endswith(f"model.export: {tools.PYTORCH_NEEDED}\n")

    # install.sh puts it in a prefix with menu entry and icons, and takes all of it out again.
    prefix = tmp_path / "prefix"
    install = subprocess.run(["sh", str(folder / "install.sh")], capture_output=True, text=True,
                             env={**env, "PREFIX": str(prefix)})
    assert install.returncode == 0, install.stderr
    entry = (prefix / "share" / "applications" / f"{APP_ID}.desktop").read_text()
    assert f"Exec={prefix}/lib/inkwell/inkwell %f" in entry
    assert (prefix / "share" / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png").is_file()
    linked = subprocess.run([str(prefix / "bin" / "inkwell"), "--version"], capture_output=True, text=True, env=env)
    assert linked.stdout == f"inkwell {__version__}\n"
    uninstall = subprocess.run(["sh", str(folder / "install.sh"), "--uninstall"], capture_output=True, text=True,
                               env={**env, "PREFIX": str(prefix)})
    assert uninstall.returncode == 0, uninstall.stderr
    caches = ("mimeinfo.cache", "icon-theme.cache")  # the desktop's indexes, rebuilt by install.sh
    left = [p for p in prefix.rglob("*") if (p.is_file() or p.is_symlink()) and p.name not in caches]
    assert left == []
