"""What defines a training run (Job), checked before anything runs, and its learning-rate
schedule. Torch-free: the fine-tune wizard builds and checks jobs in the editor's process.

A job is a JSON object (``python -m model.train --job job.json``) whose keys are Job's fields;
relative paths are relative to the working directory.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import ModelError
from core.fileio import DamagedFile, describe_os_error, read_json

DEFAULT_PROMPTS = ("It is a truth universally acknowledged", "The letter arrived on a", "She had never")
SAMPLE_TEMPERATURE, SAMPLE_TOP_K = 0.8, 40  # the samples shown during training and in comparisons


class TrainError(ModelError):
    """The job cannot run as given (bad parameter, output folder, disk)."""


@dataclass
class Job:
    """Everything that defines a run. Relative paths are relative to the working directory."""

    data: list[str] = field(default_factory=list)
    out: str = ""
    # A new model (architecture numbers) or an existing Hugging Face checkpoint to fine-tune.
    model: dict[str, int] = field(default_factory=lambda: {"n_layer": 4, "n_embd": 128, "n_head": 4, "n_positions": 256})
    init: str | None = None
    # With init: deepen the checkpoint to this many layers before training (model.grow).
    deepen_to: int | None = None
    # "full" trains every weight; "lora" trains low-rank adapters on the attention and MLP
    # projections (model.lora), merged into the weights at the end.
    method: str = "full"
    lora_rank: int = 8
    lora_alpha: float = 16.0
    holdout: dict[str, Any] = field(default_factory=lambda: {"fraction": 0.05})
    # "unwrap": join hard-wrapped lines into paragraphs (core.prose); "keep": poetry, code.
    line_breaks: str = "unwrap"
    steps: int = 1000
    epochs: float | None = None         # when set, replaces steps: passes over the training text
    batch_size: int = 8
    grad_accum: int = 1
    seq_len: int = 256
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    dropout: float | None = None        # None keeps the model's own
    seed: int = 1234
    device: str = "auto"                # auto | cpu | cuda
    precision: str = "auto"             # auto | fp32 | bf16 | fp16 (fp16: CUDA only)
    threads: int = 0                    # CPU threads for torch; 0 = torch's default
    log_every: int = 10
    eval_every: int = 200
    eval_max_windows: int = 0           # 0 = the whole held-out text
    sample_every: int = 500
    sample_tokens: int = 40
    sample_prompts: list[str] = field(default_factory=lambda: list(DEFAULT_PROMPTS))
    checkpoint_every: int = 200
    cache_dir: str | None = None        # token cache; default: Inkwell's cache folder
    name: str | None = None
    # After training, export the result to a model bundle: {"dest": folder, "variants": ["int8"],
    # "hf_dtype": "float16", "licence": "..."}; the manifest gets the held-out perplexity and recipe.
    export: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> "Job":
        if not isinstance(data, dict):
            raise TrainError(f"{source}: expected a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in data if k not in known and not k.startswith("_"))
        if unknown:
            raise TrainError(f"{source}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return cls(**{k: v for k, v in data.items() if k in known})

    def validate(self) -> None:
        positive = ("steps", "batch_size", "grad_accum", "seq_len", "log_every", "eval_every",
                    "sample_every", "checkpoint_every")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise TrainError(f"{name} must be a positive integer, got {value!r}")
        for name in ("warmup_steps", "threads", "sample_tokens", "eval_max_windows", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise TrainError(f"{name} must be a whole number of at least 0, got {value!r}")
        for name in ("lr", "min_lr", "weight_decay", "grad_clip"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise TrainError(f"{name} must be a number of at least 0, got {value!r}")
        if self.lr <= 0:
            raise TrainError(f"lr must be above 0, got {self.lr!r}")
        if self.min_lr > self.lr:
            raise TrainError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise TrainError(f"{name} must be at least 0 and below 1, got {getattr(self, name)!r}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise TrainError(f"dropout must be at least 0 and below 1, got {self.dropout!r}")
        if self.deepen_to is not None and (not self.init or not isinstance(self.deepen_to, int)
                                           or isinstance(self.deepen_to, bool) or self.deepen_to <= 0):
            raise TrainError("deepen_to needs init (the checkpoint to deepen) and a positive number of layers")
        if self.method not in ("full", "lora"):
            raise TrainError(f"method must be full or lora, got {self.method!r}")
        if not isinstance(self.lora_rank, int) or isinstance(self.lora_rank, bool) or self.lora_rank <= 0:
            raise TrainError(f"lora_rank must be a positive integer, got {self.lora_rank!r}")
        if not isinstance(self.lora_alpha, (int, float)) or isinstance(self.lora_alpha, bool) or self.lora_alpha <= 0:
            raise TrainError(f"lora_alpha must be above 0, got {self.lora_alpha!r}")
        if self.epochs is not None and (not isinstance(self.epochs, (int, float)) or isinstance(self.epochs, bool)
                                        or not math.isfinite(self.epochs) or self.epochs <= 0):
            raise TrainError(f"epochs must be a number above 0, got {self.epochs!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise TrainError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise TrainError(f"precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")
        if not self.data:
            raise TrainError("data: give at least one training file or folder")
        if not self.out:
            raise TrainError("out: give the output folder")
        if not isinstance(self.holdout, dict) or not ({"fraction"} >= set(self.holdout) or {"file", "from"} == set(self.holdout)):
            raise TrainError('holdout must be {"fraction": F} or {"file": NAME, "from": LINE START}')
        if self.export is not None and (not isinstance(self.export, dict) or not self.export.get("dest")
                                        or set(self.export) - {"dest", "variants", "hf_dtype", "licence"}):
            raise TrainError('export must be {"dest": FOLDER, "variants": [...], "hf_dtype": ..., "licence": ...}')
        if not isinstance(self.sample_prompts, list) or not all(isinstance(p, str) and p for p in self.sample_prompts):
            raise TrainError("sample_prompts must be a list of non-empty strings")


def lr_at(step: int, job: Job) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr`` at the last step."""
    if job.warmup_steps and step < job.warmup_steps:
        return job.lr * (step + 1) / job.warmup_steps
    span = max(job.steps - job.warmup_steps, 1)
    progress = min(max(step - job.warmup_steps, 0) / span, 1.0)
    return job.min_lr + 0.5 * (job.lr - job.min_lr) * (1 + math.cos(math.pi * progress))


def read_job(path: Path) -> dict[str, Any]:
    """The settings in a job file (a JSON object), or a TrainError saying why there are none."""
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise TrainError(f"{path}: file not found") from None
    except OSError as exc:
        raise TrainError(f"{path}: cannot read ({describe_os_error(exc)})") from None
    except DamagedFile as exc:
        raise TrainError(str(exc)) from None
    if not isinstance(data, dict):
        raise TrainError(f"{path}: not a job (expected a JSON object)")
    return data
