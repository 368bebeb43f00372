"""The ``inkwell`` command's own rough edges: bad options named, no display said plainly, no
abbreviated options, models by name or folder, and the model list."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app import models_cli
from app.cli import main
from app.ui.gui import display_problem
from core import paths

ROOT = Path(__file__).resolve().parent.parent


def inkwell(*args, env=None, drop=(), timeout=60):
    environ = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          check=False, text=True, timeout=timeout, env={**environ, **(env or {})})


NO_DISPLAY = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")


def test_an_unknown_option_is_named():
    done = inkwell("--bogus")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "inkwell: unknown option --bogus (inkwell --help lists the commands and options)\n"


def test_help_is_a_command_and_needs_no_display():
    done = inkwell("help", drop=NO_DISPLAY)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: inkwell [FILE]") and "finetune" in done.stdout and done.stderr == ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland are Linux's displays")
def test_the_editor_without_a_display_says_so_plainly(tmp_path):
    done = inkwell(tmp_path / "chapter.txt", drop=NO_DISPLAY)
    assert done.returncode == 1  # not Qt's abort (134)
    assert done.stderr.startswith("inkwell: no display: ") and "DISPLAY" in done.stderr
    assert "xcb" not in done.stderr and "plugin" not in done.stderr


def test_display_problem_reads_the_environment():
    def check(environ, platform="linux"):  # (whatever this machine's libraries are)
        return display_problem(environ, platform, missing_library=lambda: None)

    assert check({}) is not None
    assert check({"QT_QPA_PLATFORM": "xcb"}) is not None
    assert check({"DISPLAY": ":0"}) is None
    assert check({"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert check({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert check({}, "darwin") is None and check({}, "win32") is None


def test_finetune_data_that_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert main(["finetune", "--data", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"inkwell finetune: error: --data {missing}: does not exist (no such file or folder)"
    (tmp_path / "empty").mkdir()  # a folder that is there but empty is another matter
    assert main(["finetune", "--data", str(tmp_path / "empty"), "--name", "x"]) == 1
    assert "folder holds no text files" in capsys.readouterr().err


def _parsers():
    """Every command-line parser of the program, subcommands' included."""
    from app import finetune_cli
    from app import generate_cli as generate
    from model import export, train

    found = []
    for parser in (generate._parser(), export._parser(), finetune_cli._parser(), train._parser(), models_cli._parser()):
        found.append(parser)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                found.extend(action.choices.values())
    return found


def test_no_parser_takes_abbreviations():
    parsers = _parsers()
    assert len(parsers) == 9
    assert [p.prog for p in parsers if p.allow_abbrev] == []


def test_a_prefix_of_an_option_is_refused(tiny_bundle, capsys):
    # --prompt is not --prompt-file: named as unknown, not taken for it
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--model", str(tiny_bundle), "--prompt", "x"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --prompt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["models", "list", "--js"])
    assert "unrecognized arguments: --js" in capsys.readouterr().err


def test_generate_takes_an_installed_model_by_name(tiny_bundle, capsys):
    shutil.copytree(tiny_bundle, paths.models_dir() / "tiny-folder")
    for given in ("tiny-test", "tiny-folder", str(paths.models_dir() / "tiny-folder"), str(tiny_bundle)):
        assert main(["generate", "--model", given, "Hi", "--max-new-tokens", "2", "-v"]) == 0, given
        assert "tiny-test (int8 on cpu)" in capsys.readouterr().err
    assert main(["generate", "--model", "no-such-model", "Hi"]) == 1
    err = capsys.readouterr().err
    assert "--model no-such-model: no such model folder or installed model (installed: " in err
    assert "tiny-test" in err


def test_models_list_aligns_names_and_says_where_perplexity_was_measured(tiny_bundle, capsys):
    for folder, name, dataset in (("short", "a", "held out from training: 10% of one.txt"),
                                  ("long", "a-model-with-a-much-longer-name-than-usual", None)):
        target = paths.models_dir() / folder
        shutil.copytree(tiny_bundle, target)
        manifest = json.loads((target / "inkwell-model.json").read_text())
        manifest["name"] = name
        manifest["perplexity"] = {"value": 123.4, "dataset": dataset, "tokens": 5000} if dataset else None
        (target / "inkwell-model.json").write_text(json.dumps(manifest))
    assert models_cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = lines[0]
    table = [line for line in lines[1:] if not line.startswith(("      ", "("))]
    assert len(table) == 3  # the bundled model and the two above
    for row in table:
        # numbers end where their heading ends; words start where theirs starts
        for column in ("PARAMS", "SIZE", "PERPLEXITY"):
            end = header.index(column) + len(column)
            assert row[end - 1] != " " and row[end] == " ", (column, row)
        for column in ("NAME", "VARIANTS", "FROM"):
            start = header.index(column)
            assert row[start - 1] == " " and row[start] != " ", (column, row)
    assert "      perplexity 123.4 measured on held out from training: 10% of one.txt (5,000 tokens)" in lines


