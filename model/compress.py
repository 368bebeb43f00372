"""The PyTorch side of ``inkwell compress`` (app/compress_cli.py): the pruned starting point.

The original checkpoint's neuron and layer importances are measured on windows of the writer's
texts (or the corpus), the plan for the share of parameters asked for is made, and the smaller
model is saved as a Hugging Face checkpoint, from which the training engine then distils.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

IMPORTANCE_BATCHES = 8
IMPORTANCE_BATCH_SIZE = 4


def prune_checkpoint(src: str | Path, data: list[str], line_breaks: str, keep: float, dest: str | Path,
                     seq_len: int, seed: int = 0) -> dict[str, Any]:
    """Save the pruned model of ``src`` in ``dest``; what was kept, in numbers and words."""
    import torch

    from model.hf import load_gpt2, save_gpt2
    from model.prune import measure_importance, plan, prune
    from model.train_data import WindowSampler, load_corpus

    model = load_gpt2(src)
    cfg = model.config
    seq_len = min(seq_len, cfg.n_positions)
    corpus = load_corpus(list(data), {"fraction": 0.0}, None, line_breaks)
    if len(corpus.train) <= seq_len + 1:
        raise ValueError(f"the texts hold {len(corpus.train)} tokens; measuring what matters needs more than {seq_len + 1}")
    sampler = WindowSampler(corpus.train, seq_len, seed)
    batches = []
    for _ in range(IMPORTANCE_BATCHES):
        window = torch.from_numpy(sampler.next_batch(IMPORTANCE_BATCH_SIZE))
        batches.append((window[:, :-1], window[:, 1:]))
    importance = measure_importance(model, batches)
    chosen = plan(cfg, importance, keep)
    small = prune(model, importance, chosen)
    save_gpt2(small.eval(), dest)
    return {
        "plan": chosen.describe(cfg),
        "layers": list(chosen.layers),
        "n_inner": chosen.inner,
        "parameters": cfg.num_parameters(),
        "parameters_after": small.config.num_parameters(),
        "block_share": round(cfg.block_parameters(len(chosen.layers), chosen.inner) / cfg.block_parameters(), 4),
        "loss_before": round(importance.base_loss, 4),
    }
