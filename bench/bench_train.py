"""Training throughput of the bundled model's configuration: model.train's loop against a plain
PyTorch loop on the same model, data and threads, measured in one run.

    python bench/bench_train.py [--recipe model/recipes/inkwell-austen-base.json] [--steps 12] [--rounds 2]

The plain loop is the textbook one (AdamW, cross-entropy, backward, clip, step) with nothing
else; model.train adds the learning-rate schedule, the resumable sampler, the loss read-back and
the event stream. The two alternate for ``--rounds`` rounds and each row reports its best round,
the one least disturbed by other processes on a shared machine. The bf16 row is model.train
with bf16 autocast, which decides whether the CPU default stays fp32.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.config import GPT2Config  # noqa: E402
from model.gpt2 import GPT2  # noqa: E402
from model.train_job import Job  # noqa: E402
from model.train_loop import Events, Trainer  # noqa: E402

# The corpus sits beside the checkout (../shared/data); a git worktree is one level deeper.
CORPUS = next((p / "shared" / "data" / "corpus" / "austen" for p in (ROOT.parent, ROOT.parent.parent)
               if (p / "shared" / "data" / "corpus" / "austen").is_dir()), ROOT.parent / "shared" / "data" / "corpus" / "austen")
WARMUP = 2


def load_tokens(recipe: dict, cache: Path) -> tuple[list[str], np.ndarray]:
    from model.train_data import load_corpus

    if CORPUS.is_dir():
        data = [str(CORPUS)]
    else:  # a checkout without the corpus: the same amount of some other prose
        text = (ROOT / "README.md").read_text(encoding="utf-8") * 200
        path = cache / "prose.txt"
        path.write_text(text, encoding="utf-8")
        data = [str(path)]
    if not CORPUS.is_dir():
        recipe["holdout"] = {"fraction": 0.05}
    return data, load_corpus(data, recipe["holdout"], cache / "tokens").train


def time_model_train(recipe: dict, data: list[str], steps: int, precision: str, work: Path, run: int) -> float:
    """Tokens/s of Trainer.run over steps WARMUP..steps (the final evaluation and save are outside)."""
    job = {k: v for k, v in recipe.items() if not k.startswith("_") and k != "export"}
    job.update(data=data, out=str(work / f"run-{precision}-{run}"), steps=steps, precision=precision,
               cache_dir=str(work / "tokens"), log_every=1, eval_every=10**9, sample_every=10**9,
               checkpoint_every=10**9, eval_max_windows=1, sample_tokens=0, warmup_steps=min(recipe["warmup_steps"], steps))
    times: dict[int, float] = {}
    Trainer(Job.from_dict(job, "bench"), Events(io.StringIO(), io.StringIO()),
            on_step=lambda s: times.__setitem__(s, time.perf_counter())).run()
    tokens = (steps - WARMUP) * recipe["batch_size"] * recipe["grad_accum"] * recipe["seq_len"]
    return tokens / (times[steps] - times[WARMUP])


def time_plain(recipe: dict, tokens: np.ndarray, steps: int) -> float:
    torch.manual_seed(recipe["seed"])
    model = GPT2(GPT2Config(**recipe["model"]))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    rng = np.random.default_rng(recipe["seed"])
    b, t = recipe["batch_size"] * recipe["grad_accum"], recipe["seq_len"]
    start = None
    for step in range(steps):
        if step == WARMUP:
            start = time.perf_counter()
        rows = rng.integers(0, len(tokens) - t - 1, size=b)
        batch = torch.from_numpy(np.stack([tokens[r: r + t + 1] for r in rows]).astype(np.int64))
        logits, _ = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
    return (steps - WARMUP) * b * t / (time.perf_counter() - start)


def main() -> int:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", default=str(ROOT / "model" / "recipes" / "inkwell-austen-base.json"),
                   help="a recipe that trains from scratch (its \"model\" architecture)")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: the recipe's)")
    args = p.parse_args()
    recipe = json.loads(Path(args.recipe).read_text())
    threads = args.threads or recipe.get("threads") or torch.get_num_threads()
    recipe["threads"] = threads
    torch.set_num_threads(threads)
    cfg = GPT2Config(**recipe["model"])
    results: dict[str, list[float]] = {"plain PyTorch loop (fp32)": [], "model.train (fp32)": [],
                                       "model.train (bf16 autocast)": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data, tokens = load_tokens(recipe, work)
        for r in range(args.rounds):
            results["plain PyTorch loop (fp32)"].append(time_plain(recipe, tokens, args.steps))
            results["model.train (fp32)"].append(time_model_train(recipe, data, args.steps, "fp32", work, r))
            results["model.train (bf16 autocast)"].append(time_model_train(recipe, data, args.steps, "bf16", work, r))
    base = max(results["plain PyTorch loop (fp32)"])
    print(f"\nTraining throughput, {cfg.num_parameters() / 1e6:.2f}M parameters (n_layer {cfg.n_layer}, "
          f"n_embd {cfg.n_embd}, vocab {cfg.vocab_size}), batch {recipe['batch_size']}x{recipe['grad_accum']}"
          f"x{recipe['seq_len']} tokens, {threads} threads, {args.steps - WARMUP} timed steps, best of {args.rounds}")
    print(f"\n| {'loop':<28} | {'tokens/s':>9} | {'all rounds':<22} | {'vs plain':>8} |")
    print(f"|{'-' * 30}|{'-' * 11}|{'-' * 24}|{'-' * 10}|")
    for name, values in results.items():
        best = max(values)
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"| {name:<28} | {best:>9.0f} | {rounds:<22} | {best / base:>7.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
