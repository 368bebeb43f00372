"""Fine-tuning's PyTorch side: the estimate (a warm-up run of a few steps of the same job) and
the before/after comparison of a finished run. ``inkwell finetune`` (app.finetune_cli) calls these;
the planning and the runs are the editor's (app.finetune).
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from core.events import Event
from core.runfolder import steps_for_epochs

ESTIMATE_STEPS = 4                    # the first is warm-up; the others are timed
TRIAL_EVAL_WINDOWS = 2                # held-out windows scored by the warm-up, to time one


def estimate(job_data: dict[str, Any], steps: int = ESTIMATE_STEPS) -> dict[str, Any]:
    """Time and disk for ``job_data``, measured by a warm-up run of a few steps of the same job
    (same model, method, batch and data) in a temporary folder."""
    from model.train_job import Job

    full = Job.from_dict(dict(job_data), "job")
    full.validate()
    t = _trial(job_data, steps)
    marks, info, step_times = t.marks, t.info, t.step_times
    setup_s = t.startup_s + marks["start"] - t.t0
    step_s = (step_times[steps] - step_times[1]) / (steps - 1)
    tokens_per_step = info["tokens_per_step"]
    train_tokens, val_tokens = info["train_tokens"], info["val_tokens"]
    total_steps = full.steps
    if full.epochs is not None:
        total_steps = steps_for_epochs(full.epochs, train_tokens, full.seq_len, full.sequences_per_step)
    # The first step (and a fine-tune's evaluation before it) pays once for what the later ones
    # find ready (memory, kernels): timed as it was, the others at the warm pace.
    first_s = step_times[1] - marks["start"]
    train_s = first_s + (total_steps - 1) * step_s
    eval_s = _eval_seconds(full, marks, val_tokens, train_s, total_steps)
    checkpoint_s = max(marks.get("checkpoint", step_times[steps]) - step_times[steps], 0.0)
    if full.checkpoint_every is None:
        n_checkpoints = int(train_s // full.checkpoint_every_s) + 1
        crash_cost_s = min(full.checkpoint_every_s, train_s)
    else:
        n_checkpoints = total_steps // full.checkpoint_every + 1
        crash_cost_s = min(full.checkpoint_every, total_steps) * step_s
    total_s = setup_s + train_s + eval_s + n_checkpoints * checkpoint_s
    parameters = info["parameters"]
    # The bundle: int8 ONNX (about a byte a weight) plus the fp16 checkpoint kept for re-training.
    bundle_bytes = int(parameters * (1 + 2))
    disk = t.checkpoint_bytes + t.model_bytes + bundle_bytes + 2 * (train_tokens + val_tokens)
    return {
        "seconds_per_step": round(step_s, 4), "tokens_per_s": round(tokens_per_step / step_s, 1),
        "steps": total_steps, "setup_s": round(setup_s, 2), "train_s": round(train_s, 1),
        "eval_s": round(eval_s, 2), "checkpoints": n_checkpoints, "checkpoint_s": round(checkpoint_s, 2),
        "crash_cost_s": round(crash_cost_s, 1),
        "total_s": round(total_s, 1), "checkpoint_bytes": t.checkpoint_bytes, "model_bytes": t.model_bytes,
        "bundle_bytes": bundle_bytes, "disk_bytes": disk, "train_tokens": train_tokens, "val_tokens": val_tokens,
        "parameters": parameters, "method": full.method, "device": info.get("device"),
        "measured_steps": steps - 1,
    }


@dataclasses.dataclass
class _Trial:
    """What the warm-up run measured: when it started, each step ended and its last evaluation
    and checkpoint happened, its ``start`` event's fields, and the files it wrote."""

    t0: float
    startup_s: float
    marks: dict[str, float]
    info: dict[str, Any]
    step_times: dict[int, float]
    checkpoint_bytes: int
    model_bytes: int


