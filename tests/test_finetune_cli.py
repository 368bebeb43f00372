"""`inkwell finetune`: planning helpers, the warm-up estimate, and a whole fine-tune from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_train import PROSE

ROOT = Path(__file__).resolve().parent.parent


def inkwell(home: Path, *args: str, timeout: int = 600, command: str = "finetune") -> subprocess.CompletedProcess:
    env = {**os.environ, "INKWELL_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "app.cli", command, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def texts(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "story.txt").write_text("The lighthouse keeper counted the ships.\n" + PROSE * 10, encoding="utf-8")
    return folder


def test_defaults_follow_the_base_model_size():
    from app.finetune import default_settings

    assert default_settings(7_000_000, 256)["method"] == "full"
    big = default_settings(124_000_000, 1024)
    assert big["method"] == "lora" and big["seq_len"] == 256
    assert default_settings(124_000_000, 1024, "full")["lr"] < big["lr"]  # pre-trained weights move gently
    assert default_settings(82_000_000, 1024)["lr"] < default_settings(7_000_000, 256)["lr"]
    assert default_settings(7_000_000, 128)["seq_len"] == 128


def test_names_and_prompts():
    from app.finetune import name_problem, sample_prompt_from, slug

    assert slug("  My voice / 2 ") == "My-voice-2"
    assert "name" in name_problem(" ") and "letter or digit" in name_problem("///")
    assert name_problem("fresh") is None
    assert sample_prompt_from("# Title\n\nHi.\nThe lighthouse keeper counted the ships one by one.") == \
        "The lighthouse keeper counted the ships one by"


@pytest.mark.slow
def test_estimate_is_measured_by_a_warm_up(tiny_bundle, texts, tmp_path):
    import textwrap

    (texts / "printed.txt").write_text("\n\n".join(textwrap.fill(PROSE, 68) for _ in range(6)), encoding="utf-8")
    proc = inkwell(tmp_path / "home", "--base", str(tiny_bundle), "--data", str(texts), "--seq-len", "32",
                   "--batch-size", "4", "--steps", "40", "--estimate", "--json")
    assert proc.returncode == 0, proc.stderr
    e = json.loads(proc.stdout.splitlines()[-1])
    assert e["event"] == "estimate" and e["steps"] == 40 and e["measured_steps"] == 3
    assert e["seconds_per_step"] > 0 and e["total_s"] > 40 * e["seconds_per_step"]
    assert e["checkpoint_bytes"] > e["model_bytes"] > 0 and e["disk_bytes"] > e["checkpoint_bytes"]
    # Checkpoints by time: a run shorter than the interval keeps one at its end, and a crash costs
    # at most the whole (short) run.
    assert e["checkpoints"] == 1 and e["crash_cost_s"] == pytest.approx(e["train_s"], abs=0.1)
    # The first step is timed as it was (cold); the other 39 at the warm pace.
    assert 0 < e["eval_s"] < e["total_s"] and e["train_s"] >= 39 * e["seconds_per_step"]
    assert not (tmp_path / "home" / "data" / "runs" / "tiny-test-estimate").exists()
    # the hard-wrapped file is named, and what happens to it said
    assert "printed.txt: its lines are wrapped at about 68 characters" in proc.stderr
    assert "story.txt" not in proc.stderr


def test_the_estimate_says_what_a_crash_costs():
    from app.finetune import describe_estimate

    text = describe_estimate({"total_s": 4000, "steps": 900, "seconds_per_step": 4.2, "tokens_per_s": 975,
                              "device": "cpu", "disk_bytes": 10**9, "checkpoint_bytes": 4 * 10**8,
                              "model_bytes": 7 * 10**7, "bundle_bytes": 5 * 10**7, "crash_cost_s": 600,
                              "measured_steps": 3})
    assert "A crash or a power cut loses at most 10 min 00 s of training" in text


def test_the_job_keeps_line_breaks_when_asked():
    from app.finetune import default_settings, make_job

    settings = default_settings(7_000_000, 256)
    assert make_job("a", "/m", ["x.txt"], settings, 10_000)["line_breaks"] == "unwrap"
    assert make_job("a", "/m", ["x.txt"], {**settings, "line_breaks": "keep"}, 10_000)["line_breaks"] == "keep"


@pytest.mark.slow
def test_fine_tune_from_the_command_line_installs_a_model_that_generates(tiny_bundle, texts, tmp_path, monkeypatch):
    home = tmp_path / "home"
    proc = inkwell(home, "--base", str(tiny_bundle), "--data", str(texts), "--name", "My voice", "--method", "lora",
                   "--steps", "6", "--seq-len", "32", "--batch-size", "4")
    assert proc.returncode == 0, proc.stderr
    assert "validation perplexity" in proc.stdout and "installed" in proc.stdout
    assert "fine-tuning: 100%" in proc.stderr  # the running count
    bundle = home / "data" / "models" / "My-voice"
    settings = json.loads((home / "config" / "settings.json").read_text())
    assert settings["model"] == str(bundle)
    from app.engine import Engine, GenerationParams

    monkeypatch.setenv("INKWELL_HOME", str(home))  # the registry reads the same folders
    from app.models import installed_models

    assert "My voice" in [m.name for m in installed_models()]
    engine = Engine.load(bundle, provider="cpu")
    assert engine.generate("The lighthouse", GenerationParams(max_new_tokens=5, temperature=0)).alternatives[0].token_ids
    manifest = json.loads((bundle / "inkwell-model.json").read_text())
    recipe = manifest["provenance"]["training"]["recipe"]
    assert recipe["method"] == "lora" and [d["file"] for d in recipe["data"]] == ["story.txt"]
    assert manifest["perplexity"]["value"] > 0
    # The same name again is refused before any training.
    again = inkwell(home, "--base", str(tiny_bundle), "--data", str(texts), "--name", "My voice", "--steps", "2")
    assert again.returncode == 1 and "already installed" in again.stderr and "Traceback" not in again.stderr


def test_a_base_without_weights_is_refused(tiny_bundle, texts, tmp_path):
    import shutil

    bare = tmp_path / "bare"
    shutil.copytree(tiny_bundle, bare)
    manifest = json.loads((bare / "inkwell-model.json").read_text())
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith("hf/")}
    (bare / "inkwell-model.json").write_text(json.dumps(manifest))
    shutil.rmtree(bare / "hf")
    proc = inkwell(tmp_path / "home", "--base", str(bare), "--data", str(texts), "--name", "x")
    assert proc.returncode == 1 and "no Hugging Face weights" in proc.stderr


@pytest.mark.slow
def test_an_interrupted_fine_tune_resumes_from_the_command_line(tiny_bundle, texts, tmp_path, inkwell_home):
    import io
    import signal

    from app.finetune import default_settings, list_runs, make_job
    from model.train_job import Job
    from model.train_loop import Events, StopRequest, Trainer

    settings = {**default_settings(0, 256), "steps": 8, "seq_len": 32, "batch_size": 4}
    job = make_job("Later", tiny_bundle, [str(texts)], settings, 1000, "The lighthouse")
    job["checkpoint_every"] = 2
    stop = StopRequest()
    result = Trainer(Job.from_dict(job, "test"), Events(io.StringIO(), io.StringIO()), stop=stop,
                     on_step=lambda s: setattr(stop, "signum", signal.SIGTERM) if s == 3 else None).run()
    assert result["stopped"]
    [run] = list_runs()
    assert run.resumable and run.step == 3 and run.total_steps == 8 and "stopped at step 3 of 8" in run.label
    proc = inkwell(inkwell_home, "--resume", "Later", "--no-use")
    assert proc.returncode == 0, proc.stderr
    assert (inkwell_home / "data" / "models" / "Later" / "inkwell-model.json").is_file()
    [run] = list_runs()
    assert run.finished and run.val_ppl and run.val_ppl_before
    missing = inkwell(inkwell_home, "--resume", "Nothing")
    assert missing.returncode == 1 and "no such fine-tune" in missing.stderr


@pytest.mark.parametrize("args, message", [
    (["--lr", "1e300"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--seq-len", "0"], "--seq-len"),
    (["--seq-len", "100000"], "--seq-len"),
    (["--epochs", "nan"], "--epochs"),
    (["--epochs", "1e300"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "100000000"], "--batch-size"),
    (["--steps", "-3"], "--steps"),
    (["--val-share", "1.5"], "--val-share"),
    (["--method", "lora", "--lora-rank", "1000000"], "--lora-rank"),
    (["--method", "lora", "--lora-rank", "0"], "--lora-rank"),
])
def test_bad_settings_are_one_clear_message_before_training(tiny_bundle, texts, capsys, args, message):
    """Issue 22.2 and 22.5: these ended in tracebacks, or (a LoRA rank of a million) in the OOM
    killer at 21.6 GB; each is now a sentence naming the option, before anything is allocated."""
    from app.finetune_cli import main

    steps = [] if "--epochs" in args else ["--steps", "2"]
    code = main(["--base", str(tiny_bundle), "--data", str(texts), "--name", "bad", "--seq-len", "32",
                 "--batch-size", "4", *steps, *args])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err, err
    assert message in err, err
    from core import paths

    assert not (paths.models_dir() / "bad").exists() and not (paths.runs_dir() / "bad").exists()


def test_a_job_file_with_a_huge_lora_rank_is_refused(tiny_hf_dir, texts, tmp_path):
    """Issue 22.2, through a job file (the wizard's way, and model.train's): the rank is bounded
    by the model's width before anything is allocated."""
    import json as _json

    from model.train_job import Job, TrainError

    width = _json.loads((tiny_hf_dir / "config.json").read_text())["n_embd"]
    job = {"data": [str(texts)], "out": str(tmp_path / "out"), "init": str(tiny_hf_dir), "method": "lora"}
    Job.from_dict({**job, "lora_rank": width}, "job").validate()
    with pytest.raises(TrainError, match=f"lora_rank must be between 1 and {width}"):
        Job.from_dict({**job, "lora_rank": 1_000_000}, "job").validate()
    with pytest.raises(TrainError, match="lora_rank must be between 1 and 128"):  # a new model's width
        Job.from_dict({**job, "init": None, "lora_rank": 1_000_000}, "job").validate()


