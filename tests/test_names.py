"""Names from files and people (issue 22.6, 22.7): shown safely on a terminal, and one rule for the
folder a name gets."""

from __future__ import annotations

import json
import shutil

import pytest

from app import finetune, installer, models_cli
from app.cli import main
from core import paths
from core.names import NAME_MAX, folder_name, printable

EVIL = "evil\x1b[2J\x1b]0;pwned\x07\nforged: installed everything\u202egnp.exe\x9b31m"


def test_printable_escapes_what_a_terminal_would_obey():
    shown = printable(EVIL)
    assert not any(ch in shown for ch in "\x1b\x07\n\u202e\x9b")
    assert shown.startswith("evil\\x1b[2J") and "\\n" in shown and "\\u202e" in shown
    assert printable("Émile – ein Märchen 🙂") == "Émile – ein Märchen 🙂"
    assert printable("x" * 1000, limit=50) == "x" * 49 + "…"
    assert printable("\x00\x01\x02") == "\\x00\\x01\\x02"
    assert printable("line one\nline two", keep="\n") == "line one\nline two"


@pytest.mark.parametrize("name, expected", [
    ("my voice", "my-voice"), ("x" * 300, "x" * NAME_MAX), ("\x1b\x07\n", ""), ("../..", ""),
    ("a" * 63 + "-b", "a" * 63), ("Märchen", "M-rchen"),
])
def test_folder_name(name, expected):
    assert folder_name(name) == expected
    assert finetune.slug(name) == expected


def _evil_bundle(tiny_bundle, tmp_path):
    copy = tmp_path / "evil-bundle"
    shutil.copytree(tiny_bundle, copy)
    manifest = json.loads((copy / "inkwell-model.json").read_text())
    manifest["name"] = EVIL
    (copy / "inkwell-model.json").write_text(json.dumps(manifest))
    return copy


def test_a_name_with_terminal_escapes_is_printed_safely(tiny_bundle, tmp_path, capsys):
    """Issue 22.6: `models import`, `models list` and `generate -v` printed the manifest's name
    raw: it cleared the screen, set the title and forged a line."""
    bundle = _evil_bundle(tiny_bundle, tmp_path)
    assert models_cli.main(["import", str(bundle)]) == 0
    assert models_cli.main(["list"]) == 0
    assert main(["generate", "--model", str(bundle), "Hi", "--max-new-tokens", "2", "-v"]) == 0
    out, err = capsys.readouterr()
    for text in (out, err):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "\x9b" not in text
        assert not any(line.startswith("forged") for line in text.splitlines())
    assert "installed evil\\x1b[2J" in err and "evil\\x1b[2J" in out


def test_a_long_import_name_is_cut_like_a_fine_tune_name(tiny_bundle, capsys):
    """Issue 22.7: `models import --name` of 300 characters failed with "File name too long"."""
    name = "n" * 300
    assert models_cli.main(["import", str(tiny_bundle), "--name", name]) == 0, capsys.readouterr().err
    folder = installer.target_folder(name)  # the next one would be numbered
    assert (paths.models_dir() / ("n" * NAME_MAX)).is_dir()
    assert folder.name == "n" * NAME_MAX + "-2"
    assert installer.target_folder("\x1b\x07") == paths.models_dir() / "model"


@pytest.mark.parametrize("parameters", [10**300, -5, True, "lots", 1e308, None])
def test_a_manifest_with_an_absurd_parameter_count_lists_and_fine_tunes(tiny_bundle, capsys, parameters):
    """Hostile: "parameters" of 10**300, negative, a bool or a string: listed as unknown ("?"),
    never a 300-digit number or a traceback; a fine-tune of it sizes from the architecture."""
    from app import models
    from app.finetune_cli import main as finetune

    target = paths.models_dir() / "odd"
    shutil.copytree(tiny_bundle, target)
    manifest = json.loads((target / "inkwell-model.json").read_text())
    manifest["parameters"] = parameters
    (target / "inkwell-model.json").write_text(json.dumps(manifest))
    [odd] = [m for m in models.installed_models() if m.folder == target]
    assert odd.parameters is None and "M" not in odd.label.replace("odd", "")
    assert models_cli.main(["list"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if " tiny-test " in row and "?" in row)
    assert len(line) < 200
    code = finetune(["--base", str(target), "--data", str(target / "hf" / "config.json"), "--name", "x",
                     "--estimate", "--seq-len", "0"])
    assert code == 1 and "--seq-len" in capsys.readouterr().err


@pytest.mark.parametrize("given", ["", "\x1b[2J", " "])
def test_an_empty_or_control_character_command_line_word_is_not_a_command(given):
    from app.cli import _close_command

    assert _close_command(given) is None
