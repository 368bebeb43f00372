"""The training loop: a checked Job in; the trained model, its checkpoints and a summary in the
output folder out (model.train_checkpoint), with events on the way (``start``, ``progress``,
``eval``, ``sample``, ``checkpoint``, ``done``) for whoever follows the run.

A stop request (SIGTERM, Ctrl-C) ends the run after a checkpoint at the end of the current step;
a resumed run continues with the same batches, learning rate and random state as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import signal
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import numpy as np

from core.events import Event, emit_json
from core.machine import limit_threads
from core.runfolder import steps_for_epochs
from core.units import human_duration
from model import train_checkpoint as checkpoint
from model.train_checkpoint import Progress
from model.train_job import SAMPLE_TEMPERATURE, SAMPLE_TOP_K, Job, TrainError, lr_at


class EventSink(Protocol):
    """Where a run reports: events for programs (core.events' protocol: ``emit`` is an Emit), a
    log in words for people."""

    def emit(self, event: Event) -> None: ...

    def log(self, message: str) -> None: ...


class Events:
    """JSON lines on stdout (for programs) and a log on stderr (for people)."""

    def __init__(self, stream: TextIO | None = None, log: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.log_stream = log or sys.stderr

    def emit(self, event: Event) -> None:
        emit_json(event, self.stream)

    def log(self, message: str) -> None:
        self.log_stream.write(message + "\n")
        self.log_stream.flush()


class StopRequest:
    """Set by SIGTERM/SIGINT; the loop checkpoints at the end of the current step and exits."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        self.signum = signum

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGINT, self)


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


def default_cache_dir() -> Path:
    from core.paths import token_cache_dir  # torch-free; honours INKWELL_HOME

    return token_cache_dir()


@dataclass
class _Setup:
    """What a run trains with."""

    model: Any
    optimizer: Any
    sampler: Any              # model.train_data.WindowSampler
    corpus: Any               # model.train_data.Corpus
    val_windows: list[np.ndarray]   # the held-out text (at most HELD_OUT_SCORE_TOKENS of it, spread over
    # all of it): scored before a fine-tune and at the end
    val_sample: list[np.ndarray]    # a fixed sample of it, scored during the run
    device: Any               # torch.device
    precision: str            # fp32 | bf16 | fp16
    autocast: Callable[[], AbstractContextManager[Any]]
    scaler: Any               # torch.amp.GradScaler for fp16, else None
    teacher: Any = None       # distillation: the model whose distributions are learned (model/distill.py)


class _Meter:
    """Loss and throughput since the last progress event, and the time left over the steps run
    by this process. Throughput counts the steps' own time: the evaluations, samples and
    checkpoints between them are in the time left, not in the speed of a step."""

    def __init__(self, elapsed_before: float) -> None:
        self.elapsed_before = elapsed_before
        self.start = time.monotonic()
        self.steps_here = 0
        self._reset()

    def _reset(self) -> None:
        self.loss, self.tokens, self.steps, self.busy = 0.0, 0, 0, 0.0

    def add(self, loss: float, tokens: int, seconds: float) -> None:
        self.loss += loss
        self.tokens += tokens
        self.busy += seconds
        self.steps += 1
        self.steps_here += 1

    def elapsed(self) -> float:
        """Training time of the whole run, earlier processes included."""
        return self.elapsed_before + time.monotonic() - self.start

    def seconds_left(self, step: int, total: int) -> float:
        """The training time left at this process's pace so far (0 before its first step)."""
        if not self.steps_here:
            return 0.0
        return (total - step) * (time.monotonic() - self.start) / self.steps_here

    def report(self, step: int, total: int) -> tuple[float, float, float | None]:
        """(mean loss, tokens per second, seconds left) since the last report; starts a new window."""
        tps = self.tokens / max(self.busy, 1e-9)
        eta = self.seconds_left(step, total) if self.steps_here else None
        loss = self.loss / max(self.steps, 1)
        self._reset()
        return loss, tps, eta


# The most held-out tokens the score before a fine-tune and at its end reads: a spread of windows
# over all of it. A corpus's 10% can be millions of tokens, and scoring 1.7M of them took the
# bundled model's copy a quarter of an hour on one core, twice, for a figure that 131,072 tokens
# (512 windows of 256) give within a fraction of a percent.
HELD_OUT_SCORE_TOKENS = 131_072


