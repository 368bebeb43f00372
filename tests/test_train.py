"""Training engine: learning, events, checkpoints and resume, determinism, bad input."""

from __future__ import annotations

import errno
import io
import json
import math
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY

ROOT = Path(__file__).resolve().parent.parent
PROSE = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife. However little known the feelings or views of such a man may be "
    "on his first entering a neighbourhood, this truth is so well fixed in the minds of the "
    "surrounding families, that he is considered as the rightful property of some one or other "
    "of their daughters. \"My dear Mr. Bennet,\" said his lady to him one day, \"have you heard "
    "that Netherfield Park is let at last?\" Mr. Bennet replied that he had not.\n\n"
)
REQUIRED = {
    "start": {"total_steps"},
    "progress": {"step", "total_steps", "loss", "lr", "tokens_per_s", "eta_s"},
    "eval": {"step", "val_loss", "val_ppl"},
    "sample": {"step", "prompt", "text"},
    "checkpoint": {"step", "path"},
    "done": {"output", "val_ppl"},
    "error": {"message"},
}


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text(PROSE * 12, encoding="utf-8")
    (folder / "b.txt").write_text(PROSE.upper() * 6, encoding="utf-8")
    return folder


def job_dict(corpus, out, **overrides):
    job = {
        "data": [str(corpus)], "out": str(out), "model": dict(TINY), "holdout": {"fraction": 0.1},
        "steps": 30, "batch_size": 4, "seq_len": 32, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 5,
        "log_every": 1, "eval_every": 10, "sample_every": 15, "sample_tokens": 8, "checkpoint_every": 10,
        "threads": 1, "seed": 7, "cache_dir": str(Path(out).parent / "token-cache"),
        "sample_prompts": ["It is a truth"],
    }
    job.update(overrides)
    return job


def run_in_process(job: dict, resume: bool = False, on_step=None, stop=None):
    """Run a job in this process; returns (result, events)."""
    from model.train_job import Job
    from model.train_loop import Events, StopRequest, Trainer

    out = io.StringIO()
    result = Trainer(Job.from_dict(dict(job), "test"), Events(out, io.StringIO()), resume=resume,
                     stop=stop or StopRequest(), on_step=on_step).run()
    return result, [json.loads(line) for line in out.getvalue().splitlines()]


def losses(events):
    return [e["loss"] for e in events if e["event"] == "progress"]


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "model.train", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def parse_events(stdout: str):
    events = []
    for line in stdout.splitlines():
        event = json.loads(line)  # every stdout line is one JSON object
        assert isinstance(event, dict) and event["event"] in REQUIRED, line
        missing = REQUIRED[event["event"]] - set(event)
        assert not missing, f"{event['event']} lacks {missing}"
        events.append(event)
    return events


# --- learning -------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_few_steps_reduce_the_loss(corpus, tmp_path):
    result, events = run_in_process(job_dict(corpus, tmp_path / "run"))
    curve = losses(events)
    assert len(curve) == 30
    assert sum(curve[-5:]) / 5 < sum(curve[:5]) / 5 - 1.0
    evals = [e["val_loss"] for e in events if e["event"] == "eval"]
    assert evals == sorted(evals, reverse=True) and evals[-1] < math.log(50257) - 1
    assert math.isclose(result["val_ppl"], math.exp(result["val_loss"]))
    # The output is a Hugging Face checkpoint that loads and matches what was trained.
    from model.hf import load_gpt2

    model = load_gpt2(tmp_path / "run")
    assert model.config.n_embd == TINY["n_embd"]
    summary = json.loads((tmp_path / "run" / "training.json").read_text())
    assert summary["steps"] == 30 and summary["val_ppl"] == result["val_ppl"]


def test_lr_schedule_warms_up_then_decays_to_min():
    from model.train_job import Job, lr_at

    job = Job(steps=100, lr=1e-3, min_lr=1e-4, warmup_steps=10)
    assert lr_at(0, job) == pytest.approx(1e-4)
    assert lr_at(9, job) == pytest.approx(1e-3)
    assert lr_at(10, job) == pytest.approx(1e-3)
    assert lr_at(55, job) == pytest.approx(5.5e-4)
    assert lr_at(100, job) == pytest.approx(1e-4)
    assert all(lr_at(s, job) >= lr_at(s + 1, job) for s in range(10, 100))


