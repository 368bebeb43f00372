"""Train GPT-2: pre-train from scratch or fine-tune a Hugging Face checkpoint on text files.

    python -m model.train --job job.json [--data PATH ...] [--out DIR] [--steps N] [...]
    python -m model.train --data texts/ --init hf-folder --out run/ --steps 500
    python -m model.train --out run/ --resume

Events go to stdout as JSON lines, one per line, for a GUI following the run
(``start``, ``progress``, ``eval``, ``sample``, ``checkpoint``, ``done``, ``error``; see
CONTRACTS.md); a human-readable log goes to stderr.

The output folder receives ``config.json`` + ``model.safetensors`` (Hugging Face layout, ready
for ``python -m model.export``), ``training.json`` (the job, the data and the results) and
``checkpoints/last.pt``, the state to resume from. SIGTERM or Ctrl-C writes a checkpoint at the
end of the current step and exits with status 143 (130 for Ctrl-C); ``--resume`` continues from
it with the same batches, learning rate and random state as an uninterrupted run.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import json
import math
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from core import checks
from core.errors import ModelError
from core.fileio import DamagedFile, atomic_write, atomic_write_text, default_mode, describe_os_error, read_json
from core.machine import limit_threads
from core.runfolder import CHECKPOINT, PROGRESS_FILE, SUMMARY, steps_for_epochs
from core.units import human_duration

SAMPLE_TEMPERATURE, SAMPLE_TOP_K = 0.8, 40  # the samples shown during training and in comparisons
DEFAULT_PROMPTS = ("It is a truth universally acknowledged", "The letter arrived on a", "She had never")


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AMX or AVX512-BF16). Detected, not assumed:
    the machine a run resumes on may not be the one it started on."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False  # not Linux, or nothing said: fp32 is always right


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
        """Raise TrainError naming the first setting that cannot run (in core.checks' words)."""
        try:
            self._check()
        except ValueError as exc:
            raise TrainError(str(exc)) from None

    def _check(self) -> None:
        positive = ("steps", "batch_size", "grad_accum", "seq_len", "log_every", "eval_every",
                    "sample_every", "checkpoint_every")
        for name in positive:
            checks.whole(name, getattr(self, name), low=1)
        for name in ("warmup_steps", "threads", "sample_tokens", "eval_max_windows", "seed"):
            checks.whole(name, getattr(self, name), low=0)
        checks.number("lr", self.lr, low=0, above=True)
        for name in ("min_lr", "weight_decay", "grad_clip"):
            checks.number(name, getattr(self, name), low=0)
        if self.min_lr > self.lr:
            raise TrainError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        for name in ("beta1", "beta2"):
            checks.number(name, getattr(self, name), low=0, high=1, below=True)
        if self.dropout is not None:
            checks.number("dropout", self.dropout, low=0, high=1, below=True)
        if self.deepen_to is not None and (not self.init or not isinstance(self.deepen_to, int)
                                           or isinstance(self.deepen_to, bool) or self.deepen_to <= 0):
            raise TrainError("deepen_to needs init (the checkpoint to deepen) and a positive number of layers")
        checks.choice("method", self.method, ("full", "lora"))
        checks.whole("lora_rank", self.lora_rank, low=1)
        checks.number("lora_alpha", self.lora_alpha, low=0, above=True)
        if self.epochs is not None:
            checks.number("epochs", self.epochs, low=0, above=True)
        checks.choice("device", self.device, ("auto", "cpu", "cuda"))
        checks.choice("precision", self.precision, ("auto", "fp32", "bf16", "fp16"))
        if not self.data:
            raise TrainError("data: give at least one training file or folder")
        if not self.out:
            raise TrainError("out: give the output folder")
        if not isinstance(self.holdout, dict) or not ({"fraction"} >= set(self.holdout) or {"file", "from"} == set(self.holdout)):
            raise TrainError('holdout must be {"fraction": F} or {"file": NAME, "from": LINE START}')
        if self.export is not None and (not isinstance(self.export, dict) or not self.export.get("dest")
                                        or set(self.export) - {"dest", "variants", "hf_dtype", "licence"}):
            raise TrainError('export must be {"dest": FOLDER, "variants": [...], "hf_dtype": ..., "licence": ...}')
        checks.texts("sample_prompts", self.sample_prompts)


class Events:
    """JSON lines on stdout (for programs) and a log on stderr (for people)."""

    def __init__(self, stream=None, log=None):
        self.stream = stream or sys.stdout
        self.log_stream = log or sys.stderr

    def emit(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, **fields}, ensure_ascii=False) + "\n")
        self.stream.flush()

    def log(self, message: str) -> None:
        self.log_stream.write(message + "\n")
        self.log_stream.flush()


