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

from core import checks
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
    # Distillation (model/distill.py): a Hugging Face checkpoint whose next-token distributions
    # the model learns to match, the soft loss's share and its temperature.
    teacher: str | None = None
    distill_alpha: float = 0.5
    distill_temperature: float = 2.0
    # "unwrap": join hard-wrapped lines into paragraphs (core.prose); "keep": poetry, code.
    line_breaks: str = "unwrap"
    steps: int = 1000
    epochs: float | None = None         # when set, replaces steps: passes over the training text
    # Go on with a run whose checkpoint is gone, from its saved weights (init) at this step: the
    # batches and learning rate pick up where that run stood; the optimizer starts afresh, so the
    # learning rate ramps up again over warmup_steps.
    start_step: int = 0
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
    # Evaluations during the run score a fixed sample of eval_max_windows held-out windows (0: all
    # of them); the one before a fine-tune and the last one score the whole held-out text. They
    # come every eval_every steps, or, when that is None, as often as keeps them (and the samples
    # shown with them) within eval_share of the run's time.
    eval_every: int | None = None
    eval_share: float = 0.05
    eval_max_windows: int = 32
    sample_every: int | None = None     # None: with each evaluation
    sample_tokens: int = 40
    sample_prompts: list[str] = field(default_factory=lambda: list(DEFAULT_PROMPTS))
    # Checkpoints every checkpoint_every steps, or, when that is None, every checkpoint_every_s
    # seconds of training (what a crash can cost at most), and always at the end and on a stop.
    checkpoint_every: int | None = None
    checkpoint_every_s: float = 600.0
    cache_dir: str | None = None        # token cache; default: Inkwell's cache folder
    name: str | None = None
    # After training, export the result to a model bundle: {"dest": folder, "variants": ["int8"],
    # "hf_dtype": "float16", "licence": "..."}; the manifest gets the held-out perplexity and recipe.
    export: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> Job:
        if not isinstance(data, dict):
            raise TrainError(f"{source}: expected a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in data if k not in known and not k.startswith("_"))
        if unknown:
            raise TrainError(f"{source}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def sequences_per_step(self) -> int:
        return self.batch_size * self.grad_accum

    @property
    def tokens_per_step(self) -> int:
        return self.sequences_per_step * self.seq_len

    def validate(self) -> None:
        """Raise TrainError naming the first setting that cannot run (in core.checks' words)."""
        try:
            self._check()
        except ValueError as exc:
            raise TrainError(str(exc)) from None

    def _check(self) -> None:
        # In the order a setting's first problem is reported.
        self._check_counts()
        self._check_optimizer()
        self._check_start()
        self._check_method()
        self._check_machine()
        self._check_files()

    def _check_counts(self) -> None:
        for name in ("steps", "batch_size", "grad_accum", "seq_len", "log_every"):
            checks.whole(name, getattr(self, name), low=1)
        for name in ("eval_every", "sample_every", "checkpoint_every"):
            if getattr(self, name) is not None:
                checks.whole(name, getattr(self, name), low=1)
        checks.number("eval_share", self.eval_share, low=0, high=1, above=True)
        checks.number("checkpoint_every_s", self.checkpoint_every_s, low=0, above=True)
        for name in ("warmup_steps", "threads", "sample_tokens", "eval_max_windows", "seed", "start_step"):
            checks.whole(name, getattr(self, name), low=0)

    def _check_optimizer(self) -> None:
        checks.number("lr", self.lr, low=0, above=True)
        for name in ("min_lr", "weight_decay", "grad_clip"):
            checks.number(name, getattr(self, name), low=0)
        if self.min_lr > self.lr:
            raise TrainError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        for name in ("beta1", "beta2"):
            checks.number(name, getattr(self, name), low=0, high=1, below=True)
        if self.dropout is not None:
            checks.number("dropout", self.dropout, low=0, high=1, below=True)

    def _check_start(self) -> None:
        """Where the run starts from: a step of saved weights, or a checkpoint to deepen."""
        if self.start_step and (not self.init or self.epochs is not None or self.start_step >= self.steps):
            raise TrainError(f"start_step ({self.start_step}) needs init (the weights saved at that step), "
                             f"steps rather than epochs, and fewer than steps ({self.steps})")
        if self.deepen_to is not None:
            if not self.init:
                raise TrainError("deepen_to needs init (the checkpoint to deepen) and a positive number of layers")
            checks.whole("deepen_to", self.deepen_to, low=1)

    def _check_method(self) -> None:
        checks.choice("method", self.method, ("full", "lora"))
        from core.weights import lora_rank_limit  # no rank above the model's width

        checks.whole("lora_rank", self.lora_rank, low=1, high=lora_rank_limit(self.init, self.model))
        checks.number("lora_alpha", self.lora_alpha, low=0, above=True)
        if self.epochs is not None:
            checks.number("epochs", self.epochs, low=0, above=True)
        checks.number("distill_alpha", self.distill_alpha, low=0, high=1)
        checks.number("distill_temperature", self.distill_temperature, low=0, high=100, above=True)
        if self.teacher is not None and (not isinstance(self.teacher, str) or not self.teacher):
            raise TrainError("teacher: give the folder of the Hugging Face checkpoint to learn from")

    def _check_machine(self) -> None:
        checks.choice("device", self.device, ("auto", "cpu", "cuda"))
        checks.choice("precision", self.precision, ("auto", "fp32", "bf16", "fp16"))

    def _check_files(self) -> None:
        """What the run reads and writes: its texts, the held-out part, the output and the export."""
        if not self.data:
            raise TrainError("data: give at least one training file or folder")
        if not self.out:
            raise TrainError("out: give the output folder")
        if not isinstance(self.holdout, dict) or not ({"fraction"} >= set(self.holdout) or {"file", "from"} == set(self.holdout)
                                                      or ({"data"} == set(self.holdout) and isinstance(self.holdout["data"], list)
                                                          and bool(self.holdout["data"]))):
            raise TrainError('holdout must be {"fraction": F}, {"file": NAME, "from": LINE START} '
                             'or {"data": [HELD-OUT FILES OR FOLDERS]}')
        if self.export is not None and (not isinstance(self.export, dict) or not self.export.get("dest")
                                        or set(self.export) - {"dest", "variants", "hf_dtype", "licence"}):
            raise TrainError('export must be {"dest": FOLDER, "variants": [...], "hf_dtype": ..., "licence": ...}')
        checks.texts("sample_prompts", self.sample_prompts)


def lr_at(step: int, job: Job) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr`` at the last step; a run
    continued at ``start_step`` ramps up to that curve again over ``warmup_steps``."""
    if job.start_step and job.warmup_steps and step < job.start_step + job.warmup_steps:
        return _schedule(job.start_step + job.warmup_steps, job) * (step - job.start_step + 1) / job.warmup_steps
    return _schedule(step, job)


def _schedule(step: int, job: Job) -> float:
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
