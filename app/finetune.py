"""Fine-tuning, as the editor plans it: the settings a writer starts from, the model.train job,
names, and the runs (the fine-tune run folders in runs_dir(), for resuming or installing).

A fine-tune is a run folder ``runs_dir()/NAME`` (model.train's output: job.json, checkpoints,
logs) and, once done, a model bundle ``models_dir()/NAME`` that Inkwell lists and can switch to.
Torch-free: the wizard uses these helpers in the editor's process and runs the estimate and the
training in subprocesses (app.finetune_cli, model.train); ``inkwell finetune`` is app.finetune_cli.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import paths
from core.errors import ModelError
from core.fileio import DamagedFile, is_finite_number, read_json
from core.names import folder_name
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
    """A folder name for a model name: letters, digits, '-', '_' and '.' (core.names.folder_name,
    the rule imports follow too)."""
    return folder_name(name)


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a new fine-tuned model, or None."""
    if not name.strip():
        return "Give the new model a name."
    if not slug(name):
        return "The name needs at least one letter or digit."
    if paths.model_folder(slug(name)).exists():
        return f"A model named {slug(name)!r} is already installed; choose another name."
    if paths.run_folder(slug(name)).exists():
        return f"A fine-tune named {slug(name)!r} exists already (see Earlier fine-tunes); choose another name."
    return None


# Upper bounds of the settings a person gives (the model's own dimensions bound the rest).
MAX_EPOCHS = 1000.0
MAX_STEPS = 10_000_000
MAX_LR = 1.0  # beyond it training diverges at once (and 1e300 overflows the optimizer)
MAX_BATCH = 4096
OPTIONS = {"epochs": "--epochs", "steps": "--steps", "lr": "--lr", "seq_len": "--seq-len",
           "batch_size": "--batch-size", "val_share": "--val-share", "seed": "--seed", "lora_rank": "--lora-rank"}


def training_memory(settings: dict[str, Any], arch: dict[str, Any], parameters: int) -> int:
    """Bytes of memory a fine-tune with ``settings`` needs, roughly (fp32): the weights, what
    the optimizer keeps for what is trained (gradient and two moments), and the activations of
    one batch (the logits over the vocabulary and each layer's, attention included)."""
    n_layer, n_embd = int(arch.get("n_layer", 12)), int(arch.get("n_embd", 768))
    n_head, vocab = int(arch.get("n_head", 12)), int(arch.get("vocab_size", 50257))
    parameters = parameters or 12 * n_layer * n_embd * n_embd + vocab * n_embd
    if settings.get("method") == "lora":
        # adapters on c_attn (n, 3n), attn.c_proj (n, n), c_fc (n, 4n), mlp.c_proj (4n, n)
        trained = int(settings["lora_rank"]) * n_layer * 16 * n_embd
    else:
        trained = parameters
    batch, seq = int(settings["batch_size"]), int(settings["seq_len"])
    activations = 4 * batch * seq * (n_layer * (34 * n_embd + 5 * n_head * seq) + 3 * vocab)
    return 4 * parameters + 16 * trained + activations


def settings_problem(settings: dict[str, Any], arch: dict[str, Any], parameters: int,
                     available: int | None = None) -> str | None:
    """Why a fine-tune with ``settings`` of a model of ``arch`` cannot run, naming the option
    (``--seq-len: ...``), or None: every number within the model's dimensions (the context, the
    smallest projection for a LoRA rank) and the whole within the memory available, before
    anything is allocated."""
    from core import checks
    from core.machine import memory_problem

    n_positions, n_embd = int(arch.get("n_positions", 1024)), int(arch.get("n_embd", 768))
    name = ""
    try:
        name = "epochs"
        if settings.get("epochs") is not None:
            checks.number(name, settings[name], low=0, high=MAX_EPOCHS, above=True)
        name = "steps"
        if settings.get("steps") is not None:
            checks.whole(name, settings[name], low=1, high=MAX_STEPS)
        name = "lr"
        checks.number(name, settings[name], low=0, high=MAX_LR, above=True)
        name = "seq_len"
        try:
            checks.whole(name, settings[name], low=1, high=n_positions)
        except ValueError as exc:
            raise ValueError(f"{exc}; the model reads at most {n_positions} tokens at a time") from None
        name = "batch_size"
        checks.whole(name, settings[name], low=1, high=MAX_BATCH)
        name = "val_share"
        checks.number(name, settings[name], low=0, high=1, below=True)
        name = "seed"
        checks.whole(name, settings[name], low=0)
        name = "lora_rank"
        if settings.get("method") == "lora":
            try:
                checks.whole(name, settings[name], low=1, high=n_embd)
            except ValueError as exc:
                raise ValueError(f"{exc}; a rank above the model's smallest projection ({n_embd}, its width) "
                                 "adds nothing") from None
    except ValueError as exc:
        return f"{OPTIONS.get(name, name)}: {exc}"
    return memory_problem(training_memory(settings, arch, parameters),
                          f"fine-tuning with batch size {settings['batch_size']} and sequence length "
                          f"{settings['seq_len']}", available)


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
        "out": str(paths.run_folder(slug(name))),
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


def describe_compress_estimate(e: dict[str, Any]) -> str:
    """``inkwell compress --estimate``'s figures in words (the Make a faster copy… dialog shows them)."""
    return (f"About {human_duration(e['total_s'])} in all on this computer: {human_duration(e['prune_s'])} to measure "
            f"what the model needs, then {e['steps']:,} steps of learning from the original "
            f"({e['seconds_per_step']:.2f} s a step), and the copy's install and measurement. "
            f"The copy then does about {e['speedup']:.1f}× less work per word.")