@pytest.mark.slow
def test_no_held_out_text_installs_and_reports_cleanly_and_resume_says_it_is_done(tiny_bundle, texts, capsys):
    """Issue 22.5: `--val-share 0` installed the model, then crashed (rc 1) printing the
    perplexity it did not have; `--resume NAME` of that installed run said "already exists
    (use --force)"."""
    from app.finetune_cli import main
    from core import paths

    code = main(["--base", str(tiny_bundle), "--data", str(texts), "--name", "nohold", "--seq-len", "32",
                 "--batch-size", "4", "--steps", "2", "--val-share", "0", "--no-use"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err and (paths.models_dir() / "nohold" / "inkwell-model.json").is_file()
    assert "no held-out text" in out
    code = main(["--resume", "nohold"])
    err = capsys.readouterr().err
    assert code == 1 and "--force" not in err and "finished and is installed" in err, err


def test_a_full_disk_while_training_says_so(tiny_bundle, texts, capsys, monkeypatch):
    """Issue 22.5: a full disk during the fine-tune ended in torch's RuntimeError."""
    import model.train_loop
    from app import finetune_cli

    def full(self):
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 1024 vs 512")

    monkeypatch.setattr(model.train_loop.Trainer, "run", full)
    monkeypatch.setattr(finetune_cli, "_free_bytes", lambda folder: 0)
    code = finetune_cli.main(["--base", str(tiny_bundle), "--data", str(texts), "--name", "full", "--seq-len", "32",
                              "--batch-size", "4", "--steps", "2"])
    err = capsys.readouterr().err
    assert code == 1 and "the disk is full" in err and "--resume full" in err and "Traceback" not in err, err


def test_a_fine_tune_in_words_keeps_its_samples_for_the_before_and_after(capsys):
    from app.finetune_cli import _Words

    words = _Words()
    events = [{"event": "start", "total_steps": 40, "step": 0, "parameters": 7_100_000, "device": "cpu",
               "precision": "fp32"},
              {"event": "sample", "step": 0, "prompt": "The", "text": " old"},
              {"event": "progress", "step": 20, "total_steps": 40, "loss": 3.25, "lr": 1e-4,
               "tokens_per_s": 1234.5, "eta_s": 65.0},
              {"event": "eval", "step": 40, "val_ppl": 21.5},
              {"event": "sample", "step": 40, "prompt": "The", "text": " new"}]
    for event in events:
        words.emit(event)
    err = capsys.readouterr().err.splitlines()
    assert err == ["fine-tuning 7.1M parameters on cpu (fp32): 40 steps",
                   "fine-tuning:  50%  step 20/40  loss 3.250  1,234 tok/s  eta 1 min 05 s",
                   "step 40: validation perplexity 21.50"]
    assert words.before == {"The": " old"} and words.after == {"The": " new"}
