"""What a training run keeps in its output folder, and reading it back.

    job.json                 the settings in force (a later --resume continues with them)
    checkpoints/last.pt      the state to resume from: weights (LoRA: the adapters only), optimizer,
                             random state, data position, evaluations so far
    checkpoints/last.json    {step, total_steps, elapsed_s}: where the run stands, for torch-free readers
    config.json, model.safetensors   the trained model (Hugging Face layout), once finished
    training.json            the job, the data and the results, once finished

Every file is written whole or not at all (core.fileio.atomic_write): a reader, or a resume after a
crash or a full disk, sees the previous version or the new one. Importing this module needs no torch.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.fileio import DamagedFile, atomic_write, atomic_write_text, default_mode, read_json, replace_with
from core.runfolder import CHECKPOINT, JOB, PROGRESS_FILE, SUMMARY
from model.train_job import Job, TrainError

FORMAT = "inkwell-train-checkpoint"


@dataclass
class Progress:
    """Where a run stands: what a checkpoint restores besides the weights and optimizer."""

    step: int = 0
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # {step, val_loss}
    elapsed_s: float = 0.0

    @property
    def last_val_loss(self) -> float | None:
        return self.history[-1]["val_loss"] if self.history else None


def disk_error(exc: OSError, what: Path) -> TrainError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return TrainError(f"{what}: the disk is full; nothing was half-written (the previous checkpoint, "
                          f"if any, is intact). Free some space and run again with --resume")
    return TrainError(f"{what}: cannot write ({exc.strerror or exc})")


def check_out(out: Path, resume: bool) -> None:
    """The output folder can take this run: a new (or empty) folder, or one with a run to resume."""
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise TrainError(f"{out}: nothing to resume (no {CHECKPOINT})")
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TrainError(f"{out}: the output folder already exists; choose a new folder, "
                         f"or add --resume to continue the run saved there")


def write_job(out: Path, job: Job) -> None:
    _write_text(out / JOB, json.dumps(dataclasses.asdict(job), indent=2) + "\n")


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save into ``path`` atomically."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: torch.save(obj, f))


def trained_state(model: Any, method: str) -> dict[str, Any]:
    """The weights a checkpoint keeps: LoRA's adapters only (the base weights are the job's init
    again on resume), else all of them."""
    if method == "lora":
        from model.lora import adapter_state

        return adapter_state(model)
    return model.state_dict()


def save(out: Path, job: Job, model: Any, optimizer: Any, sampler: Any, fingerprint: str, progress: Progress) -> Path:
    """Write checkpoints/last.pt, then checkpoints/last.json; returns the checkpoint's path."""
    import torch

    state = {
        "format": FORMAT, "version": 1,
        "step": progress.step,
        "model": trained_state(model, job.method),
        "config": model.config.to_hf_dict(),
        "optimizer": optimizer.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "sampler": sampler.state(),
        "data_fingerprint": fingerprint,
        "history": progress.history,
        "elapsed_s": progress.elapsed_s,
        "job": json.dumps(dataclasses.asdict(job)),
    }
    path = out / CHECKPOINT
    try:
        atomic_save(state, path)
    except OSError as exc:
        raise disk_error(exc, path) from None
    # Where the run stands, readable without torch (the wizard's list of runs).
    _write_text(out / PROGRESS_FILE, json.dumps({"step": progress.step, "total_steps": job.steps,
                                                 "elapsed_s": round(progress.elapsed_s, 1)}) + "\n")
    return path


def saved_config(out: Path) -> dict[str, Any] | None:
    """The architecture (Hugging Face config dict) the checkpoint in ``out`` was written with,
    or None where there is no readable one (``restore`` then says what is wrong)."""
    import torch

    try:
        # mmap: the weights are not read, only the small config entry.
        state = torch.load(str(out / CHECKPOINT), map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - restore reads it again and reports any failure in words
        return None
    config = state.get("config") if isinstance(state, dict) else None
    return config if isinstance(config, dict) else None


def restore(out: Path, job: Job, model: Any, optimizer: Any, sampler: Any, fingerprint: str, device: Any) -> Progress:
    """Load checkpoints/last.pt into ``model``, ``optimizer``, ``sampler`` and torch's random state."""
    import torch

    path = out / CHECKPOINT
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint gets the same message
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TrainError(f"{path}: cannot read the checkpoint ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise TrainError(f"{path}: not an Inkwell training checkpoint")
    if state["data_fingerprint"] != fingerprint:
        raise TrainError(f"{path}: the training text has changed since this checkpoint was written; "
                         f"resume with the same files, or start a new run")
    try:
        if job.method == "lora":
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
    return Progress(int(state["step"]), list(state["history"]), float(state["elapsed_s"]))


def save_result(out: Path, model: Any, summary: dict[str, Any]) -> None:
    """The trained model (config.json, model.safetensors) and training.json. The weights go in
    through a temporary folder beside them, so the output never holds a half-written file."""
    from model.hf import save_gpt2

    try:
        with tempfile.TemporaryDirectory(dir=out, prefix=".final-") as tmp:
            model.eval()
            save_gpt2(model.cpu(), tmp)
            for name in ("config.json", "model.safetensors"):
                replace_with(Path(tmp) / name, out / name, default_mode())  # mkstemp's 0600 -> the usual mode
    except OSError as exc:
        raise disk_error(exc, out) from None
    _write_text(out / SUMMARY, json.dumps(summary, indent=2) + "\n")


def training_metadata(run_dir: str | Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(perplexity, provenance) for a bundle exported from a run folder written by model.train;
    (None, {}) for a checkpoint that was not trained here."""
    path = Path(run_dir) / SUMMARY
    try:
        summary = read_json(path)
    except (OSError, DamagedFile):
        return None, {}
    if not isinstance(summary, dict) or "job" not in summary:
        return None, {}
    job = dict(summary["job"])
    for private in ("out", "cache_dir"):
        job.pop(private, None)
    if job.get("init"):
        job.pop("model", None)  # the architecture is the init checkpoint's (deepened by deepen_to)
    job["data"] = [{"file": Path(f["path"]).name, "sha256": f["sha256"], "tokens": f["tokens"]}
                   for f in summary.get("files", [])]
    perplexity = None
    if summary.get("val_ppl") is not None:
        perplexity = {"value": round(summary["val_ppl"], 3), "loss": round(summary["val_loss"], 5),
                      "dataset": f"held out from training: {summary['holdout']}",
                      "tokens": summary["val_tokens"], "context": job.get("seq_len")}
    training = {"recipe": job, "train_tokens": summary.get("train_tokens"), "tokens_seen": summary.get("tokens_seen"),
                "training_time_s": summary.get("training_time_s"), "device": summary.get("device"),
                "precision": summary.get("precision"), "trained_by": "inkwell (model.train)"}
    return perplexity, {"training": training}


def _write_text(path: Path, text: str) -> None:
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise disk_error(exc, path) from None
