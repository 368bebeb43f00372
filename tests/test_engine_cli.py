"""``inkwell generate``: output, reproducibility, streaming and one clear error per bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from core.paths import models_dir

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv):
    code = main(["generate", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_generates_and_same_seed_repeats(tiny_bundle, capsys):
    args = ("--model", tiny_bundle, "Once upon a time", "--seed", 7, "--max-new-tokens", 12)
    code, first, err = run(capsys, *args)
    assert code == 0 and first.strip() and err == ""
    assert run(capsys, *args)[1] == first
    assert run(capsys, *args[:-4], "--seed", 8, "--max-new-tokens", 12)[1] != first


def test_stream_prints_the_same_text(tiny_bundle, capsys):
    args = ("--model", tiny_bundle, "Once upon a time", "--seed", 7, "--max-new-tokens", 12)
    assert run(capsys, *args, "--stream")[1] == run(capsys, *args)[1]


def test_prompt_file_and_alternatives(tiny_bundle, tmp_path, capsys):
    prompt = tmp_path / "prompt.txt"
    # (ends after a word: a random model's completions of "night" are non-words, which are never shown)
    prompt.write_text("It was a dark and stormy night,", encoding="utf-8")
    code, out, _ = run(capsys, "--model", tiny_bundle, "--prompt-file", prompt, "--alternatives", 3,
                       "--max-new-tokens", 5, "--seed", 1, "-v")
    assert code == 0 and [line for line in out.splitlines() if line.startswith("--- alternative")] == [
        "--- alternative 1 ---", "--- alternative 2 ---", "--- alternative 3 ---"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["   "], "the prompt is empty"),
        (["Hi", "--top-p", "1.5"], "--top-p: top_p must be"),
        (["Hi", "--temperature", "-1"], "--temperature: temperature must be at least 0"),
        (["Hi", "--max-new-tokens", "0"], "--max-new-tokens: max_new_tokens must be between 1 and"),
        (["Hi", "--alternatives", "99"], "--alternatives: num_alternatives must be between"),
        ([], "no prompt"),
        (["--prompt-file", "missing.txt"], "missing.txt: no such prompt file"),
        (["Hi", "--threads", "-1"], "--threads"),
    ],
)
def test_bad_input_gets_one_clear_message(tiny_bundle, capsys, argv, message):
    code, out, err = run(capsys, "--model", tiny_bundle, *argv)
    assert code != 0 and out == ""
    assert message in err and "Traceback" not in err


def test_missing_model(tmp_path, capsys):
    code, _, err = run(capsys, "--model", tmp_path / "nope", "Hi")
    assert code == 1 and "nope: no such model folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "--model", tmp_path / "empty", "Hi")
    assert code == 1 and "inkwell-model.json" in err


def test_default_model_is_an_installed_one(monkeypatch, tmp_path, tiny_bundle, capsys):
    monkeypatch.setattr("core.paths.bundled_models_dir", lambda: tmp_path / "no-bundled-models")
    code, _, err = run(capsys, "Hi")
    assert code == 1 and "none installed: pass --model" in err
    shutil.copytree(tiny_bundle, models_dir() / "tiny")
    code, out, err = run(capsys, "Hi", "--max-new-tokens", 3, "-v")
    assert code == 0 and "tiny-test (int8 on cpu)" in err


@pytest.mark.slow
def test_runs_as_a_real_command(tiny_bundle):
    out = subprocess.run(
        [sys.executable, "-m", "app.cli", "generate", "--model", str(tiny_bundle), "Hello", "--seed", "1",
         "--max-new-tokens", "4"], capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()
    bad = subprocess.run([sys.executable, "-m", "app.cli", "generate", "--model", str(tiny_bundle), ""],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 1 and "the prompt is empty" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("value", ["1e-40", "5e-324", "1e-39"])
def test_a_tiny_temperature_generates_greedily(tiny_bundle, capsys, value):
    """Issue 22.3: these temperatures ended in "zero-size array" tracebacks."""
    args = ("--model", tiny_bundle, "Once upon a time", "--max-new-tokens", 6, "--seed", 3)
    code, out, err = run(capsys, *args, "--temperature", value)
    assert code == 0 and err == "", err
    assert out == run(capsys, *args, "--temperature", 0)[1]


@pytest.mark.parametrize("redirect, message", [(">&-", "standard output is closed"),
                                               (">/dev/full", "the disk is full")])
def test_closed_or_full_output_is_a_message(tiny_bundle, redirect, message):
    """Issue 22.4: `generate ... >&-` (AttributeError) and `>/dev/full` (OSError ENOSPC) ended
    in tracebacks."""
    if redirect == ">/dev/full" and not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    command = (f"{sys.executable} -m app.cli generate --model '{tiny_bundle}' Hello --seed 1 "
               f"--max-new-tokens 4 {redirect}")
    done = subprocess.run(["bash", "-c", command], capture_output=False, stderr=subprocess.PIPE, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, \
        done.stderr


@pytest.mark.parametrize("argv, message", [
    (["Hi", "--max-new-tokens", "-5"], "--max-new-tokens: max_new_tokens must be"),
    (["Hi", "--max-new-tokens", str(10**30)], "--max-new-tokens: max_new_tokens must be between 1 and"),
    (["Hi", "--repetition-window", "-1"], "--repetition-window"),
    (["Hi", "--stop", ""], "--stop"),
])
def test_hostile_numbers_get_one_clear_message(tiny_bundle, capsys, argv, message):
    """Hostile: a negative or astronomical token count (generating "for ever"),
    an empty stop string (it would end every suggestion before it starts)."""
    code, out, err = run(capsys, "--model", tiny_bundle, *argv)
    assert code != 0 and out == ""
    assert message in err and "Traceback" not in err, err
