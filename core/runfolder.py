"""A training run's folder, as model.train writes it (model.train_checkpoint) and the editor reads
it (app.finetune's runs), without PyTorch:

    job.json                 the job as run
    checkpoints/last.pt      the last checkpoint (PyTorch)
    checkpoints/last.json    {step, total_steps, elapsed_s}: where the run stands
    training.json            the summary, once the run has finished
"""

from __future__ import annotations

import math

JOB = "job.json"
CHECKPOINT = "checkpoints/last.pt"
PROGRESS_FILE = "checkpoints/last.json"
SUMMARY = "training.json"


def steps_for_epochs(epochs: float, train_tokens: int, seq_len: int, sequences_per_step: int) -> int:
    """Optimizer steps for ``epochs`` passes over ``train_tokens`` (at least one step)."""
    windows = max((train_tokens - 1) // seq_len, 1)
    return max(1, math.ceil(epochs * windows / sequences_per_step))
