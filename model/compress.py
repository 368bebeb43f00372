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
    model, importance = measure_checkpoint(src, data, line_breaks, seq_len, seed)
    return cut_checkpoint(model, importance, keep, dest)


def measure_checkpoint(src: str | Path, data: list[str], line_breaks: str, seq_len: int,
                       seed: int = 0) -> tuple[Any, Any]:
    """The model in ``src`` and its neuron and layer importances on windows of ``data``."""
    import torch

    from model.hf import load_gpt2
    from model.prune import measure_importance
    from model.train_data import WindowSampler, load_corpus
    from model.train_loop import default_cache_dir

    model = load_gpt2(src)
    seq_len = min(seq_len, model.config.n_positions)
    # The token cache the training uses: pruning again (another share, a stopped compress) reads
    # the texts' tokens instead of tokenizing them again.
    corpus = load_corpus(list(data), {"fraction": 0.0}, default_cache_dir(), line_breaks)
    if len(corpus.train) <= seq_len + 1:
        raise ValueError(f"the texts hold {len(corpus.train)} tokens; measuring what matters needs more than {seq_len + 1}")
    sampler = WindowSampler(corpus.train, seq_len, seed)
    batches = []
    for _ in range(IMPORTANCE_BATCHES):
        window = torch.from_numpy(sampler.next_batch(IMPORTANCE_BATCH_SIZE))
        batches.append((window[:, :-1], window[:, 1:]))
    return model, measure_importance(model, batches)


def cut_checkpoint(model: Any, importance: Any, keep: float, dest: str | Path) -> dict[str, Any]:
    """Plan the shape for ``keep``, cut ``model`` to it and save it in ``dest``; what was kept."""
    from model.hf import save_gpt2
    from model.prune import plan, prune

    cfg = model.config
    chosen = plan(cfg, importance, keep)
    small = prune(model, importance, chosen)
    save_gpt2(small.eval(), dest)
    return {
        "plan": chosen.describe(cfg),
        "layers": list(chosen.layers),
        "n_inner": chosen.inner,
        "parameters": cfg.num_parameters(),
        "parameters_after": small.config.num_parameters(),
        "block_share": round(chosen.block_share(cfg), 4),
        "loss_before": round(importance.base_loss, 4),
    }


def estimate(job: dict[str, Any], original: str | Path, keep: float) -> dict[str, Any]:
    """Seconds for ``inkwell compress`` of ``job``: the importance measurement, timed on one of its
    batches, and the fine-tune's warm-up estimate of a student of the planned shape learning from
    ``original`` (a random start of the same shape: the same cost per step)."""
    import time

    import numpy as np
    import torch

    from model.finetune import estimate as finetune_estimate
    from model.hf import load_gpt2
    from model.prune import Importance, measure_importance, plan

    model = load_gpt2(original)
    cfg = model.config
    seq_len = min(int(job["seq_len"]), cfg.n_positions)
    # The shape does not depend on which layers go, only on how many: any importances plan it.
    blank = Importance([np.zeros(cfg.inner_dim) for _ in range(cfg.n_layer)], np.zeros(cfg.n_layer), 0.0, 1)
    chosen = plan(cfg, blank, keep)
    ids = torch.randint(0, cfg.vocab_size, (IMPORTANCE_BATCH_SIZE, seq_len + 1), generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    measure_importance(model, [(ids[:, :-1], ids[:, 1:])])
    prune_s = (time.perf_counter() - start) * IMPORTANCE_BATCHES
    del model
    shape = {**{k: getattr(cfg, k) for k in ("n_embd", "n_head", "n_positions", "vocab_size")},
             "n_layer": len(chosen.layers), "n_inner": chosen.inner}
    student = {k: v for k, v in job.items() if not k.startswith("_") and k != "init"}
    student.update(model=shape, teacher=str(original))
    result = finetune_estimate(student)
    share = chosen.block_share(cfg)
    return {**result, "prune_s": round(prune_s, 1), "total_s": round(result["total_s"] + prune_s, 1),
            "speedup": round(cfg.speedup_when_pruned(share), 3), "plan": chosen.describe(cfg)}


# --- the copy measured against the original, for its manifest ----------------------------------

MEASURE_WINDOWS = 32     # held-out windows scored, the same ones for the copy and the original
KEYSTROKE_CONTEXT = 500  # tokens of the writer's text before the caret, for the keystroke timing


def measure_copy(copy: str | Path, original: str | Path, job: dict[str, Any]) -> tuple[dict[str, Any], list[int]]:
    """The installed copy against the original it was cut from: parameters and the held-out
    perplexity of both on the same windows of the text the training held out (fp32: the
    training's own figure may be bf16). Also KEYSTROKE_CONTEXT tokens of the writer's text, for
    the keystroke timing the app side does with its engine (app/compress_cli.py)."""
    import math

    from model.hf import load_gpt2
    from model.train_data import eval_windows, load_corpus
    from model.train_loop import default_cache_dir, held_out_loss, spread

    copy, original = Path(copy), Path(original)
    corpus = load_corpus(list(job["data"]), job["holdout"], default_cache_dir(), job.get("line_breaks", "unwrap"))
    seq_len, batch = int(job["seq_len"]), int(job["batch_size"])
    windows = spread(eval_windows(corpus.val, seq_len), MEASURE_WINDOWS)
    figures: dict[str, Any] = {}
    for key, folder in (("copy", copy), ("original", original)):
        model = load_gpt2(folder / "hf")
        figures[f"parameters_{key}"] = model.config.num_parameters()
        if windows:
            figures[f"perplexity_{key}"] = round(math.exp(held_out_loss(model, windows, seq_len, batch)), 3)
    if windows:
        figures["perplexity_tokens"] = int(sum(len(w) - 1 for w in windows))
    text = corpus.val if len(corpus.val) >= KEYSTROKE_CONTEXT else corpus.train
    return figures, [int(t) for t in text[:KEYSTROKE_CONTEXT]]