@pytest.mark.slow
def test_gradient_accumulation_matches_a_larger_batch(corpus, tmp_path):
    """Two micro-batches of 2 accumulate to the gradient of one batch of 4 (dropout off)."""
    common = dict(dropout=0.0, steps=3, eval_every=100, sample_every=100, checkpoint_every=100)
    _, big = run_in_process(job_dict(corpus, tmp_path / "big", batch_size=4, **common))
    _, acc = run_in_process(job_dict(corpus, tmp_path / "acc", batch_size=2, grad_accum=2, **common))
    assert losses(acc) == pytest.approx(losses(big), rel=1e-4)


@pytest.mark.slow
def test_same_seed_same_curve_other_seed_other_curve(corpus, tmp_path):
    job = job_dict(corpus, tmp_path / "a", steps=12, eval_every=100, sample_every=100, checkpoint_every=100)
    _, first = run_in_process(job)
    _, again = run_in_process({**job, "out": str(tmp_path / "b")})
    _, other = run_in_process({**job, "out": str(tmp_path / "c"), "seed": 8})
    assert losses(first) == losses(again)
    assert losses(first) != losses(other)


def test_tokens_are_cached_and_reused(corpus, tmp_path, monkeypatch):
    import model.train_data as td

    cache = tmp_path / "cache"
    first = td.load_corpus([corpus], {"fraction": 0.1}, cache)
    assert len(list(cache.glob("*.npy"))) == 2

    def no_tokenizer(*a, **k):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(td, "get_encoding", no_tokenizer)
    second = td.load_corpus([corpus], {"fraction": 0.1}, cache)
    assert (first.train == second.train).all() and (first.val == second.val).all()
    # An edited file is a new cache entry, never a stale hit.
    (corpus / "a.txt").write_text(PROSE * 3, encoding="utf-8")
    with pytest.raises(AssertionError, match="tokenized again"):
        td.load_corpus([corpus], {"fraction": 0.1}, cache)


def test_holdout_from_a_line_of_one_file(tmp_path):
    from core.tokenizer import decode
    from model.train_data import load_corpus

    (tmp_path / "novel.txt").write_text("Chapter 1\n\n" + PROSE * 3 + "Chapter 2\n\nThe end came soon.\n")
    (tmp_path / "other.txt").write_text(PROSE)
    corpus = load_corpus([tmp_path / "novel.txt", tmp_path / "other.txt"], {"file": "novel.txt", "from": "Chapter 2"}, None)
    assert decode(corpus.val.tolist()) == "Chapter 2\n\nThe end came soon.\n<|endoftext|>"
    assert "The end came" not in decode(corpus.train.tolist())


def test_hard_wrapped_text_is_trained_as_paragraphs_unless_told_to_keep_lines(tmp_path):
    import textwrap

    from core.tokenizer import decode
    from model.train_data import DataError, load_corpus

    paragraph = ("Anne had not been in the room five minutes before the door opened again and "
                 "Captain Wentworth walked in, looking about him as if for something he had lost. ") * 3
    wrapped = "\n\n".join(textwrap.fill(paragraph, 70) for _ in range(12)) + "\n"
    (tmp_path / "novel.txt").write_text(wrapped, encoding="utf-8")
    unwrapped = decode(load_corpus([tmp_path], {"fraction": 0.0}, None).train.tolist())
    kept = decode(load_corpus([tmp_path], {"fraction": 0.0}, None, "keep").train.tolist())
    assert unwrapped == "\n\n".join([paragraph.strip()] * 12) + "\n<|endoftext|>"
    assert kept == wrapped + "<|endoftext|>"
    with pytest.raises(DataError, match="line_breaks must be unwrap or keep"):
        load_corpus([tmp_path], {"fraction": 0.0}, None, "sometimes")


def test_sampler_resumes_with_the_same_batches():
    import numpy as np

    from model.train_data import WindowSampler

    tokens = np.arange(1000, dtype=np.uint16)
    a = WindowSampler(tokens, 16, seed=3)
    batches = [a.next_batch(5) for _ in range(30)]  # crosses several epochs
    b = WindowSampler(tokens, 16, seed=3)
    for _ in range(11):
        b.next_batch(5)
    c = WindowSampler(tokens, 16, seed=3)
    c.load_state(b.state())
    assert all((c.next_batch(5) == batch).all() for batch in batches[11:])
    assert all(((batch[:, 1:] - batch[:, :-1]) == 1).all() for batch in batches)  # contiguous windows


