"""A training run's folder, as model.train writes it and the app (fine-tune runs, export) reads
it, without PyTorch:

    job.json                 the job as run (model.train's Job)
    checkpoints/last.pt      the last checkpoint (PyTorch)
    checkpoints/last.json    {step, total_steps, elapsed_s}: where the run stands
    training.json            the summary, once the run has finished
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from core.fileio import DamagedFile, read_json

JOB = "job.json"
CHECKPOINT = "checkpoints/last.pt"
PROGRESS_FILE = "checkpoints/last.json"
SUMMARY = "training.json"


def steps_for_epochs(epochs: float, train_tokens: int, seq_len: int, sequences_per_step: int) -> int:
    """Optimizer steps for ``epochs`` passes over ``train_tokens`` (at least one step)."""
    windows = max((train_tokens - 1) // seq_len, 1)
    return max(1, math.ceil(epochs * windows / sequences_per_step))


def training_metadata(run_dir: str | Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(perplexity, provenance) for a bundle exported from a run folder that model.train wrote;
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
