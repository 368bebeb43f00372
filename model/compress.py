"""The PyTorch side of ``inkwell compress`` (app/compress_cli.py): the pruned starting point.

The original checkpoint's importances (neurons, heads, channels, layers) are measured on windows
of the writer's texts (or the corpus), the shapes for the share of its work asked for are each cut
and judged on those windows, and the best is saved as a Hugging Face checkpoint, from which the
training engine then distils.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

IMPORTANCE_BATCHES = 8
IMPORTANCE_BATCH_SIZE = 4
LAYER_BATCHES = 3  # of those, the ones each layer is skipped on (model.prune.measure_importance)
JUDGE_BATCHES = 4  # of those, scoring each candidate shape's cut (model.prune.choose)


def prune_checkpoint(src: str | Path, data: list[str], line_breaks: str, keep: float, dest: str | Path,
                     seq_len: int, seed: int = 0) -> dict[str, Any]:
    """Save the pruned model of ``src`` in ``dest``; what was kept, in numbers and words."""
    return cut_checkpoint(measure_checkpoint(src, data, line_breaks, seq_len, seed), keep, dest)


@dataclass
class Measured:
    model: Any  # model.gpt2.GPT2
    importance: Any  # model.prune.Importance
    batches: list[Any]  # the (input_ids, targets) it was measured on, which also judge the cuts


def measure_checkpoint(src: str | Path, data: list[str], line_breaks: str, seq_len: int,
                       seed: int = 0) -> Measured:
    """The model in ``src`` and its importances on windows of ``data``."""
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
    return Measured(model, measure_importance(model, batches, LAYER_BATCHES), batches)


def cut_checkpoint(measured: Measured, keep: float, dest: str | Path) -> dict[str, Any]:
    """Cut the measured model to the best shape for ``keep`` (model.prune.choose) and save it in
    ``dest``; what was kept, and the shapes tried with their losses."""
    from model.hf import save_gpt2
    from model.prune import choose, prune

    model, importance = measured.model, measured.importance
    cfg = model.config
    chosen, tried = choose(model, importance, keep, measured.batches[:JUDGE_BATCHES])
    small = prune(model, importance, chosen)
    save_gpt2(small.eval(), dest)
    return {
        "plan": chosen.describe(cfg),
        "layers": list(chosen.layers),
        "n_inner": chosen.inner,
        "n_head": chosen.heads,
        "n_embd": chosen.width(cfg),
        "parameters": cfg.num_parameters(),
        "parameters_after": small.config.num_parameters(),
        "cost_share": round(chosen.cost_share(cfg), 4),
        "loss_before": round(importance.base_loss, 4),
        "tried": [{"plan": p.describe(cfg), "cost_share": round(p.cost_share(cfg), 4), "loss": round(loss, 4)}
                  for p, loss in tried],
    }


def estimate(job: dict[str, Any], original: str | Path, keep: float) -> dict[str, Any]:
    """Seconds for ``inkwell compress`` of ``job``: the importance measurement, timed on one of its
    batches, and the fine-tune's warm-up estimate of a student of the planned shape learning from
    ``original`` (a random start of the same shape: the same cost per step)."""
    import time

    import torch

    from core.prune_plan import candidates, plan
    from model.finetune import estimate as finetune_estimate
    from model.hf import load_gpt2
    from model.prune import Importance, measure_importance, prune

    model = load_gpt2(original)
    cfg = model.config
    seq_len = min(int(job["seq_len"]), cfg.n_positions)
    # The cost of a shape does not depend on which parts go: any importances plan it.
    blank = Importance.blank(cfg)
    chosen = plan(cfg, keep)
    ids = torch.randint(0, cfg.vocab_size, (IMPORTANCE_BATCH_SIZE, seq_len + 1), generator=torch.Generator().manual_seed(0))
    batch = [(ids[:, :-1], ids[:, 1:])]
    start = time.perf_counter()
    measure_importance(model, batch, 0)  # the gradient pass, without the layer skips
    gradients_s = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        model.loss(*batch[0])  # one forward pass: skipping each layer in turn is n_layer of them
    skips_s = (time.perf_counter() - start) * cfg.n_layer
    start = time.perf_counter()
    with torch.no_grad():
        prune(model, blank, chosen).loss(*batch[0])  # a candidate's cut and its judging, on one batch
    judge_s = (time.perf_counter() - start) * JUDGE_BATCHES * len(candidates(cfg, keep))
    prune_s = gradients_s * IMPORTANCE_BATCHES + skips_s * LAYER_BATCHES + judge_s
    del model
    small = chosen.config(cfg)
    shape = {k: getattr(small, k) for k in ("n_embd", "n_head", "n_positions", "vocab_size", "n_layer", "n_inner")}
    student = {k: v for k, v in job.items() if not k.startswith("_") and k != "init"}
    student.update(model=shape, teacher=str(original))
    result = finetune_estimate(student)
    return {**result, "prune_s": round(prune_s, 1), "total_s": round(result["total_s"] + prune_s, 1),
            "speedup": round(1 / chosen.cost_share(cfg), 3), "plan": chosen.describe(cfg)}


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