def held_out_score_windows(seq_len: int) -> int:
    """The most held-out windows of ``seq_len`` tokens the score before and after a run reads."""
    return max(1, HELD_OUT_SCORE_TOKENS // seq_len)


def spread(windows: list[np.ndarray], count: int) -> list[np.ndarray]:
    """``count`` windows spread evenly over ``windows`` (all of them when count is 0 or more):
    the same ones at every evaluation, so the figures compare."""
    if not count or count >= len(windows):
        return windows
    return [windows[int(i)] for i in np.linspace(0, len(windows) - 1, count).round()]


def held_out_loss(model: Any, windows: list[np.ndarray], seq_len: int, batch_size: int, device: Any = "cpu",
                  autocast: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext) -> float:
    """Mean loss per token of ``model`` over held-out ``windows`` (perplexity = exp of it): full
    windows of ``seq_len`` + 1 tokens in batches, a shorter last one alone."""
    import torch

    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    full = [w for w in windows if len(w) == seq_len + 1]
    short = [w for w in windows if len(w) != seq_len + 1]
    groups = [np.stack(full[i: i + batch_size]) for i in range(0, len(full), batch_size)]
    groups += [w[None, :] for w in short]
    with torch.no_grad():
        for g in groups:
            batch = torch.from_numpy(g).to(device)
            x, y = batch[:, :-1], batch[:, 1:]
            with autocast():
                loss = model.loss(x, y)
            total += loss.item() * y.numel()
            count += y.numel()
    model.train(was_training)
    return total / count


FIRST_EVAL_S = 60.0  # training time before the first evaluation by time, whose cost is not yet known


def eval_wait(eval_s: float, share: float) -> float:
    """The training time after an evaluation of ``eval_s`` seconds that keeps evaluations within
    ``share`` of a run's time."""
    return eval_s * (1 - share) / share


class _Schedule:
    """When a run evaluates, shows samples and checkpoints: every so many steps where the job
    says so, else by time: evaluations (with their samples) as often as keeps them within
    ``eval_share`` of the time, but none when the run ends (and scores itself) before the next
    would be due; checkpoints every ``checkpoint_every_s`` seconds."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.samples_with_eval = job.sample_every is None
        now = time.monotonic()
        self._eval_done, self._eval_wait = now, FIRST_EVAL_S
        self._checkpoint_done = now

    def eval_due(self, step: int, seconds_left: float) -> bool:
        if self.job.eval_every is not None:
            return step % self.job.eval_every == 0
        return time.monotonic() - self._eval_done >= self._eval_wait and seconds_left >= self._eval_wait

    @contextlib.contextmanager
    def evaluating(self, scale: float = 1.0) -> Any:
        """Time an evaluation: the next waits so that evaluations keep within their share.
        ``scale``: the scheduled evaluations' size over this one's (the score of the base model
        before a fine-tune is of the whole held-out text, the scheduled ones of a sample)."""
        start = time.monotonic()
        yield
        self._eval_done = time.monotonic()
        self._eval_wait = eval_wait((self._eval_done - start) * scale, self.job.eval_share)

    def sample_due(self, step: int) -> bool:
        return self.job.sample_every is not None and step % self.job.sample_every == 0

    def checkpoint_due(self, step: int) -> bool:
        if self.job.checkpoint_every is not None:
            return step % self.job.checkpoint_every == 0
        return time.monotonic() - self._checkpoint_done >= self.job.checkpoint_every_s

    def checkpointed(self) -> None:
        self._checkpoint_done = time.monotonic()


class Trainer:
    def __init__(self, job: Job, events: EventSink, resume: bool = False,
                 stop: StopRequest | None = None, on_step: Callable[[int], None] | None = None,
                 whole_evals: bool = True):
        """``whole_evals`` False: the evaluations before and after training score the sample of
        held-out windows too (a warm-up run that only times them)."""
        self.job, self.events, self.resume = job, events, resume
        self.whole_evals = whole_evals
        self.stop = stop or StopRequest()
        self.on_step = on_step
        self.out = Path(job.out)

    def run(self) -> dict[str, Any]:
        """Train; the summary (as in training.json), or {"stopped": True, "step", "signum"}."""
        job = self.job
        job.validate()
        checkpoint.check_out(self.out, self.resume)
        if job.export:
            from core.bundle import check_destination

            check_destination(Path(job.export["dest"]).absolute(), False)  # before hours of training
        s = self._setup()
        progress = self._start(s)
        schedule = _Schedule(job)
        if job.init and progress.step == 0 and s.val_windows:
            # Fine-tuning: the base model's score and samples, the "before" of the comparison;
            # its time says when the first scheduled evaluation is worth its cost.
            whole = self._whole(s)
            with schedule.evaluating(scale=len(s.val_sample) / len(whole)):
                self._evaluate(s, progress, "before training", whole)
            self._samples(s, 0)
        meter = _Meter(progress.elapsed_s)
        while progress.step < job.steps:
            self._train_step(s, progress, meter)
            self._between_steps(s, progress, schedule, meter.seconds_left(progress.step, job.steps))
            if (stopped := self._checkpoint_if_due(s, progress, meter, schedule)) is not None:
                return stopped
        if s.val_windows:
            self._evaluate(s, progress, f"at step {progress.step}", self._whole(s))
        self._samples(s, progress.step)
        progress.elapsed_s = meter.elapsed()
        return self._finish(s, progress)

    def _train_step(self, s: _Setup, progress: Progress, meter: _Meter) -> None:
        """One optimizer step, counted, timed and reported."""
        job = self.job
        lr = lr_at(progress.step, job)
        started = time.monotonic()
        loss = self._step(s, lr)
        seconds = time.monotonic() - started
        progress.step += 1
        step = progress.step
        if not math.isfinite(loss):
            raise TrainError(f"the loss became {loss} at step {step}; lower lr (now {job.lr}) and start again")
        meter.add(loss, job.tokens_per_step, seconds)
        if self.on_step:
            self.on_step(step)
        if step % job.log_every == 0 or step == job.steps:
            self._progress(s, step, lr, meter)

    def _between_steps(self, s: _Setup, progress: Progress, schedule: _Schedule, seconds_left: float) -> None:
        """The evaluation and samples that are due (the last step's come with the end)."""
        step = progress.step
        last = step == self.job.steps
        if schedule.eval_due(step, seconds_left) and not last:
            with schedule.evaluating():
                if s.val_windows:
                    self._evaluate(s, progress, f"at step {step}", s.val_sample)
                if schedule.samples_with_eval:
                    self._samples(s, step)
        if schedule.sample_due(step) and not last:
            self._samples(s, step)

    def _checkpoint_if_due(self, s: _Setup, progress: Progress, meter: _Meter,
                        schedule: _Schedule) -> dict[str, Any] | None:
        """A checkpoint when one is due, at the last step or on a stop request; after a stop
        request, what the run returns."""
        step = progress.step
        signum = self.stop.signum
        if schedule.checkpoint_due(step) or step == self.job.steps or signum is not None:
            progress.elapsed_s = meter.elapsed()
            self._checkpoint(s, progress, "interval" if signum is None else "signal")
            schedule.checkpointed()
        if signum is None:
            return None
        self.events.log(f"stopped at step {step} ({signal.Signals(signum).name}); "
                        f"continue with: python -m model.train --out {self.out} --resume")
        return {"stopped": True, "step": step, "signum": signum}

    # --- set-up -------------------------------------------------------------------------------

    def _setup(self) -> _Setup:
        import torch

        from model.train_data import WindowSampler, check_sizes, eval_windows, load_corpus

        job = self.job
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
        corpus = load_corpus(list(job.data), job.holdout, cache, job.line_breaks)
        check_sizes(corpus, job.batch_size, job.seq_len)
        if job.epochs is not None:
            job.steps = steps_for_epochs(job.epochs, len(corpus.train), job.seq_len, job.sequences_per_step)
        every = eval_windows(corpus.val, job.seq_len)
        val_windows = spread(every, held_out_score_windows(job.seq_len))
        val_sample = spread(val_windows, job.eval_max_windows)
        for f in corpus.files:
            if f["encoding"] not in ("utf-8", "utf-8-sig"):
                self.events.log(f"note: {f['path']} is not UTF-8; read it as {f['encoding']}")
        self.events.log(f"data: {len(corpus.files)} files, {len(corpus.train):,} training tokens, "
                        f"{len(corpus.val):,} held out ({corpus.holdout}); read in {time.monotonic() - t0:.1f}s")
        if len(val_windows) < len(every):
            self.events.log(f"the held-out score reads {len(val_windows):,} of its {len(every):,} windows, "
                            f"spread over all of it")
        model = model.to(device)
        model.train()
        autocast: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext
        if precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if precision == "bf16" else torch.float16
            autocast = lambda: torch.autocast(device.type, dtype=dtype)  # noqa: E731 - a fresh context each use
        return _Setup(model, self._optimizer(model, device), WindowSampler(corpus.train, job.seq_len, job.seed),
                      corpus, val_windows, val_sample, device, precision, autocast,
                      torch.amp.GradScaler("cuda") if precision == "fp16" else None, self._teacher(model, device))

    def _start(self, s: _Setup) -> Progress:
        """Restore a resumed run, write the job, announce the start."""
        job = self.job
        progress = Progress()
        if self.resume:
            progress = checkpoint.restore(self.out, job, s.model, s.optimizer, s.sampler, s.corpus.fingerprint,
                                          s.device)
            self.events.log(f"resuming {self.out / checkpoint.CHECKPOINT} at step {progress.step}")
        elif job.start_step:
            progress.step = job.start_step
            s.sampler.skip(job.start_step * job.sequences_per_step)
            self.events.log(f"going on from {job.init} at step {job.start_step}, with a new optimizer state")
        self.out.mkdir(parents=True, exist_ok=True)
        checkpoint.write_job(self.out, job)  # on resume too: a later --resume continues with the settings in force
        tokens_per_step = job.tokens_per_step
        params = s.model.config.num_parameters()
        self.events.emit({
            "event": "start", "total_steps": job.steps, "step": progress.step, "resumed": self.resume,
            "device": s.device.type, "precision": s.precision, "parameters": params,
            "train_tokens": int(len(s.corpus.train)), "val_tokens": int(len(s.corpus.val)),
            "tokens_per_step": tokens_per_step, "files": s.corpus.files, "holdout": s.corpus.holdout,
            "output": str(self.out),
        })
        trainable = sum(p.numel() for p in s.model.parameters() if p.requires_grad)
        self.events.log(f"model: {params / 1e6:.2f}M parameters on {s.device.type} ({s.precision}), "
                        f"{job.method} ({trainable:,} trained); {job.steps} steps of {tokens_per_step:,} tokens, "
                        f"from step {progress.step}")
        return progress

    def _teacher(self, model: Any, device: Any) -> Any:
        if not self.job.teacher:
            return None
        from model.hf import load_gpt2

        teacher = load_gpt2(self.job.teacher)
        if teacher.config.vocab_size != model.config.vocab_size:
            raise TrainError(f"teacher: {self.job.teacher} has {teacher.config.vocab_size} tokens, "
                             f"the model {model.config.vocab_size}; they must share one vocabulary")
        teacher.requires_grad_(False)
        return teacher.eval().to(device)

    def _device(self) -> tuple[Any, str]:
        import torch

        if self.job.device == "cuda" and not torch.cuda.is_available():
            raise TrainError("device: cuda was asked for, but no CUDA GPU is available to PyTorch")
        cuda = self.job.device == "cuda" or (self.job.device == "auto" and torch.cuda.is_available())
        name = "cuda" if cuda else "cpu"
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

    def _build_model(self) -> Any:
        from core.config import GPT2Config
        from model.gpt2 import GPT2
        from model.hf import load_gpt2

        job = self.job
        # A full run resumes from its checkpoint alone: it holds the architecture (deepened, if
        # the job deepens) and every weight, so the init folder need not exist any more. LoRA's
        # checkpoint holds the adapters only, and still needs its base.
        saved = checkpoint.saved_config(self.out) if self.resume and job.method == "full" else None
        if saved is not None:
            model = GPT2(GPT2Config.from_hf_dict(saved, source=str(self.out / checkpoint.CHECKPOINT)))
        elif job.init:
            model = load_gpt2(job.init)
            if job.deepen_to:
                from model.grow import deepen

                try:
                    model = deepen(model, job.deepen_to)
                except ValueError as exc:
                    raise TrainError(f"deepen_to: {exc}") from None
        else:
            if not isinstance(job.model, dict):
                raise TrainError("model: expected the architecture numbers, e.g. {\"n_layer\": 4, \"n_embd\": 128, ...}")
            try:
                model = GPT2(GPT2Config(**job.model))
            except TypeError as exc:
                raise TrainError(f"model: {exc}") from None
        if job.dropout is not None:
            model.set_dropout(job.dropout)
        if job.seq_len > model.config.n_positions:
            raise TrainError(f"seq_len ({job.seq_len}) exceeds the model's context length ({model.config.n_positions})")
        if job.method == "lora":
            from model.lora import apply_lora

            apply_lora(model, job.lora_rank, job.lora_alpha)
        return model

    def _optimizer(self, model: Any, device: Any) -> Any:
        import torch

        # Weight decay on matrices only: biases, LayerNorm and position rows stay undecayed,
        # as in GPT-2's reference training set-ups.
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("wpe")]
        rest = [p for n, p in model.named_parameters() if p.dim() < 2 or n.startswith("wpe")]
        decay, rest = [p for p in decay if p.requires_grad], [p for p in rest if p.requires_grad]  # LoRA: adapters only
        groups = [{"params": decay, "weight_decay": self.job.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        # The fused kernel on the CPU too: one pass over each tensor instead of a dozen (an AdamW
        # step of the 124M model: 110 ms against 1,070), the same update up to rounding.
        return torch.optim.AdamW(groups, lr=self.job.lr, betas=(self.job.beta1, self.job.beta2), fused=True)

    # --- one step and what follows it -----------------------------------------------------------

    def _step(self, s: _Setup, lr: float) -> float:
        """One optimizer step over ``grad_accum`` batches; the step's loss."""
        import torch

        from model.distill import distill_loss

        job = self.job
        for group in s.optimizer.param_groups:
            group["lr"] = lr
        step_loss = 0.0
        for _ in range(job.grad_accum):
            batch = torch.from_numpy(s.sampler.next_batch(job.batch_size)).to(s.device, non_blocking=True)
            x, y = batch[:, :-1], batch[:, 1:]
            with s.autocast():
                if s.teacher is None:
                    loss = s.model.loss(x, y)
                else:
                    loss = distill_loss(s.model, s.teacher, x, y, job.distill_alpha, job.distill_temperature)
            loss = loss / job.grad_accum
            (s.scaler.scale(loss) if s.scaler else loss).backward()
            step_loss += loss.item()
        if s.scaler:
            s.scaler.unscale_(s.optimizer)
        if job.grad_clip:
            torch.nn.utils.clip_grad_norm_(s.model.parameters(), job.grad_clip, foreach=True)
        if s.scaler:
            s.scaler.step(s.optimizer)
            s.scaler.update()
        else:
            s.optimizer.step()
        s.optimizer.zero_grad(set_to_none=True)
        return step_loss

    def _progress(self, s: _Setup, step: int, lr: float, meter: _Meter) -> None:
        total = self.job.steps
        loss, tps, eta = meter.report(step, total)
        sampler = s.sampler
        self.events.emit({"event": "progress", "step": step, "total_steps": total, "loss": round(loss, 5), "lr": lr,
                          "tokens_per_s": round(tps, 1), "eta_s": round(eta, 1) if eta is not None else None,
                          "epoch": sampler.epoch + sampler.index / max(sampler.windows_per_epoch, 1)})
        self.events.log(f"step {step}/{total}  loss {loss:.4f}  lr {lr:.2e}  {tps:,.0f} tok/s  eta {human_duration(eta)}")

    def _whole(self, s: _Setup) -> list[np.ndarray]:
        return s.val_windows if self.whole_evals else s.val_sample

    def _evaluate(self, s: _Setup, progress: Progress, when: str, windows: list[np.ndarray]) -> None:
        """Score held-out ``windows``, record it in the history and report it."""
        val = self._held_out_loss(s, windows)
        whole = len(windows) == len(s.val_windows)
        progress.history.append({"step": progress.step, "val_loss": val, "windows": len(windows)})
        self.events.emit({"event": "eval", "step": progress.step, "val_loss": round(val, 5),
                          "val_ppl": round(math.exp(val), 3), "windows": len(windows), "whole": whole})
        self.events.log(f"eval {when}: loss {val:.4f}, perplexity {math.exp(val):.2f}"
                        + ("" if whole else f" ({len(windows)} of {len(s.val_windows)} held-out windows)"))

    def _held_out_loss(self, s: _Setup, windows: list[np.ndarray]) -> float:
        return held_out_loss(s.model, windows, self.job.seq_len, self.job.batch_size, s.device, s.autocast)

    def _samples(self, s: _Setup, step: int) -> None:
        if not self.job.sample_tokens or not self.job.sample_prompts:
            return
        import torch

        from core.tokenizer import EOT_TOKEN, decode, encode

        for prompt in self.job.sample_prompts:
            # Its own seeded generator: samples leave the training's random state alone and are
            # the same for the same weights.
            ids = torch.tensor([encode(prompt)], device=s.device)
            out = s.model.generate(ids, self.job.sample_tokens, temperature=SAMPLE_TEMPERATURE, top_k=SAMPLE_TOP_K,
                                   generator=torch.Generator().manual_seed(self.job.seed), stop_token=EOT_TOKEN)
            text = decode(out[0, ids.shape[1]:].tolist())
            self.events.emit({"event": "sample", "step": step, "prompt": prompt, "text": text})
            self.events.log(f"sample at step {step}: {prompt}|{text}")

    def _checkpoint(self, s: _Setup, progress: Progress, reason: str) -> None:
        path = checkpoint.save(self.out, self.job, s.model, s.optimizer, s.sampler, s.corpus.fingerprint, progress)
        self.events.emit({"event": "checkpoint", "step": progress.step, "path": str(path), "reason": reason})
        self.events.log(f"checkpoint at step {progress.step}: {path}")

    # --- the end --------------------------------------------------------------------------------

    def _finish(self, s: _Setup, progress: Progress) -> dict[str, Any]:
        job, model, corpus = self.job, s.model, s.corpus
        if job.method == "lora":
            from model.lora import merge_lora

            merge_lora(model)
        last_val = progress.last_val_loss
        val_ppl = math.exp(last_val) if last_val is not None else None
        history = progress.history
        before = history[0]["val_loss"] if job.init and history and history[0]["step"] == 0 else None
        elapsed = progress.elapsed_s
        summary = {
            "name": job.name,
            "job": dataclasses.asdict(job),
            "files": corpus.files,
            "holdout": corpus.holdout,
            "train_tokens": int(len(corpus.train)),
            "val_tokens": int(len(corpus.val)),
            "parameters": model.config.num_parameters(),
            "steps": job.steps,
            "tokens_seen": job.steps * job.tokens_per_step,
            "val_loss": last_val,
            "val_ppl": val_ppl,
            "val_ppl_before": math.exp(before) if before is not None else None,
            "method": job.method,
            "history": history,
            "training_time_s": round(elapsed, 1),
            "device": s.device.type,
            "precision": s.precision,
        }
        checkpoint.save_result(self.out, model, summary)
        bundle = self._export() if job.export else None
        ppl_before = summary["val_ppl_before"]
        self.events.emit({"event": "done", "output": str(self.out), "val_ppl": round(val_ppl, 3) if val_ppl else None,
                          "val_ppl_before": round(ppl_before, 3) if ppl_before else None,
                          "val_loss": last_val, "steps": job.steps, "training_time_s": round(elapsed, 1),
                          **({"bundle": bundle} if bundle else {})})
        self.events.log(f"done: {self.out} (held-out perplexity {val_ppl if val_ppl is None else round(val_ppl, 2)}, "
                        f"{human_duration(elapsed)})" + (f"; model bundle {bundle}" if bundle else ""))
        return summary

    def _export(self) -> str:
        from model.export import export_bundle

        spec = self.job.export or {}
        self.events.log(f"exporting to {spec['dest']} ...")

        def progress(e: Event) -> None:
            if e["event"] == "progress":
                self.events.log(f"export: {e.get('message', e['event'])}")

        bundle = export_bundle(
            self.out, spec["dest"], variants=spec.get("variants", ["int8"]), name=self.job.name,
            hf_dtype=spec.get("hf_dtype", "float16"), licence=spec.get("licence", "unspecified"), progress=progress,
        )
        return str(bundle.folder)