# --- events ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_events_are_json_lines_and_logs_go_to_stderr(corpus, tmp_path):
    job = tmp_path / "job.json"
    job.write_text(json.dumps(job_dict(corpus, tmp_path / "run", steps=10, log_every=5, eval_every=5,
                                       sample_every=10, checkpoint_every=5)))
    proc = cli("--job", job)
    assert proc.returncode == 0, proc.stderr
    events = parse_events(proc.stdout)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert {"progress", "eval", "sample", "checkpoint"} <= set(kinds)
    assert [e["step"] for e in events if e["event"] == "progress"] == [5, 10]
    assert all(e["total_steps"] == 10 and e["tokens_per_s"] > 0 for e in events if e["event"] == "progress")
    assert "step 10/10" in proc.stderr and "{" not in proc.stderr.split("\n")[0]
    assert (tmp_path / "run" / "model.safetensors").is_file()


# --- checkpoints and resume -----------------------------------------------------------------

@pytest.mark.slow
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(corpus, tmp_path):
    from model.train_loop import StopRequest

    job = job_dict(corpus, tmp_path / "whole", steps=24, checkpoint_every=100)
    _, whole = run_in_process(job)

    stop = StopRequest()

    def interrupt(step):
        if step == 13:
            stop.signum = signal.SIGTERM

    part = {**job, "out": str(tmp_path / "part")}
    result, first = run_in_process(part, on_step=interrupt, stop=stop)
    assert result == {"stopped": True, "step": 13, "signum": signal.SIGTERM}
    assert first[-1]["event"] == "checkpoint" and first[-1]["step"] == 13
    _, second = run_in_process(part, resume=True)
    assert second[0]["event"] == "start" and second[0]["step"] == 13
    assert losses(first) + losses(second) == losses(whole)
    assert second[-1]["val_loss"] == whole[-1]["val_loss"]


