"""The installed-model registry: bundled models, the user's, the active one."""

from __future__ import annotations

import json
import os
import shutil

from app import models
from core import paths


def test_user_models_are_listed_and_broken_ones_say_why(tiny_bundle):
    good = paths.models_dir() / "mine"
    shutil.copytree(tiny_bundle, good)
    broken = paths.models_dir() / "broken"
    broken.mkdir()
    (broken / "inkwell-model.json").write_text("{not json", encoding="utf-8")
    found = {m.folder.name: m for m in models.installed_models() if not m.bundled}
    assert found["mine"].name == "tiny-test" and found["mine"].problem is None
    assert "not valid JSON" in found["broken"].problem
    assert "tiny-test" in found["mine"].label


def test_active_model_setting_and_fallback(tiny_bundle, tmp_path):
    model, notice = models.active_model(str(tiny_bundle))
    assert model.folder == tiny_bundle and notice is None
    model, notice = models.active_model(str(tmp_path / "gone"))
    assert "gone" in notice and "not found" in notice
    assert model == models.default_model()


def test_default_is_the_bundled_model(tiny_bundle, monkeypatch, tmp_path):
    bundled = tmp_path / "resources-models"
    shutil.copytree(tiny_bundle, bundled / "default")
    manifest = json.loads((bundled / "default" / "inkwell-model.json").read_text())
    monkeypatch.setattr(paths, "bundled_models_dir", lambda: bundled)
    shutil.copytree(tiny_bundle, paths.models_dir() / "user")
    default = models.default_model()
    assert default.bundled and default.folder == bundled / "default" and default.name == manifest["name"]
    assert models.active_model("") == (default, None)


def test_manifests_that_break_the_parser_are_listed_as_damaged(tiny_bundle, capsys):
    from app import generate_cli as generate
    from app import models_cli

    good = paths.models_dir() / "good"
    shutil.copytree(tiny_bundle, good)
    for name, text in (("nested", "[" * 100_000 + "]" * 100_000),
                       ("digits", '{"format": "inkwell-model", "format_version": ' + "9" * 5000 + "}")):
        folder = paths.models_dir() / name
        folder.mkdir()
        (folder / "inkwell-model.json").write_text(text, encoding="utf-8")
    fifo = paths.models_dir() / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "inkwell-model.json")  # would block a reader for ever
    found = {m.folder.name: m for m in models.installed_models() if not m.bundled}  # today: RecursionError
    assert found["good"].problem is None
    assert "nested too deeply" in found["nested"].problem and "digits" in found["digits"].problem
    assert "named pipe" in found["fifo"].problem
    assert models_cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "nested" in out
    assert generate.main(["Hello", "--model", str(paths.models_dir() / "nested")]) == 1
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err


def test_renaming_keeps_the_manifests_permissions(tiny_bundle):
    """The manifest was rewritten with mkstemp's private 0600: other users lost the model."""
    import os
    import stat

    folder = paths.models_dir() / "mine"
    shutil.copytree(tiny_bundle, folder)
    manifest = folder / "inkwell-model.json"
    for mode in (0o644, 0o640):
        os.chmod(manifest, mode)
        model = models.rename(models.find(str(folder)), f"renamed {mode:o}")
        assert model.name == f"renamed {mode:o}"
        assert stat.S_IMODE(manifest.stat().st_mode) == mode
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_new_private_files_stay_private(tmp_path):
    import stat

    from core.fileio import atomic_write_text

    atomic_write_text(tmp_path / "snapshot.json", "{}", private=True)  # autosaved text, settings: the user's only
    assert stat.S_IMODE((tmp_path / "snapshot.json").stat().st_mode) == 0o600


def test_a_faster_copys_figures_are_recorded_and_told(tiny_bundle):
    folder = paths.models_dir() / "quick"
    shutil.copytree(tiny_bundle, folder)
    figures = {"original": "tiny-test", "keep": 0.5, "parameters_copy": 1_500_000, "parameters_original": 2_000_000,
               "keystroke_ms_copy": 10.0, "keystroke_ms_original": 16.0, "speedup": 1.6,
               "perplexity_copy": 110.0, "perplexity_original": 100.0}
    models.record(folder, "compression", figures)
    copy = next(m for m in models.installed_models() if m.folder == folder)
    assert copy.manifest["compression"] == figures and copy.problem is None  # the bundle still loads
    assert copy.provenance == "faster copy of tiny-test (1.6× as fast)"
    assert copy.compression == ("a faster copy of tiny-test: 1.60× as fast per keystroke (10 ms against 16 ms), "
                                "1.5M of 2.0M parameters, held-out perplexity 110.0 against 100.0 on the text "
                                "the training held out")


def test_damaged_figures_of_a_copy_are_left_out(tiny_bundle):
    folder = paths.models_dir() / "quick"
    shutil.copytree(tiny_bundle, folder)
    models.record(folder, "compression", {"original": "x", "keystroke_ms_copy": "fast", "speedup": 1e400})
    copy = next(m for m in models.installed_models() if m.folder == folder)
    assert copy.compression == "" and copy.provenance.startswith("imported")