def test_output_into_a_closed_pipe_ends_quietly():
    """`inkwell help | head`: the reader is gone; no traceback."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write fails with a broken pipe
    try:
        done = subprocess.run([sys.executable, "-m", "app.cli", "help"], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    finally:
        os.close(write)
    assert done.stderr == "" and done.returncode == 1


@pytest.mark.parametrize("typed, meant", [("genrate", "generate"), ("modles", "models"), ("fintune", "finetune"),
                                          ("hlep", "help")])
def test_a_mistyped_command_is_not_opened_as_a_file(tmp_path, typed, meant):
    """Issue 22.12: `inkwell genrate` opened the editor on a new file named genrate."""
    done = inkwell(typed, "Once upon a time", drop=NO_DISPLAY)
    assert done.returncode == 2, done.stderr
    assert f"unknown command {typed!r}; did you mean {meant}?" in done.stderr
    done = inkwell(typed, drop=NO_DISPLAY)
    assert done.returncode == 2 and f"did you mean {meant}?" in done.stderr


def test_an_existing_file_with_a_command_like_name_still_opens(tmp_path):
    (tmp_path / "genrate").write_text("notes")
    done = subprocess.run([sys.executable, "-m", "app.cli", "genrate"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**{k: v for k, v in os.environ.items() if k not in NO_DISPLAY},
                                           "PYTHONPATH": str(ROOT)})
    assert "did you mean" not in done.stderr and "no display" in done.stderr


def test_help_with_a_command_shows_its_options(capsys):
    """Issue 22.12: `inkwell help generate` showed the general help."""
    with pytest.raises(SystemExit) as exit_:
        main(["help", "generate"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: inkwell generate") and "--temperature" in out
    assert main(["help", "nonsense"]) == 2
    assert "unknown command 'nonsense'" in capsys.readouterr().err


def test_a_missing_xcb_cursor_library_is_said_before_qt_aborts(monkeypatch, capsys):
    """Issue 22.10: on a Linux without libxcb-cursor0, Qt aborts (rc 134) at the first start."""
    from app.ui.gui import display_problem

    cursor = "libxcb-cursor.so.0"
    missing = display_problem({"DISPLAY": ":0"}, "linux", missing_library=lambda: cursor)
    assert missing is not None and "libxcb-cursor0" in missing and "sudo apt-get install" in missing
    assert display_problem({"DISPLAY": ":0"}, "linux", missing_library=lambda: None) is None
    # Wayland, or a platform that is not X11, does not need it
    assert display_problem({"WAYLAND_DISPLAY": "w-0", "DISPLAY": ":0"}, "linux", missing_library=lambda: cursor) is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", missing_library=lambda: cursor) is None
    assert display_problem({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0", "WAYLAND_DISPLAY": "w-0"}, "linux",
                           missing_library=lambda: cursor) is not None
    import app.ui.gui

    monkeypatch.setattr(app.ui.gui, "missing_qt_library", lambda: cursor)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert app.ui.gui.run([]) == 1
    assert "libxcb-cursor0" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("gcc"), reason="a Linux with gcc")
def test_the_x11_check_loads_the_plugin_and_names_the_first_missing_library(tmp_path):
    """Issue 22: the check tried libxcb-cursor alone; Qt's X11 plugin needs a dozen system
    libraries, any of which a minimal Linux may lack. A plugin linked to a library that is gone:"""
    from app.ui.gui import display_problem, missing_qt_library

    source = tmp_path / "empty.c"
    source.write_text("int inkwell_test_symbol(void) { return 0; }\n")
    needed = tmp_path / "libinkwell-gone.so.3"
    plugin = tmp_path / "platforms" / "libqxcb.so"
    plugin.parent.mkdir()
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,-soname,libinkwell-gone.so.3", "-o",
                    str(needed), str(source)], check=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugin), str(source),
                    "-Wl,--no-as-needed", str(needed)], check=True)
    needed.unlink()
    assert missing_qt_library(plugin) == "libinkwell-gone.so.3"
    said = display_problem({"DISPLAY": ":0"}, "linux", missing_library=lambda: missing_qt_library(plugin))
    assert said is not None and "libinkwell-gone.so.3" in said and "sudo apt-get install" in said
    said = display_problem({"DISPLAY": ":0"}, "linux", missing_library=lambda: "libxkbcommon-x11.so.0")
    assert said is not None and "libxkbcommon-x11.so.0 (package libxkbcommon-x11-0 on Debian and Ubuntu)" in said