@pytest.mark.slow
def test_sigterm_leaves_a_loadable_checkpoint_and_resume_continues(corpus, tmp_path):
    import torch

    out = tmp_path / "run"
    job = tmp_path / "job.json"
    job.write_text(json.dumps(job_dict(corpus, out, steps=100000, log_every=1, eval_every=100000,
                                       sample_every=100000, checkpoint_every=100000, warmup_steps=0)))
    proc = subprocess.Popen([sys.executable, "-m", "model.train", "--job", str(job)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "progress" and event["step"] >= 3:
                proc.send_signal(signal.SIGTERM)
                break
        rest, err = proc.communicate(timeout=600)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    tail = parse_events(rest)
    assert tail[-1]["event"] == "checkpoint" and tail[-1]["reason"] == "signal"
    step = tail[-1]["step"]
    state = torch.load(out / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert state["step"] == step and "wte.weight" in state["model"]
    assert not [p for p in (out / "checkpoints").iterdir() if p.name not in ("last.pt", "last.json")]  # no temp files left

    resumed = cli("--out", out, "--resume", "--steps", step + 3)
    assert resumed.returncode == 0, resumed.stderr
    events = parse_events(resumed.stdout)
    assert events[0]["event"] == "start" and events[0]["step"] == step and events[0]["resumed"]
    assert [e["step"] for e in events if e["event"] == "progress"] == [step + 1, step + 2, step + 3]
    assert events[-1]["event"] == "done"


@pytest.mark.slow
def test_disk_full_gives_a_clear_error_and_keeps_the_last_checkpoint(corpus, tmp_path, monkeypatch, capsys):
    import torch

    import model.train as train

    out = tmp_path / "run"
    job = tmp_path / "job.json"
    job.write_text(json.dumps(job_dict(corpus, out, steps=20, checkpoint_every=5, sample_every=100)))
    real_save = torch.save
    calls = []

    def filling_save(obj, f, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", filling_save)
    assert train.main(["--job", str(job)]) == 1
    events = parse_events(capsys.readouterr().out)
    assert events[-1]["event"] == "error" and "disk is full" in events[-1]["message"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.json", "last.pt"]
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 5


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("content, problem", [
    (b"", "empty"),
    (b"  \n\n \t", "empty"),
    (bytes(range(256)) * 20, "binary"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00\x01\x02\x03" * 100, "binary"),
])
def test_bad_training_files_are_refused_by_name(tmp_path, content, problem, capsys):
    from model.train import main

    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    assert main(["--data", str(bad), "--out", str(tmp_path / "run")]) == 1
    event = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert event["event"] == "error" and str(bad) in event["message"] and problem in event["message"]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig", "cp1252", "utf-32"])
def test_other_encodings_are_read(tmp_path, encoding):
    from model.train_data import read_text_file

    text = "Émile said: “café”, naïve — £5.\n" * 20
    path = tmp_path / "t.txt"
    path.write_bytes(text.encode(encoding))
    assert read_text_file(path).text == text


def test_too_little_text_for_one_batch(tmp_path, capsys):
    from model.train import main

    (tmp_path / "short.txt").write_text("A short note.\n")
    assert main(["--data", str(tmp_path / "short.txt"), "--out", str(tmp_path / "run"), "--seq-len", "64"]) == 1
    message = json.loads(capsys.readouterr().out.splitlines()[-1])["message"]
    assert "not enough training text" in message and "batch_size" in message


def test_existing_output_folder_is_refused(corpus, tmp_path, capsys):
    from model.train import main

    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["--data", str(corpus), "--out", str(out)]) == 1
    message = json.loads(capsys.readouterr().out.splitlines()[-1])["message"]
    assert str(out) in message and "already exists" in message and "--resume" in message
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize("args, problem", [
    (["--steps", "0"], "steps must be at least 1"),
    (["--lr", "-1"], "lr must be"),
    (["--device", "tpu"], "device must be"),
    (["--seq-len", "512"], "exceeds the model's context length"),
    (["--init", "/nonexistent/model"], "/nonexistent/model: no such folder"),
])
def test_bad_parameters_name_the_parameter(corpus, tmp_path, capsys, args, problem):
    from model.train import main

    assert main(["--data", str(corpus), "--out", str(tmp_path / "run"), *args]) == 1
    assert problem in json.loads(capsys.readouterr().out.splitlines()[-1])["message"]


def test_bad_job_file(tmp_path, capsys):
    from model.train import main

    job = tmp_path / "job.json"
    job.write_text('{"steps": 10, "learning_rate": 1}')
    assert main(["--job", str(job)]) == 1
    assert "unknown setting 'learning_rate'" in json.loads(capsys.readouterr().out.splitlines()[-1])["message"]
    job.write_text("{not json")
    assert main(["--job", str(job)]) == 1
    assert "not valid JSON" in json.loads(capsys.readouterr().out.splitlines()[-1])["message"]


@pytest.mark.slow
def test_cli_error_exits_non_zero_without_traceback(tmp_path):
    proc = cli("--data", tmp_path / "missing.txt", "--out", tmp_path / "run")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "missing.txt: no such file or folder" in proc.stderr
    assert parse_events(proc.stdout)[-1]["event"] == "error"


@pytest.mark.slow
def test_fine_tune_from_a_hugging_face_checkpoint(tiny_hf_dir, corpus, tmp_path):
    job = job_dict(corpus, tmp_path / "ft", init=str(tiny_hf_dir), steps=5, eval_every=5, sample_every=5)
    job.pop("model")
    result, events = run_in_process(job)
    assert events[0]["parameters"] > 0 and result["val_ppl"] > 0
    from model.hf import load_gpt2

    assert load_gpt2(tmp_path / "ft").config.n_layer == TINY["n_layer"]


def test_the_score_before_and_after_a_fine_tune_reads_a_spread_of_a_large_held_out_text(
        tiny_hf_dir, corpus, tmp_path, monkeypatch):
    """A corpus's held-out tenth can be millions of tokens: the before and after scores read at
    most HELD_OUT_SCORE_TOKENS of it, spread over all of it."""
    from model import train_loop

    monkeypatch.setattr(train_loop, "HELD_OUT_SCORE_TOKENS", 3 * 32)
    job = job_dict(corpus, tmp_path / "ft", init=str(tiny_hf_dir), steps=2, eval_every=None, sample_every=None,
                   holdout={"fraction": 0.5})
    job.pop("model")
    _, events = run_in_process(job)
    scores = [e for e in events if e["event"] == "eval"]
    assert [e["step"] for e in scores] == [0, 2] and all(e["windows"] == 3 for e in scores)


@pytest.mark.slow
def test_a_full_run_resumes_from_its_checkpoint_after_its_init_folder_is_gone(corpus, tiny_hf_dir, tmp_path):
    from model.train_loop import StopRequest

    init = tmp_path / "init"
    shutil.copytree(tiny_hf_dir, init)
    job = job_dict(corpus, tmp_path / "run", init=str(init), model=None, steps=8, checkpoint_every=100,
                   eval_every=8, sample_every=100)
    stop = StopRequest()

    def interrupt(step):
        if step == 4:
            stop.signum = signal.SIGTERM

    result, _ = run_in_process(job, on_step=interrupt, stop=stop)
    assert result["stopped"] and result["step"] == 4
    shutil.rmtree(init)  # e.g. a temporary copy that did not survive a restart
    _, events = run_in_process(job, resume=True)
    assert events[0]["event"] == "start" and events[0]["step"] == 4
    assert events[-1]["event"] == "done" and events[-1]["steps"] == 8