class _StopRequest:
    """Set by SIGTERM/SIGINT; the loop checkpoints at the end of the current step and exits."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        self.signum = signum

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)


def lr_at(step: int, job: Job) -> float:
    """Linear warm-up to ``lr``, then cosine decay to ``min_lr`` at the last step."""
    if job.warmup_steps and step < job.warmup_steps:
        return job.lr * (step + 1) / job.warmup_steps
    span = max(job.steps - job.warmup_steps, 1)
    progress = min(max(step - job.warmup_steps, 0) / span, 1.0)
    return job.min_lr + 0.5 * (job.lr - job.min_lr) * (1 + math.cos(math.pi * progress))


def default_cache_dir() -> Path:
    from core.paths import cache_dir  # torch-free; honours INKWELL_HOME

    return cache_dir() / "tokens"


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file beside ``path``, fsync, then rename over it: a reader (or
    a resume after a crash or a full disk) sees the old checkpoint or the new one, never half."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: torch.save(obj, f))


def _disk_error(exc: OSError, what: Path) -> TrainError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return TrainError(f"{what}: the disk is full; nothing was half-written (the previous checkpoint, "
                          f"if any, is intact). Free some space and run again with --resume")
    return TrainError(f"{what}: cannot write ({exc.strerror or exc})")


class Trainer:
    def __init__(self, job: Job, events: Events, resume: bool = False,
                 stop: _StopRequest | None = None, on_step: Callable[[int], None] | None = None):
        self.job, self.events, self.resume = job, events, resume
        self.stop = stop or _StopRequest()
        self.on_step = on_step
        self.out = Path(job.out)

    # --- set-up -------------------------------------------------------------------------------

    def _check_out(self) -> None:
        ckpt = self.out / CHECKPOINT
        if self.resume:
            if not ckpt.is_file():
                raise TrainError(f"{self.out}: nothing to resume (no {CHECKPOINT})")
        elif self.out.exists() and (not self.out.is_dir() or any(self.out.iterdir())):
            raise TrainError(f"{self.out}: the output folder already exists; choose a new folder, "
                             f"or add --resume to continue the run saved there")

    def _device(self):
        import torch

        if self.job.device == "cuda" and not torch.cuda.is_available():
            raise TrainError("device: cuda was asked for, but no CUDA GPU is available to PyTorch")
        name = "cuda" if self.job.device == "cuda" or (self.job.device == "auto" and torch.cuda.is_available()) else "cpu"
        precision = self.job.precision
        if precision == "auto":
            if name == "cuda":
                precision = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
            else:
                # bf16 autocast on CPUs with bf16 instructions: 1.46x the tokens per CPU-second
                # of fp32 with the same loss per step (pilot of 6 x 192 on held-out Austen, see
                # model/recipes/inkwell-austen.json); elsewhere it is emulated and slower.
                precision = "bf16" if cpu_has_fast_bf16() else "fp32"
        if precision == "fp16" and name != "cuda":
            raise TrainError("precision: fp16 needs a CUDA GPU; use bf16 or fp32 on the CPU")
        return torch.device(name), precision

    def _build_model(self):
        from core.config import GPT2Config
        from model.gpt2 import GPT2
        from model.hf import load_gpt2

        job = self.job
        if job.init:
            model = load_gpt2(job.init)
            if job.deepen_to:
                from model.grow import deepen

                try:
                    model = deepen(model, job.deepen_to)
                except ValueError as exc:
                    raise TrainError(f"deepen_to: {exc}") from None
            cfg = model.config
        else:
            if not isinstance(job.model, dict):
                raise TrainError("model: expected the architecture numbers, e.g. {\"n_layer\": 4, \"n_embd\": 128, ...}")
            try:
                cfg = GPT2Config(**job.model)
            except TypeError as exc:
                raise TrainError(f"model: {exc}") from None
            model = GPT2(cfg)
        if job.dropout is not None:
            model.set_dropout(job.dropout)
        if job.seq_len > cfg.n_positions:
            raise TrainError(f"seq_len ({job.seq_len}) exceeds the model's context length ({cfg.n_positions})")
        if job.method == "lora":
            from model.lora import apply_lora

            apply_lora(model, job.lora_rank, job.lora_alpha)
        return model

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        import torch

        from model.train_data import WindowSampler, check_sizes, eval_windows, load_corpus

        job = self.job
        job.validate()
        self._check_out()
        if job.export:
            from core.bundle import check_destination

            check_destination(Path(job.export["dest"]).absolute(), False)  # before hours of training
        device, precision = self._device()
        threads, note = limit_threads(job.threads)
        if note:
            self.events.log(f"note: {note}")
        if threads:
            torch.set_num_threads(threads)
        torch.manual_seed(job.seed)
        np.random.seed(job.seed)
        model = self._build_model()  # before the data: a bad model setting fails fast
        cache = Path(job.cache_dir) if job.cache_dir else default_cache_dir()
        t0 = time.monotonic()
        corpus = load_corpus(job.data, job.holdout, cache, job.line_breaks)
        check_sizes(corpus, job.batch_size, job.seq_len)
        if job.epochs is not None:
            job.steps = steps_for_epochs(job.epochs, len(corpus.train), job.seq_len, job.batch_size * job.grad_accum)
        val_windows = eval_windows(corpus.val, job.seq_len)
        if job.eval_max_windows:
            val_windows = val_windows[: job.eval_max_windows]
        for f in corpus.files:
            if f["encoding"] not in ("utf-8", "utf-8-sig"):
                self.events.log(f"note: {f['path']} is not UTF-8; read it as {f['encoding']}")
        self.events.log(f"data: {len(corpus.files)} files, {len(corpus.train):,} training tokens, "
                        f"{len(corpus.val):,} held out ({corpus.holdout}); read in {time.monotonic() - t0:.1f}s")

        model = model.to(device)
        model.train()
        sampler = WindowSampler(corpus.train, job.seq_len, job.seed)
        optimizer = self._optimizer(model, device)
        step = 0
        history: list[dict[str, Any]] = []
        elapsed_before = 0.0
        if self.resume:
            step, history, elapsed_before = self._restore(model, optimizer, sampler, corpus, device)
        self.out.mkdir(parents=True, exist_ok=True)
        self._write_job()  # on resume too: a later --resume continues with the settings in force

        tokens_per_step = job.batch_size * job.grad_accum * job.seq_len
        self.events.emit(
            "start", total_steps=job.steps, step=step, resumed=self.resume, device=device.type, precision=precision,
            parameters=model.config.num_parameters(), train_tokens=int(len(corpus.train)), val_tokens=int(len(corpus.val)),
            tokens_per_step=tokens_per_step, files=corpus.files, holdout=corpus.holdout, output=str(self.out),
        )
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        self.events.log(f"model: {model.config.num_parameters() / 1e6:.2f}M parameters on {device.type} ({precision}), "
                        f"{job.method} ({trainable:,} trained); {job.steps} steps of {tokens_per_step:,} tokens, from step {step}")
        autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)) \
            if precision in ("bf16", "fp16") else contextlib.nullcontext
        scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

        window_loss, window_tokens, window_start = 0.0, 0, time.monotonic()
        window_steps = 0
        run_start = time.monotonic()
        steps_done_here = 0
        last_val = history[-1]["val_loss"] if history else None
        if job.init and step == 0 and val_windows:
            # Fine-tuning: the base model's score and samples, the "before" of the comparison.
            last_val = self._evaluate(model, val_windows, device, autocast)
            history.append({"step": 0, "val_loss": last_val})
            self.events.emit("eval", step=0, val_loss=round(last_val, 5), val_ppl=round(math.exp(last_val), 3))
            self.events.log(f"eval before training: loss {last_val:.4f}, perplexity {math.exp(last_val):.2f}")
            self._samples(model, 0, device)
        while step < job.steps:
            lr = lr_at(step, job)
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_loss = 0.0
            for _ in range(job.grad_accum):
                batch = torch.from_numpy(sampler.next_batch(job.batch_size)).to(device, non_blocking=True)
                x, y = batch[:, :-1], batch[:, 1:]
                with autocast():
                    loss = model.loss(x, y)
                loss = loss / job.grad_accum
                (scaler.scale(loss) if scaler else loss).backward()
                step_loss += loss.item()
            if scaler:
                scaler.unscale_(optimizer)
            if job.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), job.grad_clip)
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            steps_done_here += 1
            if not math.isfinite(step_loss):
                raise TrainError(f"the loss became {step_loss} at step {step}; lower lr (now {job.lr}) and start again")
            window_loss += step_loss
            window_steps += 1
            window_tokens += tokens_per_step
            if self.on_step:
                self.on_step(step)

            if step % job.log_every == 0 or step == job.steps:
                now = time.monotonic()
                tps = window_tokens / max(now - window_start, 1e-9)
                overall = steps_done_here / max(now - run_start, 1e-9)
                eta = (job.steps - step) / overall if overall > 0 else None
                self.events.emit("progress", step=step, total_steps=job.steps, loss=round(window_loss / window_steps, 5),
                                 lr=lr, tokens_per_s=round(tps, 1), eta_s=round(eta, 1) if eta is not None else None,
                                 epoch=sampler.epoch + sampler.index / max(sampler.windows_per_epoch, 1))
                self.events.log(f"step {step}/{job.steps}  loss {window_loss / window_steps:.4f}  lr {lr:.2e}  "
                                f"{tps:,.0f} tok/s  eta {human_duration(eta)}")
                window_loss, window_tokens, window_steps, window_start = 0.0, 0, 0, time.monotonic()
            if (step % job.eval_every == 0 or step == job.steps) and val_windows:
                last_val = self._evaluate(model, val_windows, device, autocast)
                history.append({"step": step, "val_loss": last_val})
                self.events.emit("eval", step=step, val_loss=round(last_val, 5), val_ppl=round(math.exp(last_val), 3))
                self.events.log(f"eval at step {step}: loss {last_val:.4f}, perplexity {math.exp(last_val):.2f}")
            if step % job.sample_every == 0 or step == job.steps:
                self._samples(model, step, device)
            stopping = self.stop.signum is not None
            if step % job.checkpoint_every == 0 or step == job.steps or stopping:
                elapsed = elapsed_before + time.monotonic() - run_start
                self._checkpoint(model, optimizer, sampler, corpus, step, history, elapsed,
                                 reason="signal" if stopping else "interval")
            if stopping:
                self.events.log(f"stopped at step {step} ({signal.Signals(self.stop.signum).name}); "
                                f"continue with: python -m model.train --out {self.out} --resume")
                return {"stopped": True, "step": step, "signum": self.stop.signum}

        elapsed = elapsed_before + time.monotonic() - run_start
        summary = self._finish(model, corpus, history, last_val, elapsed, precision, device)
        bundle = self._export() if job.export else None
        val_ppl = summary["val_ppl"]
        before = summary["val_ppl_before"]
        self.events.emit("done", output=str(self.out), val_ppl=round(val_ppl, 3) if val_ppl else None,
                         val_ppl_before=round(before, 3) if before else None,
                         val_loss=last_val, steps=job.steps, training_time_s=round(elapsed, 1),
                         **({"bundle": bundle} if bundle else {}))
        self.events.log(f"done: {self.out} (held-out perplexity {val_ppl if val_ppl is None else round(val_ppl, 2)}, "
                        f"{human_duration(elapsed)})" + (f"; model bundle {bundle}" if bundle else ""))
        return summary

    def _export(self) -> str:
        from model.export import export_bundle

        spec = self.job.export
        self.events.log(f"exporting to {spec['dest']} ...")
        bundle = export_bundle(
            self.out, spec["dest"], variants=spec.get("variants", ["int8"]), name=self.job.name,
            hf_dtype=spec.get("hf_dtype", "float16"), licence=spec.get("licence", "unspecified"),
            progress=lambda e: self.events.log(f"export: {e.get('message', e['event'])}") if e["event"] == "progress" else None,
        )
        return str(bundle.folder)

    def _optimizer(self, model, device):
        import torch

        # Weight decay on matrices only: biases, LayerNorm and position rows stay undecayed,
        # as in GPT-2's reference training set-ups.
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("wpe")]
        rest = [p for n, p in model.named_parameters() if p.dim() < 2 or n.startswith("wpe")]
        decay, rest = [p for p in decay if p.requires_grad], [p for p in rest if p.requires_grad]  # LoRA: adapters only
        groups = [{"params": decay, "weight_decay": self.job.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        kwargs = {"fused": True} if device.type == "cuda" else {}
        return torch.optim.AdamW(groups, lr=self.job.lr, betas=(self.job.beta1, self.job.beta2), **kwargs)

    def _evaluate(self, model, windows: list[np.ndarray], device, autocast) -> float:
        """Mean loss per token over the held-out windows (perplexity = exp of it)."""
        import torch

        model.eval()
        total, count = 0.0, 0
        full = [w for w in windows if len(w) == self.job.seq_len + 1]
        short = [w for w in windows if len(w) != self.job.seq_len + 1]
        groups = [np.stack(full[i: i + self.job.batch_size]) for i in range(0, len(full), self.job.batch_size)]
        groups += [w[None, :] for w in short]
        with torch.no_grad():
            for g in groups:
                batch = torch.from_numpy(g).to(device)
                x, y = batch[:, :-1], batch[:, 1:]
                with autocast():
                    loss = model.loss(x, y)
                total += loss.item() * y.numel()
                count += y.numel()
        model.train()
        return total / count

    def _samples(self, model, step: int, device) -> None:
        if not self.job.sample_tokens or not self.job.sample_prompts:
            return
        import torch

        from core.tokenizer import EOT_TOKEN, decode, encode

        for prompt in self.job.sample_prompts:
            # Its own seeded generator: samples leave the training's random state alone and are
            # the same for the same weights.
            ids = torch.tensor([encode(prompt)], device=device)
            out = model.generate(ids, self.job.sample_tokens, temperature=SAMPLE_TEMPERATURE, top_k=SAMPLE_TOP_K,
                                 generator=torch.Generator().manual_seed(self.job.seed), stop_token=EOT_TOKEN)
            text = decode(out[0, ids.shape[1]:].tolist())
            self.events.emit("sample", step=step, prompt=prompt, text=text)
            self.events.log(f"sample at step {step}: {prompt}|{text}")

    def _write_job(self) -> None:
        path = self.out / "job.json"
        try:
            atomic_write_text(path, json.dumps(dataclasses.asdict(self.job), indent=2) + "\n")
        except OSError as exc:
            raise _disk_error(exc, path) from None

    def _checkpoint(self, model, optimizer, sampler, corpus, step, history, elapsed, reason) -> None:
        import torch

        state = {
            "format": "inkwell-train-checkpoint", "version": 1,
            "step": step,
            # LoRA: the adapters only (the base weights are the job's init again on resume)
            "model": self._trained_state(model),
            "config": model.config.to_hf_dict(),
            "optimizer": optimizer.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "sampler": sampler.state(),
            "data_fingerprint": corpus.fingerprint,
            "history": history,
            "elapsed_s": elapsed,
            "job": json.dumps(dataclasses.asdict(self.job)),
        }
        path = self.out / CHECKPOINT
        try:
            atomic_save(state, path)
        except OSError as exc:
            raise _disk_error(exc, path) from None
        try:  # where the run stands, readable without torch (the wizard's list of runs)
            atomic_write_text(self.out / PROGRESS_FILE, json.dumps({"step": step, "total_steps": self.job.steps,
                                                               "elapsed_s": round(elapsed, 1)}) + "\n")
        except OSError as exc:
            raise _disk_error(exc, self.out / PROGRESS_FILE) from None
        self.events.emit("checkpoint", step=step, path=str(path), reason=reason)
        self.events.log(f"checkpoint at step {step}: {path}")

    def _restore(self, model, optimizer, sampler, corpus, device):
        import torch

        path = self.out / CHECKPOINT
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint gets the same message
            raise TrainError(f"{path}: cannot read the checkpoint ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        if not isinstance(state, dict) or state.get("format") != "inkwell-train-checkpoint":
            raise TrainError(f"{path}: not an Inkwell training checkpoint")
        if state["data_fingerprint"] != corpus.fingerprint:
            raise TrainError(f"{path}: the training text has changed since this checkpoint was written; "
                             f"resume with the same files, or start a new run")
        try:
            if self.job.method == "lora":
                from model.lora import load_adapter_state

                load_adapter_state(model, state["model"])
            else:
                model.load_state_dict(state["model"])
        except (RuntimeError, ValueError):
            raise TrainError(f"{path}: the checkpoint's model does not match the job's model settings") from None
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state(state["sampler"])
        torch.set_rng_state(state["rng_cpu"])
        if device.type == "cuda" and state["rng_cuda"]:
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        self.events.log(f"resuming {path} at step {state['step']}")
        return int(state["step"]), list(state["history"]), float(state["elapsed_s"])

    def _trained_state(self, model) -> dict[str, Any]:
        if self.job.method == "lora":
            from model.lora import adapter_state

            return adapter_state(model)
        return model.state_dict()

    def _finish(self, model, corpus, history, last_val, elapsed, precision, device) -> dict[str, Any]:
        from model.hf import save_gpt2

        if self.job.method == "lora":
            from model.lora import merge_lora

            merge_lora(model)
        val_ppl = math.exp(last_val) if last_val is not None else None
        before = history[0]["val_loss"] if self.job.init and history and history[0]["step"] == 0 else None
        summary = {
            "name": self.job.name,
            "job": dataclasses.asdict(self.job),
            "files": corpus.files,
            "holdout": corpus.holdout,
            "train_tokens": int(len(corpus.train)),
            "val_tokens": int(len(corpus.val)),
            "parameters": model.config.num_parameters(),
            "steps": self.job.steps,
            "tokens_seen": self.job.steps * self.job.batch_size * self.job.grad_accum * self.job.seq_len,
            "val_loss": last_val,
            "val_ppl": val_ppl,
            "val_ppl_before": math.exp(before) if before is not None else None,
            "method": self.job.method,
            "history": history,
            "training_time_s": round(elapsed, 1),
            "device": device.type,
            "precision": precision,
        }
        # The weights go in beside the checkpoint folder through a temporary folder, so the
        # output never holds a half-written model.safetensors.
        try:
            with tempfile.TemporaryDirectory(dir=self.out, prefix=".final-") as tmp:
                model.eval()
                save_gpt2(model.cpu(), tmp)
                for name in ("config.json", "model.safetensors"):
                    os.chmod(Path(tmp) / name, default_mode())  # mkstemp's 0600 -> the usual mode
                    os.replace(Path(tmp) / name, self.out / name)
            atomic_write_text(self.out / SUMMARY, json.dumps(summary, indent=2) + "\n")
        except OSError as exc:
            raise _disk_error(exc, self.out) from None
        return summary


# --- command line ---------------------------------------------------------------------------

_FLAGS = {
    "steps": int, "batch_size": int, "grad_accum": int, "seq_len": int, "lr": float, "min_lr": float,
    "warmup_steps": int, "weight_decay": float, "grad_clip": float, "dropout": float, "seed": int,
    "device": str, "precision": str, "threads": int, "log_every": int, "eval_every": int,
    "eval_max_windows": int, "sample_every": int, "sample_tokens": int, "checkpoint_every": int,
    "cache_dir": str, "name": str, "init": str, "deepen_to": int, "method": str, "lora_rank": int, "lora_alpha": float,
    "epochs": float,
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(allow_abbrev=False, prog="python -m model.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--job", help="JSON job file; flags override its settings")
    p.add_argument("--data", action="append", help="training text file or folder (repeat for more); replaces the job's")
    p.add_argument("--out", help="output folder (must not exist, unless --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--holdout-fraction", type=float, help="hold out the last fraction of every file")
    p.add_argument("--prompt", action="append", dest="sample_prompts", help="sample prompt (repeat for more)")
    p.add_argument("--export", metavar="BUNDLE", help="after training, export a model bundle to this folder")
    for name, kind in _FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), type=kind, dest=name)
    return p


def _job_from_args(args: argparse.Namespace) -> tuple[Job, bool]:
    data: dict[str, Any] = {}
    if args.resume and args.out and not args.job:
        saved = Path(args.out) / "job.json"
        if saved.is_file():
            data = _read_json(saved)
    if args.job:
        data = _read_json(Path(args.job))
    if args.data:
        data["data"] = args.data
    if args.out:
        data["out"] = args.out
    if args.holdout_fraction is not None:
        data["holdout"] = {"fraction": args.holdout_fraction}
    if args.export:
        data["export"] = {**(data.get("export") or {}), "dest": args.export}
    if args.sample_prompts:
        data["sample_prompts"] = args.sample_prompts
    for name in _FLAGS:
        value = getattr(args, name)
        if value is not None:
            data[name] = value
    return Job.from_dict(data, args.job or "settings"), bool(args.resume)


def _read_json(path: Path) -> dict[str, Any]:
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


def main(argv: list[str] | None = None) -> int:
    events = Events()
    args = _parser().parse_args(argv)
    stop = _StopRequest()
    stop.install()
    try:
        job, resume = _job_from_args(args)
        result = Trainer(job, events, resume=resume, stop=stop).run()
    except ModelError as exc:
        events.emit("error", message=str(exc))
        events.log(f"error: {exc}")
        return 1
    except OSError as exc:
        message = str(_disk_error(exc, Path(exc.filename or args.out or ".")))
        events.emit("error", message=message)
        events.log(f"error: {message}")
        return 1
    except MemoryError:
        message = "out of memory: lower batch_size or seq_len (grad_accum keeps the effective batch)"
        events.emit("error", message=message)
        events.log(f"error: {message}")
        return 1
    if result.get("stopped"):
        return 128 + result["signum"]
    return 0


if __name__ == "__main__":
    sys.exit(main())