def _trial(job_data: dict[str, Any], steps: int) -> _Trial:
    from model.train_job import Job
    from model.train_loop import Events, Trainer

    marks: dict[str, float] = {}
    info: dict[str, Any] = {}

    class Timed(Events):
        def emit(self, event: Event) -> None:
            now = time.perf_counter()
            kind = event["event"]
            if kind == "start":
                marks["start"] = now
                info.update(event)
            elif kind == "eval":
                marks["eval"] = now  # the last one: the trial's final evaluation, after its checkpoint
            elif kind == "checkpoint":
                marks["checkpoint"] = now

        def log(self, message: str) -> None:
            pass

    step_times: dict[int, float] = {}
    t0 = time.perf_counter()
    startup_s = _process_age()  # the run's own process starts and imports PyTorch just as this one did
    with tempfile.TemporaryDirectory(prefix="inkwell-estimate-") as tmp:
        # The trial's evaluation scores a small sample; its cost per window is scaled below.
        trial = dict(job_data, out=str(Path(tmp) / "run"), steps=steps, epochs=None, warmup_steps=0,
                     log_every=10**6, eval_every=10**6, sample_every=10**6, sample_tokens=0,
                     checkpoint_every=steps, eval_max_windows=TRIAL_EVAL_WINDOWS, export=None, start_step=0)
        Trainer(Job.from_dict(trial, "estimate"), Timed(), whole_evals=False,
                on_step=lambda s: step_times.__setitem__(s, time.perf_counter())).run()
        run = Path(tmp) / "run"
        checkpoint_bytes = (run / "checkpoints" / "last.pt").stat().st_size
        model_bytes = (run / "model.safetensors").stat().st_size
    return _Trial(t0, startup_s, marks, info, step_times, checkpoint_bytes, model_bytes)


def _eval_seconds(full: Any, marks: dict[str, float], val_tokens: int, train_s: float, total_steps: int) -> float:
    """Evaluation, timed warm on a few windows at the end of the trial, scaled to the held-out
    score's windows (before a fine-tune and at the end) and to the run's periodic evaluations."""
    from model.train_loop import held_out_score_windows

    every = max(1, math.ceil(max(val_tokens - 1, 0) / full.seq_len)) if val_tokens else 0
    val_windows = min(every, held_out_score_windows(full.seq_len))
    window_s = 0.0
    if "eval" in marks and val_windows:
        window_s = (marks["eval"] - marks["checkpoint"]) / min(TRIAL_EVAL_WINDOWS, val_windows)
    whole_s = val_windows * window_s
    eval_s = whole_s * (2 if full.init else 1) - (min(TRIAL_EVAL_WINDOWS, val_windows) * window_s if full.init else 0)
    sample_windows = min(full.eval_max_windows or val_windows, val_windows)
    if full.eval_every is None:
        eval_s += _scheduled_evaluations(full, train_s, sample_windows * window_s) * sample_windows * window_s
    else:
        eval_s += total_steps // full.eval_every * sample_windows * window_s
    return eval_s


def _scheduled_evaluations(full: Any, train_s: float, each_s: float) -> int:
    """How many evaluations the run's schedule by time makes (model.train_loop._Schedule): every
    ``wait`` seconds of training, which keeps them within eval_share, the first after the base
    model's score for a fine-tune (else after FIRST_EVAL_S), and none within ``wait`` of the end."""
    from model.train_loop import FIRST_EVAL_S, eval_wait

    if each_s <= 0:
        return 0
    wait = eval_wait(each_s, full.eval_share)
    first = wait if full.init else FIRST_EVAL_S
    if train_s - wait < first:
        return 0
    return int((train_s - wait - first) // wait) + 1


def _process_age() -> float:
    """Seconds since this process started (Linux; 0 where it cannot be read)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            started_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


def compare(base: str | Path, tuned: str | Path, prompt: str, seed: int, tokens: int = 40) -> dict[str, str]:
    """The base model (a Hugging Face folder) and the fine-tuned one continuing ``prompt`` with
    the same seed."""
    import torch

    from core.tokenizer import EOT_TOKEN, decode, encode
    from model.hf import load_gpt2
    from model.train_job import SAMPLE_TEMPERATURE, SAMPLE_TOP_K

    ids = torch.tensor([encode(prompt)])

    def continuation(folder: str | Path) -> str:
        out = load_gpt2(folder).generate(ids, tokens, temperature=SAMPLE_TEMPERATURE, top_k=SAMPLE_TOP_K,
                                         generator=torch.Generator().manual_seed(seed), stop_token=EOT_TOKEN)
        return decode(out[0, ids.shape[1]:].tolist())

    return {"prompt": prompt, "base": continuation(base), "tuned": continuation(tuned)}
