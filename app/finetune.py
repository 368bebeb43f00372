"""Fine-tuning, as the editor plans it: the settings a writer starts from, the model.train job,
names, and the runs (the fine-tune run folders in runs_dir(), for resuming or installing).

A fine-tune is a run folder ``runs_dir()/NAME`` (model.train's output: job.json, checkpoints,
logs) and, once done, a model bundle ``models_dir()/NAME`` that Inkwell lists and can switch to.
Torch-free: the wizard uses these helpers in the editor's process and runs the estimate and the
training in subprocesses (app.finetune_cli, model.train); ``inkwell finetune`` is app.finetune_cli.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import paths
from core.errors import ModelError
from core.fileio import DamagedFile, is_finite_number, read_json
from core.runfolder import JOB, PROGRESS_FILE, SUMMARY, steps_for_epochs
from core.units import human_bytes, human_duration

# Below this much text a fine-tune mostly memorises; the wizard warns, and explains.
RECOMMENDED_TOKENS = 50_000
LORA_FROM_PARAMETERS = 100_000_000   # LoRA is the default from GPT-2 124M up
SMALL_MODEL = 30_000_000             # below this a full fine-tune takes a larger learning rate
EXPORT_VARIANTS = ["int8"]
EXPORT_HF_DTYPE = "float16"


class FinetuneError(ModelError):
    """A fine-tune cannot be planned or started as asked; the message says what to change."""


# --- planning -------------------------------------------------------------------------------

def default_settings(parameters: int, n_positions: int, method: str | None = None) -> dict[str, Any]:
    """The settings a writer starts from, for a base model of this size (and method)."""
    lora = parameters >= LORA_FROM_PARAMETERS if method is None else method == "lora"
    return {
        "method": "lora" if lora else "full",
        "epochs": 2.0,
        "steps": None,
        # LoRA's adapters start at zero and take a larger step; a full fine-tune of GPT-2-sized
        # weights needs a small one to keep what the base model knows. Small models (the bundled
        # 7M one, pre-trained at 2e-3) move little at 3e-4: on 90k tokens of the King James Bible
        # 1e-3 reached a held-out perplexity of 100 where 3e-4 reached 229 in the same 81 steps.
        "lr": 1e-3 if lora or parameters < SMALL_MODEL else 1e-4,
        "seq_len": min(256, n_positions),
        "batch_size": 8,
        "val_share": 0.1,
        "seed": 1234,
        "lora_rank": 8,
    }


def slug(name: str) -> str:
    """A folder name for a model name: letters, digits, '-', '_' and '.'."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return cleaned[:64]


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a new fine-tuned model, or None."""
    if not name.strip():
        return "Give the new model a name."
    if not slug(name):
        return "The name needs at least one letter or digit."
    if (paths.models_dir() / slug(name)).exists():
        return f"A model named {slug(name)!r} is already installed; choose another name."
    if (paths.runs_dir() / slug(name)).exists():
        return f"A fine-tune named {slug(name)!r} exists already (see Earlier fine-tunes); choose another name."
    return None


def make_job(name: str, base_folder: str | Path, files: list[str], settings: dict[str, Any],
             train_tokens: int, sample_prompt: str | None = None) -> dict[str, Any]:
    """The model.train job for a fine-tune; ``train_tokens`` (an estimate is fine) sets the
    number of steps for a number of epochs. Evaluations, samples and checkpoints follow the
    training's own schedule by time (model.train_job)."""
    seq_len, batch = int(settings["seq_len"]), int(settings["batch_size"])
    if settings.get("steps"):
        steps, epochs = int(settings["steps"]), None
    else:
        epochs = float(settings["epochs"])
        steps = steps_for_epochs(epochs, train_tokens, seq_len, batch)
    job: dict[str, Any] = {
        "name": name,
        "data": [str(f) for f in files],
        "out": str(paths.runs_dir() / slug(name)),
        "init": str(Path(base_folder) / "hf"),
        "method": settings["method"],
        "lora_rank": int(settings.get("lora_rank", 8)),
        "lora_alpha": 2.0 * int(settings.get("lora_rank", 8)),
        "holdout": {"fraction": float(settings["val_share"])},
        "line_breaks": settings.get("line_breaks", "unwrap"),
        "steps": steps,
        "epochs": epochs,
        "batch_size": batch,
        "seq_len": seq_len,
        "lr": float(settings["lr"]),
        "min_lr": float(settings["lr"]) / 10,
        "warmup_steps": max(1, min(100, steps // 10)),
        "weight_decay": 0.0 if settings["method"] == "lora" else 0.1,
        "seed": int(settings["seed"]),
        "log_every": max(1, steps // 200),
        "sample_tokens": 40,
    }
    if sample_prompt:
        job["sample_prompts"] = [sample_prompt]
    return job


def sample_prompt_from(text: str, words: int = 8) -> str:
    """The first few words of the writer's own text: a prompt in their voice for the samples."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if len(line.split()) >= 3:
            return " ".join(line.split()[:words])
    return "The"


@dataclass(frozen=True)
class Run:
    """A fine-tune run folder, for resuming or running again."""

    folder: Path
    name: str
    job: dict[str, Any]
    finished: bool
    step: int          # the last checkpoint's step (0: none yet)
    total_steps: int
    val_ppl: float | None = None
    val_ppl_before: float | None = None

    @property
    def resumable(self) -> bool:
        return not self.finished and self.step > 0

    @property
    def label(self) -> str:
        if self.finished:
            ppl = f", perplexity {self.val_ppl_before:.1f} → {self.val_ppl:.1f}" if self.val_ppl and self.val_ppl_before else ""
            return f"{self.name} (finished{ppl})"
        if self.step:
            return f"{self.name} (stopped at step {self.step} of {self.total_steps})"
        return f"{self.name} (stopped before its first checkpoint)"


def read_run(folder: Path) -> Run | None:
    """A fine-tune run folder; None when its job is missing or damaged. Damaged progress or
    summary files read as none (a run stopped early, or not finished)."""
    job = _read_json_or_none(folder / JOB)
    if job is None:
        return None
    summary = _read_json_or_none(folder / SUMMARY)
    progress = _read_json_or_none(folder / PROGRESS_FILE) or {}
    return Run(folder, str(job.get("name") or folder.name), job, summary is not None,
               _count(progress.get("step")), _count(progress.get("total_steps", job.get("steps"))),
               _perplexity(summary.get("val_ppl")) if summary is not None else None,
               _perplexity(summary.get("val_ppl_before")) if summary is not None else None)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53 else 0


def _perplexity(value: Any) -> float | None:
    return float(value) if is_finite_number(value) else None


def list_runs() -> list[Run]:
    """The fine-tune runs in runs_dir(), newest first."""
    try:
        folders = [f for f in paths.runs_dir().iterdir() if f.is_dir()]
    except OSError:
        return []  # no runs folder (it could not be created): no runs

    def started(run: Run) -> float:
        try:
            return (run.folder / JOB).stat().st_mtime
        except OSError:
            return 0.0

    runs = [r for f in folders if (r := read_run(f)) is not None]
    return sorted(runs, key=started, reverse=True)


def _read_json_or_none(path: Path) -> dict | None:
    """A run's JSON file as a dict; None when it is missing, unreadable or damaged."""
    try:
        data = read_json(path)
    except (OSError, DamagedFile):
        return None
    return data if isinstance(data, dict) else None


def describe_estimate(e: dict[str, Any]) -> str:
    return (f"About {human_duration(e['total_s'])} for {e['steps']:,} steps "
            f"({e['seconds_per_step']:.2f} s a step, {e['tokens_per_s']:,.0f} tokens/s on {e['device']}), "
            f"and {human_bytes(e['disk_bytes'])} of disk (checkpoint {human_bytes(e['checkpoint_bytes'])}, "
            f"trained weights {human_bytes(e['model_bytes'])}, model for the editor {human_bytes(e['bundle_bytes'])}). "
            f"A crash or a power cut loses at most {human_duration(e['crash_cost_s'])} of training (the run "
            f"saves a checkpoint that often and goes on from it). Measured by a warm-up of {e['measured_steps']} steps.")
